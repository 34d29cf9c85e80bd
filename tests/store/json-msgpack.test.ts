/**
 * Stored bodies transcoded straight to trace bytes (lib/store/json-msgpack.ts, body-codec.ts
 * `transcodeObjectBody`) against the object path they replace, kept as the oracle: `parseJson` of
 * the inflated text (`decodeBody`), then the trace encoder (`encodeTraceEventInto`, @msgpack/msgpack)
 * — the event's bytes must be equal, or the transcoder must refuse (and the caller then takes the
 * object path). What it keeps of the object (`EncodedObject`) must validate as the whole object
 * does, name the same object and owners, and give back the whole object for the index.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { exportObjectReads } from '../../lib/export/object-reads.ts';
import {
  decodeBody,
  decodeCheckpointObjects,
  decodeLargeBody,
  encodeBody,
  transcodeObjectBody,
} from '../../lib/store/body-codec.ts';
import { BODY_DICTIONARY_V1 } from '../../lib/store/body-dictionary.ts';
import { ANY_ELEMENT, capturePlan } from '../../lib/store/json-msgpack.ts';
import { decodeTrace, encodeTraceEventInto } from '../../lib/trace/codec.ts';
import { EncodedObject } from '../../lib/trace/encoded-object.ts';
import { Float64 } from '../../lib/trace/float.ts';
import { refOf } from '../../lib/trace/gvk.ts';
import type { KubeObject, TraceEvent } from '../../lib/trace/model.ts';
import { ownerRefsOf } from '../../lib/trace/owners.ts';
import { validateTrace } from '../../lib/validation/index.ts';
import { msgpackTraces, skipUnlessSimkubeTraces } from '../simkube-files/support.ts';

const TRACKED = {
  'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/template'] },
  'v1.Pod': { podSpecTemplatePaths: [''] },
  'batch/v1.CronJob': { podSpecTemplatePaths: ['/spec/jobTemplate/spec/template'] },
};
const PLAN = exportObjectReads(TRACKED);

function eventBytes(obj: unknown): Uint8Array {
  return eventBytesOf([obj]);
}

/** An event's bytes holding `objs`, its pieces joined. */
function eventBytesOf(objs: unknown[]): Uint8Array {
  const pieces: Uint8Array[] = [];
  const event = { ts: 1, applied_objs: objs, deleted_objs: [] } as unknown as TraceEvent;
  encodeTraceEventInto(event, (b) => pieces.push(b.slice()));
  return Buffer.concat(pieces);
}

/** The object path's bytes for a body, or its error. */
function oracle(body: Uint8Array): { bytes: Uint8Array } | { error: unknown } {
  try {
    return { bytes: eventBytes((decodeBody(body, 'd1') as { o: unknown }).o) };
  } catch (error) {
    return { error };
  }
}

const deflate = (text: string) =>
  deflateRawSync(Buffer.from(text, 'utf8'), { dictionary: Buffer.from(BODY_DICTIONARY_V1) });

/** Transcodes `body`; asserts the bytes equal the object path's when it does. */
function check(body: Uint8Array, label: string) {
  const got = transcodeObjectBody(body, 'd1', PLAN);
  if (got === undefined) return undefined;
  const want = oracle(body);
  assert.ok(
    'bytes' in want,
    `${label}: transcoded, but the object path fails (${(want as { error: unknown }).error})`,
  );
  assert.deepEqual(Buffer.from(eventBytes(got.o)), Buffer.from(want.bytes), label);
  // Its bytes are handed over once; encoded again, the whole object is encoded: the same bytes.
  assert.deepEqual(Buffer.from(eventBytes(got.o)), Buffer.from(want.bytes), `${label}, encoded again`);
  return got;
}

describe('transcodeObjectBody', () => {
  it('gives the object path bytes for hand-written texts: numbers, strings, keys, nesting', () => {
    const cases: [string, string, boolean][] = [
      // [o's JSON, label, must transcode]
      [
        '{"a":2.0,"b":2,"c":-0.0,"d":-0,"e":1e3,"f":1.5,"g":-1.25e-3,"h":0.0}',
        'integral floats stay float64',
        true,
      ],
      [
        '{"big":12345678901234567890,"neg":-12345678901234567890,"safe":9007199254740991,"unsafe":9007199254740993}',
        'integers beyond 2^53',
        true,
      ],
      [
        '{"u32":4294967295,"u64":4294967296,"i32":-2147483648,"i64":-2147483649,"i8":-128,"i16":-129,"fix":-32,"n33":-33,"u8":255,"u16":65535}',
        'integer sizes',
        true,
      ],
      ['{"x":1E+2,"y":1e-2,"z":123456789012345678901234567890.0}', 'exponents', true],
      [
        '{"s":"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t","u":"\\u00e9\\u4e2d\\ud83d\\ude00\\u0000","raw":"é中😀"}',
        'escapes and UTF-8',
        true,
      ],
      [
        '{"long":"' +
          'x'.repeat(40) +
          '","l256":"' +
          'y'.repeat(300) +
          '","l64k":"' +
          'z'.repeat(70000) +
          '"}',
        'string headers',
        true,
      ],
      [
        '{"esc":"' + '\\n'.repeat(20) + '","esc2":"' + '\\u00e9'.repeat(60) + '"}',
        'escaped strings whose header shrinks',
        true,
      ],
      [
        '{"0":"a","1":"b","42":"c","name":"d","01":"e","4294967295":"f"}',
        'index keys first, ascending',
        true,
      ],
      ['{"name":"d","0":"a"}', 'index key after a named one (JS lists it first)', false],
      ['{"2":"a","1":"b"}', 'index keys descending', false],
      [
        '{"e":{},"a":[],"n":null,"t":true,"f":false,"m":{"k":[[],[{}]]}}',
        'empty maps and arrays, literals',
        true,
      ],
      [' { "a" : [ 1 , 2 ] ,\n\t"b"\r: { } } ', 'whitespace', true],
      ['{"lone":"\\ud800"}', 'lone surrogate', false],
      ['{"lone":"\\udc00x"}', 'lone low surrogate', false],
      ['{"a":1.0000000000000000001}', 'a fraction rounding to an integer', false],
      ['{"a":1.0000000000000000001,"b":2.0}', 'the same, the text holding an integral float', false],
      ['{"a":01}', 'leading zero', false],
      ['{"a":1.}', 'bare point', false],
      ['{"a":"\\x"}', 'bad escape', false],
      ['{"a":"tab\there"}', 'control character', false],
      ['{"a":tru}', 'bad literal', false],
      ['{"a":1,}', 'trailing comma', false],
      ['{"a":1}x', 'trailing text', false],
    ];
    for (const [o, label, must] of cases) {
      const body = deflate(`{"o":${o},"w":[]}`);
      const got = check(body, label);
      assert.equal(got !== undefined, must, `${label}: transcoded ${got !== undefined}`);
    }
    // 16 and 65,536 entries: 16/32-bit headers, content moved.
    for (const n of [15, 16, 65535, 65536]) {
      const o = {
        list: Array.from({ length: n }, (_, i) => i),
        map: Object.fromEntries(Array.from({ length: Math.min(n, 70000) }, (_, i) => [`k${i}`, i])),
      };
      assert.ok(check(encodeBody({ o, w: [] }), `${n} entries`), `${n} entries transcoded`);
    }
  });

  it('refuses nesting the encoder refuses, and nothing shallower', () => {
    const nest = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    // The object is at encoder depth 3 (event, list): values nested 97 deep are at depth 100.
    assert.ok(check(deflate(`{"o":${nest(97)},"w":[]}`), 'depth 100'));
    assert.ok('bytes' in oracle(deflate(`{"o":${nest(97)},"w":[]}`)));
    assert.equal(check(deflate(`{"o":${nest(98)},"w":[]}`), 'depth 101'), undefined);
    assert.ok('error' in oracle(deflate(`{"o":${nest(98)},"w":[]}`)), 'the object path refuses depth 101');
  });

  it('refuses invalid UTF-8 and bodies that are not {o, w}', () => {
    const bad = Buffer.concat([
      Buffer.from('{"o":{"a":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"},"w":[]}'),
    ]);
    assert.equal(
      transcodeObjectBody(deflateRawSync(bad, { dictionary: Buffer.from(BODY_DICTIONARY_V1) }), 'd1', PLAN),
      undefined,
    );
    for (const text of [
      '{"o":1,"w":[]}',
      '{"w":[]}',
      '{"o":{}}',
      '{"o":{},"w":[],"x":1}',
      '[]',
      '{"o":{},"o":{},"w":[]}',
      // Members not separated by a comma, or closed by the wrong bracket.
      '{"o":{} "w":[]}',
      '{"o":{};"w":[]}',
      '{"o":{},"w":[]]',
    ]) {
      assert.equal(transcodeObjectBody(deflate(text), 'd1', PLAN), undefined, text);
    }
  });

  it('gives the object path bytes for random JSON objects (300 runs)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 5 })),
        fc.array(fc.record({ gvk: fc.string(), nsName: fc.string() }), { maxLength: 3 }),
        (o, w) => {
          const body = encodeBody({ o, w });
          const got = check(body, JSON.stringify(o).slice(0, 200));
          // JSON.stringify writes what the transcoder takes, but for lone surrogates and index keys.
          if (!hasIndexKeys(o) && !/\\ud[89a-f]/i.test(JSON.stringify(o))) assert.ok(got, 'transcoded');
          if (got) assert.deepEqual(got.w, JSON.parse(JSON.stringify(w)));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('transcodeObjectBody on the objects of real SimKube traces', () => {
  it('gives the object path bytes for every object of ../shared/simkube-traces, none refused', {
    skip: skipUnlessSimkubeTraces(),
  }, () => {
    let objects = 0;
    for (const { name, bytes } of msgpackTraces()) {
      for (const event of decodeTrace(bytes).events) {
        for (const obj of [...event.applied_objs, ...event.deleted_objs]) {
          assert.ok(
            check(encodeBody({ o: obj, w: [] }), `${name}: ${refOf(obj).nsName}`),
            `${name}: transcoded`,
          );
          objects++;
        }
      }
    }
    assert.ok(objects > 50, `${objects} objects`);
  });
});

function hasIndexKeys(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasIndexKeys);
  if (v && typeof v === 'object') {
    return Object.entries(v).some(([k, x]) => /^(0|[1-9][0-9]*)$/.test(k) || hasIndexKeys(x));
  }
  return false;
}

// --- What is kept of the object ---------------------------------------------------------------

const envVar = fc.oneof(
  fc.record({ name: fc.string(), value: fc.string() }),
  fc.record({
    name: fc.string(),
    valueFrom: fc.record({
      secretKeyRef: fc.record({ name: fc.string(), key: fc.constantFrom('s1', 's2', 'x') }),
    }),
  }),
  fc.record({
    name: fc.string(),
    valueFrom: fc.record({
      configMapKeyRef: fc.record({
        key: fc.oneof(fc.constantFrom('c1', 'x'), fc.integer(), fc.constant(null)),
      }),
    }),
  }),
);
const podSpec = fc.record(
  {
    serviceAccount: fc.constantFrom('sa1', 'missing'),
    serviceAccountName: fc.oneof(fc.constantFrom('sa1', 'other'), fc.array(fc.string(), { maxLength: 2 })),
    containers: fc.array(
      fc.record(
        {
          name: fc.string(),
          env: fc.array(envVar, { maxLength: 4 }),
          envFrom: fc.array(
            fc.oneof(
              fc.record({ secretRef: fc.record({ name: fc.constantFrom('s1', 'nope') }) }),
              fc.record({ configMapRef: fc.record({ name: fc.constantFrom('c1', 'nope') }) }),
            ),
            { maxLength: 2 },
          ),
        },
        { requiredKeys: ['name'] },
      ),
      { maxLength: 3 },
    ),
    volumes: fc.array(
      fc.oneof(
        fc.record({ name: fc.string(), secret: fc.record({ secretName: fc.constantFrom('s1', 'v') }) }),
        fc.record({ name: fc.string(), configMap: fc.record({ name: fc.constantFrom('c1', 'v') }) }),
        fc.record({ name: fc.string(), emptyDir: fc.constant({}) }),
      ),
      { maxLength: 3 },
    ),
  },
  { requiredKeys: [] },
);
const metadata = fc.record(
  {
    name: fc.constantFrom('a', 'b', 's1', 'c1', 'sa1'),
    namespace: fc.constantFrom('ns', 'other'),
    labels: fc.dictionary(fc.constantFrom('app', 'tier', '0', '7'), fc.string()),
    ownerReferences: fc.array(
      fc.record({
        apiVersion: fc.constantFrom('apps/v1', 'v1'),
        kind: fc.constantFrom('ReplicaSet', 'DaemonSet'),
        name: fc.string(),
      }),
      { maxLength: 2 },
    ),
  },
  { requiredKeys: ['name', 'namespace'] },
);
const kubeObject: fc.Arbitrary<KubeObject> = fc
  .oneof(
    fc.record(
      {
        apiVersion: fc.constant('apps/v1'),
        kind: fc.constant('Deployment'),
        metadata,
        spec: fc.record({
          replicas: fc.integer(),
          template: fc.record({ metadata: fc.constant({}), spec: podSpec }),
        }),
        status: fc.oneof(fc.constant(null), fc.constant({ ready: 1 })),
      },
      { requiredKeys: ['apiVersion', 'kind', 'metadata', 'spec'] },
    ),
    fc.record(
      {
        apiVersion: fc.constant('v1'),
        kind: fc.constant('Pod'),
        metadata,
        spec: podSpec,
        status: fc.constant({ phase: 'Running' }),
      },
      { requiredKeys: ['apiVersion', 'kind', 'metadata'] },
    ),
    fc.record({
      apiVersion: fc.constant('v1'),
      kind: fc.constantFrom('Secret', 'ConfigMap', 'ServiceAccount'),
      metadata,
      data: fc.dictionary(fc.string(), fc.string()),
    }),
    fc.record({
      apiVersion: fc.constant('batch/v1'),
      kind: fc.constant('CronJob'),
      metadata,
      spec: fc.record({
        jobTemplate: fc.record({ spec: fc.record({ template: fc.record({ spec: podSpec }) }) }),
      }),
    }),
  )
  .map((obj) => JSON.parse(JSON.stringify(obj)) as KubeObject);

describe('EncodedObject', () => {
  it('validates, names and owns as the whole object, and gives the whole object back (300 runs)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(kubeObject, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 4 }),
        (batches) => {
          const whole: TraceEvent[] = [];
          const kept: TraceEvent[] = [];
          batches.forEach((objs, ts) => {
            const views = objs.map((obj) => {
              const got = transcodeObjectBody(encodeBody({ o: obj, w: [] }), 'd1', PLAN);
              if (!got || hasIndexKeys(obj)) return got?.o ?? obj;
              return got.o;
            });
            whole.push({ ts, applied_objs: objs, deleted_objs: [] });
            kept.push({ ts, applied_objs: views as KubeObject[], deleted_objs: [] });
            for (let i = 0; i < objs.length; i++) {
              const v = views[i]!;
              if (!hasIndexKeys(objs[i])) assert.ok(v instanceof EncodedObject, 'transcoded');
              assert.deepEqual(refOf(v), refOf(objs[i]!));
              assert.deepEqual(ownerRefsOf(v), ownerRefsOf(objs[i]!));
              assert.deepEqual(v.metadata, objs[i]!.metadata);
              if (v instanceof EncodedObject) {
                assert.deepEqual(v.fullObject(), objs[i]);
                // Only the plan's parts are fields (no whole spec: the point of transcoding).
                for (const key of Object.keys(v))
                  assert.ok(['apiVersion', 'kind', 'metadata', 'spec', 'status'].includes(key), key);
              }
            }
          });
          const config = { trackedObjects: TRACKED };
          assert.deepEqual(validateTrace({ config, events: kept }), validateTrace({ config, events: whole }));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps only what the plan names: an index token follows one element, * every one', () => {
    const plan = capturePlan([
      { tokens: ['a', '1', 'x'] },
      { tokens: ['a', ANY_ELEMENT, 'y'] },
      { tokens: ['s'], presence: true },
      { tokens: ['n'], presence: true },
    ]);
    const target: Record<string, unknown> = {};
    const o = {
      a: [{ x: 1, y: 2, z: 3 }, { x: 4, y: 5 }, { z: 6 }, 7],
      s: { deep: [1] },
      n: null,
      other: { x: 1 },
    };
    const body = encodeBody({ o, w: [] });
    const got = transcodeObjectBody(body, 'd1', plan);
    assert.ok(got);
    Object.assign(target, { ...got.o });
    assert.deepEqual(target, { a: [{ y: 2 }, { x: 4, y: 5 }, null, null], s: true, n: null });
  });
});

// --- Checkpoints: the start state transcoded -------------------------------------------------

/** A checkpoint body's text around its entries' texts (`{"ts":…,"o":…,"w":…}` each). */
const checkpointText = (entries: string[]) =>
  `{"v":1,"cluster":"c1","validFromTs":100,"replayFromTs":40,"objects":[${entries.join(',')}]}`;
const entry = (ts: number | string, o: string, w = '[]') => `{"ts":${ts},"o":${o},"w":${w}}`;
const deploy = (name: string, rest = '') =>
  `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"${name}","namespace":"ns"}${rest}}`;

/**
 * decodeCheckpointObjects with the export's plan against the object path it replaces (the
 * checkpoint parsed whole, `decodeLargeBody`, as liveAt did): the same ts and owners, the start
 * event's bytes equal, each object's whole value equal, validation alike. Returns how many objects
 * came transcoded.
 */
function checkCheckpoint(body: Uint8Array, label: string): number {
  let want: { ts: number; o: KubeObject; w: unknown }[];
  try {
    want = (decodeLargeBody(body, 'd1') as { objects: typeof want }).objects;
  } catch (error) {
    assert.throws(() => decodeCheckpointObjects(body, 'd1', PLAN), {
      code: (error as { code: string }).code,
    });
    return 0;
  }
  const got = decodeCheckpointObjects(body, 'd1', PLAN);
  assert.equal(got.length, want.length, label);
  let transcoded = 0;
  for (let k = 0; k < got.length; k++) {
    assert.deepEqual(got[k]!.ts, want[k]!.ts, `${label}: ts of ${k}`);
    assert.deepEqual(got[k]!.w, want[k]!.w, `${label}: owners of ${k}`);
    const o = got[k]!.o;
    if (o instanceof EncodedObject) {
      transcoded++;
      assert.deepEqual(o.fullObject(), want[k]!.o, `${label}: whole object ${k}`);
      assert.deepEqual(o.metadata, want[k]!.o.metadata, `${label}: metadata of ${k}`);
    }
  }
  const ev = (objs: KubeObject[]): TraceEvent => ({ ts: 1, applied_objs: objs, deleted_objs: [] });
  const config = { trackedObjects: TRACKED };
  assert.deepEqual(
    validateTrace({ config, events: [ev(got.map((g) => g.o))] }),
    validateTrace({ config, events: [ev(want.map((g) => g.o))] }),
    `${label}: validation`,
  );
  assert.deepEqual(
    Buffer.from(eventBytesOf(got.map((g) => g.o))),
    Buffer.from(eventBytesOf(want.map((g) => g.o))),
    `${label}: start event bytes`,
  );
  return transcoded;
}

describe('decodeCheckpointObjects', () => {
  // Mutations caught (each tried by hand): a `ts` written `5.0` read as the integer 5 (the object
  // path gives a Float64: "ts written 5.0"); the refusal of `1.000…01` dropped (the whole-text
  // parse makes it Float64(1) beside a `2.0` elsewhere, the transcoder an int); fullObject's range
  // one byte long (every transcoded case, and the random test). The cases expected untranscoded
  // also pin what is refused: an entry's other key, a repeated key, owners not a list.
  it('gives the object path for hand-written checkpoints, transcoding all it accepts', () => {
    const cases: [string, string[] | string, 'all' | 'none'][] = [
      [
        'integral floats, integers beyond 2^53, unicode keys and escapes',
        [
          entry(
            5,
            deploy(
              'a',
              ',"spec":{"f":2.0,"g":-0.0,"h":1e3,"i":1.5,"big":12345678901234567890,"neg":-9007199254740993}',
            ),
          ),
          entry(
            6,
            deploy('b', ',"spec":{"0":1,"10":{"7":2},"ключ":{"😀":"é中","e":"q\\"\\u0000 \\ud83d\\ude00"}}'),
            '[{"gvk":"apps/v1.ReplicaSet","nsName":"ns/r"}]',
          ),
          entry(
            7,
            '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns","generation":2.0},"spec":{"containers":[]},"status":null}',
          ),
        ],
        'all',
      ],
      ['no objects', [], 'all'],
      [
        'pretty-printed',
        JSON.stringify(
          { v: 1, objects: [{ ts: 3, o: JSON.parse(deploy('a', ',"spec":{"x":[1,{"y":null}]}')), w: [] }] },
          null,
          2,
        ),
        'all',
      ],
      [
        'a lone surrogate in one object: the whole checkpoint parsed',
        [entry(1, deploy('a')), entry(2, deploy('b', ',"spec":{"s":"\\ud800"}'))],
        'none',
      ],
      [
        '1.000…01 beside a 2.0 elsewhere: a Float64(1) in the whole-text parse',
        [
          entry(1, deploy('a', ',"spec":{"x":1.0000000000000000001}')),
          entry(2, deploy('b', ',"spec":{"y":2.0}')),
        ],
        'none',
      ],
      [
        '1.000…01 alone: an integer in the whole-text parse',
        [entry(1, deploy('a', ',"spec":{"x":1.0000000000000000001}'))],
        'none',
      ],
      ['ts written 5.0', [entry('5.0', deploy('a')), entry(6, deploy('b', ',"spec":{"y":2.0}'))], 'none'],
      ['ts -0', [entry('-0', deploy('a'))], 'all'],
      ['an entry with another key', [`{"ts":1,"o":${deploy('a')},"w":[],"x":1}`], 'none'],
      ['an entry with o twice', [`{"ts":1,"o":${deploy('a')},"o":${deploy('b')},"w":[]}`], 'none'],
      ['owners not a list', [entry(1, deploy('a'), 'null')], 'none'],
      ['index keys out of order', [entry(1, deploy('a', ',"spec":{"b":1,"0":2}'))], 'none'],
      [
        'objects twice: the last counts',
        `{"objects":[${entry(1, deploy('a'))}],"objects":[${entry(2, deploy('b'))}]}`,
        'none',
      ],
      [
        // ≥ 64 KiB of objects: the start event goes out in pieces (codec.ts encodeInPieces).
        'a large start event',
        Array.from({ length: 120 }, (_, k) =>
          entry(k, deploy(`big${k}`, `,"spec":{"pad":"${'x'.repeat(600)}","f":2.0,"n":${k}}`)),
        ),
        'all',
      ],
      ['keys around objects', `{"z":{"deep":[1,2.5]},"objects":[${entry(1, deploy('a'))}],"v":1}`, 'all'],
    ];
    for (const [label, entries, expected] of cases) {
      const text = typeof entries === 'string' ? entries : checkpointText(entries);
      const transcoded = checkCheckpoint(deflate(text), label);
      const count = (decodeLargeBody(deflate(text), 'd1') as { objects: unknown[] }).objects.length;
      assert.equal(transcoded, expected === 'all' ? count : 0, `${label}: transcoded`);
    }
    // The case the whole-text decision turns: by hand, not only "as the object path".
    const [first] = decodeCheckpointObjects(
      deflate(
        checkpointText([
          entry(1, deploy('a', ',"spec":{"x":1.0000000000000000001}')),
          entry(2, deploy('b', ',"spec":{"y":2.0}')),
        ]),
      ),
      'd1',
      PLAN,
    );
    assert.ok((first!.o.spec as { x: unknown }).x instanceof Float64);
  });

  it('fails as the object path on text that is not a checkpoint or not JSON', () => {
    for (const text of [
      '{"objects":[',
      '[]',
      '{"objects":[{"ts":1,"o":{},"w":[]}]} x',
      '{}',
      'nul',
      // Members or entries not separated by a comma, or closed by the wrong bracket.
      '{"objects":[{"ts":1,"o":{} "w":[]}]}',
      '{"objects":[{"ts":1,"o":{},"w":[]} {"ts":2,"o":{},"w":[]}]}',
      '{"objects":[{"ts":1,"o":{},"w":[]}}}',
      '{"objects":[] "v":1}',
      '{"objects":[]]',
    ]) {
      const body = deflate(text);
      let want: unknown;
      try {
        want = (decodeLargeBody(body, 'd1') as { objects: unknown }).objects;
      } catch (error) {
        assert.throws(
          () => decodeCheckpointObjects(body, 'd1', PLAN),
          { code: (error as { code: string }).code },
          text,
        );
        continue;
      }
      assert.deepEqual(decodeCheckpointObjects(body, 'd1', PLAN), want, text);
    }
    assert.throws(() => decodeCheckpointObjects(new Uint8Array([1, 2, 3]), 'd1', PLAN), {
      code: 'store_corrupt_item',
    });
  });

  it('gives the object path for random checkpoints as the checkpoint writes them (200 runs)', () => {
    // Contents spliced into the written text as literals: integral floats, integers beyond 2^53,
    // unicode keys, index keys — and (fc.string) lone surrogates, which the transcoder refuses.
    const contents = fc.oneof(
      fc.constantFrom(
        '{"f":2.0,"g":-0.0,"h":1e3,"i":1.5}',
        '{"big":12345678901234567890,"u64":18446744073709551615,"neg":-9007199254740993}',
        '{"0":1,"10":{"7":[]},"ключ":"é中😀"}',
        '[]',
      ),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    );
    const entryArb = fc.record({
      ts: fc.integer({ min: 0, max: 2 ** 40 }),
      o: kubeObject,
      w: fc.array(fc.record({ gvk: fc.constantFrom('apps/v1.ReplicaSet', 'v1.Pod'), nsName: fc.string() }), {
        maxLength: 2,
      }),
      content: fc.option(contents, { nil: undefined }),
    });
    let transcoded = 0;
    let objects = 0;
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: 12 }), (entries) => {
        const marker = '"@@content@@"';
        const body = {
          v: 1,
          cluster: 'c1',
          validFromTs: 100,
          replayFromTs: 40,
          objects: entries.map((e) => ({
            ts: e.ts,
            o:
              e.content === undefined
                ? e.o
                : { ...e.o, spec: { ...(e.o.spec as object), content: '@@content@@' } },
            w: e.w,
          })),
        };
        let text = JSON.stringify(body);
        for (const e of entries) if (e.content !== undefined) text = text.replace(marker, e.content);
        transcoded += checkCheckpoint(deflate(text), 'random');
        objects += entries.length;
      }),
      { numRuns: 200 },
    );
    // Most came transcoded (the comparison would hold either way): all but the checkpoints with a
    // lone surrogate somewhere.
    assert.ok(transcoded >= 0.5 * objects, `${transcoded} of ${objects} transcoded`);
  });
});
