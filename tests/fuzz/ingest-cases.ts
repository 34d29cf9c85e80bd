/**
 * Hostile ingest requests, as fast-check arbitraries of API Gateway v2 events. Batches are the
 * ingest tests' valid batch (tests/ingest/support.ts) with one change broken by construction —
 * every breaker below puts a value the contract refuses (docs/ingest-api.md) — plus bodies,
 * encodings, headers, paths and methods that are wrong whatever the batch. `isValidBatchText`
 * double-checks the batch cases with lib/ingest/validate.ts, so a breaker that ever produced a
 * valid batch would fail loudly instead of being counted as hostile.
 */
import { gzipSync } from 'node:zlib';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import fc from 'fast-check';
import { CHANGE_FIELDS, validateBatch } from '../../lib/ingest/validate.ts';
import { ingestEvent, NOW_SEC, validBatch } from '../ingest/support.ts';
import {
  acceptsText,
  anyString,
  BAD_ENCODINGS,
  type Breaker,
  badAuthArb,
  badClusterArb,
  badContentTypeArb,
  badIntArb,
  breaker,
  type Json,
  nestedText,
  PROTO_KEYS,
  RAW_BAD_NUMBERS,
  RAW_MARKER,
  setKey,
  WRONG_METHODS,
  withInvalidUtf8,
  withRaw,
} from './values.ts';

export interface HostileRequest {
  /** What kind of hostility, for failure messages and per-kind counts. */
  kind: string;
  event: APIGatewayProxyEventV2;
  /** Set when the answer is known exactly. */
  expect?: { status: number; code?: string };
  /** For batch cases: the body text, re-validated before sending. */
  bodyText?: string;
}

/** Which token a body case authenticates with: mostly the global one, some through the token store. */
export type TokenPick = (n: number) => string;

const MAX_SKEW_SEC = 300;
const LATEST_TS = NOW_SEC + MAX_SKEW_SEC;
const TYPES = ['config', 'applied', 'applied', 'deleted', 'relist', 'lifecycle'] as const;

/** Whether the server would accept this body text as a batch (JSON.parse + validateBatch). */
export function isValidBatchText(text: string): boolean {
  return acceptsText(text, (json) => validateBatch(json, { nowSec: NOW_SEC, maxSkewSec: MAX_SKEW_SEC }));
}

function at(c: Json, path: string[]): Json {
  let v: unknown = c;
  for (const k of path) v = (v as Json)[k];
  return v as Json;
}

const notObject = fc.oneof(
  fc.constantFrom(null, [], [{}], '', 'x', 0, 1, true, false),
  anyString,
  fc.double(),
);
const notString = fc.oneof(fc.constantFrom(null, 0, 1, true, [], {}, ['x'], { a: 'x' }), fc.double());
const notArray = fc.oneof(fc.constantFrom(null, 0, 'x', true, {}, { 0: 'a', length: 1 }), anyString);
const rawNumber = fc.constantFrom(...RAW_BAD_NUMBERS);

/** Breakers that apply to any change type. */
function commonBreakers(type: string): fc.Arbitrary<Breaker>[] {
  const allowed = CHANGE_FIELDS[type as keyof typeof CHANGE_FIELDS];
  return [
    breaker('ts: wrong value', badIntArb(LATEST_TS), (c, v) => {
      c.ts = v;
    }),
    breaker('ts: raw number text', rawNumber, (c, raw) => {
      c.ts = RAW_MARKER;
      return raw;
    }),
    breaker(
      'ts: in the future / milliseconds',
      fc.integer({ min: LATEST_TS + 1, max: NOW_SEC * 1000 }),
      (c, v) => {
        c.ts = v;
      },
    ),
    breaker('ts: missing', fc.constant(0), (c) => {
      delete c.ts;
    }),
    breaker('type: missing', fc.constant(0), (c) => {
      delete c.type;
    }),
    breaker(
      'type: unknown',
      fc.oneof(
        fc.constantFrom(
          ...PROTO_KEYS,
          'Applied',
          'APPLIED',
          ' applied',
          'applied\u0000',
          'apply',
          'delete',
          '',
        ),
        anyString.filter((s) => !Object.hasOwn(CHANGE_FIELDS, s)),
        notString,
      ),
      (c, v) => {
        c.type = v;
      },
    ),
    breaker(
      'unknown field (prototype keys too)',
      fc.tuple(
        fc
          .oneof(fc.constantFrom(...PROTO_KEYS, 'extra', 'status', 'Ts', 'TS'), anyString)
          .filter((k) => !allowed.has(k)),
        fc.jsonValue({ maxDepth: 2 }),
      ),
      (c, [k, v]) => setKey(c, k, v),
    ),
    breaker('change: not an object', notObject, (c, v) => {
      // Replaced wholesale by the caller: mark it.
      for (const k of Object.keys(c)) delete c[k];
      setKey(c, '\u0000replace', v);
    }),
  ];
}

const badNames = fc.oneof(
  fc.constantFrom(
    '',
    '.',
    '..',
    'a/b',
    '../../etc/passwd',
    '..%2f..',
    '%2e%2e',
    'a%2fb',
    'a b',
    'tab\tname',
    'line\nname',
    'nul\u0000',
    'del\u007f',
    'nbsp\u00a0x',
    'x'.repeat(254),
    'x'.repeat(1024),
  ),
  anyString.map((s) => `${s}/`),
  fc.tuple(anyString, fc.constantFrom('/', '%', ' ', '\n', '\u0000', '\u2028')).map(([s, ch]) => s + ch),
);
const badNamespaces = fc.oneof(
  fc.constantFrom('Shop', '..', '.', 'a_b', 'x'.repeat(64), '-a', 'a-', 'ns/x', 'naïve', '#', 'a.b', ' shop'),
  anyString.filter((s) => s !== '' && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(s)),
);
const badGvks = fc.oneof(
  fc.constantFrom(
    '',
    'Deployment',
    'apps/v1',
    'apps/v1.',
    '.Deployment',
    'apps//v1.Deployment',
    'apps/v1.Deploy ment',
    'v1.Pod/x',
    '__proto__',
    '../v1.Pod',
  ),
  anyString.map((s) => `${s} .x`),
);
const badHashes = fc.oneof(
  fc.constantFrom(
    '',
    '00',
    '01',
    '-1',
    '+1',
    '18446744073709551616',
    '99999999999999999999',
    '1'.repeat(21),
    '0x1f',
    ' 1',
    '1 ',
    '1e3',
    '1.0',
    'NaN',
  ),
  fc.bigInt({ min: 2n ** 64n, max: 2n ** 80n }).map(String),
);

function objectBreakers(kind: 'applied' | 'deleted'): fc.Arbitrary<Breaker>[] {
  const list = [
    breaker('object: not an object', notObject, (c, v) => {
      c.object = v;
    }),
    breaker('object: missing', fc.constant(0), (c) => {
      delete c.object;
    }),
    breaker(
      'object.apiVersion: missing or not a string',
      fc.option(notString, { nil: undefined }),
      (c, v) => {
        const o = at(c, ['object']);
        if (v === undefined) delete o.apiVersion;
        else o.apiVersion = v;
      },
    ),
    breaker(
      'object.kind: not a kind',
      fc.oneof(fc.constantFrom('', '1Pod', 'Po d', 'Pod.', '../x', 'Pöd', '__proto__', 'Pod#1'), notString),
      (c, v) => {
        at(c, ['object']).kind = v;
      },
    ),
    breaker(
      'object.apiVersion: not a version',
      fc.constantFrom('', 'apps/', '/v1', 'a/b/c', 'v1 ', 'apps/v1#', '..'),
      (c, v) => {
        at(c, ['object']).apiVersion = v;
      },
    ),
    breaker('object.metadata: not an object', notObject, (c, v) => {
      at(c, ['object']).metadata = v;
    }),
    breaker('object.metadata.name: invalid', fc.oneof(badNames, notString), (c, v) => {
      at(c, ['object', 'metadata']).name = v;
    }),
    breaker('object.metadata.name: missing', fc.constant(0), (c) => {
      delete at(c, ['object', 'metadata']).name;
    }),
    breaker('object.metadata.namespace: invalid', fc.oneof(badNamespaces, notString), (c, v) => {
      at(c, ['object', 'metadata']).namespace = v;
    }),
    breaker(
      'object.metadata.labels/annotations: not string to string',
      fc.tuple(
        fc.constantFrom('labels', 'annotations'),
        fc.oneof(fc.constantFrom(...PROTO_KEYS), anyString),
        fc.oneof(notString, fc.constant({ a: { b: { c: 1 } } })),
      ),
      (c, [map, key, value]) => {
        const meta = at(c, ['object', 'metadata']);
        const entries: Json = {};
        setKey(entries, key, value);
        meta[map] = entries;
      },
    ),
    breaker(
      'object.metadata.labels: not an object',
      fc.oneof(fc.constantFrom(null, [], ['a=b'], 'app=web', 1)),
      (c, v) => {
        at(c, ['object', 'metadata']).labels = v;
      },
    ),
    breaker(
      'object.metadata.ownerReferences: malformed',
      fc.oneof(
        notArray,
        fc.constantFrom(
          [null],
          ['x'],
          [{}],
          [{ apiVersion: 'v1', kind: 'Pod' }],
          [{ apiVersion: 1, kind: 'Pod', name: 'a' }],
          [{ apiVersion: 'v1', kind: ['Pod'], name: 'a' }],
        ),
      ),
      (c, v) => {
        at(c, ['object', 'metadata']).ownerReferences = v;
      },
    ),
    breaker('seq: invalid', badIntArb(Number.MAX_SAFE_INTEGER), (c, v) => {
      c.seq = v;
    }),
    breaker('seq: raw number text', rawNumber, (c, raw) => {
      c.seq = RAW_MARKER;
      return raw;
    }),
    breaker(
      'object: nested deeper than 128 levels',
      fc.tuple(fc.integer({ min: 126, max: 3000 }), fc.constantFrom<'array' | 'object'>('array', 'object')),
      (c, [depth, shape]) => {
        const o = at(c, ['object']);
        o.spec = { deep: RAW_MARKER };
        return nestedText(depth, shape);
      },
    ),
  ];
  if (kind === 'applied') {
    list.push(
      breaker(
        'owners: malformed',
        fc.oneof(
          notArray,
          fc.constantFrom(
            [null],
            [{}],
            [{ gvk: 'apps/v1.Deployment' }],
            [{ gvk: 'apps/v1.Deployment', ns_name: 'shop/web', uid: 'u' }],
            [{ gvk: 'Deployment', ns_name: 'shop/web' }],
          ),
          fc
            .tuple(
              fc.oneof(
                badNames,
                badNamespaces.map((ns) => `${ns}/x`),
              ),
            )
            .map(([n]) => [{ gvk: 'apps/v1.Deployment', ns_name: n }]),
          fc.constantFrom(...PROTO_KEYS).map((k) => {
            const owner: Json = { gvk: 'apps/v1.Deployment', ns_name: 'shop/web' };
            setKey(owner, k, {});
            return [owner];
          }),
        ),
        (c, v) => {
          c.owners = v;
        },
      ),
    );
  }
  return list;
}

function relistBreakers(): fc.Arbitrary<Breaker>[] {
  return [
    breaker('relist.gvk: invalid', fc.oneof(badGvks, notString), (c, v) => {
      c.gvk = v;
    }),
    breaker('relist.after/through: missing', fc.constantFrom('after', 'through'), (c, k) => {
      delete c[k];
    }),
    breaker(
      'relist.after/through: not a string or null',
      fc.tuple(fc.constantFrom('after', 'through'), fc.constantFrom(0, true, [], {}, ['shop/a'])),
      (c, [k, v]) => {
        c[k] = v;
      },
    ),
    breaker(
      'relist: after not before through',
      fc.constantFrom(['shop/zzz', 'shop/aaa'], ['shop/b', 'shop/b'], ['\ud83d\ude00', '\uffff']),
      (c, [a, t]) => {
        c.after = a;
        c.through = t;
      },
    ),
    breaker('relist.ns_names: not an array', notArray, (c, v) => {
      c.ns_names = v;
    }),
    breaker(
      'relist.ns_names: unsorted or duplicate',
      fc.constantFrom(['shop/web', 'shop/api'], ['shop/api', 'shop/api'], ['shop/b', 'shop/a', 'shop/c']),
      (c, v) => {
        c.ns_names = v;
      },
    ),
    breaker('relist.ns_names: out of range', fc.constantFrom(['shop/zzzz'], ['zzz/a']), (c, v) => {
      c.ns_names = v;
    }),
    breaker('relist.ns_names: invalid name', fc.oneof(badNames, notString), (c, v) => {
      c.ns_names = ['shop/api', v];
    }),
  ];
}

function lifecycleBreakers(): fc.Arbitrary<Breaker>[] {
  return [
    breaker(
      'lifecycle.owner: malformed',
      fc.oneof(
        notObject,
        fc.constantFrom(
          {},
          { gvk: 'apps/v1.Deployment' },
          { gvk: 'apps/v1.Deployment', ns_name: 'shop/web', x: 1 },
        ),
      ),
      (c, v) => {
        c.owner = v;
      },
    ),
    breaker(
      'lifecycle.pod: invalid',
      fc.oneof(fc.constantFrom('', 'p'.repeat(513), 'p'.repeat(4096)), notString),
      (c, v) => {
        c.pod = v;
      },
    ),
    breaker(
      'lifecycle.pod_spec_hash: invalid',
      fc.oneof(badHashes, notString, fc.constant(Number('17156035354639895998'))),
      (c, v) => {
        c.pod_spec_hash = v;
      },
    ),
    breaker(
      'lifecycle.pod_spec_hash: raw number',
      fc.constantFrom('17156035354639895998', '-0', '1e400', 'NaN'),
      (c, raw) => {
        c.pod_spec_hash = RAW_MARKER;
        return raw;
      },
    ),
    breaker('lifecycle.start_ts: invalid', badIntArb(LATEST_TS), (c, v) => {
      c.start_ts = v;
    }),
    breaker(
      'lifecycle.end_ts: before start_ts or invalid',
      fc.oneof(fc.integer({ min: 0, max: NOW_SEC - 61 }), badIntArb(LATEST_TS)),
      (c, v) => {
        c.end_ts = v;
      },
    ),
  ];
}

function configBreakers(): fc.Arbitrary<Breaker>[] {
  return [
    breaker('config: not an object', notObject, (c, v) => {
      c.config = v;
    }),
    breaker(
      'config: invalid tracer config',
      fc.constantFrom<unknown>(
        {},
        { trackedObjects: [] },
        { trackedObjects: 'apps/v1.Deployment' },
        { trackedObjects: {}, extra: 1 },
        { trackedObjects: { Deployment: {} } },
        { trackedObjects: { 'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/nope'] } } },
        { trackedObjects: { 'apps/v1.Deployment': { podSpecTemplatePaths: '/spec/template' } } },
        { trackedObjects: { 'apps/v1.Deployment': { trackLifecycle: 'yes' } } },
        { trackedObjects: { 'apps/v1.Deployment': { unknown: true } } },
        { trackedObjects: { 'apps/v1.Deployment': [] } },
        { trackedObjects: { '../v1.Pod': {} } },
      ),
      (c, v) => {
        c.config = structuredClone(v);
      },
    ),
    breaker(
      'config: prototype keys',
      fc.tuple(fc.constantFrom(...PROTO_KEYS), fc.boolean()),
      (c, [k, top]) => {
        const doc: Json = { trackedObjects: {} };
        setKey(
          top ? doc : (doc.trackedObjects as Json),
          k,
          top ? { polluted: true } : { podSpecTemplatePaths: ['/x'] },
        );
        c.config = doc;
      },
    ),
  ];
}

function breakersFor(type: (typeof TYPES)[number]): fc.Arbitrary<Breaker> {
  const specific =
    type === 'applied' || type === 'deleted'
      ? objectBreakers(type)
      : type === 'relist'
        ? relistBreakers()
        : type === 'lifecycle'
          ? lifecycleBreakers()
          : configBreakers();
  return fc.oneof(...commonBreakers(type), ...specific);
}

const tokenIndex = fc.nat({ max: 7 });

/**
 * A valid batch (some of validBatch()'s changes, in order, some twice) with one change broken.
 * Sent as plain JSON, base64, or gzip: the encoding is right, the batch is not.
 */
export function brokenBatchArb(token: TokenPick): fc.Arbitrary<HostileRequest> {
  return fc
    .record({
      keep: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 6 }),
      target: fc.integer({ min: 0, max: TYPES.length - 1 }),
      at: fc.nat(),
      tok: tokenIndex,
      encoding: fc.constantFrom('plain', 'plain', 'base64', 'gzip'),
    })
    .chain((r) => breakersFor(TYPES[r.target]!).map((b) => ({ ...r, b })))
    .map(({ keep, target, at: pos, tok, encoding, b }) => {
      const valid = validBatch().changes;
      const changes: unknown[] = [...keep].sort((x, y) => x - y).map((i) => valid[i]);
      const broken = structuredClone(valid.find((c) => c.type === TYPES[target])!) as Json;
      const raw = b.apply(broken);
      const replacement = Object.hasOwn(broken, '\u0000replace') ? broken['\u0000replace'] : broken;
      changes.splice(pos % (changes.length + 1), 0, replacement);
      const text = withRaw({ changes }, raw);
      return { kind: `batch: ${b.name}`, bodyText: text, event: encoded(text, encoding, token(tok)) };
    });
}

function encoded(text: string, encoding: string, token: string): APIGatewayProxyEventV2 {
  if (encoding === 'gzip') {
    return ingestEvent({ token, body: gzipSync(text), headers: { 'content-encoding': 'gzip' } });
  }
  return ingestEvent({ token, body: text, base64: encoding === 'base64' });
}

/** Bodies that are not a batch object at all, or a batch object wrong at its top level. */
export function badBodyArb(token: TokenPick): fc.Arbitrary<HostileRequest> {
  const docs = fc.oneof(
    fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
    fc.constantFrom<unknown>(
      {},
      { changes: null },
      { changes: {} },
      { changes: 'all' },
      { changes: { 0: {}, length: 1 } },
      { Changes: [] },
    ),
    fc
      .tuple(
        fc.oneof(
          fc.constantFrom(...PROTO_KEYS),
          anyString.filter((k) => k !== 'changes'),
        ),
        fc.jsonValue({ maxDepth: 2 }),
      )
      .map(([k, v]) => {
        const doc: Json = { changes: [] };
        setKey(doc, k, v);
        return doc;
      }),
    fc.constantFrom(...PROTO_KEYS).map((k) => {
      // The batch hidden behind a prototype key: never read as the batch.
      const doc: Json = {};
      setKey(doc, k, validBatch());
      return doc;
    }),
  );
  return fc.tuple(docs, tokenIndex).map(([doc, tok]) => {
    const text = JSON.stringify(doc) ?? 'undefined';
    return {
      kind: 'body: not a batch',
      bodyText: text,
      event: ingestEvent({ token: token(tok), body: text }),
    };
  });
}

/** Raw text that is not JSON, or nests far too deep, or is empty. */
export function badJsonArb(token: TokenPick): fc.Arbitrary<HostileRequest> {
  const valid = JSON.stringify(validBatch());
  const texts = fc.oneof(
    fc.constantFrom(
      '',
      ' ',
      '\n\t',
      '{',
      '}',
      '{"changes":[}',
      "{'changes':[]}",
      '{"changes":[],}',
      'undefined',
      'NaN',
      '{"changes":[NaN]}',
      '\u0000',
      '\ufeff',
      '{"changes":[]}garbage',
      '[][]',
    ),
    anyString.filter((s) => !isJsonText(s)),
    fc.nat({ max: valid.length - 1 }).map((n) => valid.slice(0, n)),
    fc
      .tuple(
        fc.integer({ min: 129, max: 20_000 }),
        fc.constantFrom<'array' | 'object'>('array', 'object'),
        fc.boolean(),
      )
      .map(([depth, shape, wrapped]) =>
        wrapped
          ? `{"changes":[{"type":"applied","ts":1,"object":${nestedText(depth, shape)}}]}`
          : `{"changes":${nestedText(depth, shape)}}`,
      ),
  );
  return fc.tuple(texts, tokenIndex, fc.boolean()).map(([text, tok, b64]) => ({
    kind: 'body: not JSON / too deep',
    bodyText: text,
    event: ingestEvent({ token: token(tok), body: text, base64: b64 }),
  }));
}

function isJsonText(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

/** A gzip body whose inflated size is past the 32 MiB cap: built once, it is 32 KiB or so. */
let bomb: Buffer | undefined;
function gzipBomb(): Buffer {
  bomb ??= gzipSync(Buffer.alloc(33 * 1024 * 1024, 0x20), { level: 9 });
  return bomb;
}

/**
 * Encodings that are wrong whatever the body holds (even a valid batch): unsupported media type
 * or content coding, a "gzip" body that is not gzip, truncated gzip, gzip of gzip, bytes that
 * are not UTF-8, UTF-16 text, base64 that is not (heavyIngestCases has the bombs and the 4 MiB).
 */
export function badEncodingArb(token: TokenPick): fc.Arbitrary<HostileRequest> {
  const validText = JSON.stringify(validBatch());
  const validBytes = Buffer.from(validText);
  const gz = gzipSync(validText);
  type Make = (token: string) => HostileRequest;
  const gzipHeaders = { 'content-encoding': 'gzip' };
  const cases: fc.Arbitrary<Make>[] = [
    badContentTypeArb.map((ct) => (t) => {
      const event = ingestEvent({ token: t, body: validText });
      if (ct === null) delete event.headers['content-type'];
      else event.headers['content-type'] = ct;
      return {
        kind: 'encoding: wrong content-type',
        expect: { status: 415, code: 'unsupported_media_type' },
        event,
      };
    }),
    fc.constantFrom(...BAD_ENCODINGS).map((enc) => (t) => ({
      kind: 'encoding: unsupported content-encoding',
      expect: { status: 415, code: 'unsupported_encoding' },
      event: ingestEvent({ token: t, body: gz, headers: { 'content-encoding': enc } }),
    })),
    fc.constantFrom('gzip', 'x-gzip', 'GZIP', 'identity, gzip').map((enc) => (t) => ({
      kind: 'encoding: says gzip, is not gzip',
      expect: { status: 400, code: 'invalid_encoding' },
      event: ingestEvent({ token: t, body: validText, base64: true, headers: { 'content-encoding': enc } }),
    })),
    fc.integer({ min: 0, max: gz.length - 1 }).map((n) => (t) => ({
      kind: 'encoding: truncated gzip',
      expect: { status: 400, code: 'invalid_encoding' },
      event: ingestEvent({ token: t, body: gz.subarray(0, n), headers: gzipHeaders }),
    })),
    fc.constant((t: string) => ({
      kind: 'encoding: gzip of gzip, said once',
      expect: { status: 400, code: 'invalid_json' },
      event: ingestEvent({ token: t, body: gzipSync(gz), headers: gzipHeaders }),
    })),
    fc.tuple(fc.nat({ max: validBytes.length }), fc.nat(), fc.boolean()).map(([pos, k, zip]) => (t) => {
      const bytes = withInvalidUtf8(validBytes, pos, k);
      return {
        kind: 'encoding: invalid UTF-8',
        expect: { status: 400, code: 'invalid_json' },
        event: zip
          ? ingestEvent({ token: t, body: gzipSync(bytes), headers: gzipHeaders })
          : ingestEvent({ token: t, body: bytes }),
      };
    }),
    fc.constantFrom('utf16le', 'utf16be-bom', 'utf16le-bom').map((enc) => (t) => {
      const le = Buffer.from(validText, 'utf16le');
      const bom = enc === 'utf16le' ? [] : enc === 'utf16le-bom' ? [0xff, 0xfe] : [0xfe, 0xff];
      const text = enc === 'utf16be-bom' ? Buffer.from(le).swap16() : le;
      return {
        kind: 'encoding: UTF-16',
        expect: { status: 400, code: 'invalid_json' },
        event: ingestEvent({ token: t, body: Buffer.concat([Buffer.from(bom), text]) }),
      };
    }),
    fc
      .oneof(fc.constantFrom('!!!!', '====', '@@@@', '\u00ff\u00fe', ' ', '%%%'), fc.constant(validText))
      .map((text) => (t) => {
        // API Gateway says base64, but the text is not the base64 of any JSON.
        const event = ingestEvent({ token: t, body: text });
        event.isBase64Encoded = true;
        return { kind: 'encoding: bad base64', expect: { status: 400, code: 'invalid_json' }, event };
      }),
  ];
  return fc.tuple(fc.oneof(...cases), tokenIndex).map(([make, tok]) => make(token(tok)));
}

/** A valid batch sent where it must not be taken: bad cluster ids, wrong methods, bad credentials. */
export function badRequestLineArb(token: TokenPick): fc.Arbitrary<HostileRequest> {
  const body = JSON.stringify(validBatch());
  return fc.oneof(
    fc.tuple(badClusterArb, tokenIndex).map(([cluster, tok]) => ({
      kind: 'path: invalid cluster id',
      expect: { status: 400, code: 'invalid_cluster' },
      event: ingestEvent({ cluster, token: token(tok), body }),
    })),
    fc.constant(0).map(() => {
      const event = ingestEvent({ token: token(0), body });
      delete event.pathParameters;
      return { kind: 'path: no cluster parameter', expect: { status: 400, code: 'invalid_cluster' }, event };
    }),
    fc.tuple(fc.constantFrom(...WRONG_METHODS), tokenIndex).map(([method, tok]) => ({
      kind: 'method: not POST',
      expect: { status: 405, code: 'method_not_allowed' },
      event: ingestEvent({ method, token: token(tok), body }),
    })),
    badAuthArb.map((auth) => {
      const event = ingestEvent({ token: null, body });
      if (auth !== null) event.headers.authorization = auth;
      return { kind: 'auth: no valid token', expect: { status: 401, code: 'unauthorized' }, event };
    }),
    fc.constantFrom('other', 'demo').map((cluster) => ({
      kind: 'auth: token of another cluster',
      expect: { status: 403, code: 'forbidden' },
      event: ingestEvent({
        cluster,
        token: cluster === 'demo' ? `skt_${'o'.repeat(43)}` : `skt_${'d'.repeat(43)}`,
        body,
      }),
    })),
  );
}

/** Every ingest case kind, weighted towards broken batches. */
export function hostileIngestArb(token: TokenPick): fc.Arbitrary<HostileRequest> {
  return fc.oneof(
    { arbitrary: brokenBatchArb(token), weight: 10 },
    { arbitrary: badBodyArb(token), weight: 2 },
    { arbitrary: badJsonArb(token), weight: 2 },
    { arbitrary: badEncodingArb(token), weight: 3 },
    { arbitrary: badRequestLineArb(token), weight: 3 },
  );
}

/**
 * The expensive cases, a fixed few each rather than a random share: limits that take megabytes
 * to reach (an object over 1.5 MiB, a body over 4 MiB, a gzip bomb inflating past 32 MiB, more
 * than 5,000 changes or relist names) and nesting 100,000 levels deep.
 */
export function heavyIngestCases(token: string): HostileRequest[] {
  const cases: HostileRequest[] = [];
  const batchCase = (kind: string, expect: HostileRequest['expect'], doc: unknown, zip = false): void => {
    const text = JSON.stringify(doc);
    cases.push({
      kind,
      ...(expect ? { expect } : {}),
      bodyText: text,
      event: zip
        ? ingestEvent({ token, body: gzipSync(text), headers: { 'content-encoding': 'gzip' } })
        : ingestEvent({ token, body: text }),
    });
  };
  for (const [i, size] of [1_572_864, 1_600_000, 3_000_000].entries()) {
    const [, applied] = validBatch().changes;
    (applied!.object as Json).spec = { blob: 'x'.repeat(size) };
    batchCase(
      'heavy: object over 1.5 MiB',
      { status: 413, code: 'object_too_large' },
      { changes: [applied] },
      i === 2,
    );
  }
  for (const n of [5001, 6000]) {
    const relist = validBatch().changes[4]!;
    Object.assign(relist, {
      after: null,
      through: null,
      ns_names: Array.from({ length: n }, (_, i) => `ns/p${String(i).padStart(6, '0')}`),
    });
    batchCase(
      'heavy: more than 5,000 relist names',
      { status: 413, code: 'too_many_names' },
      { changes: [relist] },
    );
    batchCase(
      'heavy: more than 5,000 changes',
      { status: 413, code: 'too_many_changes' },
      {
        changes: Array.from({ length: n }, () => validBatch().changes[5]),
      },
    );
  }
  const bomb = gzipBomb();
  for (let i = 0; i < 3; i++) {
    cases.push({
      kind: 'heavy: gzip bomb',
      expect: { status: 413, code: 'payload_too_large' },
      event: ingestEvent({ token, body: bomb, headers: { 'content-encoding': 'gzip' } }),
    });
  }
  for (const [n, base64] of [
    [4 * 1024 * 1024 + 1, false],
    [5 * 1024 * 1024, true],
  ] as const) {
    cases.push({
      kind: 'heavy: body over 4 MiB',
      expect: { status: 413, code: 'payload_too_large' },
      event: ingestEvent({ token, body: Buffer.alloc(n, 0x20), base64 }),
    });
  }
  for (const shape of ['array', 'object'] as const) {
    for (const text of [
      `{"changes":[{"type":"applied","ts":1,"object":${nestedText(100_000, shape)}}]}`,
      `{"changes":${nestedText(100_000, shape)}}`,
      nestedText(100_000, shape),
    ]) {
      cases.push({
        kind: 'heavy: nested 100,000 levels',
        bodyText: text,
        event: ingestEvent({ token, body: text }),
      });
    }
  }
  return cases;
}
