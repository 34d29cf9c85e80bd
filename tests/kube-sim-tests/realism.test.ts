/**
 * The ways a real kube-apiserver is less kind than a simple simulator, each checked on the wire:
 * compaction on a clock, the watch cache's time window, unresponsive watchers closed, watches
 * ending at once, kinds removed and served again, rotated and expiring tokens, realistic pods,
 * and TCP connections counted (keep-alive clients reuse them).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { KubeSim } from '../kube-sim/server.ts';
import { getJson, rawWatch, waitUntil } from '../kube-sim/testing.ts';
import { configMap, deployment, realisticPod, replicaSetFor } from '../kube-sim/workload.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type ListDoc = { metadata: { continue?: string; resourceVersion: string }; items: unknown[] };

test('compaction on a clock: continue tokens and watch resourceVersions expire after one to two intervals', async (t) => {
  const sim = await KubeSim.start({ compactionIntervalMs: 150 });
  t.after(() => sim.close());
  for (let i = 0; i < 6; i++) sim.apply(configMap('c', `cm-${i}`));
  const first = await getJson<ListDoc>(sim, '/api/v1/configmaps?limit=2');
  const token = first.body.metadata.continue!;
  const rv = first.body.metadata.resourceVersion;
  // Right away, the snapshot is still there.
  assert.equal((await getJson(sim, `/api/v1/configmaps?limit=2&continue=${token}`)).status, 200);
  // compact.go compacts to the revision it saw one tick earlier: two ticks after a change, older ones are gone.
  sim.apply(configMap('c', 'later'));
  await sleep(400);
  sim.apply(configMap('c', 'later-still'));
  const expired = await getJson<{ reason: string }>(sim, `/api/v1/configmaps?limit=2&continue=${token}`);
  assert.equal(expired.status, 410);
  assert.equal(expired.body.reason, 'Expired');
  const w = await rawWatch(sim, `/api/v1/configmaps?watch=true&resourceVersion=${rv}`);
  assert.deepEqual(await w.ended, { kind: 'clean' });
  assert.equal(w.events[0]?.type, 'ERROR');
  assert.equal((w.events[0]!.object as { code?: number }).code, 410);
});

test('watch cache window: a watch from before an event older than 75 s is too old, though etcd still has it', async (t) => {
  let nowMs = 1_700_000_000_000;
  const sim = await KubeSim.start({ nowMs: () => nowMs, compactionIntervalMs: 0 });
  t.after(() => sim.close());
  sim.apply(configMap('c', 'a'));
  const before = sim.currentResourceVersion;
  sim.apply(configMap('c', 'b'));
  nowMs += 60_000;
  // Within the window: served, starting after `before`.
  const inside = await rawWatch(sim, `/api/v1/configmaps?watch=true&resourceVersion=${before}`);
  assert.equal((await inside.waitForEvents(1))[0]?.type, 'ADDED');
  inside.abort();
  nowMs += 20_000;
  const evicted = await rawWatch(sim, `/api/v1/configmaps?watch=true&resourceVersion=${before}`);
  assert.deepEqual(await evicted.ended, { kind: 'clean' });
  assert.equal((evicted.events[0]!.object as { code?: number }).code, 410);
  assert.match(
    String((evicted.events[0]!.object as { message?: string }).message),
    /too old resource version/,
  );
  // Another kind's old events do not make a quiet kind's resourceVersion too old.
  const quiet = await rawWatch(sim, `/api/v1/secrets?watch=true&resourceVersion=${before}&timeoutSeconds=1`);
  assert.deepEqual(await quiet.ended, { kind: 'clean' });
  assert.equal(quiet.events.length, 0);
});

test('a watcher that does not read is closed once its buffer is full and the budget is spent', async (t) => {
  const sim = await KubeSim.start({ watchBufferBytes: 64 * 1024, slowWatcherBudgetMs: 50 });
  t.after(() => sim.close());
  // A client that stops reading: node:http with the response paused (fetch would buffer ahead).
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.get(
      `${sim.url}/api/v1/configmaps?watch=true&resourceVersion=${sim.currentResourceVersion}`,
      { headers: { authorization: `Bearer ${sim.token}` } },
      resolve,
    );
    req.on('error', reject);
  });
  res.pause();
  const big = 'x'.repeat(16 * 1024);
  let i = 0;
  await waitUntil(
    () => {
      sim.apply(configMap('c', `big-${i++}`, { big }));
      return sim.watchCount({ gvk: 'v1.ConfigMap' }) === 0;
    },
    'the unresponsive watcher closed',
    20_000,
  );
  // What was written stays readable, and the stream then ends cleanly (no error).
  let lines = 0;
  res.setEncoding('utf8');
  for await (const chunk of res) lines += (chunk as string).split('\n').length - 1;
  assert.ok(lines > 0 && lines < i, `${lines} of ${i} events delivered before the close`);
});

test('watches that end at once: a clean end with no event, for the next N watches only', async (t) => {
  const sim = await KubeSim.start();
  t.after(() => sim.close());
  sim.endWatchesAtOnce({ gvk: 'v1.ConfigMap', times: 2 });
  const rv = sim.currentResourceVersion;
  for (let n = 0; n < 2; n++) {
    const w = await rawWatch(
      sim,
      `/api/v1/configmaps?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`,
    );
    assert.deepEqual(await w.ended, { kind: 'clean' });
    assert.equal(w.events.length, 0);
  }
  const third = await rawWatch(sim, `/api/v1/configmaps?watch=true&resourceVersion=${rv}`);
  sim.apply(configMap('c', 'seen'));
  assert.equal((await third.waitForEvents(1))[0]?.type, 'ADDED');
  third.abort();
});

test('a kind removed (CRD version deleted): discovery drops it, paths 404, watches end; served again with its objects', async (t) => {
  const sim = await KubeSim.start();
  t.after(() => sim.close());
  const widget = { group: 'example.com', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true };
  sim.addResource(widget);
  sim.apply({
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { namespace: 'n', name: 'w' },
    spec: {},
  });
  const w = await rawWatch(
    sim,
    `/apis/example.com/v1/widgets?watch=true&resourceVersion=${sim.currentResourceVersion}`,
  );
  sim.removeResource('example.com/v1.Widget');
  assert.deepEqual(await w.ended, { kind: 'clean' });
  assert.equal((await getJson(sim, '/apis/example.com/v1/widgets')).status, 404);
  assert.equal((await getJson(sim, '/apis/example.com/v1')).status, 404);
  const groups = await getJson<{ groups: Array<{ name: string }> }>(sim, '/apis');
  assert.ok(!groups.body.groups.some((g) => g.name === 'example.com'));
  sim.addResource(widget);
  const list = await getJson<ListDoc>(sim, '/apis/example.com/v1/widgets');
  assert.equal(list.status, 200);
  assert.equal(list.body.items.length, 1);
});

test('tokens: a rotated token refuses the old one; an issued token expires', async (t) => {
  let nowMs = 1_700_000_000_000;
  const sim = await KubeSim.start({ nowMs: () => nowMs });
  t.after(() => sim.close());
  const old = sim.token;
  const next = sim.rotateToken();
  const as = (token: string) =>
    fetch(`${sim.url}/api/v1/namespaces`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal((await as(old)).status, 401);
  assert.equal((await as(next)).status, 200);
  const issued = sim.issueToken(60_000);
  assert.equal((await as(issued)).status, 200);
  nowMs += 60_001;
  assert.equal((await as(issued)).status, 401);
  assert.equal((await as(next)).status, 200);
});

test('realistic pods: 5–20 KB of JSON with managedFields, status and env', async (t) => {
  const sim = await KubeSim.start();
  t.after(() => sim.close());
  const d = sim.apply(deployment('shop', 'web'));
  const rs = sim.apply(replicaSetFor(d, '5d4f8'));
  const small = sim.apply(realisticPod(rs));
  const large = sim.apply(realisticPod(rs, { envBytes: 6 * 1024 }));
  for (const p of [small, large]) {
    const bytes = JSON.stringify(p).length;
    assert.ok(bytes >= 5 * 1024 && bytes <= 20 * 1024, `${bytes} bytes`);
    const managed = p.metadata.managedFields as Array<{ manager: string }>;
    assert.deepEqual(
      managed.map((m) => m.manager),
      ['kube-controller-manager', 'kubelet'],
    );
  }
});

test('TCP connections are counted: a keep-alive client reuses one, a client without keep-alive opens one per request', async (t) => {
  const sim = await KubeSim.start();
  t.after(() => sim.close());
  const get = (agent: http.Agent) =>
    new Promise<void>((resolve, reject) => {
      http
        .get(
          `${sim.url}/api/v1/namespaces`,
          { agent, headers: { authorization: `Bearer ${sim.token}` } },
          (res) => {
            res.resume();
            res.on('end', resolve);
          },
        )
        .on('error', reject);
    });
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const before = sim.connectionCount;
  for (let i = 0; i < 20; i++) await get(keepAlive);
  assert.equal(sim.connectionCount - before, 1);
  keepAlive.destroy();
  const noKeepAlive = new http.Agent({ keepAlive: false });
  const mid = sim.connectionCount;
  for (let i = 0; i < 5; i++) await get(noKeepAlive);
  assert.equal(sim.connectionCount - mid, 5);
  assert.ok(sim.requestCount >= 25);
});
