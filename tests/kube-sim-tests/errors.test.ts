import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { KubeSim } from '../kube-sim/server.ts';
import { getJson } from '../kube-sim/testing.ts';
import { configMap } from '../kube-sim/workload.ts';

let sim: KubeSim;
before(async () => {
  sim = await KubeSim.start({ token: 'sekret' });
});
after(() => sim.close());

function client(token = sim.token): k8s.CoreV1Api {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(sim.kubeconfig().replace(`token: ${sim.token}`, `token: ${token}`));
  return kc.makeApiClient(k8s.CoreV1Api);
}

interface StatusBody {
  kind: string;
  apiVersion: string;
  status: string;
  reason: string;
  code: number;
  message: string;
  details?: { retryAfterSeconds?: number };
}

test('requests without the bearer token get a 401 Status; health checks need none', async () => {
  const attempts: Array<Record<string, string>> = [
    {},
    { authorization: 'Bearer wrong' },
    { authorization: 'Basic c2VrcmV0' },
  ];
  for (const headers of attempts) {
    const res = await fetch(`${sim.url}/api/v1/pods`, { headers });
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    });
  }
  await assert.rejects(
    client('wrong').listPodForAllNamespaces(),
    (err: k8s.ApiException<string>) => err.code === 401,
  );
  assert.equal((await client().listPodForAllNamespaces()).kind, 'PodList');
  const health = await fetch(`${sim.url}/readyz`);
  assert.deepEqual([health.status, await health.text()], [200, 'ok']);
});

test('an injected 429 is a TooManyRequests Status with Retry-After, for the next N matching requests', async () => {
  sim.inject({ path: /\/configmaps/, status: 429, times: 2, retryAfterSec: 3 });
  const first = await getJson<StatusBody>(sim, '/api/v1/configmaps');
  assert.equal(first.status, 429);
  assert.equal(first.headers.get('retry-after'), '3');
  assert.deepEqual(
    [
      first.body.kind,
      first.body.status,
      first.body.reason,
      first.body.code,
      first.body.details?.retryAfterSeconds,
    ],
    ['Status', 'Failure', 'TooManyRequests', 429, 3],
  );
  assert.equal((await getJson(sim, '/api/v1/pods')).status, 200, 'other paths are not affected');
  await assert.rejects(
    client().listConfigMapForAllNamespaces(),
    (err: k8s.ApiException<string>) => err.code === 429 && err.headers['retry-after'] === '3',
  );
  assert.equal((await getJson(sim, '/api/v1/configmaps')).status, 200, 'used up after two');
  const statuses = sim.requests.filter((r) => r.path === '/api/v1/configmaps').map((r) => r.status);
  assert.deepEqual(statuses, [429, 429, 200]);
});

test('injected 5xx faults carry the Status kube-apiserver sends for each code', async () => {
  const cases = [
    { status: 500, reason: 'InternalError', retry: null },
    { status: 503, reason: 'ServiceUnavailable', retry: '5' },
    { status: 504, reason: 'Timeout', retry: null },
  ] as const;
  for (const c of cases) {
    sim.inject({ status: c.status, times: 1, ...(c.retry ? { retryAfterSec: Number(c.retry) } : {}) });
    const res = await getJson<StatusBody>(sim, '/apis/apps/v1/deployments');
    assert.equal(res.status, c.status);
    assert.deepEqual([res.body.kind, res.body.reason, res.body.code], ['Status', c.reason, c.status]);
    assert.equal(res.headers.get('retry-after'), c.retry);
  }
  assert.throws(() => sim.inject({ status: 404 as 500, times: 1 }), RangeError);
});

test('faults can target watches by method and query, and the client sees the status', async () => {
  sim.inject({ method: 'GET', path: /watch=true/, status: 503, times: 1 });
  const kc = new k8s.KubeConfig();
  kc.loadFromString(sim.kubeconfig());
  const err = await new Promise<unknown>((resolve) => {
    void new k8s.Watch(kc).watch('/api/v1/pods', {}, () => {}, resolve);
  });
  assert.equal((err as { statusCode?: number }).statusCode, 503);
  assert.equal((await getJson(sim, '/api/v1/pods')).status, 200, 'lists were not matched');
  // A path-only pattern matches whatever the query string.
  sim.inject({ path: /^\/api\/v1\/pods$/, status: 500, times: 1 });
  assert.equal((await getJson(sim, '/api/v1/pods?limit=5')).status, 500);
});

test('only reads are served: other methods get 405', async () => {
  const res = await fetch(`${sim.url}/api/v1/namespaces/ns/configmaps`, {
    method: 'POST',
    headers: { authorization: `Bearer ${sim.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(configMap('ns', 'x')),
  });
  assert.equal(res.status, 405);
  assert.equal(((await res.json()) as StatusBody).reason, 'MethodNotAllowed');
});

test('writeKubeconfig writes a private kubeconfig that client-node loads', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kube-sim-'));
  try {
    const path = await sim.writeKubeconfig(dir);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal(await readFile(path, 'utf8'), sim.kubeconfig());
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(path);
    assert.equal(kc.getCurrentCluster()?.server, sim.url);
    assert.equal(kc.getCurrentCluster()?.skipTLSVerify, true);
    assert.equal((await kc.makeApiClient(k8s.CoreV1Api).listNamespace()).kind, 'NamespaceList');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the programmatic side hands out frozen stored objects and names misuse', () => {
  const stored = sim.apply(configMap('ns', 'frozen', { k: 'v' }));
  assert.throws(() => {
    (stored.data as Record<string, string>).k = 'mutated';
  }, TypeError);
  const copy = structuredClone(stored);
  (copy.data as Record<string, string>).k = 'changed';
  sim.apply(copy);
  assert.deepEqual(sim.get('v1.ConfigMap', 'ns/frozen')?.data, { k: 'changed' });
  assert.deepEqual(stored.data, { k: 'v' }, 'an earlier version is unchanged');
  assert.ok(sim.list('v1.ConfigMap').some((o) => o.metadata.name === 'frozen'));
  assert.equal(sim.get('v1.ConfigMap', 'ns/none'), undefined);
  assert.throws(() => sim.get('example.com/v1.Nope', 'x'), /not served/);
  assert.throws(() => sim.patchStatus('v1.ConfigMap', 'ns/none', {}), /does not exist/);
});
