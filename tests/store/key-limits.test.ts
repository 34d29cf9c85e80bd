/**
 * Property: every DynamoDB key the trace store sends for input that validation accepts fits
 * DynamoDB's key limits (partition key ≤ 2,048 bytes, sort key ≤ 1,024 bytes, UTF-8; Developer
 * Guide "Service, account, and table quotas"). Batches are generated at and around Kubernetes'
 * name limits (DNS labels 63, subdomains 253, kinds 63, names 253 bytes with non-ASCII characters),
 * validated by lib/ingest/validate.ts, and the accepted ones applied through the real store to
 * dynalite; a middleware on the SDK client records every key of every request (items, keys, key
 * conditions). The oracle counts bytes with TextEncoder, not with the validator's counter, and
 * the limits are DynamoDB's numbers written here, not the validator's constants.
 *
 * Without the validator's key budget (`key_too_long`), a lifecycle whose owner GVK, owner name
 * and pod are all at their Kubernetes maximum makes a 1,049-byte sort key: this test fails.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import type { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { BatchValidationError } from '../../lib/ingest/errors.ts';
import { validateBatch } from '../../lib/ingest/validate.ts';
import { type LocalAws, startLocalAws } from '../support/local-aws.ts';
import { makeStore, NOW } from './support.ts';

const PARTITION_KEY_MAX_BYTES = 2048;
const SORT_KEY_MAX_BYTES = 1024;
const bytesOf = (s: string) => new TextEncoder().encode(s).length;

interface SeenKey {
  command: string;
  role: 'pk' | 'sk';
  value: string;
}

/** Every pk/sk attribute anywhere in a request, and the values of a Query's key condition. */
function keysOf(command: string, input: unknown): SeenKey[] {
  const out: SeenKey[] = [];
  const walk = (v: unknown) => {
    if (typeof v !== 'object' || v === null) return;
    const o = v as Record<string, unknown>;
    for (const role of ['pk', 'sk'] as const) {
      const attr = o[role] as { S?: unknown } | undefined;
      if (attr && typeof attr.S === 'string') out.push({ command, role, value: attr.S });
    }
    for (const child of Object.values(o)) walk(child);
  };
  walk(input);
  const q = input as {
    KeyConditionExpression?: string;
    ExpressionAttributeValues?: Record<string, { S?: string }>;
  };
  if (q.KeyConditionExpression && q.ExpressionAttributeValues) {
    const pkName = /pk\s*=\s*(:\w+)/.exec(q.KeyConditionExpression)?.[1];
    for (const name of q.KeyConditionExpression.match(/:\w+/g) ?? []) {
      const value = q.ExpressionAttributeValues[name]?.S;
      if (value !== undefined) out.push({ command, role: name === pkName ? 'pk' : 'sk', value });
    }
  }
  return out;
}

// --- generators at Kubernetes' limits -----------------------------------------------------------

const LOWER = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** A length in [1, max], the maximum itself 3 times in 4 (limits are where keys break). */
const lengthUpTo = (max: number) =>
  fc.oneof({ arbitrary: fc.constant(max), weight: 3 }, { arbitrary: fc.integer({ min: 1, max }), weight: 1 });
const lowerChars = (length: number) =>
  fc.array(fc.constantFrom(...LOWER), { minLength: length, maxLength: length }).map((a) => a.join(''));
/** A DNS-1123 label of exactly `length` characters. */
const labelOf = (length: number) => lowerChars(length);
const dnsLabel = (max: number) => lengthUpTo(max).chain(labelOf);
/** A DNS-1123 subdomain of `length` characters: labels of 63 joined by dots. */
const dnsSubdomain = lengthUpTo(253).chain((length) =>
  lowerChars(length).map((chars) => {
    let out = '';
    for (let i = 0; i < chars.length; i++) out += i % 64 === 63 && i < chars.length - 1 ? '.' : chars[i];
    return out;
  }),
);
const kind = lengthUpTo(63).chain((n) => lowerChars(n - 1).map((rest) => `K${rest}`));
const gvk = fc
  .tuple(fc.option(dnsSubdomain, { nil: undefined, freq: 8 }), dnsLabel(63), kind)
  .map(([group, version, k]) => `${group ? `${group}/` : ''}v${version.slice(1)}.${k}`);
/** Object names: path segments of any characters (RBAC-style), 2- and 4-byte ones included. */
const NAME_CHARS = ['a', 'z', '0', ':', '-', '.', 'é', 'ß', '日', '本', '😀', '\u{10FFFF}'];
const objectName = fc.oneof(
  dnsSubdomain,
  lengthUpTo(253).chain((maxBytes) =>
    fc.array(fc.constantFrom(...NAME_CHARS), { minLength: maxBytes, maxLength: maxBytes }).map((chars) => {
      // As many characters as fit in maxBytes (names hold at most 253 bytes).
      let out = '';
      for (const c of chars) {
        if (bytesOf(out + c) > maxBytes) break;
        out += c;
      }
      return out;
    }),
  ),
);
const namespace = fc.option(dnsLabel(63), { nil: undefined, freq: 8 });
const nsName = fc.tuple(namespace, objectName).map(([ns, name]) => (ns ? `${ns}/${name}` : name));
const podId = fc.tuple(namespace, dnsSubdomain).map(([ns, name]) => (ns ? `${ns}/${name}` : name));

const batchArb = fc.record({
  gvk,
  ns: namespace,
  name: objectName,
  owner: fc.record({ gvk, nsName }),
  pod: podId,
});

interface Generated {
  gvk: string;
  ns?: string | undefined;
  name: string;
  owner: { gvk: string; nsName: string };
  pod: string;
}

function batchOf({ gvk: objGvk, ns, name, owner, pod }: Generated): unknown {
  const at = objGvk.lastIndexOf('.');
  const object = {
    apiVersion: objGvk.slice(0, at),
    kind: objGvk.slice(at + 1),
    metadata: { name, ...(ns ? { namespace: ns } : {}) },
    spec: { replicas: 1 },
  };
  const objNsName = ns ? `${ns}/${name}` : name;
  const lifecycle = {
    owner: { gvk: owner.gvk, ns_name: owner.nsName },
    pod,
    pod_spec_hash: '18446744073709551615',
  };
  return {
    changes: [
      { type: 'applied', ts: NOW - 30, object },
      { type: 'lifecycle', ts: NOW - 30, ...lifecycle, start_ts: NOW - 30 },
      // A page of the object's kind that lists nothing in (after, through]: reconciles it away.
      { type: 'relist', ts: NOW - 20, gvk: objGvk, after: null, through: objNsName, ns_names: [] },
      { type: 'applied', ts: NOW - 10, object },
      { type: 'deleted', ts: NOW - 5, object },
      // A pods page that finishes the lifecycle (its pod is in range and not listed).
      {
        type: 'relist',
        ts: NOW - 4,
        gvk: 'v1.Pod',
        after: null,
        through: pod,
        ns_names: [],
        lifecycles: true,
      },
      { type: 'lifecycle', ts: NOW - 3, ...lifecycle, start_ts: NOW - 30, end_ts: NOW - 3 },
    ],
  };
}

let aws: LocalAws;
let store: DynamoTraceStore;
const seen: SeenKey[] = [];

before(async () => {
  aws = await startLocalAws();
  aws.dynamo.middlewareStack.add(
    (next, context) => async (args) => {
      seen.push(...keysOf(String(context.commandName), args.input));
      return next(args);
    },
    { step: 'initialize', name: 'recordKeys' },
  );
  store = makeStore(aws);
});
after(() => aws.close());

test('every key the store sends for accepted input fits DynamoDB key limits', async (t) => {
  let accepted = 0;
  let rejected = 0;
  let longestSk = 0;
  await fc.assert(
    fc.asyncProperty(batchArb, async (g) => {
      const body = batchOf(g);
      let batch: ReturnType<typeof validateBatch>;
      try {
        batch = validateBatch(body, { nowSec: NOW, maxSkewSec: 300 });
      } catch (err) {
        if (!(err instanceof BatchValidationError)) throw err;
        rejected++;
        return;
      }
      accepted++;
      seen.length = 0;
      await store.applyBatch('keys', batch, { nowSec: NOW });
      assert.ok(seen.length > 0, 'the recorder saw the requests');
      for (const k of seen) {
        const bytes = bytesOf(k.value);
        const max = k.role === 'pk' ? PARTITION_KEY_MAX_BYTES : SORT_KEY_MAX_BYTES;
        assert.ok(
          bytes <= max,
          `${k.command} sent a ${k.role} of ${bytes} bytes (max ${max}): ${k.value.slice(0, 120)}…`,
        );
        if (k.role === 'sk') longestSk = Math.max(longestSk, bytes);
      }
    }),
    { numRuns: 60, seed: 12_012 },
  );
  t.diagnostic(`accepted ${accepted}, rejected ${rejected}, longest sort key ${longestSk} bytes`);
  // Not vacuous: most generated batches are accepted, and some keys come close to the limit.
  assert.ok(accepted >= 30, `accepted ${accepted}, rejected ${rejected}`);
  assert.ok(longestSk > 900, `longest sort key sent: ${longestSk} bytes`);
});
