import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { KubeSim } from '../kube-sim/server.ts';
import { getJson } from '../kube-sim/testing.ts';
import { configMap, deployment, namespace, pod, replicaSetFor } from '../kube-sim/workload.ts';

let sim: KubeSim;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;

beforeEach(async () => {
  sim = await KubeSim.start();
  const kc = new k8s.KubeConfig();
  kc.loadFromString(sim.kubeconfig());
  core = kc.makeApiClient(k8s.CoreV1Api);
  apps = kc.makeApiClient(k8s.AppsV1Api);
});
afterEach(() => sim.close());

interface ListBody {
  kind: string;
  apiVersion: string;
  metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number };
  items: Array<{ kind?: string; apiVersion?: string; metadata: { name: string; namespace?: string } }>;
}

interface StatusBody {
  kind: string;
  code: number;
  reason: string;
  message: string;
  metadata: { continue?: string };
  details?: Record<string, unknown>;
}

test('lists come in key order, items without kind/apiVersion, with the list resourceVersion', async () => {
  for (const [ns, name] of [
    ['b', 'x'],
    ['a-b', 'z'],
    ['a', 'y'],
    ['a', 'c'],
  ] as const) {
    sim.apply(configMap(ns, name));
  }
  const raw = await getJson<ListBody>(sim, '/api/v1/configmaps');
  assert.equal(raw.status, 200);
  assert.equal(raw.body.kind, 'ConfigMapList');
  assert.equal(raw.body.apiVersion, 'v1');
  assert.equal(raw.body.metadata.resourceVersion, sim.currentResourceVersion);
  // etcd key order of /registry/configmaps/<ns>/<name>: "a-b/" sorts before "a/" ('-' < '/').
  assert.deepEqual(
    raw.body.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`),
    ['a-b/z', 'a/c', 'a/y', 'b/x'],
  );
  for (const item of raw.body.items) assert.deepEqual([item.kind, item.apiVersion], [undefined, undefined]);
  assert.equal(raw.body.metadata.continue, undefined);

  const inA = await core.listNamespacedConfigMap({ namespace: 'a' });
  assert.deepEqual(
    inA.items.map((i) => i.metadata?.name),
    ['c', 'y'],
  );
});

test('paging with continue stays consistent at the first page resourceVersion while writes happen', async () => {
  for (let i = 0; i < 10; i++) sim.apply(configMap('ns', `cm-${String(i).padStart(2, '0')}`, { v: '1' }));
  const p1 = await core.listNamespacedConfigMap({ namespace: 'ns', limit: 4 });
  const rv = p1.metadata?.resourceVersion;
  assert.equal(p1.items.length, 4);
  assert.equal(p1.metadata?.remainingItemCount, 6);
  assert.ok(p1.metadata?._continue);

  // Writes between pages: none of them may show in the rest of this list.
  sim.apply(configMap('ns', 'cm-05', { v: '2' }));
  sim.delete('v1.ConfigMap', 'ns/cm-06');
  sim.apply(configMap('ns', 'cm-99', { v: '1' }));
  sim.apply(configMap('ns', 'cm-04a', { v: '1' }));

  const p2 = await core.listNamespacedConfigMap({
    namespace: 'ns',
    limit: 4,
    _continue: p1.metadata?._continue,
  });
  assert.equal(p2.metadata?.resourceVersion, rv, 'every page carries the first page resourceVersion');
  // Counted at the snapshot, not now: cm-08 and cm-09 remain (cm-99 came later; cm-06, deleted
  // since, was on this page).
  assert.equal(p2.metadata?.remainingItemCount, 2);
  const p3 = await core.listNamespacedConfigMap({
    namespace: 'ns',
    limit: 4,
    _continue: p2.metadata?._continue,
  });
  assert.equal(p3.metadata?._continue, undefined);
  assert.equal(p3.metadata?.remainingItemCount, undefined);
  const all = [...p1.items, ...p2.items, ...p3.items];
  assert.deepEqual(
    all.map((i) => i.metadata?.name),
    Array.from({ length: 10 }, (_, i) => `cm-${String(i).padStart(2, '0')}`),
  );
  assert.equal(all.find((i) => i.metadata?.name === 'cm-05')?.data?.v, '1');

  const fresh = await core.listNamespacedConfigMap({ namespace: 'ns' });
  assert.deepEqual(
    fresh.items.map((i) => i.metadata?.name).filter((n) => n?.startsWith('cm-0')),
    ['cm-00', 'cm-01', 'cm-02', 'cm-03', 'cm-04', 'cm-04a', 'cm-05', 'cm-07', 'cm-08', 'cm-09'],
  );
});

test('a continue token older than the compaction is 410 Expired with an inconsistent-continue token', async () => {
  for (let i = 0; i < 6; i++) sim.apply(configMap('ns', `c${i}`));
  const p1 = await getJson<ListBody>(sim, '/api/v1/namespaces/ns/configmaps?limit=2');
  sim.apply(configMap('ns', 'c0', { changed: 'yes' }));
  sim.compact();
  const gone = await getJson<StatusBody>(
    sim,
    `/api/v1/namespaces/ns/configmaps?limit=2&continue=${encodeURIComponent(p1.body.metadata.continue!)}`,
  );
  assert.equal(gone.status, 410);
  assert.deepEqual([gone.body.kind, gone.body.reason, gone.body.code], ['Status', 'Expired', 410]);
  assert.match(gone.body.message, /continue parameter is too old/);
  const token = JSON.parse(Buffer.from(gone.body.metadata.continue!, 'base64url').toString());
  assert.equal(token.rv, -1);
  // The inconsistent token continues at the latest state from the same key.
  const rest = await getJson<ListBody>(
    sim,
    `/api/v1/namespaces/ns/configmaps?continue=${encodeURIComponent(gone.body.metadata.continue!)}`,
  );
  assert.deepEqual(
    rest.body.items.map((i) => i.metadata.name),
    ['c2', 'c3', 'c4', 'c5'],
  );
  assert.equal(rest.body.metadata.resourceVersion, sim.currentResourceVersion);

  await assert.rejects(
    core.listNamespacedConfigMap({ namespace: 'ns', limit: 2, _continue: p1.body.metadata.continue }),
    (err: k8s.ApiException<string>) => err.code === 410,
  );
});

test('resourceVersion and resourceVersionMatch follow the list semantics table', async () => {
  sim.apply(configMap('ns', 'a'));
  const rvA = Number(sim.currentResourceVersion);
  sim.apply(configMap('ns', 'b'));
  const names = (b: ListBody) => b.items.map((i) => i.metadata.name);
  const cases: Array<{ query: string; status: number; names?: string[]; rv?: number; reason?: string }> = [
    { query: '', status: 200, names: ['a', 'b'], rv: rvA + 1 },
    { query: 'resourceVersion=0', status: 200, names: ['a', 'b'] },
    // Not older than: the latest is served.
    { query: `resourceVersion=${rvA}`, status: 200, names: ['a', 'b'], rv: rvA + 1 },
    { query: `resourceVersion=${rvA}&resourceVersionMatch=NotOlderThan`, status: 200, names: ['a', 'b'] },
    // Exact (explicitly, or implied by a limit): the state at rvA.
    { query: `resourceVersion=${rvA}&resourceVersionMatch=Exact`, status: 200, names: ['a'], rv: rvA },
    { query: `resourceVersion=${rvA}&limit=10`, status: 200, names: ['a'], rv: rvA },
    { query: 'resourceVersion=999999', status: 504, reason: 'Timeout' },
    { query: 'resourceVersionMatch=Exact', status: 422, reason: 'Invalid' },
    { query: 'resourceVersion=0&resourceVersionMatch=Exact', status: 422, reason: 'Invalid' },
    { query: 'resourceVersion=1&resourceVersionMatch=Newest', status: 422, reason: 'Invalid' },
    { query: 'sendInitialEvents=true', status: 422, reason: 'Invalid' },
    { query: 'resourceVersion=abc', status: 400, reason: 'BadRequest' },
    { query: 'continue=garbage', status: 400, reason: 'BadRequest' },
    { query: 'limit=x', status: 400, reason: 'BadRequest' },
  ];
  for (const c of cases) {
    const res = await getJson<ListBody & StatusBody>(sim, `/api/v1/namespaces/ns/configmaps?${c.query}`);
    assert.equal(res.status, c.status, c.query);
    if (c.names) assert.deepEqual(names(res.body), c.names, c.query);
    if (c.rv !== undefined) assert.equal(res.body.metadata.resourceVersion, String(c.rv), c.query);
    if (c.reason)
      assert.deepEqual([res.body.kind, res.body.reason, res.body.code], ['Status', c.reason, c.status]);
  }
  const p1 = await getJson<ListBody>(sim, '/api/v1/namespaces/ns/configmaps?limit=1');
  const both = await getJson<StatusBody>(
    sim,
    `/api/v1/namespaces/ns/configmaps?limit=1&resourceVersion=${rvA}&continue=${p1.body.metadata.continue}`,
  );
  assert.equal(both.status, 400);
  assert.match(both.body.message, /not allowed when using continue/);

  sim.compact();
  const expiredExact = await getJson<StatusBody>(
    sim,
    `/api/v1/namespaces/ns/configmaps?resourceVersion=${rvA}&limit=5`,
  );
  assert.deepEqual([expiredExact.status, expiredExact.body.reason], [410, 'Expired']);
});

test('label and field selectors filter lists; selector pages may end early without remainingItemCount', async () => {
  sim.apply(pod('ns', 'web-1', { labels: { app: 'web', tier: 'front' }, nodeName: 'n1' }));
  sim.apply(pod('ns', 'web-2', { labels: { app: 'web', tier: 'back' }, nodeName: 'n2' }));
  sim.apply(pod('ns', 'db-1', { labels: { app: 'db' }, nodeName: 'n1' }));
  sim.apply(pod('other', 'web-3', { labels: { app: 'web' }, nodeName: 'n1' }));
  const byLabel = await core.listPodForAllNamespaces({ labelSelector: 'app=web,tier notin (back)' });
  assert.deepEqual(
    byLabel.items.map((p) => p.metadata?.name),
    ['web-1', 'web-3'],
  );
  const byField = await core.listPodForAllNamespaces({
    fieldSelector: 'spec.nodeName=n1,metadata.namespace=ns',
  });
  assert.deepEqual(
    byField.items.map((p) => p.metadata?.name),
    ['db-1', 'web-1'],
  );
  const byName = await core.listNamespacedPod({ namespace: 'ns', fieldSelector: 'metadata.name=web-2' });
  assert.deepEqual(
    byName.items.map((p) => p.metadata?.name),
    ['web-2'],
  );
  const paged = await getJson<ListBody>(sim, '/api/v1/pods?labelSelector=app%3Dweb&limit=1');
  assert.equal(paged.body.items.length, 1);
  assert.ok(paged.body.metadata.continue);
  assert.equal(paged.body.metadata.remainingItemCount, undefined);

  for (const [query, pattern] of [
    ['labelSelector=app%20in%20(', /unable to parse requirement/],
    ['fieldSelector=spec.foo%3Dx', /field label not supported: spec.foo/],
  ] as const) {
    const bad = await getJson<StatusBody>(sim, `/api/v1/pods?${query}`);
    assert.equal(bad.status, 400, query);
    assert.match(bad.body.message, pattern);
  }
});

test('GET of one object carries kind/apiVersion; a missing one is a 404 Status', async () => {
  const d = sim.apply(deployment('ns', 'web'));
  sim.apply(replicaSetFor(d, 'abc12'));
  sim.apply(namespace('ns'));
  const rs = await apps.readNamespacedReplicaSet({ namespace: 'ns', name: 'web-abc12' });
  assert.equal(rs.metadata?.ownerReferences?.[0]?.uid, d.metadata.uid);
  const raw = await getJson<{ kind: string; apiVersion: string }>(
    sim,
    '/apis/apps/v1/namespaces/ns/deployments/web',
  );
  assert.deepEqual([raw.body.kind, raw.body.apiVersion], ['Deployment', 'apps/v1']);
  const status = await getJson<{ kind: string }>(sim, '/apis/apps/v1/namespaces/ns/deployments/web/status');
  assert.equal(status.body.kind, 'Deployment');
  const ns = await core.readNamespace({ name: 'ns' });
  assert.equal(ns.kind, 'Namespace');

  const missing = await getJson<StatusBody>(sim, '/apis/apps/v1/namespaces/ns/deployments/nope');
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.body, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'deployments.apps "nope" not found',
    reason: 'NotFound',
    details: { name: 'nope', group: 'apps', kind: 'deployments' },
    code: 404,
  });
  await assert.rejects(
    core.readNamespacedPod({ namespace: 'ns', name: 'nope' }),
    (err: k8s.ApiException<string>) =>
      err.code === 404 && JSON.parse(err.body).message === 'pods "nope" not found',
  );
  for (const path of ['/api/v1/namespaces/ns/widgets', '/apis/apps/v1/deployments/web', '/nope']) {
    assert.equal((await getJson(sim, path)).status, 404, path);
  }
});

test('custom resources list with kind on items, like CRD lists', async () => {
  sim.addResource({
    group: 'example.com',
    version: 'v1',
    kind: 'Widget',
    plural: 'widgets',
    namespaced: false,
  });
  sim.apply({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 2 } });
  const list = await getJson<ListBody>(sim, '/apis/example.com/v1/widgets');
  assert.equal(list.body.kind, 'WidgetList');
  assert.deepEqual([list.body.items[0]?.kind, list.body.items[0]?.apiVersion], ['Widget', 'example.com/v1']);
  const one = await getJson<{ spec: { size: number } }>(sim, '/apis/example.com/v1/widgets/w1');
  assert.equal(one.body.spec.size, 2);
});

test('defaultPageLimit pages lists the client did not limit', async () => {
  const paging = await KubeSim.start({ defaultPageLimit: 2 });
  try {
    for (let i = 0; i < 3; i++) paging.apply(configMap('ns', `c${i}`));
    const p1 = await getJson<ListBody>(paging, '/api/v1/configmaps');
    assert.equal(p1.body.items.length, 2);
    assert.ok(p1.body.metadata.continue);
  } finally {
    await paging.close();
  }
});
