/**
 * change-json.ts: an applied change's JSON cut from its watch line. The oracle is the code it
 * replaces, independent of the cutter: `JSON.stringify({ type: 'applied', ts, seq, object:
 * sanitizeObject(JSON.parse(line).object) })`, compared once parsed (the cut keeps the server's
 * spelling, so bytes may differ).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { appliedChangeJson, skipValue } from '../../lib/forwarder/change-json.ts';
import type { KubeObject } from '../../lib/trace/model.ts';
import { sanitizeObject } from '../../lib/trace/sanitize.ts';

const TS = 1_700_000_000;
const SEQ = 1_700_000_000_123_456;

/** What the forwarder sent before: the sanitised object stringified, parsed back. */
function expected(line: string): unknown {
  const object = sanitizeObject((JSON.parse(line) as { object: KubeObject }).object);
  return JSON.parse(JSON.stringify({ type: 'applied', ts: TS, seq: SEQ, object }));
}

function cut(line: string): unknown {
  const object = sanitizeObject((JSON.parse(line) as { object: KubeObject }).object);
  const json = appliedChangeJson(line, JSON.stringify(object.metadata), TS, SEQ);
  return json === undefined ? undefined : JSON.parse(json);
}

/** Go's encoding/json escapes <, > and & inside strings (they occur nowhere else in JSON). */
const goEscaped = (json: string) =>
  json.replaceAll('<', '\\u003c').replaceAll('>', '\\u003e').replaceAll('&', '\\u0026');

const deployment = {
  kind: 'Deployment',
  apiVersion: 'apps/v1',
  metadata: {
    name: 'web',
    namespace: 'shop',
    uid: '6f1c…',
    resourceVersion: '1234',
    generation: 7,
    creationTimestamp: '2026-12-06T00:00:00Z',
    labels: { app: 'web', spec: 'x' },
    annotations: {
      'deployment.kubernetes.io/revision': '3',
      note: 'a "quoted" } and \\ backslash, "status":{ and "spec":{ inside a string',
    },
    managedFields: [{ manager: 'kubectl', fieldsV1: { 'f:spec': { 'f:replicas': {} } } }],
  },
  spec: {
    replicas: 3,
    paused: false,
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'c', image: 'img<1>&2', args: [] }] },
    },
    minReadySeconds: 0,
    weird: { status: { nested: true }, empty: {}, list: [[], [{}], null, -1.5e-7, 1234567890123] },
  },
  status: { replicas: 3, conditions: [{ type: 'Available', status: 'True' }] },
};

test('a Deployment watch line, as Go writes it: equal to the stringified sanitised object once parsed', () => {
  for (const type of ['ADDED', 'MODIFIED']) {
    const line = goEscaped(JSON.stringify({ type, object: deployment }));
    assert.ok(line.includes('\\u003c'), 'the line carries Go escapes');
    const got = cut(line) as { object: Record<string, unknown> };
    assert.deepEqual(got, expected(line));
    // Hand-written: metadata sanitised, status gone, spec as it was.
    assert.deepEqual(Object.keys(got.object), ['kind', 'apiVersion', 'metadata', 'spec']);
    assert.equal((got.object.metadata as { uid?: string }).uid, undefined);
    assert.deepEqual((got.object.metadata as { annotations: object }).annotations, {
      note: deployment.metadata.annotations.note,
    });
  }
});

test('members in any order, scalars last, an object without spec or status', () => {
  const lines = [
    `{"object":{"status":{"a":1},"spec":{"n":-0.5},"metadata":{"name":"a","uid":"u"},"kind":"Job","apiVersion":"batch/v1","x":true},"type":"MODIFIED"}`,
    `{"type":"ADDED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c"},"data":{"k":"}{"},"n":12,"z":null}}`,
    `{"type":"ADDED","object":{"metadata":{"name":"e"}}}`,
    `{"type":"ADDED","object":{"metadata":{"name":"e"},"status":{}}}`,
  ];
  for (const line of lines) assert.deepEqual(cut(line), expected(line), line);
});

test('what the reader does not expect falls back (undefined), never a wrong change', () => {
  const meta = '{"name":"a"}';
  for (const line of [
    // Whitespace between the members it walks (an API server writes none).
    '{ "type":"ADDED","object":{"metadata":{"name":"a"}}}',
    '{"type":"ADDED","object":{"metadata":{"name":"a"}, "status":{}}}',
    '{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n',
    // An escaped key: "sta\u0074us" is status once parsed.
    '{"type":"ADDED","object":{"metadata":{"name":"a"},"sta\\u0074us":{"x":1}}}',
    '{"type":"ADDED","object":{"met\\u0061data":{"name":"a","uid":"u"}}}',
    // Not an object, or no object at all; truncated.
    '{"type":"ADDED","object":[1]}',
    '{"type":"ADDED"}',
    '{"type":"ADDED","object":{"metadata":{"name":"a"}',
    '[]',
  ]) {
    assert.equal(appliedChangeJson(line, meta, TS, SEQ), undefined, line);
  }
});

test('skipValue: the end of each kind of value', () => {
  const cases: Array<[string, number]> = [
    ['"a\\"b"x', 6],
    ['"a\\\\"x', 5],
    ['{"a":"}"}x', 9],
    ['[1,[2,{"b":[]}],"]"],x', 20],
    ['-1.5e+7,', 7],
    ['true}', 4],
    ['null]', 4],
  ];
  for (const [text, end] of cases) assert.equal(skipValue(text, 0), end, text);
  assert.equal(skipValue('"open', 0), -1);
  assert.equal(skipValue('{"a":1', 0), -1);
});

test('random objects: the cut parses to what JSON.stringify of the sanitised object gave', () => {
  const key = fc.oneof(
    fc.string(),
    fc.constantFrom('status', 'spec', 'metadata', 'kind', 'a\\b', '"q"', '<&>'),
  );
  const json = fc.jsonValue({ maxDepth: 4 });
  const object = fc.record(
    {
      kind: fc.constantFrom('Deployment', 'Widget'),
      apiVersion: fc.constantFrom('apps/v1', 'example.com/v1'),
      metadata: fc.record(
        {
          name: fc.string({ minLength: 1 }),
          namespace: fc.string(),
          uid: fc.uuid(),
          resourceVersion: fc.string(),
          generation: fc.integer({ min: 1 }),
          labels: fc.dictionary(key, fc.string()),
          annotations: fc.dictionary(key, fc.string()),
          managedFields: json,
        },
        { requiredKeys: ['name'] },
      ),
      spec: json,
      status: json,
      data: fc.dictionary(key, json),
    },
    { requiredKeys: ['metadata'] },
  );
  fc.assert(
    fc.property(object, fc.constantFrom('ADDED', 'MODIFIED'), fc.boolean(), (o, type, go) => {
      const text = JSON.stringify({ type, object: o });
      const line = go ? goEscaped(text) : text;
      assert.deepEqual(cut(line), expected(line));
    }),
    { numRuns: 400 },
  );
});
