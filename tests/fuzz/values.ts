/**
 * Building blocks of hostile requests shared by the ingest, exports and gateway fuzzers: values
 * that are wrong for a field by construction, hostile keys, deep nesting, and bodies written as
 * raw JSON text (NaN, Infinity and 1e400 have no JSON.stringify form).
 */
import fc from 'fast-check';
import { badClusterId } from './bad-names.ts';

/** Placed as a value, then swapped for raw text by `withRaw`. */
/** A JSON object being mutated. */
export type Json = Record<string, unknown>;

export const RAW_MARKER = '\u0000raw\u0000';

/** JSON text of `doc` with the (single) RAW_MARKER value replaced by `raw`, verbatim. */
export function withRaw(doc: unknown, raw: string | undefined): string {
  const text = JSON.stringify(doc) ?? '';
  return raw === undefined ? text : text.replace(JSON.stringify(RAW_MARKER), raw);
}

/**
 * Sets an own, enumerable property even for `__proto__` (a plain assignment would set the
 * prototype instead), the way JSON.parse creates it from request text.
 */
export function setKey(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Keys aimed at prototype pollution and at `in`/`obj[key]` lookups that walk the prototype. */
export const PROTO_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__defineGetter__',
  'isPrototypeOf',
] as const;

/**
 * Numbers-as-text that are never a non-negative integer of unix seconds: invalid JSON literals
 * (NaN, Infinity, hex…) and valid JSON that parses to a non-integer or out of range (1e400).
 * `-0` is deliberately absent: it parses to 0, a valid timestamp.
 */
export const RAW_BAD_NUMBERS = [
  'NaN',
  'Infinity',
  '-Infinity',
  '1e400',
  '-1e400',
  '0x10',
  '1_000',
  '+1',
  '01',
  '.5',
  '1.',
  '1e',
  '--1',
  '9007199254740993',
  '1.0000000000000002',
  '-1',
] as const;

/** A JSON value that is not a non-negative safe integer ≤ `max` (a timestamp or a seq). */
export function badIntArb(max: number): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.integer({ min: -(2 ** 40), max: -1 }),
    fc
      .double({ noNaN: true, noDefaultInfinity: true })
      .filter((d) => !(Number.isSafeInteger(d) && d >= 0 && d <= max)),
    fc.constantFrom(max + 1, 2 ** 53, Number.MAX_SAFE_INTEGER + 2, 1e21, 1.5, -1),
    fc.integer({ min: 0, max }).map((n) => String(n)),
    fc.constantFrom(null, true, false, '', [], {}, [1], { n: 1 }),
  );
}

/** Nested arrays or objects `depth` levels deep around `leaf`, built without recursion. */
export function nested(depth: number, shape: 'array' | 'object', leaf: unknown = 0): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = shape === 'array' ? [v] : { a: v };
  return v;
}

/** Raw JSON text nesting `depth` levels (too deep to build as values cheaply). */
export function nestedText(depth: number, shape: 'array' | 'object'): string {
  return shape === 'array'
    ? `${'['.repeat(depth)}0${']'.repeat(depth)}`
    : `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`;
}

/** Strings of every kind: printable, unicode, binary (lone surrogates, controls). */
export const anyString: fc.Arbitrary<string> = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'binary-ascii' }),
);

/**
 * Cluster ids that are not lowercase DNS labels: traversal, separators, encodings, unicode, 1 KB,
 * and ids broken by construction (bad-names.ts) — not filtered by lib/ingest/names.ts.
 */
export const badClusterArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    '.',
    '..',
    '../..',
    '%2e%2e',
    '%2E%2E',
    '..%2f..',
    'demo#x',
    '#',
    'demo/../other',
    'demo%00',
    'demo\u0000',
    ' demo',
    'demo ',
    'Demo',
    'DEMO',
    '-demo',
    'demo-',
    'de_mo',
    'demo.other',
    'démo',
    '集群',
    '🙂',
    'a'.repeat(64),
    'a'.repeat(1024),
    `${'a'.repeat(1023)}#`,
    'demo\n',
    'CLUSTER#demo#TOKENS',
    '__proto__',
    // ('constructor' is a valid DNS label, and so a valid cluster id: not here.)
  ),
  badClusterId,
);

/** Methods no route serves on these paths (API Gateway sends them uppercase). */
export const WRONG_METHODS = [
  'GET',
  'PUT',
  'DELETE',
  'PATCH',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'CONNECT',
  'BREW',
  '',
] as const;

/** Authorization headers that authenticate nobody (bearer tokens are `skt_` + 43 base64url). */
export const badAuthArb: fc.Arbitrary<string | null> = fc.oneof(
  fc.constantFrom(
    null,
    '',
    ' ',
    'Bearer',
    'Bearer ',
    'Basic ZGVtbzpkZW1v',
    'Bearer skt_',
    `Bearer skt_${'d'.repeat(42)}`,
    `Bearer skt_${'d'.repeat(44)}`,
    `Bearer skt_${'d'.repeat(43)} extra`,
    `Bearer  skt_${'d'.repeat(43)}x`,
    `Bearer skt_${'d'.repeat(42)}=`,
    `Bearer SKT_${'d'.repeat(43)}`,
    `Token skt_${'d'.repeat(43)}`,
    `Bearer skt_${'é'.repeat(43)}`,
    `Bearer ${'x'.repeat(8192)}`,
    `Bearer skt_${'d'.repeat(43)}\u0000`,
  ),
  // Well-formed but unknown: reaches the token store's lookup.
  fc
    .string({
      unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'),
      minLength: 43,
      maxLength: 43,
    })
    .filter((s) => s !== 'd'.repeat(43) && s !== 'o'.repeat(43) && s !== 'g'.repeat(43))
    .map((s) => `Bearer skt_${s}`),
  anyString.map((s) => `Bearer ${s}`).filter((h) => !/^Bearer +skt_[A-Za-z0-9_-]{43}$/.test(h.trim())),
);

/** Content types parseJsonBody refuses (415): anything but application/json or +json. */
export const badContentTypeArb: fc.Arbitrary<string | null> = fc.oneof(
  fc.constantFrom(
    null,
    '',
    'text/plain',
    'text/json',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/octet-stream',
    'application/jsonp',
    'application/json-seq',
    'application/jsonx',
    'application/xml',
    'json',
    'application/',
    '*/*',
    'application/json,text/plain',
    'application/ json',
    'application\\/json',
  ),
  anyString.filter((s) => !/^\s*application\/([\w.-]+\+)?json\s*(;.*)?$/i.test(s.trim())),
);

/** Content encodings decodeBody refuses (415). */
export const BAD_ENCODINGS = [
  'deflate',
  'br',
  'compress',
  'zstd',
  'gzip, gzip',
  'gzip, deflate',
  'gzip;q=1',
  'GZIP2',
  'x-compress',
  'chunked',
  'identity, br',
  '*',
] as const;

/** Inserts bytes that are never valid UTF-8 (RFC 3629) at `at` (clamped). */
export function withInvalidUtf8(bytes: Buffer, at: number, kind: number): Buffer {
  const bad = [
    Buffer.from([0xff]),
    Buffer.from([0xc0, 0xaf]), // overlong "/"
    Buffer.from([0xe0, 0x80, 0xaf]), // overlong
    Buffer.from([0xed, 0xa0, 0x80]), // a UTF-16 surrogate encoded (CESU-8)
    Buffer.from([0xf4, 0x90, 0x80, 0x80]), // past U+10FFFF
    Buffer.from([0x80]), // lone continuation byte
    Buffer.from([0xe2, 0x82]), // truncated sequence
    Buffer.from([0xfe, 0xfe]),
  ][kind % 8]!;
  const i = Math.min(Math.max(0, at), bytes.length);
  return Buffer.concat([bytes.subarray(0, i), bad, bytes.subarray(i)]);
}

/** Whether `validate` accepts the JSON in `text` (a generated "hostile" body must not). */
export function acceptsText(text: string, validate: (json: unknown) => unknown): boolean {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return false;
  }
  try {
    validate(json);
    return true;
  } catch {
    return false;
  }
}

/** A breaker changes one value in place so that it is invalid; it may return raw text for RAW_MARKER. */
export type Breaker = { name: string; apply: (doc: Json) => string | undefined };

export function breaker<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  apply: (doc: Json, v: T) => unknown,
): fc.Arbitrary<Breaker> {
  // `apply` returns the raw text for RAW_MARKER when it placed one, else nothing.
  return arb.map((v) => ({
    name,
    apply: (doc: Json) => {
      const raw = apply(doc, v);
      return typeof raw === 'string' ? raw : undefined;
    },
  }));
}
