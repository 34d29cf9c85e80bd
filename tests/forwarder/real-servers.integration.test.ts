/**
 * The forwarder against the ways a real kube-apiserver is unkind (tests/kube-sim realism):
 * watches that end at once, a kind removed and served again, a continue token expiring mid-list
 * under a slow endpoint, and keep-alive connections.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppliedChange, Change } from '../../lib/ingest/wire.ts';
import { configMap, deployment, podFor, replicaSetFor } from '../kube-sim/workload.ts';
import { FAST_TUNING, Harness, ready, settled } from './support/harness.ts';
import { eventually, fastRuntime } from './support/runtime.ts';

const appliedNames = (changes: Change[], gvk: string) =>
  changes
    .filter(
      (c): c is AppliedChange => c.type === 'applied' && `${c.object.apiVersion}.${c.object.kind}` === gvk,
    )
    .map((c) => `${c.object.metadata.namespace}/${c.object.metadata.name}`);

test('watches that end at once without an event are retried with backoff (client-go very short watch), not in a tight loop', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  h.sim.apply(configMap('ns', 'a'));
  const runtime = fastRuntime(5);
  const fw = await h.forwarder('trackedObjects:\n  v1.ConfigMap: {}\n', { runtime });
  await eventually(() => settled(fw), 20_000, 'listed');
  const sleepsBefore = runtime.sleeps.length;
  h.sim.endWatchesAtOnce({ gvk: 'v1.ConfigMap', times: 4 });
  h.sim.endWatches({ gvk: 'v1.ConfigMap' });
  await eventually(
    () => fw.metrics.watchRestarts.get({ gvk: 'v1.ConfigMap', reason: 'short' }) === 4,
    20_000,
    'four very short watches',
  );
  // Each short watch waited a growing backoff (20, 40, 80, 160 ms × jitter 0.75 here), the
  // first one included: a clean end that is not short re-watches without waiting.
  const waits = runtime.sleeps.slice(sleepsBefore).filter((ms) => ms < 5_000);
  assert.deepEqual(waits.slice(0, 4), [15, 30, 60, 120]);
  h.sim.apply(configMap('ns', 'b'));
  await h.until((s) => s.names('v1.ConfigMap').length === 2, 'the watch works again');
  assert.ok(fw.log.records.some((l) => l.level === 'warn' && /watch short/.test(String(l.reason))));
});

test('a kind removed (404) goes back to discovery, is reported in /readyz and metrics, and is traced again once served', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  const widget = { group: 'example.com', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true };
  h.sim.addResource(widget);
  const w = (name: string, size: number) => ({
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { namespace: 'ns', name },
    spec: { size },
  });
  h.sim.apply(w('w1', 1));
  const fw = await h.forwarder('trackedObjects:\n  example.com/v1.Widget: {}\n  v1.ConfigMap: {}\n');
  await eventually(() => settled(fw), 20_000, 'listed');
  h.sim.removeResource('example.com/v1.Widget');
  await eventually(() => fw.metrics.kindsNotFound.get() === 1, 20_000, 'removal reported');
  const r = fw.forwarder.readiness();
  assert.equal(r.ready, false);
  const kind = r.kinds.find((k) => k.gvk === 'example.com/v1.Widget')!;
  assert.deepEqual([kind.found, kind.listed, kind.notFound], [false, false, true]);
  assert.ok(fw.log.records.some((l) => l.level === 'warn' && /no longer served/.test(l.msg)));
  // The CRD version comes back, with changes.
  h.sim.addResource(widget);
  h.sim.apply(w('w1', 2));
  h.sim.apply(w('w2', 1));
  await eventually(() => ready(fw), 20_000, 'ready again');
  const store = await h.until((s) => s.names('example.com/v1.Widget').length === 2, 'both widgets');
  assert.deepEqual(store.names('example.com/v1.Widget'), ['ns/w1', 'ns/w2']);
  assert.equal(fw.metrics.relists.get({ gvk: 'example.com/v1.Widget', cause: 'removed' }), 1);
  assert.equal(fw.metrics.kindsNotFound.get(), 0);
});

test('a continue token expiring mid-list under a slow endpoint: one more pass that sends only what the first did not', async (t) => {
  const h = await Harness.start({ compactionIntervalMs: 0 });
  t.after(() => h.close());
  const n = 300;
  const name = (i: number) => `d-${String(i).padStart(3, '0')}`;
  for (let i = 0; i < n; i++) h.sim.apply(deployment('ns', name(i)));
  // The endpoint refuses everything for a while: the list fills the queue and waits on it.
  h.ingest.setDown(true);
  const fw = await h.forwarder('trackedObjects:\n  apps/v1.Deployment: {}\n', {
    tuning: { pageLimit: 20 },
    delivery: { maxQueueBytes: 64 * 1024, maxBatchChanges: 10 },
  });
  const listRequests = () =>
    h.sim.requests.filter((r) => r.path === '/apis/apps/v1/deployments' && r.query.watch === undefined);
  await eventually(() => listRequests().length >= 3, 20_000, 'the list under way');
  // etcd compacts while the list waits: its continue token is now too old.
  h.sim.apply(deployment('ns', name(0), { replicas: 5 }));
  h.sim.compact();
  h.ingest.setDown(false);
  await eventually(() => settled(fw), 60_000, 'listed');
  assert.equal(fw.metrics.relists.get({ gvk: 'apps/v1.Deployment', cause: 'expired' }), 1);
  const store = h.store();
  assert.equal(store.names('apps/v1.Deployment').length, n);
  // Objects the expired pass had queued are not sent again; the one changed meanwhile is.
  const sent = appliedNames(h.ingest.accepted(), 'apps/v1.Deployment');
  const twice = sent.filter((s, i) => sent.indexOf(s) !== i);
  assert.deepEqual(twice, [`ns/${name(0)}`]);
  assert.equal(
    (store.kind('apps/v1.Deployment').get(`ns/${name(0)}`)!.object.spec as { replicas?: number }).replicas,
    5,
  );
});

test('pages are fetched ahead of processing, and all requests share a few keep-alive connections', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  for (let i = 0; i < 200; i++) h.sim.apply(configMap('ns', `cm-${i}`));
  const connectionsBefore = h.sim.connectionCount;
  const requestsBefore = h.sim.requestCount;
  const fw = await h.forwarder('trackedObjects:\n  v1.ConfigMap: {}\n', {
    tuning: { ...FAST_TUNING, pageLimit: 10 },
  });
  await eventually(() => settled(fw), 20_000, 'listed');
  const requests = h.sim.requestCount - requestsBefore;
  const connections = h.sim.connectionCount - connectionsBefore;
  // Discovery, 20 pages, a watch: all on a couple of connections (the watch holds one).
  assert.ok(requests >= 22, `${requests} requests`);
  assert.ok(connections <= 3, `${connections} connections for ${requests} requests`);
});

test('an owner index whose list keeps failing does not hold the dependents: GETs answer after ownerIndexWaitMs', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  const d = h.sim.apply(deployment('ns', 'web'));
  const rs = h.sim.apply(replicaSetFor(d, 'abcd1'));
  for (let i = 0; i < 3; i++) h.sim.apply(podFor(rs));
  // The ReplicaSet list answers 503 for a long while (the gets of single ReplicaSets still work).
  h.sim.inject({ path: /^\/apis\/apps\/v1\/replicasets\?(?!.*watch)/, status: 503, times: 10_000 });
  const fw = await h.forwarder('trackedObjects:\n  v1.Pod: {}\n', { tuning: { ownerIndexWaitMs: 300 } });
  const store = await h.until((s) => s.names('v1.Pod').length === 3, 'pods despite the stuck index');
  for (const p of store.kind('v1.Pod').values()) {
    assert.deepEqual(p.owners, [
      { gvk: 'apps/v1.ReplicaSet', ns_name: 'ns/web-abcd1' },
      { gvk: 'apps/v1.Deployment', ns_name: 'ns/web' },
    ]);
  }
  assert.equal(fw.metrics.ownerGets.total(), 1, 'one GET of the ReplicaSet, cached for the other pods');
  const states = Object.fromEntries(fw.forwarder.readiness().ownerIndexes.map((i) => [i.gvk, i.state]));
  assert.equal(states['apps/v1.ReplicaSet'], 'starting');
});
