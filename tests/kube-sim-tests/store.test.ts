import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeContinue, encodeContinue, listPage } from '../kube-sim/list.ts';
import { type HistoryEntry, KubeSimError, SimStore } from '../kube-sim/store.ts';
import { configMap, deployment } from '../kube-sim/workload.ts';

function newStore(compactionWindow = 1000): SimStore {
  const store = new SimStore({ compactionWindow, nowMs: () => Date.UTC(2024, 0, 2, 3, 4, 5, 678) });
  store.addResource(
    { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
    false,
  );
  store.addResource(
    { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true },
    false,
  );
  return store;
}

test('every write bumps one global resourceVersion; metadata is assigned like the apiserver', () => {
  const store = newStore();
  const seen: HistoryEntry[] = [];
  store.subscribe((e) => seen.push(e));
  const rv0 = store.currentRv;
  const a = store.apply(configMap('ns', 'a', { k: '1' }));
  const d = store.apply(deployment('ns', 'web'));
  assert.equal(a.rv, rv0 + 1);
  assert.equal(d.rv, rv0 + 2);
  assert.equal(a.object.metadata.resourceVersion, String(rv0 + 1));
  assert.equal(a.object.metadata.creationTimestamp, '2024-01-02T03:04:05Z');
  assert.equal(a.object.metadata.generation, 1);
  assert.match(String(a.object.metadata.uid), /^[0-9a-f-]{36}$/);
  assert.deepEqual(
    seen.map((e) => [e.type, e.rv]),
    [
      ['ADDED', rv0 + 1],
      ['ADDED', rv0 + 2],
    ],
  );
});

test('generation counts spec changes only; uid lives as long as the object', () => {
  const store = newStore();
  const res = store.resourceByGvk('apps/v1.Deployment');
  const d1 = store.apply(deployment('ns', 'web', { replicas: 1 }));
  const d2 = store.apply({
    ...deployment('ns', 'web', { replicas: 1 }),
    metadata: { namespace: 'ns', name: 'web', labels: { x: 'y' } },
  });
  assert.equal(d2.object.metadata.generation, 1, 'metadata change keeps generation');
  const d3 = store.apply(deployment('ns', 'web', { replicas: 3 }));
  assert.equal(d3.object.metadata.generation, 2, 'spec change bumps generation');
  const d4 = store.patchStatus(res, 'ns/web', { replicas: 3 });
  assert.equal(d4.object.metadata.generation, 2, 'status change keeps generation');
  assert.deepEqual(d4.object.spec, d3.object.spec);
  assert.equal(d4.object.metadata.uid, d1.object.metadata.uid);
  store.delete(res, 'ns/web');
  const again = store.apply(deployment('ns', 'web'));
  assert.notEqual(again.object.metadata.uid, d1.object.metadata.uid, 'a recreated object gets a new uid');
  assert.equal(again.object.metadata.generation, 1);
});

test('the JSON a version is served as is exactly its object', () => {
  const store = newStore();
  const res = store.resourceByGvk('apps/v1.Deployment');
  const versions = [
    store.apply(deployment('ns', 'web', { replicas: 1 })),
    store.apply(deployment('ns', 'web', { replicas: 2 })),
    store.patchStatus(res, 'ns/web', { replicas: 2 }),
    store.apply({
      ...deployment('ns', 'web', { replicas: 2 }),
      metadata: { namespace: 'ns', name: 'web', uid: 'forged', resourceVersion: '1' },
    }),
    store.delete(res, 'ns/web'),
  ];
  for (const v of versions) {
    assert.equal(v.json, JSON.stringify(v.object));
    assert.equal(v.object.metadata.resourceVersion, String(v.rv));
    assert.ok(Object.isFrozen(v.object) && Object.isFrozen(v.object.metadata));
  }
  assert.equal(
    versions[3]!.object.metadata.uid,
    versions[0]!.object.metadata.uid,
    'uid is not client-settable',
  );
});

test('an update that changes nothing writes nothing', () => {
  const store = newStore();
  const first = store.apply(configMap('ns', 'a', { k: '1' }));
  const rv = store.currentRv;
  const same = store.apply(configMap('ns', 'a', { k: '1' }));
  assert.equal(same, first);
  assert.equal(store.currentRv, rv);
  const res = store.resourceByGvk('v1.ConfigMap');
  store.patchStatus(res, 'ns/a', { ok: true });
  const rv2 = store.currentRv;
  store.patchStatus(res, 'ns/a', { ok: true });
  assert.equal(store.currentRv, rv2);
});

test('DELETED carries the last object with the deletion resourceVersion', () => {
  const store = newStore();
  const res = store.resourceByGvk('v1.ConfigMap');
  store.apply(configMap('ns', 'a', { k: '1' }));
  let last: HistoryEntry | undefined;
  store.subscribe((e) => {
    last = e;
  });
  store.delete(res, 'ns/a');
  assert.equal(last?.type, 'DELETED');
  assert.equal(last?.version.object.metadata.resourceVersion, String(store.currentRv));
  assert.deepEqual(last?.version.object.data, { k: '1' });
  assert.equal(store.get(res, 'ns/a'), undefined);
});

test('misuse names the problem', () => {
  const store = newStore();
  assert.throws(
    () => store.apply({ apiVersion: 'x/v1', kind: 'Nope', metadata: { name: 'a' } }),
    /addResource/,
  );
  assert.throws(
    () => store.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } }),
    KubeSimError,
  );
  assert.throws(() => store.delete(store.resourceByGvk('v1.ConfigMap'), 'ns/missing'), /does not exist/);
  assert.throws(() => store.keyOfNsName(store.resourceByGvk('v1.ConfigMap'), 'bare'), /namespaced/);
});

test('history is bounded by the compaction window', () => {
  const store = newStore(3);
  const start = store.currentRv;
  for (let i = 0; i < 5; i++) store.apply(configMap('ns', `c${i}`));
  // 5 changes, 3 kept: the oldest kept is start+3, so resuming works from start+2 on.
  assert.equal(store.compactedRv, start + 2);
  assert.deepEqual(
    [...store.changesAfter(start + 2)].map((e) => e.rv),
    [start + 3, start + 4, start + 5],
  );
  store.compact();
  assert.equal(store.compactedRv, store.currentRv);
  assert.deepEqual([...store.changesAfter(start + 5)], []);
});

test('a page at an older resourceVersion is the state at that revision', () => {
  const store = newStore();
  const res = store.resourceByGvk('v1.ConfigMap');
  for (const name of ['b', 'd', 'f']) store.apply(configMap('ns', name, { v: '1' }));
  const at = store.currentRv;
  store.apply(configMap('ns', 'a', { v: 'new' })); // created after: invisible at `at`
  store.apply(configMap('ns', 'd', { v: '2' })); // modified after: old version visible
  store.delete(res, 'ns/f'); // deleted after: still visible
  store.apply(configMap('other', 'z')); // other namespace
  const page = listPage(store, { res, keyPrefix: 'ns/', match: () => true, filtered: false, atRv: at });
  assert.deepEqual(
    page.items.map((v) => [v.object.metadata.name, (v.object.data as { v: string }).v]),
    [
      ['b', '1'],
      ['d', '1'],
      ['f', '1'],
    ],
  );
  const latest = listPage(store, { res, keyPrefix: '', match: () => true, filtered: false });
  assert.deepEqual(
    latest.items.map((v) => `${v.object.metadata.namespace}/${v.object.metadata.name}`),
    ['ns/a', 'ns/b', 'ns/d', 'other/z'],
  );
});

test('pages follow key order with remainingItemCount, and continue tokens round-trip', () => {
  const store = newStore();
  const res = store.resourceByGvk('v1.ConfigMap');
  for (const name of ['e', 'a', 'c', 'b', 'd']) store.apply(configMap('ns', name));
  const p1 = listPage(store, { res, keyPrefix: 'ns/', match: () => true, filtered: false, limit: 2 });
  assert.deepEqual(
    p1.items.map((v) => v.object.metadata.name),
    ['a', 'b'],
  );
  assert.equal(p1.nextKey, 'ns/b\u0000');
  assert.equal(p1.remainingItemCount, 3);
  const token = encodeContinue(42, p1.nextKey!, 'ns/');
  assert.deepEqual(JSON.parse(Buffer.from(token, 'base64url').toString()), {
    v: 'meta.k8s.io/v1',
    rv: 42,
    start: 'b\u0000',
  });
  assert.deepEqual(decodeContinue(token, 'ns/'), { rv: 42, startKey: 'ns/b\u0000' });
  const p2 = listPage(store, {
    res,
    keyPrefix: 'ns/',
    match: () => true,
    filtered: false,
    limit: 2,
    startKey: p1.nextKey!,
  });
  assert.deepEqual(
    p2.items.map((v) => v.object.metadata.name),
    ['c', 'd'],
  );
  const filtered = listPage(store, {
    res,
    keyPrefix: 'ns/',
    match: (o) => o.metadata.name !== 'a',
    filtered: true,
    limit: 1,
  });
  assert.deepEqual(
    filtered.items.map((v) => v.object.metadata.name),
    ['b'],
  );
  assert.equal(filtered.remainingItemCount, undefined, 'unknown with a selector');
});

test('bad continue tokens are rejected', () => {
  const bad = [
    'not base64 json',
    Buffer.from('{"v":"other","rv":1,"start":"a"}').toString('base64url'),
    Buffer.from('{"v":"meta.k8s.io/v1","rv":0,"start":"a"}').toString('base64url'),
    Buffer.from('{"v":"meta.k8s.io/v1","rv":3,"start":""}').toString('base64url'),
    Buffer.from('{"v":"meta.k8s.io/v1","rv":3,"start":"../x"}').toString('base64url'),
  ];
  for (const token of bad) assert.throws(() => decodeContinue(token, ''), /continue key is not valid/, token);
});

test('list items omit kind and apiVersion for built-ins but keep them for custom resources', () => {
  const store = newStore();
  const crd = store.addResource(
    { group: 'example.com', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true },
    true,
  );
  const cm = store.apply(configMap('ns', 'a'));
  const w = store.apply({
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { namespace: 'ns', name: 'w' },
    spec: { size: 1 },
  });
  const item = JSON.parse(cm.itemJson);
  assert.equal(item.kind, undefined);
  assert.equal(item.apiVersion, undefined);
  assert.equal(item.metadata.name, 'a');
  assert.equal(JSON.parse(cm.json).kind, 'ConfigMap');
  assert.equal(w.resource, crd);
  assert.equal(JSON.parse(w.itemJson).kind, 'Widget');
});
