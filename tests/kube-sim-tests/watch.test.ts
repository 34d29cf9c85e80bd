import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { afterEach, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { KubeSim, type SimOptions } from '../kube-sim/server.ts';
import { getJson, rawWatch, waitUntil } from '../kube-sim/testing.ts';
import {
  configMap,
  deployment,
  namespace,
  pod,
  podFor,
  replicaSetFor,
  runningStatus,
} from '../kube-sim/workload.ts';

const sims: KubeSim[] = [];
async function startSim(options: SimOptions = {}): Promise<KubeSim> {
  const sim = await KubeSim.start(options);
  sims.push(sim);
  return sim;
}
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

interface ClientEvent {
  type: string;
  name?: string;
  rv?: string;
  kind?: string;
  apiVersion?: string;
  object: k8s.KubernetesObject & { code?: number; reason?: string; message?: string };
}

/** A client-node Watch collecting events; `done` resolves with what the client reported at the end. */
async function clientWatch(sim: KubeSim, path: string, query: Record<string, string | number | boolean>) {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(sim.kubeconfig());
  const events: ClientEvent[] = [];
  let resolveDone!: (err: unknown) => void;
  const done = new Promise<unknown>((r) => {
    resolveDone = r;
  });
  const controller = await new k8s.Watch(kc).watch(
    path,
    query,
    (type, object: ClientEvent['object']) => {
      events.push({
        type,
        name: object.metadata?.name,
        rv: object.metadata?.resourceVersion,
        kind: object.kind,
        apiVersion: object.apiVersion,
        object,
      });
    },
    (err) => resolveDone(err),
  );
  return { events, done, controller };
}

test('a watch from a list resourceVersion sees exactly the later changes, in order', async () => {
  const sim = await startSim();
  const d = sim.apply(deployment('ns', 'web'));
  const rs = sim.apply(replicaSetFor(d, 'abc12'));
  sim.apply(podFor(rs, { name: 'web-abc12-aaaaa' }));
  const kc = new k8s.KubeConfig();
  kc.loadFromString(sim.kubeconfig());
  const list = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace: 'ns' });
  const listRv = Number(list.metadata?.resourceVersion);

  const w = await clientWatch(sim, '/api/v1/namespaces/ns/pods', { resourceVersion: String(listRv) });
  sim.patchStatus('v1.Pod', 'ns/web-abc12-aaaaa', runningStatus(1_700_000_000));
  sim.apply(podFor(rs, { name: 'web-abc12-bbbbb' }));
  sim.apply(configMap('ns', 'unrelated'));
  sim.apply(pod('other', 'elsewhere'));
  sim.delete('v1.Pod', 'ns/web-abc12-aaaaa');
  await waitUntil(() => w.events.length >= 3, 'three pod events');
  w.controller.abort();

  assert.deepEqual(
    w.events.map((e) => [e.type, e.name, Number(e.rv) - listRv]),
    [
      ['MODIFIED', 'web-abc12-aaaaa', 1],
      ['ADDED', 'web-abc12-bbbbb', 2],
      ['DELETED', 'web-abc12-aaaaa', 5],
    ],
  );
  for (const e of w.events) assert.deepEqual([e.kind, e.apiVersion], ['Pod', 'v1']);
  const deleted = w.events[2]!.object as k8s.V1Pod;
  assert.equal(deleted.status?.phase, 'Running', 'DELETED carries the last state');
});

test('bookmarks arrive when asked for, carry only the resourceVersion, and not otherwise', async () => {
  const sim = await startSim({ bookmarkIntervalMs: 20 });
  sim.apply(configMap('ns', 'a'));
  const rv = sim.currentResourceVersion;
  const withBm = await rawWatch(
    sim,
    `/api/v1/configmaps?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`,
  );
  const without = await rawWatch(sim, `/api/v1/configmaps?watch=true&resourceVersion=${rv}`);
  await withBm.waitForEvents(2);
  sim.apply(configMap('ns', 'b'));
  await without.waitForEvents(1);
  const after = withBm.events.length;
  await withBm.waitForEvents(after + 2);
  withBm.abort();
  without.abort();

  const bookmarks = withBm.events.filter((e) => e.type === 'BOOKMARK');
  assert.ok(bookmarks.length >= 3);
  assert.deepEqual(bookmarks[0]?.object, {
    kind: 'ConfigMap',
    apiVersion: 'v1',
    metadata: { resourceVersion: rv },
  });
  assert.equal(bookmarks.at(-1)?.object.metadata?.resourceVersion, sim.currentResourceVersion);
  assert.ok(withBm.events.some((e) => e.type === 'ADDED' && e.object.metadata?.name === 'b'));
  assert.deepEqual(
    without.events.map((e) => e.type),
    ['ADDED'],
  );
  // Let any pending bookmark tick pass: still no bookmark on the watch that did not ask.
  await new Promise((r) => setTimeout(r, 60));
  assert.ok(!without.events.some((e) => e.type === 'BOOKMARK'));
});

test('a watch from a compacted resourceVersion gets a 410 ERROR event on a 200 stream, then the end', async () => {
  const sim = await startSim();
  sim.apply(configMap('ns', 'a'));
  const old = Number(sim.currentResourceVersion);
  sim.apply(configMap('ns', 'b'));
  sim.compact();
  const raw = await rawWatch(sim, `/api/v1/configmaps?watch=1&resourceVersion=${old}`);
  assert.equal(raw.status, 200);
  assert.deepEqual(await raw.ended, { kind: 'clean' });
  assert.deepEqual(raw.events, [
    {
      type: 'ERROR',
      object: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `too old resource version: ${old} (${old + 1})`,
        reason: 'Expired',
        code: 410,
      },
    },
  ]);

  const w = await clientWatch(sim, '/api/v1/configmaps', { resourceVersion: String(old) });
  assert.equal(await w.done, null);
  assert.deepEqual(
    w.events.map((e) => [e.type, e.object.code]),
    [['ERROR', 410]],
  );
});

test('the compaction window bounds how far back a watch can resume', async () => {
  const sim = await startSim({ compactionWindow: 3 });
  const start = Number(sim.currentResourceVersion);
  for (let i = 0; i < 5; i++) sim.apply(configMap('ns', `c${i}`));
  const ok = await rawWatch(sim, `/api/v1/configmaps?watch=1&resourceVersion=${start + 2}&timeoutSeconds=1`);
  const events = await ok.waitForEvents(3);
  assert.deepEqual(
    events.map((e) => e.object.metadata?.name),
    ['c2', 'c3', 'c4'],
  );
  ok.abort();
  const gone = await rawWatch(sim, `/api/v1/configmaps?watch=1&resourceVersion=${start + 1}`);
  await gone.ended;
  assert.equal(gone.events[0]?.object.code, 410);
});

test('dropWatches surfaces in the client as a premature close, endWatches as a clean end', async () => {
  const sim = await startSim();
  const rv = sim.currentResourceVersion;
  const dropped = await clientWatch(sim, '/api/v1/pods', { resourceVersion: rv });
  const ended = await clientWatch(sim, '/apis/apps/v1/deployments', {
    resourceVersion: rv,
    allowWatchBookmarks: true,
  });
  const raw = await rawWatch(sim, `/api/v1/pods?watch=true&resourceVersion=${rv}`);
  sim.apply(pod('ns', 'p'));
  await waitUntil(() => dropped.events.length === 1 && raw.events.length === 1, 'the pod event');
  sim.dropWatches({ gvk: 'v1.Pod' });
  const err = await dropped.done;
  assert.ok(err instanceof Error, `expected an error, got ${String(err)}`);
  const rawEnd = await raw.ended;
  assert.equal(rawEnd.kind, 'error');
  assert.equal(sim.watchCount({ gvk: 'apps/v1.Deployment' }), 1, 'other kinds keep their watches');

  sim.endWatches();
  assert.equal(await ended.done, null);
  // A clean end sends a last bookmark (as before a server-side timeout) to a watch that allows them.
  assert.deepEqual(
    ended.events.map((e) => [e.type, e.rv]),
    [['BOOKMARK', sim.currentResourceVersion]],
  );
  assert.equal(sim.watchCount(), 0);
});

test('timeoutSeconds ends the stream cleanly; without it the server cap applies', async () => {
  const sim = await startSim({ watchTimeoutSec: 0.2 });
  const rv = sim.currentResourceVersion;
  const byClient = await clientWatch(sim, '/api/v1/configmaps', { resourceVersion: rv, timeoutSeconds: 1 });
  const byServer = await rawWatch(sim, `/api/v1/configmaps?watch=true&resourceVersion=${rv}`);
  const order: string[] = [];
  const [serverEnd, clientErr] = await Promise.all([
    byServer.ended.then((end) => {
      order.push('server cap (0.2 s)');
      return end;
    }),
    byClient.done.then((err) => {
      order.push('timeoutSeconds (1 s)');
      return err;
    }),
  ]);
  assert.deepEqual(serverEnd, { kind: 'clean' });
  assert.equal(clientErr, null, 'the client saw a clean end, not an error');
  assert.deepEqual(
    order,
    ['server cap (0.2 s)', 'timeoutSeconds (1 s)'],
    'the client value wins over the cap',
  );
  assert.equal(sim.watchCount(), 0);
  const record = sim.requests.find((r) => r.query.timeoutSeconds === '1');
  assert.deepEqual(record && [record.status, record.query.watch], [200, 'true']);
});

test('a watch without resourceVersion (or "0") starts with the current objects as ADDED', async () => {
  const sim = await startSim();
  sim.apply(configMap('ns', 'b'));
  sim.apply(configMap('ns', 'a'));
  sim.apply(configMap('other', 'c'));
  for (const query of ['', '&resourceVersion=0']) {
    const raw = await rawWatch(sim, `/api/v1/namespaces/ns/configmaps?watch=true${query}`);
    await raw.waitForEvents(2);
    sim.apply(configMap('ns', `new${query.length}`));
    const events = await raw.waitForEvents(3);
    raw.abort();
    assert.deepEqual(
      events.map((e) => [e.type, e.object.metadata?.name]),
      [
        ['ADDED', 'a'],
        ['ADDED', 'b'],
        ['ADDED', `new${query.length}`],
      ],
      query,
    );
    sim.delete('v1.ConfigMap', `ns/new${query.length}`);
  }
});

test('objects entering and leaving a label selector arrive as ADDED and DELETED', async () => {
  const sim = await startSim();
  sim.apply(configMap('ns', 'a'));
  const rv = Number(sim.currentResourceVersion);
  const raw = await rawWatch(
    sim,
    `/api/v1/configmaps?watch=true&resourceVersion=${rv}&labelSelector=team%3Dcore`,
  );
  const labelled = (team: string) => ({
    ...configMap('ns', 'a'),
    metadata: { namespace: 'ns', name: 'a', labels: { team } },
  });
  sim.apply(labelled('core')); // enters
  sim.apply({ ...labelled('core'), data: { k: 'v' } }); // stays
  sim.apply(labelled('edge')); // leaves
  sim.delete('v1.ConfigMap', 'ns/a'); // gone while outside: nothing
  const events = await raw.waitForEvents(3);
  await new Promise((r) => setTimeout(r, 20));
  raw.abort();
  assert.deepEqual(
    raw.events.map((e) => [e.type, e.object.metadata?.resourceVersion]),
    [
      ['ADDED', String(rv + 1)],
      ['MODIFIED', String(rv + 2)],
      ['DELETED', String(rv + 3)],
    ],
  );
  // Leaving: the previous content (still team=core) stamped with the new resourceVersion.
  assert.deepEqual(events[2]?.object.metadata?.labels, { team: 'core' });
});

test('pauseWatches holds every byte back; resumeWatches delivers the changes in order', async () => {
  const sim = await startSim({ bookmarkIntervalMs: 10 });
  const rv = sim.currentResourceVersion;
  const raw = await rawWatch(
    sim,
    `/api/v1/configmaps?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`,
  );
  await raw.waitForEvents(1);
  sim.pauseWatches();
  const before = raw.lines.length;
  sim.apply(configMap('ns', 'a'));
  sim.apply(configMap('ns', 'b'));
  const late = await rawWatch(sim, '/api/v1/configmaps?watch=true');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(raw.lines.length, before, 'silent while paused (no events, no bookmarks)');
  assert.equal(late.lines.length, 0);
  sim.resumeWatches();
  const events = (await raw.waitForEvents(before + 2)).filter((e) => e.type !== 'BOOKMARK');
  assert.deepEqual(
    events.map((e) => e.object.metadata?.name),
    ['a', 'b'],
  );
  assert.deepEqual(
    (await late.waitForEvents(2)).map((e) => e.object.metadata?.name),
    ['a', 'b'],
  );
  raw.abort();
  late.abort();
});

test('a quiet watch survives a pause after more changes of other kinds than the history holds', async () => {
  const sim = await startSim({ compactionWindow: 10 });
  const quiet = await rawWatch(
    sim,
    `/api/v1/namespaces?watch=true&resourceVersion=${sim.currentResourceVersion}`,
  );
  await waitUntil(() => sim.watchCount() === 1, 'the watch');
  for (let i = 0; i < 50; i++) sim.apply(configMap('ns', `c${i}`));
  sim.pauseWatches();
  sim.resumeWatches();
  assert.equal(sim.watchCount(), 1);
  sim.apply(namespace('late'));
  const events = await quiet.waitForEvents(1);
  quiet.abort();
  assert.deepEqual(
    events.map((e) => [e.type, e.object.metadata?.name]),
    [['ADDED', 'late']],
  );
});

test('a watcher that does not read waits on its socket, then is closed once it falls out of the history', async () => {
  // The cacher's time budget (realism.test.ts) is off here: this is the history bound alone.
  const sim = await startSim({ watchBufferBytes: 64 * 1024, compactionWindow: 50, slowWatcherBudgetMs: 0 });
  const socket = connect(Number(new URL(sim.url).port), '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  socket.write(
    `GET /api/v1/configmaps?watch=true&resourceVersion=${sim.currentResourceVersion} HTTP/1.1\r\n` +
      `Host: kube-sim\r\nAuthorization: Bearer ${sim.token}\r\n\r\n`,
  );
  socket.pause();
  await waitUntil(() => sim.watchCount() === 1, 'the watch to open');
  // A reader keeping up with the same stream is not affected.
  const reader = await rawWatch(
    sim,
    `/api/v1/configmaps?watch=true&resourceVersion=${sim.currentResourceVersion}`,
  );
  const big = 'x'.repeat(16 * 1024);
  let applied = 0;
  // Loopback socket buffers hold a few MB; 3,000 × 16 KB outgrows any of them.
  while (applied < 3000 && sim.watchCount() === 2) {
    sim.apply(configMap('ns', `c${applied++}`, { big }));
    if (applied % 20 === 0) await reader.waitForEvents(applied);
  }
  assert.equal(sim.watchCount(), 1, 'the slow watcher was terminated, the reader was not');
  assert.ok(applied > 50, 'not before its socket buffers filled');
  await reader.waitForEvents(applied);
  assert.deepEqual(
    reader.events.map((e) => e.object.metadata?.name),
    Array.from({ length: applied }, (_, i) => `c${i}`),
  );
  reader.abort();
  socket.destroy();
});

test('a slow reader gets every event in order through backpressure', async () => {
  const sim = await startSim({ watchBufferBytes: 16 * 1024 });
  for (let i = 0; i < 300; i++)
    sim.apply(configMap('ns', `init${String(i).padStart(3, '0')}`, { pad: 'y'.repeat(2048) }));
  const raw = await rawWatch(sim, '/api/v1/configmaps?watch=true');
  for (let i = 0; i < 300; i++) sim.apply(configMap('ns', `later${i}`, { pad: 'z'.repeat(2048) }));
  const events = await raw.waitForEvents(600);
  raw.abort();
  const names = events.map((e) => `${e.type} ${e.object.metadata?.name}`);
  assert.deepEqual(
    names.slice(0, 300),
    Array.from({ length: 300 }, (_, i) => `ADDED init${String(i).padStart(3, '0')}`),
  );
  assert.deepEqual(
    names.slice(300),
    Array.from({ length: 300 }, (_, i) => `ADDED later${i}`),
  );
});

test('sendInitialEvents streams the state, then a bookmark marking its end', async () => {
  const sim = await startSim();
  sim.apply(configMap('ns', 'a'));
  const raw = await rawWatch(
    sim,
    '/api/v1/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true',
  );
  const events = await raw.waitForEvents(2);
  raw.abort();
  assert.deepEqual(
    events.map((e) => e.type),
    ['ADDED', 'BOOKMARK'],
  );
  assert.deepEqual(events[1]?.object.metadata, {
    resourceVersion: sim.currentResourceVersion,
    annotations: { 'k8s.io/initial-events-end': 'true' },
  });
  const invalid = await getJson<{ code: number; reason: string }>(
    sim,
    '/api/v1/configmaps?watch=true&sendInitialEvents=true',
  );
  assert.deepEqual([invalid.status, invalid.body.reason], [422, 'Invalid']);
});

test('the legacy /watch/ path, namespaced watches and watches of one object', async () => {
  const sim = await startSim();
  const rv = sim.currentResourceVersion;
  const legacy = await rawWatch(sim, `/api/v1/watch/namespaces/ns/configmaps?resourceVersion=${rv}`);
  const one = await rawWatch(sim, `/api/v1/namespaces/ns/configmaps/z?watch=true&resourceVersion=${rv}`);
  sim.apply(configMap('other', 'x'));
  sim.apply(configMap('ns', 'y'));
  sim.apply(configMap('ns', 'z'));
  sim.apply(configMap('other', 'z'));
  const events = await legacy.waitForEvents(2);
  const oneEvents = await one.waitForEvents(1);
  await new Promise((r) => setTimeout(r, 20));
  legacy.abort();
  one.abort();
  assert.deepEqual(
    events.map((e) => e.object.metadata?.name),
    ['y', 'z'],
  );
  assert.deepEqual(
    oneEvents.map((e) => `${e.object.metadata?.namespace}/${e.object.metadata?.name}`),
    ['ns/z'],
  );
  assert.equal(one.events.length, 1);
});

test('a watch from a future resourceVersion only sends what comes after it', async () => {
  const sim = await startSim();
  const future = Number(sim.currentResourceVersion) + 2;
  const raw = await rawWatch(sim, `/api/v1/configmaps?watch=true&resourceVersion=${future}`);
  for (const name of ['a', 'b', 'c']) sim.apply(configMap('ns', name));
  const events = await raw.waitForEvents(1);
  raw.abort();
  assert.deepEqual(
    events.map((e) => e.object.metadata?.name),
    ['c'],
  );
});

test('the client-node informer lists, watches and sees updates', async () => {
  const sim = await startSim();
  sim.apply(configMap('ns', 'a'));
  const kc = new k8s.KubeConfig();
  kc.loadFromString(sim.kubeconfig());
  const api = kc.makeApiClient(k8s.CoreV1Api);
  const informer = k8s.makeInformer(kc, '/api/v1/namespaces/ns/configmaps', () =>
    api.listNamespacedConfigMap({ namespace: 'ns' }),
  );
  const seen: string[] = [];
  informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
  informer.on('update', (o) => seen.push(`update ${o.metadata?.name}`));
  informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
  await informer.start();
  await waitUntil(() => sim.watchCount() === 1, 'the informer watch');
  sim.apply(configMap('ns', 'a', { k: 'v' }));
  sim.apply(configMap('ns', 'b'));
  sim.delete('v1.ConfigMap', 'ns/a');
  await waitUntil(() => seen.length === 4, 'four informer events');
  await informer.stop();
  assert.deepEqual(seen, ['add a', 'update a', 'add b', 'delete a']);
  const watchRequest = sim.requests.find((r) => r.query.watch === 'true');
  assert.equal(watchRequest?.query.resourceVersion, String(Number(sim.currentResourceVersion) - 3));
});

test('the client-node informer recovers from compaction: 410 ERROR event, relist, watch again', async () => {
  const sim = await startSim();
  sim.apply(configMap('ns', 'a'));
  const kc = new k8s.KubeConfig();
  kc.loadFromString(sim.kubeconfig());
  const api = kc.makeApiClient(k8s.CoreV1Api);
  const informer = k8s.makeInformer(kc, '/api/v1/namespaces/ns/configmaps', () =>
    api.listNamespacedConfigMap({ namespace: 'ns' }),
  );
  const seen: string[] = [];
  informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
  informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
  await informer.start();
  await waitUntil(() => sim.watchCount() === 1, 'the informer watch');
  sim.apply(configMap('ns', 'b'));
  await waitUntil(() => seen.length === 2, 'add b');
  // Changes the informer never sees on its watch, then history is gone.
  sim.pauseWatches();
  sim.delete('v1.ConfigMap', 'ns/a');
  sim.apply(configMap('ns', 'c'));
  sim.compact();
  sim.endWatches();
  sim.resumeWatches();
  await waitUntil(() => seen.length === 4, 'the relist', 10_000);
  await informer.stop();
  assert.deepEqual(seen.slice(2).sort(), ['add c', 'delete a']);
  const lists = sim.requests.filter((r) => r.path.endsWith('/configmaps') && r.query.watch === undefined);
  assert.equal(lists.length, 2, 'listed again after the 410');
});
