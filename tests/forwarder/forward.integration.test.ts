/**
 * The forwarder end to end: the simulated API server, the real transport, the recording ingest
 * endpoint, and a store-like reducer over what was accepted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppliedChange, Change, RelistChange } from '../../lib/ingest/wire.ts';
import type { KubeObject } from '../../lib/trace/model.ts';
import {
  configMap,
  cronJob,
  deployment,
  finishedStatus,
  jobFor,
  pod,
  podFor,
  replicaSetFor,
  runningStatus,
  serviceAccount,
} from '../kube-sim/workload.ts';
import { FAST_TUNING, Harness, ready, settled } from './support/harness.ts';
import { eventually, fastRuntime } from './support/runtime.ts';
import type { StoreReducer } from './support/store-reducer.ts';

const CONFIG = `
trackedObjects:
  apps/v1.Deployment: {}
  v1.ConfigMap: {}
  v1.ServiceAccount: {}
`;

const applied = (changes: Change[], gvk: string) =>
  changes.filter(
    (c): c is AppliedChange => c.type === 'applied' && `${c.object.apiVersion}.${c.object.kind}` === gvk,
  );
const relists = (changes: Change[], gvk?: string) =>
  changes.filter((c): c is RelistChange => c.type === 'relist' && (gvk === undefined || c.gvk === gvk));

test('initial list of several kinds, updates, deletions; status-only churn sends nothing', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  for (let i = 0; i < 120; i++)
    h.sim.apply(configMap('apps', `cm-${String(i).padStart(3, '0')}`, { v: '1' }));
  h.sim.apply(deployment('apps', 'web'));
  h.sim.apply(deployment('batch', 'worker'));
  h.sim.apply(serviceAccount('apps', 'builder'));

  const fw = await h.forwarder(CONFIG);
  let store = await h.until(
    (s) => s.names('v1.ConfigMap').length === 120 && s.names('apps/v1.Deployment').length === 2,
    'initial lists',
  );
  await eventually(() => ready(fw), 20_000, 'readiness');
  assert.equal(store.configs, 1, 'the tracer config is sent first');
  assert.equal(h.ingest.accepted()[0]?.type, 'config');
  assert.deepEqual(store.names('v1.ServiceAccount'), ['apps/builder']);
  // 120 ConfigMaps with page limit 50: three list pages, one relist page (relist pages hold 500).
  const cmLists = h.sim.requests.filter(
    (r) => r.path === '/api/v1/configmaps' && r.query.watch === undefined,
  );
  assert.deepEqual(
    cmLists.map((r) => [r.query.limit, r.query.continue === undefined ? 'first' : 'next']),
    [
      ['50', 'first'],
      ['50', 'next'],
      ['50', 'next'],
    ],
  );
  const cmRelists = relists(h.ingest.accepted(), 'v1.ConfigMap');
  assert.equal(cmRelists.length, 1);
  assert.deepEqual(
    [cmRelists[0]!.after, cmRelists[0]!.through, cmRelists[0]!.ns_names.length],
    [null, null, 120],
  );
  // Listed objects' applied changes come before their relist page.
  const all = h.ingest.accepted();
  const lastCm = all.findLastIndex((c) => c.type === 'applied' && c.object.kind === 'ConfigMap');
  assert.ok(lastCm < all.indexOf(cmRelists[0]!));
  // Sanitised: no status, no server-owned metadata; seq grows.
  const web = applied(all, 'apps/v1.Deployment').find((c) => c.object.metadata.name === 'web')!;
  assert.equal(web.object.status, undefined);
  assert.equal(web.object.metadata.uid, undefined);
  assert.equal(web.object.metadata.resourceVersion, undefined);
  const seqs = all.filter((c): c is AppliedChange => c.type === 'applied').map((c) => c.seq!);
  assert.ok(
    seqs.every((s, i) => i === 0 || s > seqs[i - 1]!),
    'seq is monotonic',
  );
  // The watches ask for bookmarks and a timeout, from the list's resourceVersion.
  const watch = h.sim.requests.find(
    (r) => r.path === '/apis/apps/v1/deployments' && r.query.watch === 'true',
  )!;
  assert.equal(watch.query.allowWatchBookmarks, 'true');
  assert.equal(watch.query.timeoutSeconds, '30');
  assert.match(watch.query.resourceVersion!, /^\d+$/);

  // Status-only churn: MODIFIED events with the same spec never leave the cluster.
  const before = h.ingest.accepted().length;
  for (let i = 0; i < 20; i++)
    h.sim.patchStatus('apps/v1.Deployment', 'apps/web', { observedGeneration: 1, replicas: i });
  // A spec change after the churn proves the watch was flowing.
  const scaled = structuredClone(h.sim.get('apps/v1.Deployment', 'apps/web')!); // stored objects are frozen
  (scaled.spec as { replicas: number }).replicas = 5;
  h.sim.apply(scaled);
  store = await h.until(
    (s) =>
      (s.kind('apps/v1.Deployment').get('apps/web')?.object.spec as { replicas?: number })?.replicas === 5,
    'scale-up',
  );
  const after = h.ingest.accepted().slice(before);
  assert.deepEqual(
    after.map((c) => c.type),
    ['applied'],
    'only the spec change was sent',
  );
  assert.equal(fw.metrics.deduplicated.get({ gvk: 'apps/v1.Deployment' }), 20);
  assert.equal(fw.metrics.watchEvents.get({ gvk: 'apps/v1.Deployment', type: 'MODIFIED' }), 21);

  // A deletion while watching.
  h.sim.delete('v1.ConfigMap', 'apps/cm-007');
  store = await h.until((s) => !s.kind('v1.ConfigMap').has('apps/cm-007'), 'deletion');
  assert.deepEqual(store.deletions.at(-1), {
    gvk: 'v1.ConfigMap',
    nsName: 'apps/cm-007',
    ts: store.deletions.at(-1)!.ts,
    via: 'deleted',
  });
});

test('Deployments deduplicated by generation against the simulated API server: status and label updates stay, spec changes and a recreation under the same name are sent', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  h.sim.apply(deployment('apps', 'web'));
  const fw = await h.forwarder(CONFIG);
  await h.until((s) => s.names('apps/v1.Deployment').length === 1, 'initial list');
  await eventually(() => ready(fw), 20_000, 'readiness');
  // The list's relist page goes after its objects, in a later batch when delivery is slow: counted
  // from here, the changes below are the watch's alone.
  await eventually(
    () => relists(h.ingest.accepted(), 'apps/v1.Deployment').length > 0,
    20_000,
    "the initial list's relist page",
  );
  const edit = (change: (d: KubeObject) => void): KubeObject => {
    const d = structuredClone(h.sim.get('apps/v1.Deployment', 'apps/web')!); // stored objects are frozen
    change(d);
    return h.sim.apply(d);
  };
  const replicasIn = (s: StoreReducer) =>
    (s.kind('apps/v1.Deployment').get('apps/web')?.object.spec as { replicas?: number } | undefined)
      ?.replicas;
  const before = h.ingest.accepted().length;
  const deduplicated0 = fw.metrics.deduplicated.get({ gvk: 'apps/v1.Deployment' });
  // Per step, hand-written: what it does to the generation, and whether it is sent.
  h.sim.patchStatus('apps/v1.Deployment', 'apps/web', { replicas: 3 }); // generation kept: not sent
  const labelled = edit((d) => {
    d.metadata.labels = { ...d.metadata.labels, team: 'b' }; // metadata only: generation kept, not sent
  });
  assert.equal(labelled.metadata.generation, 1);
  const scaled = edit((d) => {
    (d.spec as { replicas: number }).replicas = 4; // spec: generation 2, sent
  });
  assert.equal(scaled.metadata.generation, 2);
  await h.until((s) => replicasIn(s) === 4, 'the spec change');
  h.sim.patchStatus('apps/v1.Deployment', 'apps/web', { replicas: 4 }); // not sent
  // Deleted and created again with the same spec as first: a new uid at generation 1, sent.
  h.sim.delete('apps/v1.Deployment', 'apps/web');
  const recreated = h.sim.apply(deployment('apps', 'web'));
  assert.equal(recreated.metadata.generation, 1);
  h.sim.patchStatus('apps/v1.Deployment', 'apps/web', { replicas: 1 }); // not sent
  const back = edit((d) => {
    (d.spec as { replicas: number }).replicas = 4; // generation 2 again, of the new object: sent
  });
  assert.equal(back.metadata.generation, 2);
  await h.until((s) => replicasIn(s) === 4 && s.deletions.length > 0, 'the recreation and its scale-up');
  await eventually(
    () => fw.metrics.watchEvents.get({ gvk: 'apps/v1.Deployment', type: 'MODIFIED' }) >= 6,
    20_000,
    'every event read',
  );
  assert.deepEqual(
    h.ingest
      .accepted()
      .slice(before)
      // Other kinds' relist pages (their initial lists) may still be in flight.
      .filter((c) => c.type !== 'relist' || c.gvk === 'apps/v1.Deployment')
      .map((c) =>
        c.type === 'applied' ? `applied ${(c.object.spec as { replicas: number }).replicas}` : c.type,
      ),
    ['applied 4', 'deleted', 'applied 1', 'applied 4'],
  );
  assert.equal(fw.metrics.deduplicated.get({ gvk: 'apps/v1.Deployment' }) - deduplicated0, 4);
});

test('deletions while the forwarder is stopped are recorded by the relist on restart', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  for (const n of ['a', 'b', 'c', 'd']) h.sim.apply(configMap('ns', n));
  h.sim.apply(deployment('ns', 'keep'));
  const first = await h.forwarder(CONFIG);
  await h.until((s) => s.names('v1.ConfigMap').length === 4, 'first list');
  await first.stop();

  h.sim.delete('v1.ConfigMap', 'ns/b');
  h.sim.delete('v1.ConfigMap', 'ns/d');
  h.sim.apply(configMap('ns', 'e'));
  const mark = h.ingest.accepted().length;
  await h.forwarder(CONFIG);
  const store = await h.until(
    (s) => s.names('v1.ConfigMap').join() === 'ns/a,ns/c,ns/e',
    'relist after restart',
  );
  assert.deepEqual(
    store.deletions.map((d) => [d.gvk, d.nsName, d.via]),
    [
      ['v1.ConfigMap', 'ns/b', 'relist'],
      ['v1.ConfigMap', 'ns/d', 'relist'],
    ],
  );
  // Other kinds' objects are untouched by the ConfigMap relist.
  assert.deepEqual(store.names('apps/v1.Deployment'), ['ns/keep']);
  // The restart resent every object (the store dedupes), so a missed update cannot hide.
  assert.equal(applied(h.ingest.accepted().slice(mark), 'v1.ConfigMap').length, 3);
});

test('deletions during a dropped watch: the watch resumes, and a compacted history forces a relist of that kind only', async (t) => {
  const h = await Harness.start({ compactionWindow: 1_000_000 });
  t.after(() => h.close());
  for (const n of ['a', 'b', 'c']) h.sim.apply(configMap('ns', n));
  h.sim.apply(deployment('ns', 'web'));
  const fw = await h.forwarder(CONFIG);
  await eventually(() => ready(fw), 20_000, 'readiness');
  await h.until((s) => s.names('v1.ConfigMap').length === 3, 'list');

  // A dropped connection: the forwarder resumes from its resourceVersion without relisting.
  h.sim.dropWatches({ gvk: 'v1.ConfigMap' });
  h.sim.delete('v1.ConfigMap', 'ns/a');
  await h.until((s) => !s.kind('v1.ConfigMap').has('ns/a'), 'deletion seen after resume');
  assert.equal(fw.metrics.relists.get({ gvk: 'v1.ConfigMap', cause: 'gone' }), 0);
  assert.ok(fw.metrics.watchRestarts.get({ gvk: 'v1.ConfigMap', reason: 'dropped' }) >= 1);

  // Now the watch drops and history is compacted before it comes back: 410 → relist, ConfigMaps
  // only (these calls run before the forwarder can reconnect).
  const mark = h.ingest.accepted().length;
  h.sim.dropWatches({ gvk: 'v1.ConfigMap' });
  h.sim.delete('v1.ConfigMap', 'ns/b');
  h.sim.compact();
  const store = await h.until((s) => !s.kind('v1.ConfigMap').has('ns/b'), 'deletion via relist');
  assert.deepEqual(store.deletions.at(-1)?.via, 'relist');
  assert.equal(fw.metrics.relists.get({ gvk: 'v1.ConfigMap', cause: 'gone' }), 1);
  const later = h.ingest.accepted().slice(mark);
  assert.deepEqual([...new Set(relists(later).map((r) => r.gvk))], ['v1.ConfigMap']);
  assert.deepEqual(store.names('apps/v1.Deployment'), ['ns/web']);
});

test('410 for one kind while another kind is busy: relist pages only for the 410 kind', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  for (let i = 0; i < 30; i++) h.sim.apply(configMap('ns', `cm-${i}`));
  h.sim.apply(deployment('ns', 'web'));
  const fw = await h.forwarder(CONFIG);
  await eventually(() => settled(fw), 20_000, 'lists delivered');
  const mark = h.ingest.accepted().length;
  // Deployments churn while the ConfigMap watch is cut and history compacted.
  h.sim.dropWatches({ gvk: 'v1.ConfigMap' });
  h.sim.delete('v1.ConfigMap', 'ns/cm-3');
  h.sim.compact();
  for (let i = 2; i <= 40; i++) {
    const d = structuredClone(h.sim.get('apps/v1.Deployment', 'ns/web')!); // stored objects are frozen
    (d.spec as { replicas: number }).replicas = i;
    h.sim.apply(d);
  }
  await h.until(
    (s) =>
      !s.kind('v1.ConfigMap').has('ns/cm-3') &&
      (s.kind('apps/v1.Deployment').get('ns/web')?.object.spec as { replicas?: number } | undefined)
        ?.replicas === 40,
    'relist and churn',
  );
  const later = h.ingest.accepted().slice(mark);
  assert.deepEqual([...new Set(relists(later).map((r) => r.gvk))], ['v1.ConfigMap']);
  assert.equal(fw.metrics.relists.get({ gvk: 'apps/v1.Deployment', cause: 'gone' }), 0);
  // Every Deployment spec change arrived, in order.
  const replicas = applied(later, 'apps/v1.Deployment').map(
    (c) => (c.object.spec as { replicas: number }).replicas,
  );
  assert.deepEqual(
    replicas,
    Array.from({ length: 39 }, (_, i) => i + 2),
  );
});

test('two kinds with the same names are kept apart', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  h.sim.apply(configMap('ns', 'same'));
  h.sim.apply(serviceAccount('ns', 'same'));
  const fw = await h.forwarder(CONFIG);
  await h.until(
    (s) => s.kind('v1.ServiceAccount').has('ns/same') && s.kind('v1.ConfigMap').has('ns/same'),
    'lists',
  );
  h.sim.delete('v1.ServiceAccount', 'ns/same');
  const store = await h.until((s) => !s.kind('v1.ServiceAccount').has('ns/same'), 'SA deletion');
  assert.deepEqual(store.names('v1.ConfigMap'), ['ns/same']);
  // And a relist of one kind leaves the other's same-named object alone.
  h.sim.dropWatches({ gvk: 'v1.ServiceAccount' });
  h.sim.apply(serviceAccount('ns', 'other'));
  h.sim.compact();
  await h.until((s) => s.kind('v1.ServiceAccount').has('ns/other'), 'SA relist');
  assert.equal(fw.metrics.relists.get({ gvk: 'v1.ServiceAccount', cause: 'gone' }), 1);
  assert.deepEqual(h.store().names('v1.ConfigMap'), ['ns/same']);
});

test('owner chains Pod → ReplicaSet → Deployment are resolved through indexes of the owner kinds, without a GET', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  const d = h.sim.apply(deployment('ns', 'web'));
  const rs = h.sim.apply(replicaSetFor(d, '5d8f7c9b6'));
  for (let i = 0; i < 5; i++) h.sim.apply(podFor(rs, { status: runningStatus(1_700_000_000) }));
  const fw = await h.forwarder(`
trackedObjects:
  apps/v1.Deployment: {}
  apps/v1.ReplicaSet: {}
  v1.Pod: {}
`);
  const store = await h.until(
    (s) => s.names('v1.Pod').length === 5 && s.names('apps/v1.ReplicaSet').length === 1,
    'pods',
  );
  for (const p of store.kind('v1.Pod').values()) {
    assert.deepEqual(p.owners, [
      { gvk: 'apps/v1.ReplicaSet', ns_name: 'ns/web-5d8f7c9b6' },
      { gvk: 'apps/v1.Deployment', ns_name: 'ns/web' },
    ]);
  }
  assert.deepEqual(store.kind('apps/v1.ReplicaSet').get('ns/web-5d8f7c9b6')?.owners, [
    { gvk: 'apps/v1.Deployment', ns_name: 'ns/web' },
  ]);
  assert.equal(store.kind('apps/v1.Deployment').get('ns/web')?.owners, undefined);
  // No GET at all: the owner kinds are listed (metadata only) and watched once each.
  const gets = h.sim.requests.filter((r) => /\/namespaces\/ns\/(replicasets|deployments)\//.test(r.path));
  assert.equal(gets.length, 0, gets.map((g) => g.path).join());
  assert.deepEqual(
    fw.forwarder
      .readiness()
      .ownerIndexes.map((i) => [i.gvk, i.state])
      .sort(),
    [
      ['apps/v1.Deployment', 'ready'],
      ['apps/v1.ReplicaSet', 'ready'],
    ],
  );
  assert.ok(fw.metrics.ownerLookups.get({ result: 'hit' }) >= 4);
});

test('list pages are sized by bytes: after the first page, each asks for what fits listPageBytes', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  const d = h.sim.apply(deployment('ns', 'web'));
  const rs = h.sim.apply(replicaSetFor(d, '5d8f7c9b6'));
  for (let i = 0; i < 60; i++) h.sim.apply(podFor(rs, { status: runningStatus(1_700_000_000) }));
  // The size of one pod as the simulated server sends it in a list page.
  const podBytes = JSON.stringify(h.sim.list('v1.Pod')[0]).length;
  await h.forwarder('trackedObjects:\n  v1.Pod: {}\n', {
    tuning: { pageLimit: 50, firstPageLimit: 4, listPageBytes: podBytes * 10 },
  });
  await h.until((s) => s.names('v1.Pod').length === 60, 'pods');
  const limits = h.sim.requests
    .filter((r) => r.path === '/api/v1/pods' && r.query.watch === undefined)
    .map((r) => Number(r.query.limit));
  // First page 4 pods; then ~10 pods' worth of bytes per page (the page's list envelope makes
  // the bytes per item a little larger than one pod: 9 or 10).
  assert.equal(limits[0], 4);
  assert.ok(limits.length >= 6, `pages: ${limits.join()}`);
  for (const l of limits.slice(1)) assert.ok(l === 9 || l === 10, `pages: ${limits.join()}`);
});

test('a list pass of gcAfterListObjects or more objects ends with one full GC, before its watch; smaller passes and watch events do not', async (t) => {
  const h = await Harness.start({ compactionWindow: 1_000_000 });
  t.after(() => h.close());
  for (let i = 0; i < 30; i++) h.sim.apply(configMap('ns', `cm-${i}`));
  for (let i = 0; i < 5; i++) h.sim.apply(serviceAccount('ns', `sa-${i}`));
  const cmRequests = (watch: boolean) =>
    h.sim.requests.filter((r) => r.path === '/api/v1/configmaps' && (r.query.watch !== undefined) === watch)
      .length;
  // Each GC notes the ConfigMap list and watch requests made so far.
  const gcs: Array<{ lists: number; watches: number }> = [];
  const runtime = {
    ...fastRuntime(),
    collectGarbage: () => gcs.push({ lists: cmRequests(false), watches: cmRequests(true) }),
  };
  const fw = await h.forwarder('trackedObjects:\n  v1.ConfigMap: {}\n  v1.ServiceAccount: {}\n', {
    runtime,
    tuning: { ...FAST_TUNING, pageLimit: 10, firstPageLimit: 10, gcAfterListObjects: 20 },
  });
  await eventually(() => settled(fw), 20_000, 'listed');
  await h.until((s) => s.names('v1.ConfigMap').length === 30, 'the ConfigMaps');
  // One GC: after the ConfigMaps' last page (4 pages of 10: the last one is empty or short),
  // before their watch; none for the 5 ServiceAccounts.
  assert.equal(gcs.length, 1, JSON.stringify(gcs));
  assert.equal(gcs[0]!.watches, 0);
  assert.equal(gcs[0]!.lists, cmRequests(false));
  // Watch events do not ask for one.
  for (let i = 0; i < 10; i++) h.sim.apply(configMap('ns', `cm-${i}`, { v: 'changed' }));
  await eventually(
    () => fw.metrics.watchEvents.get({ gvk: 'v1.ConfigMap', type: 'MODIFIED' }) === 10,
    20_000,
    'the updates read',
  );
  assert.equal(gcs.length, 1);
  // A relist (history compacted while the watch was down) is a pass like the first.
  // These run before the forwarder can reconnect.
  h.sim.dropWatches({ gvk: 'v1.ConfigMap' });
  h.sim.apply(configMap('ns', 'cm-new'));
  h.sim.compact();
  await eventually(
    () => fw.metrics.relists.get({ gvk: 'v1.ConfigMap', cause: 'gone' }) === 1,
    20_000,
    'relist',
  );
  await eventually(() => gcs.length === 2, 20_000, 'the GC after the relist');
  assert.equal(gcs[1]!.lists, cmRequests(false));
});

test('owner chains through GETs when indexes are off: one GET per owner, cached, not one per pod', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  const d = h.sim.apply(deployment('ns', 'web'));
  const rs = h.sim.apply(replicaSetFor(d, '5d8f7c9b6'));
  for (let i = 0; i < 5; i++) h.sim.apply(podFor(rs, { status: runningStatus(1_700_000_000) }));
  const fw = await h.forwarder('trackedObjects:\n  v1.Pod: {}\n', { tuning: { ownerIndexes: false } });
  const store = await h.until((s) => s.names('v1.Pod').length === 5, 'pods');
  for (const p of store.kind('v1.Pod').values()) {
    assert.deepEqual(p.owners, [
      { gvk: 'apps/v1.ReplicaSet', ns_name: 'ns/web-5d8f7c9b6' },
      { gvk: 'apps/v1.Deployment', ns_name: 'ns/web' },
    ]);
  }
  const gets = h.sim.requests.filter((r) => /\/namespaces\/ns\/(replicasets|deployments)\//.test(r.path));
  assert.equal(gets.length, 2, gets.map((g) => g.path).join());
  assert.ok(fw.metrics.ownerLookups.get({ result: 'hit' }) >= 4);
});

test('owner index: a ReplicaSet created after the index was listed is found (GET on the miss, then the watch keeps it)', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  const d = h.sim.apply(deployment('ns', 'web'));
  const rs1 = h.sim.apply(replicaSetFor(d, 'aaaa1'));
  h.sim.apply(podFor(rs1));
  const fw = await h.forwarder('trackedObjects:\n  v1.Pod: {}\n');
  await h.until((s) => s.names('v1.Pod').length === 1, 'first pod');
  // A rollout: a new ReplicaSet and its pods, arriving on two watches.
  const rs2 = h.sim.apply(replicaSetFor(d, 'bbbb2'));
  for (let i = 0; i < 20; i++) h.sim.apply(podFor(rs2));
  const store = await h.until((s) => s.names('v1.Pod').length === 21, 'rollout pods');
  const owners = [...store.kind('v1.Pod').values()].map((p) => p.owners?.[0]?.ns_name);
  assert.equal(owners.filter((o) => o === 'ns/web-bbbb2').length, 20);
  const gets = h.sim.requests.filter((r) => /\/replicasets\/web-bbbb2$/.test(r.path));
  assert.ok(gets.length <= 1, `${gets.length} GETs of the new ReplicaSet`);
  assert.ok(fw.forwarder.readiness().ownerIndexes.every((i) => i.state === 'ready'));
});

test('owner kinds without RBAC permission: no list/watch falls back to GETs; no get either cuts the chain, one warning per kind', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  const d = h.sim.apply(deployment('ns', 'web'));
  const rs = h.sim.apply(replicaSetFor(d, '5d8f7c9b6'));
  for (let i = 0; i < 5; i++) h.sim.apply(podFor(rs));
  // ReplicaSets may be read one by one only; Deployments not at all.
  h.sim.forbid('apps/v1.ReplicaSet', ['list', 'watch']);
  h.sim.forbid('apps/v1.Deployment', ['get', 'list', 'watch']);
  const fw = await h.forwarder('trackedObjects:\n  v1.Pod: {}\n');
  const store = await h.until((s) => s.names('v1.Pod').length === 5, 'pods despite RBAC');
  for (const p of store.kind('v1.Pod').values()) {
    // The chain stops at the Deployment: its name is known from the ReplicaSet's reference.
    assert.deepEqual(p.owners, [
      { gvk: 'apps/v1.ReplicaSet', ns_name: 'ns/web-5d8f7c9b6' },
      { gvk: 'apps/v1.Deployment', ns_name: 'ns/web' },
    ]);
  }
  const warnings = fw.log.records.filter((l) => l.level === 'warn').map((l) => `${l.gvk} ${l.msg}`);
  assert.equal(warnings.filter((w) => w.startsWith('apps/v1.Deployment no permission to get')).length, 1);
  assert.equal(warnings.filter((w) => w.startsWith('apps/v1.Deployment no permission to list')).length, 1);
  assert.equal(warnings.filter((w) => w.startsWith('apps/v1.ReplicaSet no permission to list')).length, 1);
  const states = Object.fromEntries(fw.forwarder.readiness().ownerIndexes.map((i) => [i.gvk, i.state]));
  assert.deepEqual(states, { 'apps/v1.ReplicaSet': 'unavailable', 'apps/v1.Deployment': 'unavailable' });
  // One GET of the ReplicaSet for five pods (cached), one refused GET of the Deployment.
  const gets = h.sim.requests.filter((r) => /\/namespaces\/ns\/(replicasets|deployments)\//.test(r.path));
  assert.deepEqual(
    gets.map((g) => `${g.path.split('/').slice(-2).join('/')} ${g.status}`),
    ['replicasets/web-5d8f7c9b6 200', 'deployments/web 403'],
  );
});

test('skipOwned kinds leave out owned objects, in changes and relist pages', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  const d = h.sim.apply(deployment('ns', 'web'));
  const rs = h.sim.apply(replicaSetFor(d, 'abc'));
  h.sim.apply(podFor(rs, { name: 'owned' }));
  h.sim.apply(pod('ns', 'bare'));
  const fw = await h.forwarder(`
trackedObjects:
  v1.Pod:
    skipOwned: true
`);
  await eventually(() => ready(fw), 20_000, 'readiness');
  await eventually(() => fw.delivery.depth === 0, 20_000, 'delivery');
  const all = h.ingest.accepted();
  assert.deepEqual(
    applied(all, 'v1.Pod').map((c) => c.object.metadata.name),
    ['bare'],
  );
  assert.deepEqual(relists(all, 'v1.Pod')[0]?.ns_names, ['ns/bare']);
  assert.equal(fw.metrics.skippedOwned.get({ gvk: 'v1.Pod' }), 1);
});

test('CronJob → Job → Pod lifecycles: Running then Finished, under the CronJob', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  const cj = h.sim.apply(cronJob('batch', 'nightly'));
  const job = h.sim.apply(jobFor(cj, { scheduledAtSec: 1_700_000_000 }));
  const p = h.sim.apply(podFor(job, { name: 'nightly-run' }));
  const fw = await h.forwarder(`
trackedObjects:
  batch/v1.CronJob:
    trackLifecycle: true
`);
  await eventually(() => ready(fw), 20_000, 'readiness');
  h.sim.patchStatus('v1.Pod', 'batch/nightly-run', runningStatus(1_700_000_100));
  h.sim.patchStatus('v1.Pod', 'batch/nightly-run', runningStatus(1_700_000_100)); // no transition
  h.sim.patchStatus('v1.Pod', 'batch/nightly-run', finishedStatus(1_700_000_100, 1_700_000_160));
  const owner = 'batch/v1.CronJob batch/nightly';
  const store = await h.until(
    (s) => s.lifecycles.get(owner)?.get('batch/nightly-run')?.end !== undefined,
    'finished',
  );
  const lcs = h.ingest.accepted().filter((c) => c.type === 'lifecycle');
  assert.deepEqual(
    lcs.map((c) => [c.owner.gvk, c.owner.ns_name, c.pod, c.start_ts, c.end_ts]),
    [
      ['batch/v1.CronJob', 'batch/nightly', 'batch/nightly-run', 1_700_000_100, undefined],
      ['batch/v1.CronJob', 'batch/nightly', 'batch/nightly-run', 1_700_000_100, 1_700_000_160],
    ],
  );
  assert.match(lcs[0]!.pod_spec_hash, /^\d+$/);
  assert.equal(lcs[0]!.pod_spec_hash, lcs[1]!.pod_spec_hash);
  // Pods are watched for lifecycles but not traced as objects.
  assert.equal(applied(h.ingest.accepted(), 'v1.Pod').length, 0);
  assert.equal(store.names('v1.Pod').length, 0);
  assert.ok(p);
});

test('bare pods are their own lifecycle owner; a pod deleted while running finishes at deletion', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  h.sim.apply(pod('testing', 'bare-1', { status: runningStatus(1_700_000_000) }));
  const d = h.sim.apply(deployment('testing', 'web'));
  h.sim.apply(
    podFor(h.sim.apply(replicaSetFor(d, 'x')), { name: 'owned', status: runningStatus(1_700_000_000) }),
  );
  const fw = await h.forwarder(`
trackedObjects:
  v1.Pod:
    trackLifecycle: true
    skipOwned: true
`);
  await eventually(() => ready(fw), 20_000, 'readiness');
  await h.until((s) => s.lifecycles.has('v1.Pod testing/bare-1'), 'running');
  const t0 = Math.floor(Date.now() / 1000);
  h.sim.delete('v1.Pod', 'testing/bare-1');
  const store = await h.until(
    (s) => s.lifecycles.get('v1.Pod testing/bare-1')?.get('testing/bare-1')?.end !== undefined,
    'finished',
  );
  const lc = store.lifecycles.get('v1.Pod testing/bare-1')!.get('testing/bare-1')!;
  assert.equal(lc.start, 1_700_000_000);
  assert.ok(lc.end! >= t0 && lc.end! <= t0 + 5, `finished at deletion time, got ${lc.end}`);
  // The owned pod's owner chain has no lifecycle kind: no lifecycle for it.
  assert.deepEqual([...store.lifecycles.keys()], ['v1.Pod testing/bare-1']);
});

test('a kind that is not served yet is retried and reported, then traced once its CRD appears', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  h.sim.apply(configMap('ns', 'a'));
  const fw = await h.forwarder(`
trackedObjects:
  v1.ConfigMap: {}
  example.com/v1.Widget: {}
`);
  await eventually(() => fw.metrics.kindsNotFound.get() === 1, 20_000, 'kind reported missing');
  await h.until((s) => s.names('v1.ConfigMap').length === 1, 'served kinds still traced');
  const r = fw.forwarder.readiness();
  assert.equal(r.ready, false);
  assert.deepEqual(
    r.kinds.map((k) => [k.gvk, k.found, k.listed]),
    [
      ['v1.ConfigMap', true, true],
      ['example.com/v1.Widget', false, false],
    ],
  );
  assert.ok(fw.log.records.some((l) => l.level === 'warn' && l.gvk === 'example.com/v1.Widget'));
  h.sim.addResource({
    group: 'example.com',
    version: 'v1',
    kind: 'Widget',
    plural: 'widgets',
    namespaced: true,
  });
  h.sim.apply({
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { namespace: 'ns', name: 'w1' },
    spec: { size: 3 },
  });
  await h.until((s) => s.names('example.com/v1.Widget').length === 1, 'CRD objects');
  await eventually(() => ready(fw), 20_000, 'ready once listed');
  assert.equal(fw.metrics.kindsNotFound.get(), 0);
});

test('API throttling and 5xx: Retry-After is honoured, lists and watches retry, nothing is lost', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  for (const n of ['a', 'b']) h.sim.apply(configMap('ns', n));
  h.sim.inject({
    method: 'GET',
    path: /^\/api\/v1\/configmaps\?(?!.*watch)/,
    status: 429,
    times: 2,
    retryAfterSec: 3,
  });
  h.sim.inject({ method: 'GET', path: /^\/api\/v1\/configmaps\?.*watch=true/, status: 503, times: 2 });
  const runtime = fastRuntime(20, { realFromMs: 60_000 });
  const fw = await h.forwarder('trackedObjects:\n  v1.ConfigMap: {}\n', {
    runtime,
    tuning: { kubeBackoff: { ...FAST_TUNING.kubeBackoff!, maxRetryAfterMs: 10_000 } },
  });
  await eventually(() => settled(fw), 20_000, 'list despite throttling');
  h.sim.apply(configMap('ns', 'c'));
  const store = await h.until((s) => s.names('v1.ConfigMap').length === 3, 'watch despite 503s');
  assert.deepEqual(store.names('v1.ConfigMap'), ['ns/a', 'ns/b', 'ns/c']);
  // Backoffs here stay under 200 ms and the idle watchdog sleeps 5 s: 3 s can only be Retry-After.
  assert.equal(
    runtime.sleeps.filter((ms) => ms === 3000).length,
    2,
    `Retry-After 3 s twice: ${runtime.sleeps.join(',')}`,
  );
  assert.equal(fw.metrics.kubeErrors.get({ gvk: 'v1.ConfigMap', op: 'list', status: '429' }), 2);
  assert.equal(fw.metrics.kubeErrors.get({ gvk: 'v1.ConfigMap', op: 'watch', status: '503' }), 2);
});
