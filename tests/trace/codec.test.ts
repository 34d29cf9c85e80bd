import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';

// Keys and names; `__proto__` is excluded because the msgpack decoder refuses it (tested below).
const keyString = (constraints?: fc.StringConstraints) =>
  fc.string(constraints).filter((s) => s !== '__proto__');

import { SktraceError } from '../../lib/errors.ts';
import {
  decodeTrace,
  decodeTraceBytes,
  decodeTraceJson,
  encodeArrayHeader,
  encodeTrace,
  encodeTraceEventInto,
  encodeTraceHead,
  encodeTraceTail,
  looksLikeJson,
} from '../../lib/trace/codec.ts';
import { loadTraceFile, readTraceFile } from '../../lib/trace/codec-file.ts';
import { TraceFileError, TraceFormatError } from '../../lib/trace/errors.ts';
import { Float64 } from '../../lib/trace/float.ts';
import type { KubeObject, Lifecycle, PodLifecycles, Trace } from '../../lib/trace/model.ts';
import { objKey } from '../../lib/trace/model.ts';

// --- msgpack written by hand from the spec (not by the library), to pin the exact bytes.
const enc = new TextEncoder();
function s(text: string): number[] {
  const b = [...enc.encode(text)];
  if (b.length < 32) return [0xa0 | b.length, ...b];
  if (b.length < 256) return [0xd9, b.length, ...b];
  return [0xda, b.length >> 8, b.length & 0xff, ...b];
}
const fixmap = (n: number) => [0x80 | n];
const fixarray = (n: number) => [0x90 | n];
const be = (x: bigint, bytes: number) =>
  Array.from({ length: bytes }, (_, i) => Number((x >> BigInt(8 * (bytes - 1 - i))) & 0xffn));
const u32 = (x: number) => [0xce, ...be(BigInt(x), 4)];
const u64 = (x: bigint) => [0xcf, ...be(x, 8)];
const f64 = (x: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, x);
  return [0xcb, ...b];
};
const bytes = (...parts: number[][]) => Uint8Array.from(parts.flat());

const EMPTY_TRACE: Trace = {
  version: 2,
  config: { trackedObjects: {} },
  events: [],
  index: new Map(),
  podLifecycles: new Map(),
};
const EMPTY_TRACE_BYTES = bytes(
  fixmap(5),
  s('version'),
  [2],
  s('config'),
  fixmap(1),
  s('trackedObjects'),
  fixmap(0),
  s('events'),
  fixarray(0),
  s('index'),
  fixmap(0),
  s('pod_lifecycles'),
  fixmap(0),
);

const BIG = 17156035354639895998n; // > 2^53: must stay exact
const HUGE = 18000000000000000000n;
const POD: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'ns' },
  spec: { x: -1, big: 2 ** 40, f: 0.5 },
};
const lifecycles: PodLifecycles = new Map([
  [
    objKey({ gvk: 'v1.Pod', nsName: 'ns/p' }),
    {
      owner: { gvk: 'v1.Pod', nsName: 'ns/p' },
      bySpecHash: new Map([
        [5n, [{ startTs: 1700000001 }]],
        [HUGE, [{ startTs: 1700000002, endTs: 1700000003 }]],
      ]),
    },
  ],
]);
const FEATURE_TRACE: Trace = {
  version: 2,
  config: { trackedObjects: { 'v1.Pod': { podSpecTemplatePaths: [''], trackLifecycle: true } } },
  events: [{ ts: 1700000000, applied_objs: [POD], deleted_objs: [] }],
  index: new Map([
    [
      'v1.Pod',
      new Map([
        ['ns/p', BIG],
        ['ns/q', 5n],
        ['ns/r', 4000000000n],
      ]),
    ],
  ]),
  podLifecycles: lifecycles,
};
const FEATURE_TRACE_BYTES = bytes(
  fixmap(5),
  s('version'),
  [2],
  s('config'),
  fixmap(1),
  s('trackedObjects'),
  fixmap(1),
  s('v1.Pod'),
  fixmap(2),
  s('podSpecTemplatePaths'),
  fixarray(1),
  s(''),
  s('trackLifecycle'),
  [0xc3],
  s('events'),
  fixarray(1),
  fixmap(3),
  s('ts'),
  u32(1700000000),
  s('applied_objs'),
  fixarray(1),
  fixmap(4),
  s('apiVersion'),
  s('v1'),
  s('kind'),
  s('Pod'),
  s('metadata'),
  fixmap(2),
  s('name'),
  s('p'),
  s('namespace'),
  s('ns'),
  s('spec'),
  fixmap(3),
  s('x'),
  [0xff], // negative fixint -1
  s('big'),
  u64(2n ** 40n), // rmp writes any integer >= 2^32 as uint64
  s('f'),
  f64(0.5),
  s('deleted_objs'),
  fixarray(0),
  s('index'),
  fixmap(1),
  s('v1.Pod'),
  fixmap(3),
  s('ns/p'),
  u64(BIG),
  s('ns/q'),
  [5],
  s('ns/r'),
  u32(4000000000),
  s('pod_lifecycles'),
  fixmap(1),
  fixarray(2), // the key: [ownerGVK, ownerNsName]
  s('v1.Pod'),
  s('ns/p'),
  fixmap(2),
  [5], // pod-spec hash below 2^7: positive fixint
  fixarray(1),
  fixmap(1),
  s('Running'),
  u32(1700000001),
  u64(HUGE),
  fixarray(1),
  fixmap(1),
  s('Finished'),
  fixarray(2),
  u32(1700000002),
  u32(1700000003),
);

function isFormatError(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof TraceFormatError, `expected a TraceFormatError, got ${err}`);
    assert.ok(err instanceof SktraceError);
    assert.equal(err.code, 'trace_format');
    assert.match(err.message, pattern);
    return true;
  };
}

describe('msgpack codec: exact bytes', () => {
  const cases = [
    { name: 'empty trace', trace: EMPTY_TRACE, bytes: EMPTY_TRACE_BYTES },
    {
      name: 'array keys, u64 > 2^53, hashes < 2^32, Running and Finished, float, negative int',
      trace: FEATURE_TRACE,
      bytes: FEATURE_TRACE_BYTES,
    },
  ];
  for (const c of cases) {
    test(`encodes the ${c.name} as sk-tracer does`, () => {
      assert.deepEqual([...encodeTrace(c.trace)], [...c.bytes]);
    });
    test(`decodes the ${c.name}`, () => {
      assert.deepEqual(decodeTrace(c.bytes), c.trace);
    });
    test(`decode then encode of the ${c.name} gives the same bytes`, () => {
      assert.deepEqual([...encodeTrace(decodeTrace(c.bytes))], [...c.bytes]);
    });
  }

  test('index values and pod-spec hashes are bigint, timestamps numbers', () => {
    const t = decodeTrace(FEATURE_TRACE_BYTES);
    assert.equal(typeof t.index.get('v1.Pod')!.get('ns/q'), 'bigint');
    const owner = t.podLifecycles.get(objKey({ gvk: 'v1.Pod', nsName: 'ns/p' }))!;
    assert.deepEqual([...owner.bySpecHash.keys()], [5n, HUGE]);
    assert.equal(typeof t.events[0]!.ts, 'number');
    // A uint64 below 2^53 inside an object comes back as a plain number.
    assert.deepEqual(t.events[0]!.applied_objs[0]!.spec, { x: -1, big: 2 ** 40, f: 0.5 });
  });

  test('maps of 16+ entries get map16 headers, 65536+ map32, both ways', () => {
    const names16 = new Map(Array.from({ length: 16 }, (_, i) => [`ns/o${i}`, BigInt(i)] as const));
    const t16: Trace = { ...EMPTY_TRACE, index: new Map([['v1.Pod', names16]]) };
    const b16 = encodeTrace(t16);
    const at = b16.indexOf(0xde);
    assert.deepEqual([...b16.subarray(at, at + 3)], [0xde, 0x00, 0x10]);
    assert.deepEqual(decodeTrace(b16), t16);

    const hashes = new Map(
      Array.from({ length: 70000 }, (_, i): [bigint, Lifecycle[]] => [BigInt(i), [{ startTs: i }]]),
    );
    const owner = { gvk: 'apps/v1.Deployment', nsName: 'a/b' };
    const tBig: Trace = {
      ...EMPTY_TRACE,
      podLifecycles: new Map([[objKey(owner), { owner, bySpecHash: hashes }]]),
    };
    const bBig = encodeTrace(tBig);
    const header = bBig.indexOf(0xdf);
    assert.deepEqual([...bBig.subarray(header, header + 5)], [0xdf, 0x00, 0x01, 0x11, 0x70]);
    assert.deepEqual(decodeTrace(bBig), tBig);
  });

  test('a bigint beyond 2^53 inside an object is written as uint64 and read back exactly', () => {
    const obj: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c' },
      data: { n: 2n ** 63n, m: 7 },
    };
    const t: Trace = { ...EMPTY_TRACE, events: [{ ts: 1, applied_objs: [obj], deleted_objs: [] }] };
    const b = encodeTrace(t);
    assert.ok(Buffer.from(b).includes(Buffer.from(u64(2n ** 63n))));
    assert.deepEqual(decodeTrace(b), t);
    // The streaming pieces give the same bytes: the event goes through the int encoder first,
    // which refuses the bigint, then through the bigint one (encodeTraceEventInto).
    const pieces: Uint8Array[] = [encodeTraceHead(t.config), encodeArrayHeader(1)];
    encodeTraceEventInto(t.events[0]!, (bytes) => pieces.push(bytes.slice()));
    pieces.push(encodeTraceTail(t));
    assert.deepEqual(Buffer.concat(pieces), Buffer.from(b));
  });

  test('integer-like keys: the index keeps their order, objects get their names back', () => {
    const obj: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c' },
      data: { b: 1, '7': 2 },
    };
    const t: Trace = {
      ...EMPTY_TRACE,
      events: [{ ts: 1, applied_objs: [obj], deleted_objs: [] }],
      index: new Map([
        [
          'v1.Namespace',
          new Map([
            ['b', 1n],
            ['10', 2n],
            ['0', 3n],
          ]),
        ],
      ]),
    };
    const back = decodeTrace(encodeTrace(t));
    assert.deepEqual([...back.index.get('v1.Namespace')!.keys()], ['b', '10', '0']);
    assert.deepEqual(back.events[0]!.applied_objs[0]!.data, { b: 1, '7': 2 });
  });

  test('an integral float decodes as a Float64 and is re-encoded as float64, byte for byte', () => {
    // {"f": 1.0} in a spec: f64 in the file; before lib/trace/float.ts it came back as a fixint.
    const withFloat = [...FEATURE_TRACE_BYTES];
    const fAt = Buffer.from(FEATURE_TRACE_BYTES).indexOf(Buffer.from(f64(0.5)));
    withFloat.splice(fAt, 9, ...f64(1));
    const t = decodeTrace(Uint8Array.from(withFloat));
    const f = (t.events[0]!.applied_objs[0]!.spec as { f: unknown }).f;
    assert.ok(f instanceof Float64 && f.value === 1);
    assert.deepEqual([...encodeTrace(t)], withFloat);
  });
});

describe('msgpack codec: the index in the tail, by hand', () => {
  test('writes each name in its smallest str form and each hash in its smallest int form', () => {
    const str = (text: string) => {
      const b = Buffer.from(text, 'utf8');
      const n = b.length;
      const head = n < 32 ? [0xa0 | n] : n < 256 ? [0xd9, n] : [0xda, n >> 8, n & 0xff];
      return [...head, ...b];
    };
    const name = (n: number) => `a/${'n'.repeat(n - 2)}`;
    // [nsName, hash, the hash's bytes]
    const entries: Array<[string, bigint, number[]]> = [
      [name(3), 0n, [0x00]],
      ['ns/é', 128n, [0xcc, 0x80]],
      [name(31), (1n << 32n) - 1n, [0xce, 0xff, 0xff, 0xff, 0xff]],
      [name(32), 1n << 32n, [0xcf, 0, 0, 0, 1, 0, 0, 0, 0]],
      [name(255), 1n << 53n, [0xcf, 0, 0x20, 0, 0, 0, 0, 0, 0]],
      [name(256), (1n << 64n) - 1n, [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
      [name(40), 0x0123456789abcdefn, [0xcf, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]],
    ];
    const index = new Map([['apps/v1.Deployment', new Map(entries.map(([n, h]) => [n, h]))]]);
    const want = [
      ...str('index'),
      0x81,
      ...str('apps/v1.Deployment'),
      0x80 | entries.length,
      ...entries.flatMap(([n, , hash]) => [...str(n), ...hash]),
      ...str('pod_lifecycles'),
      0x80,
    ];
    assert.deepEqual([...encodeTraceTail({ index, podLifecycles: new Map() })], want);
  });
});

describe('msgpack codec: round trips', () => {
  const u64s = fc.bigInt(0n, (1n << 64n) - 1n);
  const plainJson = fc
    .jsonValue({ maxDepth: 3 })
    .map((v) => JSON.parse(JSON.stringify(v)) as unknown)
    .filter((v) => !JSON.stringify(v).includes('"__proto__":'));
  const obj = fc.record({
    apiVersion: fc.constantFrom('v1', 'apps/v1', 'batch/v1'),
    kind: fc.constantFrom('Pod', 'Deployment', 'Job'),
    metadata: fc.record({ name: keyString({ minLength: 1 }), namespace: keyString() }),
    spec: plainJson,
  });
  const lifecycle = fc.oneof(
    fc.record({ startTs: fc.nat() }),
    fc.record({ startTs: fc.nat(), endTs: fc.nat() }),
  );
  // structuredClone: fc.record builds null-prototype objects; decoded ones have Object's.
  const trace: fc.Arbitrary<Trace> = fc
    .record({
      version: fc.constant(2 as const),
      config: fc.record({
        trackedObjects: fc.dictionary(
          fc.constantFrom('v1.Pod', 'apps/v1.Deployment'),
          fc.record(
            {
              podSpecTemplatePaths: fc.array(keyString()),
              trackLifecycle: fc.boolean(),
              skipOwned: fc.boolean(),
            },
            { requiredKeys: [] },
          ),
        ),
      }),
      events: fc.array(
        fc.record({
          ts: fc.integer({ min: 0, max: 2 ** 40 }),
          applied_objs: fc.array(obj),
          deleted_objs: fc.array(obj),
        }),
        { maxLength: 5 },
      ),
      index: fc
        .array(fc.tuple(keyString(), fc.array(fc.tuple(keyString(), u64s), { maxLength: 20 })), {
          maxLength: 3,
        })
        .map((entries) => new Map(entries.map(([gvk, names]) => [gvk, new Map(names)]))),
      podLifecycles: fc
        .array(
          fc.tuple(
            keyString(),
            keyString(),
            fc.array(fc.tuple(u64s, fc.array(lifecycle, { maxLength: 3 })), { maxLength: 4 }),
          ),
          { maxLength: 4 },
        )
        .map(
          (owners) =>
            new Map(
              owners.map(([gvk, nsName, byHash]) => [
                objKey({ gvk, nsName }),
                { owner: { gvk, nsName }, bySpecHash: new Map(byHash) },
              ]),
            ),
        ),
    })
    .map((t) => structuredClone(t));

  test('decode(encode(trace)) equals the trace, and encoding is stable', () => {
    fc.assert(
      fc.property(trace, (t) => {
        const b = encodeTrace(t);
        const back = decodeTrace(b);
        assert.deepEqual(back, t);
        assert.deepEqual(encodeTrace(back), b);
      }),
      { numRuns: 150 },
    );
  });
});

describe('msgpack codec: errors name the problem', () => {
  // A map with the given fields, in order; values are raw msgpack.
  const traceWith = (fields: [string, number[]][]) =>
    bytes(fixmap(fields.length), ...fields.flatMap(([k, v]) => [s(k), v]));
  const valid: [string, number[]][] = [
    ['version', [2]],
    ['config', [...fixmap(1), ...s('trackedObjects'), ...fixmap(0)]],
    ['events', fixarray(0)],
    ['index', fixmap(0)],
    ['pod_lifecycles', fixmap(0)],
  ];
  const replace = (field: string, value: number[]) =>
    traceWith(valid.map(([k, v]) => [k, k === field ? value : v] as [string, number[]]));
  const n = FEATURE_TRACE_BYTES.length;

  const cases: { name: string; input: Uint8Array; error: RegExp }[] = [
    { name: 'empty input', input: new Uint8Array(0), error: /empty/ },
    {
      name: 'an array, not a map',
      input: bytes(fixarray(3), [1, 2, 3]),
      error: /starts with byte 0x93, expected a msgpack map/,
    },
    { name: 'YAML text', input: enc.encode('---\ntrackedObjects: {}\n'), error: /starts with byte 0x2d/ },
    {
      name: 'missing field',
      input: traceWith(valid.filter(([k]) => k !== 'events')),
      error: /no field "events"/,
    },
    { name: 'missing version', input: traceWith(valid.slice(1)), error: /no field "version"/ },
    {
      name: 'another version',
      input: replace('version', [3]),
      error: /unsupported trace version 3: .*version 2/,
    },
    {
      name: 'unexpected field',
      input: traceWith([...valid, ['extra', [1]]]),
      error: /unexpected field "extra"/,
    },
    {
      name: 'events not a list',
      input: replace('events', s('x')),
      error: /events is the string "x", expected a list/,
    },
    {
      name: 'event ts not an integer',
      input: replace('events', [
        ...fixarray(1),
        ...fixmap(3),
        ...s('ts'),
        ...s('x'),
        ...s('applied_objs'),
        ...fixarray(0),
        ...s('deleted_objs'),
        ...fixarray(0),
      ]),
      error: /events\[0\]\.ts is the string "x", expected an integer/,
    },
    {
      name: 'object without kind',
      input: replace(
        'events',
        [
          ...fixarray(1),
          ...fixmap(3),
          ...s('ts'),
          [1],
          ...s('applied_objs'),
          ...fixarray(1),
          ...fixmap(2),
          ...s('apiVersion'),
          ...s('v1'),
          ...s('metadata'),
          ...fixmap(0),
          ...s('deleted_objs'),
          ...fixarray(0),
        ].flat(),
      ),
      error: /events\[0\]\.applied_objs\[0\]\.kind is nil, expected a string|kind is .*expected a string/,
    },
    {
      name: 'negative index hash',
      input: replace('index', [...fixmap(1), ...s('v1.Pod'), ...fixmap(1), ...s('a'), 0xff]),
      error: /index\["v1.Pod"\]\["a"\] is the number -1, expected a u64/,
    },
    {
      name: 'pod_lifecycles with a string key',
      input: replace('pod_lifecycles', [...fixmap(1), ...s('v1.Pod'), ...fixmap(0)]),
      error: /pod_lifecycles key "v1.Pod" is a string/,
    },
    {
      name: 'pod_lifecycles key not a pair',
      input: replace('pod_lifecycles', [...fixmap(1), ...fixarray(1), ...s('v1.Pod'), ...fixmap(0)]),
      error: /pod_lifecycles key is a list, expected a \[GVK, nsName\] array/,
    },
    {
      name: 'unknown lifecycle variant',
      input: replace('pod_lifecycles', [
        ...fixmap(1),
        ...fixarray(2),
        ...s('v1.Pod'),
        ...s('a'),
        ...fixmap(1),
        1,
        ...fixarray(1),
        ...s('Empty'),
      ]),
      error: /expected \{"Running": start\} or \{"Finished": \[start, end\]\}/,
    },
    {
      name: 'non-string map key outside pod_lifecycles',
      input: replace('config', [...fixmap(1), ...s('trackedObjects'), ...fixmap(1), 7, ...fixmap(0)]),
      error:
        /config\.trackedObjects has a map key that is the number 7: only pod_lifecycles has non-string keys/,
    },
    {
      name: 'string key with the reserved prefix',
      input: replace('index', [...fixmap(1), ...s('\u0000sktrace-key:0'), ...fixmap(0)]),
      error: /reserved prefix/,
    },
    {
      name: 'truncated',
      input: FEATURE_TRACE_BYTES.subarray(0, n - 3),
      error: new RegExp(`truncated trace: .* of ${n - 3}$`),
    },
    {
      name: 'truncated inside a string',
      input: FEATURE_TRACE_BYTES.subarray(0, 5),
      error: /truncated trace: .* at byte \d+ of 5/,
    },
    {
      name: 'trailing garbage',
      input: bytes([...FEATURE_TRACE_BYTES], [0xc0, 0xc0]),
      error: new RegExp(`trailing data: 2 byte\\(s\\) after the end of the trace at byte ${n} of ${n + 2}`),
    },
    { name: 'invalid msgpack', input: bytes(fixmap(1), [0xc1]), error: /not valid msgpack/ },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.throws(() => decodeTrace(c.input), isFormatError(c.error));
    });
  }

  test('every truncation of a valid trace is a TraceFormatError, never another error', () => {
    for (let i = 0; i < n; i++) {
      assert.throws(() => decodeTrace(FEATURE_TRACE_BYTES.subarray(0, i)), isFormatError(/truncated|empty/));
    }
  });

  test('random bytes give a TraceFormatError or a trace, nothing else', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.nat(FEATURE_TRACE_BYTES.length - 1),
        fc.nat(255),
        (junk, at, byte) => {
          const mutated = Uint8Array.from(FEATURE_TRACE_BYTES);
          mutated[at] = byte;
          for (const input of [junk, mutated]) {
            try {
              decodeTrace(input);
            } catch (err) {
              assert.ok(err instanceof TraceFormatError, `unexpected ${(err as Error)?.stack ?? err}`);
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('JSON variant', () => {
  const fixture = readFileSync(new URL('../fixtures/trace/small-trace.json', import.meta.url), 'utf8');

  test('reads u64 index values exactly from the text', () => {
    const t = decodeTraceJson(fixture);
    const idx = t.index.get('apps/v1.Deployment')!;
    // 2^53 + 1 is not a double: JSON.parse alone would give 2^53.
    assert.equal(idx.get('shop/web'), 9007199254740993n);
    assert.equal(idx.get('shop/max'), 18446744073709551615n);
    assert.equal(idx.get('shop/small'), 42n);
    assert.equal(t.events.length, 3);
    assert.equal(t.events[1]!.applied_objs[0]!.metadata.name, 'web');
    assert.deepEqual(t.podLifecycles, new Map());
  });

  test('its msgpack encoding decodes back to the same trace', () => {
    const t = decodeTraceJson(fixture);
    assert.deepEqual(decodeTrace(encodeTrace(t)), t);
  });

  test('decodeTraceBytes picks JSON or msgpack by content', () => {
    assert.equal(decodeTraceBytes(enc.encode(fixture)).format, 'json');
    assert.equal(decodeTraceBytes(enc.encode(`\n  ${fixture}`)).format, 'json');
    assert.equal(
      decodeTraceBytes(Uint8Array.from([0xef, 0xbb, 0xbf, ...enc.encode(fixture)])).format,
      'json',
    );
    assert.equal(decodeTraceBytes(FEATURE_TRACE_BYTES).format, 'msgpack');
    assert.equal(looksLikeJson(EMPTY_TRACE_BYTES), false);
  });

  const jsonCases: { name: string; text: string; error: RegExp }[] = [
    { name: 'not JSON', text: '{"version": 2,', error: /not JSON/ },
    { name: 'another version', text: '{"version": 1}', error: /unsupported trace version 1/ },
    {
      name: 'non-empty pod_lifecycles',
      text: '{"version":2,"config":{"trackedObjects":{}},"events":[],"index":{},"pod_lifecycles":{"x":{}}}',
      error: /pod_lifecycles in a JSON trace must be \{\}/,
    },
    {
      name: 'index value a string',
      text: '{"version":2,"config":{"trackedObjects":{}},"events":[],"index":{"v1.Pod":{"a":"1"}},"pod_lifecycles":{}}',
      error: /index\["v1.Pod"\]\["a"\] is the string "1", expected a u64/,
    },
    {
      name: 'index value a fraction',
      text: '{"version":2,"config":{"trackedObjects":{}},"events":[],"index":{"v1.Pod":{"a":1.5}},"pod_lifecycles":{}}',
      error: /expected a u64/,
    },
    {
      name: 'unknown tracked-object field',
      text: '{"version":2,"config":{"trackedObjects":{"v1.Pod":{"foo":1}}},"events":[],"index":{},"pod_lifecycles":{}}',
      error: /unexpected field "foo" in config\.trackedObjects\["v1.Pod"\]/,
    },
  ];
  for (const c of jsonCases) {
    test(`error: ${c.name}`, () => {
      assert.throws(() => decodeTraceJson(c.text), isFormatError(c.error));
    });
  }
});

describe('trace files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sktrace-codec-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('reads msgpack and JSON files by content, whatever their name', async () => {
    writeFileSync(join(dir, 'a.json'), FEATURE_TRACE_BYTES);
    writeFileSync(
      join(dir, 'b.sktrace'),
      readFileSync(new URL('../fixtures/trace/small-trace.json', import.meta.url)),
    );
    assert.deepEqual(await readTraceFile(join(dir, 'a.json')), FEATURE_TRACE);
    const b = await loadTraceFile(join(dir, 'b.sktrace'));
    assert.equal(b.format, 'json');
    assert.equal(b.trace.index.get('apps/v1.Deployment')!.get('shop/max'), 18446744073709551615n);
  });

  test('a missing file and a bad file are named in the error', async () => {
    await assert.rejects(readTraceFile(join(dir, 'nope.sktrace')), (err) => {
      assert.ok(err instanceof TraceFileError);
      assert.match(err.message, /nope\.sktrace: no such file/);
      return true;
    });
    writeFileSync(join(dir, 'bad.sktrace'), FEATURE_TRACE_BYTES.subarray(0, 10));
    await assert.rejects(
      readTraceFile(join(dir, 'bad.sktrace')),
      isFormatError(/bad\.sktrace: truncated trace/),
    );
  });
});

test('a __proto__ map key is refused with an error that names it', () => {
  // @msgpack/msgpack refuses the key outright (prototype pollution guard), before any key
  // converter runs; SimKube never writes one in practice (not a valid name, label or annotation key).
  const bytes = new Uint8Array([0x81, 0xa9, ...Buffer.from('__proto__'), 0x01]);
  assert.throws(() => decodeTrace(bytes), /__proto__/);
});
