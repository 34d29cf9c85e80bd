/**
 * Property tests: random mutations of a valid batch, and random bodies, never make the ingest
 * function fail with a 5xx, and a rejected batch never reaches the writer (nothing written).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { makeHandler } from '../../functions/ingest/handler.ts';
import { BATCH_ERROR_CODES, BatchValidationError } from '../../lib/ingest/errors.ts';
import { validateBatch } from '../../lib/ingest/validate.ts';
import {
  asResponse,
  CapturingLogger,
  demoTokens,
  errorOf,
  ingestEvent,
  lambdaContext,
  NOW_MS,
  NOW_SEC,
  RecordingWriter,
  validBatch,
} from './support.ts';

type Path = (string | number)[];

/** Every path into a JSON value, the root included. */
function pathsOf(value: unknown, at: Path = []): Path[] {
  const paths: Path[] = [at];
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) paths.push(...pathsOf(v, [...at, i]));
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) paths.push(...pathsOf(v, [...at, k]));
  }
  return paths;
}

type Op = 'delete' | 'replace' | 'add-field' | 'duplicate';
interface Mutation {
  pick: number;
  op: Op;
  value: unknown;
  key: string;
}

function mutate(doc: unknown, m: Mutation): unknown {
  // Generated values are inserted as copies: fast-check reuses them while shrinking.
  const value = structuredClone(m.value);
  const paths = pathsOf(doc);
  const path = paths[m.pick % paths.length]!;
  if (path.length === 0) return m.op === 'replace' ? value : doc;
  const parent = path
    .slice(0, -1)
    .reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], doc) as Record<
    string | number,
    unknown
  >;
  const last = path[path.length - 1]!;
  switch (m.op) {
    case 'delete':
      if (Array.isArray(parent)) parent.splice(last as number, 1);
      else delete parent[last];
      break;
    case 'replace':
      parent[last] = value;
      break;
    case 'add-field': {
      const target = parent[last];
      if (typeof target === 'object' && target !== null && !Array.isArray(target)) {
        (target as Record<string, unknown>)[m.key] = value;
      } else parent[last] = value;
      break;
    }
    case 'duplicate':
      if (Array.isArray(parent)) parent.splice(last as number, 0, structuredClone(parent[last]));
      else parent[last] = [parent[last], parent[last]];
      break;
  }
  return doc;
}

const mutationArb = fc.record({
  pick: fc.nat(),
  op: fc.constantFrom<Op>('delete', 'replace', 'add-field', 'duplicate'),
  value: fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(-1, 1.5, NOW_SEC * 1000, '', 'shop/web', '18446744073709551616', null, [], {}),
  ),
  key: fc.constantFrom('extra', 'ts', 'type', 'metadata', 'name', '__proto__', 'constructor'),
});

const ALLOWED_CODES = new Set<string>(BATCH_ERROR_CODES);

test('validateBatch throws nothing but BatchValidationError on mutated batches', () => {
  fc.assert(
    fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (mutations) => {
      let doc: unknown = validBatch();
      for (const m of mutations) doc = mutate(doc, m);
      try {
        validateBatch(doc, { nowSec: NOW_SEC, maxSkewSec: 300 });
      } catch (err) {
        assert.ok(err instanceof BatchValidationError, `unexpected ${String(err)}`);
        assert.ok(ALLOWED_CODES.has(err.code), err.code);
      }
    }),
    { numRuns: 3000 },
  );
});

test('the handler never answers 5xx to a mutated batch, and writes nothing when it rejects it', async () => {
  const writer = new RecordingWriter();
  const handler = makeHandler({
    writer,
    tokens: demoTokens(),
    logger: new CapturingLogger(),
    clock: () => NOW_MS,
  });
  let rejected = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(mutationArb, { minLength: 1, maxLength: 4 }), async (mutations) => {
      let doc: unknown = validBatch();
      for (const m of mutations) doc = mutate(doc, m);
      writer.calls.length = 0;
      const res = asResponse(
        await handler(ingestEvent({ body: JSON.stringify(doc) ?? '' }), lambdaContext()),
      );
      assert.ok(res.statusCode < 500, `${res.statusCode} ${res.body}`);
      if (res.statusCode === 200) {
        // An empty batch is answered without a store call.
        const changes = validateBatch(doc, { nowSec: NOW_SEC, maxSkewSec: 300 }).changes.length;
        assert.equal(writer.calls.length, changes === 0 ? 0 : 1);
      } else {
        rejected++;
        assert.ok([400, 413].includes(res.statusCode), `${res.statusCode} ${res.body}`);
        assert.equal(writer.calls.length, 0, 'a rejected batch writes nothing');
        const error = errorOf(res);
        assert.equal(typeof error.code, 'string');
        assert.equal(typeof error.message, 'string');
      }
    }),
    { numRuns: 500 },
  );
  assert.ok(rejected > 100, `the mutations should mostly break the batch (${rejected} rejected)`);
});

test('random bodies and encodings never make the handler fail with a 5xx', async () => {
  const writer = new RecordingWriter();
  const handler = makeHandler({
    writer,
    tokens: demoTokens(),
    logger: new CapturingLogger(),
    clock: () => NOW_MS,
  });
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.string(),
        fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      ),
      fc.constantFrom(undefined, 'gzip', 'identity', 'deflate'),
      async (body, encoding) => {
        writer.calls.length = 0;
        const headers: Record<string, string> = encoding ? { 'content-encoding': encoding } : {};
        const res = asResponse(await handler(ingestEvent({ body, headers }), lambdaContext()));
        assert.ok(res.statusCode >= 200 && res.statusCode < 500, `${res.statusCode} ${res.body}`);
        if (res.statusCode !== 200) assert.equal(writer.calls.length, 0);
      },
    ),
    { numRuns: 500 },
  );
});
