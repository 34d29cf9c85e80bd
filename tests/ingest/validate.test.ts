import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BatchValidationError } from '../../lib/ingest/errors.ts';
import { validateBatch } from '../../lib/ingest/validate.ts';
import { deployment, NOW_SEC, validBatch } from './support.ts';

const opts = { nowSec: NOW_SEC, maxSkewSec: 300 };
type Changes = Record<string, unknown>[];
type Mutation = (changes: Changes) => unknown;

function at(changes: Changes, i: number): Record<string, unknown> {
  return changes[i]!;
}
function objectOf(changes: Changes, i: number): Record<string, unknown> {
  return at(changes, i).object as Record<string, unknown>;
}
function metaOf(changes: Changes, i: number): Record<string, unknown> {
  return objectOf(changes, i).metadata as Record<string, unknown>;
}

describe('validateBatch accepts', () => {
  test('a batch with every change type, returned as typed changes', () => {
    const batch = validateBatch(validBatch(), opts);
    assert.deepEqual(
      batch.changes.map((c) => c.type),
      ['config', 'applied', 'applied', 'deleted', 'relist', 'lifecycle'],
    );
    assert.deepEqual(batch, validBatch(), 'a valid batch comes back unchanged');
  });

  const accepted: [string, Mutation][] = [
    ['an empty batch', (c) => c.splice(0)],
    ['a ts exactly at the skew limit', (c) => (at(c, 1).ts = NOW_SEC + 300)],
    ['ts 0 (imports of old traces)', (c) => (at(c, 1).ts = 0)],
    ['a cluster-scoped object', (c) => delete metaOf(c, 1).namespace],
    ['an empty namespace', (c) => (metaOf(c, 1).namespace = '')],
    ['an RBAC-style name with colons', (c) => (metaOf(c, 1).name = 'system:controller:web')],
    ['a deleted object without spec', (c) => delete objectOf(c, 3).spec],
    ['a Running lifecycle (no end_ts)', (c) => delete at(c, 5).end_ts],
    ['an end_ts equal to start_ts', (c) => (at(c, 5).end_ts = at(c, 5).start_ts)],
    ['pod_spec_hash 0', (c) => (at(c, 5).pod_spec_hash = '0')],
    ['pod_spec_hash u64 max', (c) => (at(c, 5).pod_spec_hash = '18446744073709551615')],
    ['a relist page covering the whole key space', (c) => (at(c, 4).through = null)],
    ['an empty relist page', (c) => (at(c, 4).ns_names = [])],
    ['a relist page with a name equal to through', (c) => (at(c, 4).ns_names = ['shop/api', 'shop/zzz'])],
    ['unknown fields inside a Kubernetes object', (c) => (objectOf(c, 1).status = { replicas: 2 })],
    ['a relist page with lifecycles: false', (c) => (at(c, 4).lifecycles = false)],
  ];
  for (const [name, mutate] of accepted) {
    test(name, () => {
      const batch = validBatch();
      mutate(batch.changes);
      validateBatch(batch, opts);
    });
  }
});

interface Rejection {
  name: string;
  mutate?: Mutation;
  body?: unknown;
  code: string;
  field: string;
  index?: number;
  options?: Partial<Parameters<typeof validateBatch>[1]>;
}

const rejections: Rejection[] = [
  { name: 'a body that is an array', body: [], code: 'invalid_type', field: '' },
  { name: 'a body that is null', body: null, code: 'invalid_type', field: '' },
  { name: 'no changes', body: {}, code: 'missing_field', field: 'changes' },
  { name: 'changes not an array', body: { changes: {} }, code: 'invalid_type', field: 'changes' },
  {
    name: 'an unknown top-level field',
    body: { changes: [], version: 1 },
    code: 'unknown_field',
    field: 'version',
  },
  {
    name: 'a change that is a string',
    mutate: (c) => ((c as unknown[])[2] = 'applied'),
    code: 'invalid_type',
    field: 'changes[2]',
    index: 2,
  },
  {
    name: 'a missing type',
    mutate: (c) => delete at(c, 1).type,
    code: 'missing_field',
    field: 'changes[1].type',
    index: 1,
  },
  {
    name: 'an unknown change type',
    mutate: (c) => (at(c, 1).type = 'modified'),
    code: 'unknown_change_type',
    field: 'changes[1].type',
    index: 1,
  },
  {
    name: 'a type named like an Object.prototype key',
    mutate: (c) => (at(c, 1).type = 'constructor'),
    code: 'unknown_change_type',
    field: 'changes[1].type',
    index: 1,
  },
  {
    name: 'an unknown field in a change',
    mutate: (c) => (at(c, 3).owners = []),
    code: 'unknown_field',
    field: 'changes[3].owners',
    index: 3,
  },
  {
    name: 'a missing ts',
    mutate: (c) => delete at(c, 1).ts,
    code: 'missing_field',
    field: 'changes[1].ts',
    index: 1,
  },
  {
    name: 'a fractional ts',
    mutate: (c) => (at(c, 1).ts = 1.5),
    code: 'invalid_ts',
    field: 'changes[1].ts',
    index: 1,
  },
  {
    name: 'a negative ts',
    mutate: (c) => (at(c, 2).ts = -1),
    code: 'invalid_ts',
    field: 'changes[2].ts',
    index: 2,
  },
  {
    name: 'a ts as a string',
    mutate: (c) => (at(c, 0).ts = '1700000000'),
    code: 'invalid_ts',
    field: 'changes[0].ts',
    index: 0,
  },
  {
    name: 'a ts in milliseconds (far future)',
    mutate: (c) => (at(c, 1).ts = NOW_SEC * 1000),
    code: 'ts_in_future',
    field: 'changes[1].ts',
    index: 1,
  },
  {
    name: 'a ts one second past the skew',
    mutate: (c) => (at(c, 4).ts = NOW_SEC + 301),
    code: 'ts_in_future',
    field: 'changes[4].ts',
    index: 4,
  },
  {
    name: 'a negative seq',
    mutate: (c) => (at(c, 1).seq = -1),
    code: 'invalid_value',
    field: 'changes[1].seq',
    index: 1,
  },
  {
    name: 'a missing object',
    mutate: (c) => delete at(c, 1).object,
    code: 'missing_field',
    field: 'changes[1].object',
    index: 1,
  },
  {
    name: 'a missing apiVersion',
    mutate: (c) => delete objectOf(c, 2).apiVersion,
    code: 'missing_field',
    field: 'changes[2].object.apiVersion',
    index: 2,
  },
  {
    name: 'a malformed apiVersion',
    mutate: (c) => (objectOf(c, 1).apiVersion = 'Apps/V1'),
    code: 'invalid_value',
    field: 'changes[1].object.apiVersion',
    index: 1,
  },
  {
    name: 'a missing kind',
    mutate: (c) => delete objectOf(c, 3).kind,
    code: 'missing_field',
    field: 'changes[3].object.kind',
    index: 3,
  },
  {
    name: 'a kind with a dot',
    mutate: (c) => (objectOf(c, 1).kind = 'Deploy.ment'),
    code: 'invalid_value',
    field: 'changes[1].object.kind',
    index: 1,
  },
  {
    name: 'metadata not an object',
    mutate: (c) => (objectOf(c, 1).metadata = 'web'),
    code: 'invalid_type',
    field: 'changes[1].object.metadata',
    index: 1,
  },
  {
    name: 'a missing metadata.name',
    mutate: (c) => delete metaOf(c, 3).name,
    code: 'missing_field',
    field: 'changes[3].object.metadata.name',
    index: 3,
  },
  {
    name: 'a name with a slash',
    mutate: (c) => (metaOf(c, 1).name = 'a/b'),
    code: 'invalid_value',
    field: 'changes[1].object.metadata.name',
    index: 1,
  },
  {
    name: 'a name with a space',
    mutate: (c) => (metaOf(c, 1).name = 'a b'),
    code: 'invalid_value',
    field: 'changes[1].object.metadata.name',
    index: 1,
  },
  {
    name: 'an upper-case namespace',
    mutate: (c) => (metaOf(c, 1).namespace = 'Shop'),
    code: 'invalid_value',
    field: 'changes[1].object.metadata.namespace',
    index: 1,
  },
  {
    name: 'a label value that is a number',
    mutate: (c) => (metaOf(c, 1).labels = { replicas: 3 }),
    code: 'invalid_type',
    field: 'changes[1].object.metadata.labels["replicas"]',
    index: 1,
  },
  {
    name: 'ownerReferences not an array',
    mutate: (c) => (metaOf(c, 2).ownerReferences = {}),
    code: 'invalid_type',
    field: 'changes[2].object.metadata.ownerReferences',
    index: 2,
  },
  {
    name: 'an owner reference without name',
    mutate: (c) => delete (metaOf(c, 2).ownerReferences as Record<string, unknown>[])[0]!.name,
    code: 'missing_field',
    field: 'changes[2].object.metadata.ownerReferences[0].name',
    index: 2,
  },
  {
    name: 'an owner with a bad GVK',
    mutate: (c) => ((at(c, 2).owners as Record<string, unknown>[])[1]!.gvk = 'Deployment'),
    code: 'invalid_value',
    field: 'changes[2].owners[1].gvk',
    index: 2,
  },
  {
    name: 'an owner with an unknown field',
    mutate: (c) => ((at(c, 2).owners as Record<string, unknown>[])[0]!.uid = 'u1'),
    code: 'unknown_field',
    field: 'changes[2].owners[0].uid',
    index: 2,
  },
  {
    name: 'an object over the size limit',
    mutate: (c) => (objectOf(c, 1).spec = { blob: 'x'.repeat(2000) }),
    options: { maxObjectBytes: 1000 },
    code: 'object_too_large',
    field: 'changes[1].object',
    index: 1,
  },
  {
    name: 'a relist without gvk',
    mutate: (c) => delete at(c, 4).gvk,
    code: 'missing_field',
    field: 'changes[4].gvk',
    index: 4,
  },
  {
    name: 'a relist without after',
    mutate: (c) => delete at(c, 4).after,
    code: 'missing_field',
    field: 'changes[4].after',
    index: 4,
  },
  {
    name: 'a relist range that is empty',
    mutate: (c) => Object.assign(at(c, 4), { after: 'shop/zzz', through: 'shop/aaa', ns_names: [] }),
    code: 'invalid_relist_range',
    field: 'changes[4].through',
    index: 4,
  },
  {
    name: 'relist names out of order',
    mutate: (c) => (at(c, 4).ns_names = ['shop/web', 'shop/api']),
    code: 'relist_unsorted',
    field: 'changes[4].ns_names[1]',
    index: 4,
  },
  {
    name: 'a duplicate relist name',
    mutate: (c) => (at(c, 4).ns_names = ['shop/api', 'shop/api']),
    code: 'relist_unsorted',
    field: 'changes[4].ns_names[1]',
    index: 4,
  },
  {
    name: 'relist names sorted by UTF-16 but not by UTF-8 bytes',
    mutate: (c) => Object.assign(at(c, 4), { through: null, ns_names: ['shop/a😀', 'shop/a\uff5e'] }),
    code: 'relist_unsorted',
    field: 'changes[4].ns_names[1]',
    index: 4,
  },
  {
    name: 'relist lifecycles not a boolean',
    mutate: (c) => (at(c, 4).lifecycles = 'yes'),
    code: 'invalid_type',
    field: 'changes[4].lifecycles',
    index: 4,
  },
  {
    name: 'relist lifecycles on a kind other than v1.Pod',
    mutate: (c) => (at(c, 4).lifecycles = true),
    code: 'invalid_value',
    field: 'changes[4].lifecycles',
    index: 4,
  },
  {
    name: 'a relist name after through',
    mutate: (c) => (at(c, 4).ns_names = ['shop/api', 'what/zzz']),
    code: 'relist_out_of_range',
    field: 'changes[4].ns_names[1]',
    index: 4,
  },
  {
    name: 'a relist name equal to after',
    mutate: (c) => Object.assign(at(c, 4), { after: 'shop/api' }),
    code: 'relist_out_of_range',
    field: 'changes[4].ns_names[0]',
    index: 4,
  },
  {
    name: 'a relist name that is not an nsName',
    mutate: (c) => (at(c, 4).ns_names = ['Shop/api']),
    code: 'invalid_value',
    field: 'changes[4].ns_names[0]',
    index: 4,
  },
  {
    name: 'a relist page over the name limit',
    mutate: (c) => (at(c, 4).ns_names = ['shop/a', 'shop/b', 'shop/c']),
    options: { maxRelistNames: 2 },
    code: 'too_many_names',
    field: 'changes[4].ns_names',
    index: 4,
  },
  {
    name: 'a pod_spec_hash as a number',
    mutate: (c) => (at(c, 5).pod_spec_hash = 42),
    code: 'invalid_type',
    field: 'changes[5].pod_spec_hash',
    index: 5,
  },
  {
    name: 'a pod_spec_hash past u64',
    mutate: (c) => (at(c, 5).pod_spec_hash = '18446744073709551616'),
    code: 'invalid_hash',
    field: 'changes[5].pod_spec_hash',
    index: 5,
  },
  {
    name: 'a pod_spec_hash with a leading zero',
    mutate: (c) => (at(c, 5).pod_spec_hash = '017'),
    code: 'invalid_hash',
    field: 'changes[5].pod_spec_hash',
    index: 5,
  },
  {
    name: 'a pod_spec_hash in hex',
    mutate: (c) => (at(c, 5).pod_spec_hash = 'ff'),
    code: 'invalid_hash',
    field: 'changes[5].pod_spec_hash',
    index: 5,
  },
  {
    name: 'a lifecycle ending before it starts',
    mutate: (c) => (at(c, 5).end_ts = (at(c, 5).start_ts as number) - 1),
    code: 'invalid_lifecycle',
    field: 'changes[5].end_ts',
    index: 5,
  },
  {
    name: 'a lifecycle starting in the future',
    mutate: (c) => (at(c, 5).start_ts = NOW_SEC + 3600),
    code: 'ts_in_future',
    field: 'changes[5].start_ts',
    index: 5,
  },
  {
    name: 'a lifecycle without pod',
    mutate: (c) => delete at(c, 5).pod,
    code: 'missing_field',
    field: 'changes[5].pod',
    index: 5,
  },
  {
    name: 'a lifecycle owner that is a string',
    mutate: (c) => (at(c, 5).owner = 'apps/v1.Deployment shop/web'),
    code: 'invalid_type',
    field: 'changes[5].owner',
    index: 5,
  },
  {
    name: 'a config that is not an object',
    mutate: (c) => (at(c, 0).config = []),
    code: 'invalid_type',
    field: 'changes[0].config',
    index: 0,
  },
  {
    name: 'a config with a pod template path differing from the known default',
    mutate: (c) =>
      (at(c, 0).config = {
        trackedObjects: { 'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/other'] } },
      }),
    code: 'invalid_config',
    field: 'changes[0].config',
    index: 0,
  },
  {
    name: 'a config with an unknown field',
    mutate: (c) => (at(c, 0).config = { trackedObjects: {}, extra: true }),
    code: 'invalid_config',
    field: 'changes[0].config',
    index: 0,
  },
  {
    name: 'a spec nested deeper than the limit',
    mutate: (c) => {
      let deep: unknown = 1;
      for (let i = 0; i < 200; i++) deep = { a: deep };
      objectOf(c, 1).spec = deep;
    },
    code: 'nesting_too_deep',
    field: 'changes[1]',
    index: 1,
  },
  {
    name: 'a type that is a deeply nested object (checked before anything echoes it)',
    mutate: (c) => {
      let deep: unknown = 'applied';
      for (let i = 0; i < 100_000; i++) deep = { type: deep };
      at(c, 1).type = deep;
    },
    code: 'nesting_too_deep',
    field: 'changes[1]',
    index: 1,
  },
  {
    name: 'more changes than the limit',
    body: { changes: [1, 2, 3] },
    options: { maxChanges: 2 },
    code: 'too_many_changes',
    field: 'changes',
  },
];

// Kubernetes' own limits (apimachinery validation) and DynamoDB's key limits. The first three are
// the poison changes of issue #12: each made a key DynamoDB refuses (a sort key over 1,024 bytes).
const subdomain253 = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
rejections.push(
  {
    name: 'an apiVersion of 1,500 characters',
    mutate: (c) => (objectOf(c, 1).apiVersion = `apps/v${'1'.repeat(1499 - 5)}`),
    code: 'invalid_value',
    field: 'changes[1].object.apiVersion',
    index: 1,
  },
  {
    name: 'a kind of 1,100 characters',
    mutate: (c) => (objectOf(c, 1).kind = `D${'e'.repeat(1099)}`),
    code: 'invalid_value',
    field: 'changes[1].object.kind',
    index: 1,
  },
  {
    name: 'a lifecycle pod of 509 two-byte characters',
    mutate: (c) => (at(c, 5).pod = 'é'.repeat(509)),
    code: 'invalid_value',
    field: 'changes[5].pod',
    index: 5,
  },
  {
    name: 'a kind of 64 characters (CRD kinds are DNS-1035 labels)',
    mutate: (c) => (objectOf(c, 1).kind = `K${'k'.repeat(63)}`),
    code: 'invalid_value',
    field: 'changes[1].object.kind',
    index: 1,
  },
  {
    name: 'a version of 64 characters',
    mutate: (c) => (objectOf(c, 1).apiVersion = `apps/v${'1'.repeat(63)}`),
    code: 'invalid_value',
    field: 'changes[1].object.apiVersion',
    index: 1,
  },
  {
    name: 'a group of 254 characters',
    mutate: (c) => (objectOf(c, 1).apiVersion = `${subdomain253}e/v1`),
    code: 'invalid_value',
    field: 'changes[1].object.apiVersion',
    index: 1,
  },
  {
    name: 'a name of 127 two-byte characters (254 bytes)',
    mutate: (c) => (metaOf(c, 1).name = 'é'.repeat(127)),
    code: 'invalid_value',
    field: 'changes[1].object.metadata.name',
    index: 1,
  },
  {
    name: 'a label value of 64 characters',
    mutate: (c) => (metaOf(c, 1).labels = { app: 'v'.repeat(64) }),
    code: 'invalid_value',
    field: 'changes[1].object.metadata.labels["app"]',
    index: 1,
  },
  {
    name: 'a label key whose name part has 64 characters',
    mutate: (c) => (metaOf(c, 1).labels = { [`example.com/${'k'.repeat(64)}`]: 'x' }),
    code: 'invalid_value',
    field: `changes[1].object.metadata.labels["example.com/${'k'.repeat(64)}"]`,
    index: 1,
  },
  {
    name: 'a label value with a space',
    mutate: (c) => (metaOf(c, 1).labels = { app: 'a b' }),
    code: 'invalid_value',
    field: 'changes[1].object.metadata.labels["app"]',
    index: 1,
  },
  {
    name: 'an annotation key with an uppercase prefix',
    mutate: (c) => (metaOf(c, 1).annotations = { 'Example.com/a': 'x' }),
    code: 'invalid_value',
    field: 'changes[1].object.metadata.annotations["Example.com/a"]',
    index: 1,
  },
  {
    name: 'annotations over 256 KiB in all',
    mutate: (c) => (metaOf(c, 1).annotations = { a: 'x'.repeat(200_000), b: 'y'.repeat(62_144) }),
    code: 'object_too_large',
    field: 'changes[1].object.metadata.annotations',
    index: 1,
  },
  {
    name: 'a lifecycle pod with an uppercase name',
    mutate: (c) => (at(c, 5).pod = 'shop/Web-1'),
    code: 'invalid_value',
    field: 'changes[5].pod',
    index: 5,
  },
  {
    name: 'a relist boundary that is no name',
    mutate: (c) => (at(c, 4).after = 'a b'),
    code: 'invalid_value',
    field: 'changes[4].after',
    index: 4,
  },
  {
    name: 'a lifecycle whose sort key passes 1,024 bytes (each part within Kubernetes limits)',
    mutate: (c) => {
      const lc = at(c, 5);
      lc.owner = {
        gvk: `${subdomain253}/v${'1'.repeat(62)}.K${'k'.repeat(62)}`,
        ns_name: `${'n'.repeat(63)}/${'é'.repeat(126)}`,
      };
      lc.pod = `${'n'.repeat(63)}/${subdomain253}`;
    },
    code: 'key_too_long',
    field: 'changes[5].pod',
    index: 5,
  },
);

test('names, GVKs and labels at exactly Kubernetes limits are accepted', () => {
  const batch = validBatch();
  const meta = metaOf(batch.changes, 1);
  meta.name = 'é'.repeat(126); // 252 bytes
  meta.labels = { [`${subdomain253}/${'k'.repeat(63)}`]: 'v'.repeat(63), empty: '' };
  objectOf(batch.changes, 1).kind = `K${'k'.repeat(62)}`;
  objectOf(batch.changes, 1).apiVersion = `${subdomain253}/v${'1'.repeat(62)}`;
  at(batch.changes, 5).pod = `shop/${subdomain253}`;
  validateBatch(batch, opts);
});

describe('validateBatch rejects', () => {
  for (const r of rejections) {
    test(`${r.name} → ${r.code} at ${r.field || '(body)'}`, () => {
      let body = r.body;
      if (r.mutate) {
        const batch = validBatch();
        r.mutate(batch.changes);
        body = batch;
      }
      assert.throws(
        () => validateBatch(body, { ...opts, ...r.options }),
        (err: unknown) => {
          assert.ok(err instanceof BatchValidationError, `expected BatchValidationError, got ${String(err)}`);
          assert.equal(err.code, r.code, err.message);
          assert.equal(err.field, r.field, err.message);
          assert.equal(err.index, r.index);
          assert.deepEqual(
            err.context,
            r.index === undefined ? { field: r.field } : { field: r.field, index: r.index },
          );
          if (r.field !== '')
            assert.ok(err.message.startsWith(r.field), `message names the field: ${err.message}`);
          return true;
        },
      );
    });
  }
});

test('the first bad change is reported, by its index in the batch', () => {
  const changes = Array.from({ length: 10 }, (_, i) => ({
    type: 'applied',
    ts: NOW_SEC,
    object: deployment(`d${i}`),
  }));
  (changes[7]!.object.metadata as Record<string, unknown>).name = '';
  (changes[9]!.object.metadata as Record<string, unknown>).name = '';
  assert.throws(() => validateBatch({ changes }, opts), { code: 'invalid_value', index: 7 });
});

test('messages echo at most a short prefix of what was sent', () => {
  const batch = validBatch();
  metaOfBatch(batch).name = 'x/'.repeat(50_000);
  assert.throws(
    () => validateBatch(batch, opts),
    (err: BatchValidationError) => err.code === 'invalid_value' && err.message.length < 300,
  );
});

function metaOfBatch(batch: { changes: Changes }): Record<string, unknown> {
  return metaOf(batch.changes, 1);
}

test('a pods relist page with lifecycles: true keeps the flag; false is dropped', () => {
  for (const [flag, want] of [
    [true, true],
    [false, undefined],
  ] as const) {
    const batch = validBatch();
    Object.assign(at(batch.changes, 4), { gvk: 'v1.Pod', lifecycles: flag });
    const page = validateBatch(batch, opts).changes[4] as { gvk: string; lifecycles?: boolean };
    assert.equal(page.gvk, 'v1.Pod');
    assert.equal(page.lifecycles, want);
  }
});
