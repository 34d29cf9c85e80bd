/**
 * Integral floats (lib/trace/float.ts): a msgpack float64 2.0 stays a float64 2.0 through decode,
 * encode, the spec hash, the ingest wire, stored bodies and an export from the local stack.
 * Before the fix it came back as the integer 2 (0x02): other bytes, another index hash.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../../lib/cli/client.ts';
import type { LocalStack } from '../../lib/local/serve.ts';
import { fullWindow, NO_FILTERS } from '../../lib/roundtrip/reference.ts';
import { exportTrace, importTrace } from '../../lib/roundtrip/transfer.ts';
import { decodeTrace, decodeTraceJson, encodeTrace } from '../../lib/trace/codec.ts';
import { Float64, parseJson } from '../../lib/trace/float.ts';
import { specHash } from '../../lib/trace/hash.ts';
import type { Trace } from '../../lib/trace/model.ts';
import { sipHash13 } from '../../lib/trace/siphash.ts';
import { startTestStack } from '../support/local-stack.ts';

const T0 = 1_760_000_000;

// The oracle: the bytes serde_json's Hash feeds for {"weight": <n>} (key as str: UTF-8 + 0xFF, then
// the number: a float as its f64 bits LE, a u64 as 8 bytes LE), hashed by SipHash-1-3 (0, 0).
function expectedHash(weight: number, asFloat: boolean): bigint {
  const key = Buffer.from('weight\xff', 'latin1');
  const num = Buffer.alloc(8);
  if (asFloat) num.writeDoubleLE(weight);
  else num.writeBigUInt64LE(BigInt(weight));
  return sipHash13(Buffer.concat([key, num]));
}

function traceWith(weight: unknown): Trace {
  const obj = {
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { annotations: {}, name: 'w', namespace: 'ns' },
    spec: { weight },
  };
  return {
    version: 2,
    config: { trackedObjects: {} },
    events: [{ ts: T0, applied_objs: [obj], deleted_objs: [] }],
    index: new Map([['example.com/v1.Widget', new Map([['ns/w', specHash(obj.spec)]])]]),
    podLifecycles: new Map(),
  } as Trace;
}

// msgpack float64 2.0 = 0xcb 40 00 00 00 00 00 00 00; the integer 2 = 0x02.
const F64_TWO = Buffer.from('cb4000000000000000', 'hex');

describe('integral floats', () => {
  it('the spec hash takes a Float64 as f64 bits and an integer as u64, as serde_json does', () => {
    assert.equal(specHash({ weight: new Float64(2) }), expectedHash(2, true));
    assert.equal(specHash({ weight: 2 }), expectedHash(2, false));
    assert.notEqual(expectedHash(2, true), expectedHash(2, false));
    // -0.0 hashes as +0.0 (serde_json), whose f64 bits are those of the u64 0.
    assert.equal(specHash({ weight: new Float64(-0) }), expectedHash(0, true));
  });

  it('msgpack: a float64 2.0 decodes as a Float64 and encodes to the same bytes', () => {
    const bytes = encodeTrace(traceWith(new Float64(2)));
    assert.ok(Buffer.from(bytes).includes(F64_TWO), 'written as float64');
    const decoded = decodeTrace(bytes);
    const weight = (decoded.events[0]!.applied_objs[0]!.spec as { weight: unknown }).weight;
    assert.ok(weight instanceof Float64 && weight.value === 2);
    assert.deepEqual(Buffer.from(encodeTrace(decoded)), Buffer.from(bytes));
    // The integer stays an integer.
    const intBytes = encodeTrace(traceWith(2));
    assert.equal(Buffer.from(intBytes).includes(F64_TWO), false);
    assert.equal(
      typeof (decodeTrace(intBytes).events[0]!.applied_objs[0]!.spec as { weight: unknown }).weight,
      'number',
    );
  });

  it('JSON: 2.0 reads as a Float64 and writes back as 2.0; 2 stays 2', () => {
    const v = parseJson('{"a":2.0,"b":2,"c":1.5,"d":1e3}') as Record<string, unknown>;
    assert.ok(v.a instanceof Float64);
    assert.equal(v.b, 2);
    assert.equal(v.c, 1.5);
    assert.ok(v.d instanceof Float64);
    assert.equal(JSON.stringify(v), '{"a":2.0,"b":2,"c":1.5,"d":1000.0}');
    const json = `{"version":2,"config":{"trackedObjects":{}},"events":[{"ts":${T0},"applied_objs":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"spec":{"weight":2.0}}],"deleted_objs":[]}],"index":{},"pod_lifecycles":{}}`;
    const t = decodeTraceJson(json);
    assert.ok(Buffer.from(encodeTrace(t)).includes(F64_TWO));
  });

  it('JSON: an integral float is found wherever a value may stand; hex digests are no floats', () => {
    // Hand-written cases for parseJson's fast-path test, one float per text (any candidate sends
    // the whole text to the reviver, so a text with two would hide a missed one): each must come
    // back a Float64 — a missed one becomes an integer, changing its spec hash.
    const cases: [string, (v: unknown) => unknown, number][] = [
      ['{"a":[1e5]}', (v) => (v as { a: unknown[] }).a[0], 1e5],
      ['{"img":"r@sha256:12e4a0","a":[0,-3E+2]}', (v) => (v as { a: unknown[] }).a[1], -300],
      ['{"a":[ 2.00 ]}', (v) => (v as { a: unknown[] }).a[0], 2],
      ['{"b":{"c":1.5e1}}', (v) => (v as { b: { c: unknown } }).b.c, 15],
      ['{"d":\n  4.0\n}', (v) => (v as { d: unknown }).d, 4],
      [' 7.0 ', (v) => v, 7],
    ];
    for (const [text, pick, value] of cases) {
      const got = pick(parseJson(text));
      assert.ok(got instanceof Float64, `${text}: ${String(got)}`);
      assert.equal(got.value, value);
    }
    // Digits then "e" or ".0" inside strings only (digests, uids): strings stay strings.
    const plain = parseJson('{"image":"x@sha256:0e1d2c","uid":"3e8f-2.0","n":3,"f":2.5}') as Record<
      string,
      unknown
    >;
    assert.deepEqual(plain, { image: 'x@sha256:0e1d2c', uid: '3e8f-2.0', n: 3, f: 2.5 });
  });

  it('JSON on the wire: integers beyond 2^53 stay numbers (no bigint reaches the handlers)', () => {
    // Found by tests/ingest/fuzz.test.ts: [-9007199254740992, 5e-324] made the ingest handler 500.
    const v = parseJson('[-9007199254740992, 5e-324, 2.0]') as unknown[];
    assert.equal(v[0], -9007199254740992);
    assert.equal(v[1], 5e-324);
    assert.ok(v[2] instanceof Float64);
  });

  it('JSON: any nesting depth parses (the reviver path falls back to a plain parse on overflow)', () => {
    const deep = `${'['.repeat(100_000)}2.0${']'.repeat(100_000)}`;
    assert.ok(Array.isArray(parseJson(deep)));
    assert.ok(Array.isArray(parseJson(`${'['.repeat(100_000)}2${']'.repeat(100_000)}`)));
  });

  describe('through import and export on the local stack', () => {
    let stack: LocalStack;
    let client: ApiClient;
    before(async () => {
      ({ stack, client } = await startTestStack());
    });
    after(async () => {
      await stack.close();
    });

    it('an imported float64 2.0 is exported as float64 2.0 with the f64 index hash', async () => {
      const original = decodeTrace(encodeTrace(traceWith(new Float64(2))));
      await importTrace(client, 'floats', original);
      const { trace } = await exportTrace(client, 'floats', fullWindow(original)!, NO_FILTERS, {
        pollMs: 20,
      });
      const bytes = Buffer.from(encodeTrace(trace));
      assert.ok(bytes.includes(F64_TWO), 'the export writes float64 2.0');
      const widget = trace.events.flatMap((e) => e.applied_objs).find((o) => o.kind === 'Widget');
      const weight = (widget?.spec as { weight?: unknown } | undefined)?.weight;
      assert.ok(weight instanceof Float64, `got ${String(weight)}`);
      assert.equal(trace.index.get('example.com/v1.Widget')?.get('ns/w'), expectedHash(2, true));
    });
  });
});
