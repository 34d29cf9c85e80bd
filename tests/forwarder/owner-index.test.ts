/**
 * The owner index (owner-index.ts): entries kept as one string each. Expectations are written by
 * hand: what a lookup must give back for objects fed through the index's own handler.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeOwner, encodeOwner, OwnerIndex } from '../../lib/forwarder/owner-index.ts';
import type { KubeObject } from '../../lib/trace/model.ts';

const rs = (name: string, metadata: Record<string, unknown>): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  metadata: { namespace: 'ns', name, ...metadata },
});

test('encode/decode round trip: uid, references in order, uids present or not', () => {
  const cases = [
    { uid: undefined, refs: [] },
    { uid: 'u-1', refs: [] },
    {
      uid: 'u-2',
      refs: [
        { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-1' },
        { apiVersion: 'example.com/v1', kind: 'Thing', name: 'with "quotes", \\ and ünïcode' },
      ],
    },
  ];
  for (const c of cases) assert.deepEqual(decodeOwner(encodeOwner(c)), c);
  // One flat string (what makes it compact), JSON of [uid, apiVersion, kind, name, uid, …].
  assert.equal(
    encodeOwner(cases[2]!),
    '["u-2","apps/v1","Deployment","web","d-1","example.com/v1","Thing","with \\"quotes\\", \\\\ and ünïcode",null]',
  );
});

test('lookups give uid and ownerReferences (only the four fields); deletes and relists remove entries', async () => {
  const index = new OwnerIndex('apps/v1.ReplicaSet');
  await index.handle({
    type: 'applied',
    listed: true,
    object: rs('web-1', {
      uid: 'rs-uid-1',
      labels: { app: 'web' },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-uid', controller: true },
        // Not a reference (no name): the API server refuses these; the index leaves it out.
        { apiVersion: 'v1', kind: 'Thing' },
      ],
    }),
  });
  await index.handle({ type: 'applied', listed: true, object: rs('web-2', { uid: 'rs-uid-2' }) });
  await index.handle({ type: 'applied', listed: true, object: rs('web-3', {}) });
  assert.equal(index.state, 'starting');
  await index.handle({
    type: 'relisted',
    nsNames: ['ns/web-1', 'ns/web-2', 'ns/web-3'],
    resourceVersion: '9',
  });
  assert.equal(index.state, 'ready');
  assert.equal(index.size, 3);
  assert.deepEqual(index.objectOf('ns/web-1', 'apps/v1', 'ReplicaSet'), {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      namespace: 'ns',
      name: 'web-1',
      uid: 'rs-uid-1',
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-uid' }],
    },
  });
  assert.deepEqual(index.objectOf('ns/web-3', 'apps/v1', 'ReplicaSet')?.metadata, {
    namespace: 'ns',
    name: 'web-3',
  });
  assert.equal(index.objectOf('ns/nope', 'apps/v1', 'ReplicaSet'), undefined);
  // An update replaces the entry.
  await index.handle({ type: 'applied', listed: false, object: rs('web-2', { uid: 'rs-uid-2b' }) });
  assert.equal(index.get('ns/web-2')?.uid, 'rs-uid-2b');
  await index.handle({ type: 'deleted', object: rs('web-2', {}) });
  assert.equal(index.get('ns/web-2'), undefined);
  // A relist drops what it did not list.
  await index.handle({ type: 'relisted', nsNames: ['ns/web-3'], resourceVersion: '12' });
  assert.deepEqual([index.get('ns/web-1'), index.size], [undefined, 1]);
});

test('the same name in two namespaces and a cluster-scoped owner are kept apart; size counts each', async () => {
  const index = new OwnerIndex('apps/v1.ReplicaSet');
  const obj = (namespace: string | undefined, name: string, uid: string): KubeObject => ({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: namespace ? { namespace, name, uid } : { name, uid },
  });
  for (const [ns, name, uid] of [
    ['a', 'web', 'u-a'],
    ['b', 'web', 'u-b'],
    [undefined, 'web', 'u-cluster'],
    ['a', 'api', 'u-a-api'],
  ] as const) {
    await index.handle({ type: 'applied', listed: true, object: obj(ns, name, uid) });
  }
  assert.equal(index.size, 4);
  assert.deepEqual(
    ['a/web', 'b/web', 'web', 'a/api'].map((n) => index.get(n)?.uid),
    ['u-a', 'u-b', 'u-cluster', 'u-a-api'],
  );
  // Applying the same object again replaces it: the size does not grow.
  await index.handle({ type: 'applied', listed: false, object: obj('a', 'web', 'u-a2') });
  assert.equal(index.size, 4);
  await index.handle({ type: 'deleted', object: obj('b', 'web', 'u-b') });
  await index.handle({ type: 'deleted', object: obj('b', 'web', 'u-b') });
  assert.equal(index.size, 3);
  await index.handle({ type: 'relisted', nsNames: ['web', 'a/api'], resourceVersion: '3' });
  assert.deepEqual(
    ['a/web', 'b/web', 'web', 'a/api'].map((n) => index.get(n)?.uid),
    [undefined, undefined, 'u-cluster', 'u-a-api'],
  );
  assert.equal(index.size, 2);
});
