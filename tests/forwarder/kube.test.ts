/**
 * lib/kube: kubeconfig selection, and the transport and KubeApi against the simulated API server
 * (discovery, paged lists in raw JSON, single GETs, watch lines, Status errors).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { KubeApiError } from '../../lib/forwarder/ports.ts';
import { HttpKubeApi } from '../../lib/kube/api.ts';
import { splitLines } from '../../lib/kube/lines.ts';
import { KubeTransport, loadKubeConfig } from '../../lib/kube/transport.ts';
import { KubeSim } from '../kube-sim/server.ts';
import { configMap, namespace } from '../kube-sim/workload.ts';

let sim: KubeSim;
let dir: string;
let api: HttpKubeApi;
before(async () => {
  sim = await KubeSim.start();
  dir = await mkdtemp(join(tmpdir(), 'sktrace-kube-'));
  const { config } = loadKubeConfig({ kubeconfigPath: await sim.writeKubeconfig(dir), env: {} });
  api = new HttpKubeApi(new KubeTransport(config, Date.now));
});
after(async () => {
  await sim.close();
  await rm(dir, { recursive: true, force: true });
});

test('kubeconfig: --kubeconfig, then the in-cluster service account, then KUBECONFIG', async () => {
  const other = join(dir, 'other');
  await writeFile(other, sim.kubeconfig().replace(sim.url, 'http://127.0.0.2:1'));
  const root = join(dir, 'pod');
  const sa = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
  await mkdir(sa, { recursive: true });
  await writeFile(join(sa, 'token'), 'sa-token');
  await writeFile(join(sa, 'ca.crt'), '');
  await writeFile(join(sa, 'namespace'), 'tracing');
  {
    const inCluster = {
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      KUBERNETES_SERVICE_PORT: '443',
      KUBECONFIG: other,
    };
    const cases: Array<{
      name: string;
      source: Parameters<typeof loadKubeConfig>[0];
      server: string;
      origin: RegExp;
    }> = [
      {
        name: '--kubeconfig wins',
        source: { kubeconfigPath: join(dir, 'kubeconfig'), env: inCluster, serviceAccountRoot: root },
        server: sim.url,
        origin: /kubeconfig$/,
      },
      {
        name: 'in a pod: the service account',
        source: { env: inCluster, serviceAccountRoot: root },
        server: 'https://10.96.0.1:443',
        origin: /in-cluster/,
      },
      {
        name: 'no token mounted: KUBECONFIG',
        source: { env: inCluster, serviceAccountRoot: join(dir, 'nowhere') },
        server: 'http://127.0.0.2:1',
        origin: /other$/,
      },
    ];
    for (const c of cases) {
      const { config, origin } = loadKubeConfig(c.source);
      assert.equal(config.server, c.server, c.name);
      assert.match(origin, c.origin, c.name);
    }
    // The service account token becomes the bearer token.
    const { config } = loadKubeConfig({ env: inCluster, serviceAccountRoot: root });
    assert.equal((await config.credentials.current(0)).authorization, 'Bearer sa-token');
    assert.equal(config.namespace, 'tracing');
  }
  assert.throws(() => loadKubeConfig({ kubeconfigPath: join(dir, 'missing'), env: {} }), /kubeconfig/);
});

test('discovery: core and group kinds, their scope; unserved groups and kinds are undefined', async () => {
  assert.deepEqual(await api.resolve('', 'v1', 'Namespace'), {
    gvk: 'v1.Namespace',
    group: '',
    version: 'v1',
    kind: 'Namespace',
    plural: 'namespaces',
    namespaced: false,
  });
  assert.equal((await api.resolve('apps', 'v1', 'Deployment'))?.plural, 'deployments');
  assert.equal(await api.resolve('example.com', 'v1', 'Widget'), undefined);
  assert.equal(await api.resolve('apps', 'v1', 'Widget'), undefined);
});

test('lists are paged, raw JSON (timestamps stay strings), consistent across pages', async () => {
  for (let i = 0; i < 5; i++) sim.apply(configMap('kube-test', `cm-${i}`, { i: String(i) }));
  const res = (await api.resolve('', 'v1', 'ConfigMap'))!;
  const first = await api.list(res, { limit: 3 });
  assert.equal(first.items.length, 3);
  assert.ok(first.continueToken);
  const item = first.items[0] as { metadata: { creationTimestamp: unknown } };
  assert.equal(typeof item.metadata.creationTimestamp, 'string');
  const second = await api.list(res, { limit: 3, continueToken: first.continueToken! });
  assert.equal(second.items.length, 2);
  assert.equal(second.continueToken, undefined);
  assert.equal(second.resourceVersion, first.resourceVersion);
});

test('a list page of several network chunks with multi-byte characters: decoded whole, its size in bytes given', async () => {
  // 300 KB of 1-, 2-, 3- and 4-byte UTF-8 characters: chunk boundaries fall inside characters.
  const value = 'aé€😀'.repeat(30_000);
  sim.apply(configMap('kube-utf8', 'big', { value }));
  const res = (await api.resolve('', 'v1', 'ConfigMap'))!;
  const page = await api.list(res, { limit: 500 });
  const big = page.items.find((i) => (i as { metadata: { name: string } }).metadata.name === 'big') as {
    data: { value: string };
  };
  assert.equal(big.data.value, value);
  // The byte count is the response body's: at least the UTF-8 size of the value (300,000 B).
  assert.equal(Buffer.byteLength(value), 300_000);
  assert.ok(page.bytes! > 300_000 && page.bytes! < 310_000, String(page.bytes));
});

test('get: namespaced and cluster-scoped objects; 404 is undefined', async () => {
  sim.apply(namespace('kube-test'));
  const ns = (await api.resolve('', 'v1', 'Namespace'))!;
  const cm = (await api.resolve('', 'v1', 'ConfigMap'))!;
  assert.equal((await api.get(ns, 'ignored', 'kube-test'))?.metadata.name, 'kube-test');
  assert.equal((await api.get(cm, 'kube-test', 'cm-1'))?.metadata.namespace, 'kube-test');
  assert.equal(await api.get(cm, 'kube-test', 'nope'), undefined);
});

test('watch: raw lines from the resourceVersion; an expired one is an ERROR 410 line', async () => {
  const res = (await api.resolve('', 'v1', 'ConfigMap'))!;
  const rv = sim.currentResourceVersion;
  const ac = new AbortController();
  const lines = await api.watch(
    res,
    { resourceVersion: rv, timeoutSeconds: 5, allowWatchBookmarks: true },
    ac.signal,
  );
  sim.apply(configMap('kube-test', 'watched'));
  const it = lines[Symbol.asyncIterator]();
  const firstLine = JSON.parse((await it.next()).value as string) as {
    type: string;
    object: { metadata: { name: string } };
  };
  assert.deepEqual([firstLine.type, firstLine.object.metadata.name], ['ADDED', 'watched']);
  ac.abort();
  await assert.rejects(it.next());

  sim.compact();
  sim.apply(configMap('kube-test', 'after-compaction'));
  const old = await api.watch(
    res,
    { resourceVersion: rv, timeoutSeconds: 5, allowWatchBookmarks: true },
    new AbortController().signal,
  );
  const out: string[] = [];
  for await (const l of old) out.push(l);
  assert.equal(out.length, 1);
  assert.equal((JSON.parse(out[0]!) as { object: { code: number } }).object.code, 410);
});

test('errors: Status message and reason, Retry-After; a wrong token is a 401', async () => {
  const res = (await api.resolve('', 'v1', 'ConfigMap'))!;
  sim.inject({ path: /configmaps/, status: 429, times: 1, retryAfterSec: 2 });
  const err = await api.list(res, { limit: 10 }).then(
    () => assert.fail('should throw'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof KubeApiError);
  assert.equal(err.status, 429);
  assert.equal(err.retryAfterMs, 2000);
  const badFile = join(dir, 'bad');
  await writeFile(badFile, sim.kubeconfig().replace(`token: ${sim.token}`, 'token: wrong'));
  const bad = new HttpKubeApi(
    new KubeTransport(loadKubeConfig({ kubeconfigPath: badFile, env: {} }).config, Date.now),
  );
  await assert.rejects(
    bad.list(res, { limit: 1 }),
    (e: unknown) => e instanceof KubeApiError && e.status === 401 && /Unauthorized/.test(e.message),
  );
  await writeFile(badFile, sim.kubeconfig().replace(sim.url, 'http://127.0.0.1:9'));
  const refused = new HttpKubeApi(
    new KubeTransport(loadKubeConfig({ kubeconfigPath: badFile, env: {} }).config, Date.now),
  );
  await assert.rejects(
    refused.list(res, { limit: 1 }),
    (e: unknown) => e instanceof KubeApiError && e.status === undefined,
  );
});

test('splitLines: lines split across chunks, multi-byte characters split across chunks, a last line without newline', async () => {
  const text = '{"a":"é"}\n{"b":"日本"}\n\n{"c":1}';
  const bytes = Buffer.from(text, 'utf8');
  for (const size of [1, 2, 3, 7, bytes.length]) {
    async function* chunks() {
      for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
    }
    const out: string[] = [];
    for await (const l of splitLines(chunks())) out.push(l);
    assert.deepEqual(out, ['{"a":"é"}', '{"b":"日本"}', '', '{"c":1}'], `chunk size ${size}`);
  }
  async function* endless() {
    for (let i = 0; i < 100; i++) yield Buffer.alloc(100, 'x');
  }
  await assert.rejects(async () => {
    for await (const _ of splitLines(endless(), 1000)) {
      // nothing
    }
  }, /exceeds 1000 bytes/);
});

test('splitLines: closes once — at the end, on a failure (reported first) and when the reader stops early — and stops its source', async () => {
  const events: string[] = [];
  const hooks = {
    onError: (err: unknown) => events.push(`error ${(err as Error).message}`),
    onClose: () => events.push('close'),
  };
  let returned = 0;
  const source = (parts: string[], failAt?: number): AsyncIterable<Buffer> => ({
    [Symbol.asyncIterator]() {
      let i = 0;
      return {
        next: async () => {
          if (i === failAt) throw new Error('reset');
          return i < parts.length
            ? { value: Buffer.from(parts[i++]!), done: false }
            : { value: undefined, done: true };
        },
        return: async () => {
          returned++;
          return { value: undefined, done: true };
        },
      };
    },
  });
  const read = async (it: AsyncIterable<string>, stopAfter = Infinity) => {
    const out: string[] = [];
    for await (const l of it) {
      out.push(l);
      if (out.length >= stopAfter) break;
    }
    return out;
  };
  assert.deepEqual(await read(splitLines(source(['a\nb', '\nc\n', 'd']), 100, hooks)), ['a', 'b', 'c', 'd']);
  assert.deepEqual(events.splice(0), ['close']);
  await assert.rejects(read(splitLines(source(['a\n', 'b'], 1), 100, hooks)), /reset/);
  assert.deepEqual(events.splice(0), ['error reset', 'close']);
  await assert.rejects(read(splitLines(source(['a\n', 'x'.repeat(200)]), 100, hooks)), /exceeds 100 bytes/);
  assert.deepEqual(events.splice(0), ['error a watch line exceeds 100 bytes without a newline', 'close']);
  // Two lines of a three-line chunk, then stop: closed, and the source told to stop.
  assert.deepEqual(await read(splitLines(source(['a\nb\nc\n', 'd\n']), 100, hooks), 2), ['a', 'b']);
  assert.deepEqual(events.splice(0), ['close']);
  assert.equal(returned, 1);
});

test('connections: one keep-alive pool per API server; 200 gets open a handful of TCP connections', async () => {
  const cm = (await api.resolve('', 'v1', 'ConfigMap'))!;
  sim.apply(configMap('kube-test', 'pooled'));
  const transport = new KubeTransport(
    loadKubeConfig({ kubeconfigPath: join(dir, 'kubeconfig'), env: {} }).config,
    Date.now,
    { maxSockets: 4 },
  );
  const pooled = new HttpKubeApi(transport);
  const connectionsBefore = sim.connectionCount;
  const requestsBefore = sim.requestCount;
  // In waves of 8 concurrent gets, so the pool is both shared and bounded.
  for (let wave = 0; wave < 25; wave++) {
    const got = await Promise.all(Array.from({ length: 8 }, () => pooled.get(cm, 'kube-test', 'pooled')));
    assert.ok(got.every((o) => o?.metadata.name === 'pooled'));
  }
  const requests = sim.requestCount - requestsBefore;
  const connections = sim.connectionCount - connectionsBefore;
  assert.ok(requests >= 200, `${requests} requests`);
  // maxSockets bounds them; without keep-alive this was one connection per request.
  assert.ok(connections <= 4, `${connections} connections for ${requests} requests`);
  assert.equal(transport.connections, connections);
  transport.close();
});

test('timeouts: a watch whose headers never come fails after openTimeoutMs; a reset is reported', async () => {
  const { createServer } = await import('node:net');
  // A fault no real part produces on demand: a server that accepts and never answers, then one
  // that resets the connection mid-request.
  let mode: 'silent' | 'reset' = 'silent';
  const sockets = new Set<import('node:net').Socket>();
  const blackhole = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    if (mode === 'reset') socket.resetAndDestroy();
  });
  await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
  const port = (blackhole.address() as import('node:net').AddressInfo).port;
  const file = join(dir, 'blackhole');
  await writeFile(file, sim.kubeconfig().replace(sim.url, `http://127.0.0.1:${port}`));
  const resets: string[] = [];
  const transport = new KubeTransport(loadKubeConfig({ kubeconfigPath: file, env: {} }).config, Date.now, {
    openTimeoutMs: 300,
    onConnectionReset: ({ code }) => resets.push(code),
  });
  const silent = new HttpKubeApi(transport);
  const res = (await api.resolve('', 'v1', 'ConfigMap'))!;
  const started = Date.now();
  await assert.rejects(
    silent.watch(
      res,
      { resourceVersion: '1', timeoutSeconds: 290, allowWatchBookmarks: true },
      new AbortController().signal,
    ),
    (e: unknown) => e instanceof KubeApiError && /no response headers in 300 ms/.test(e.message),
  );
  assert.ok(Date.now() - started < 5_000);
  mode = 'reset';
  await assert.rejects(silent.list(res, { limit: 1 }), (e: unknown) => e instanceof KubeApiError);
  assert.deepEqual(resets, ['ECONNRESET']);
  transport.close();
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => blackhole.close(() => resolve()));
});

test('a rotated service-account token is re-read (trimmed) after a 401, and the request succeeds', async () => {
  const root = join(dir, 'rotating');
  const sa = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
  await mkdir(sa, { recursive: true });
  // kubelet writes the token without a newline; a hand-made Secret often has one.
  await writeFile(join(sa, 'token'), `${sim.token}\n`);
  const { config } = loadKubeConfig({
    env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '1' },
    serviceAccountRoot: root,
  });
  // In-cluster means https to the service; point it at the simulator instead, keeping the credentials.
  const rotating = new HttpKubeApi(new KubeTransport({ ...config, server: sim.url }, Date.now));
  const ns = (await rotating.resolve('', 'v1', 'Namespace'))!;
  assert.ok(await rotating.list(ns, { limit: 1 }));
  const next = sim.rotateToken();
  await writeFile(join(sa, 'token'), `${next}\n`);
  const before = sim.requestCount;
  // Within the minute the old token is still cached: the 401 makes the transport read the file again.
  assert.ok(await rotating.list(ns, { limit: 1 }));
  assert.equal(sim.requestCount - before, 2, 'one 401, then one retry with the new token');
  assert.equal(sim.requests.at(-2)?.status, 401);
  assert.equal(sim.requests.at(-1)?.status, 200);
  // Restore the shared simulator's token for the other tests.
  sim.rotateToken(next);
});

test('an exec credential plugin: its token is used until it expires, then the plugin runs again; a 401 also refreshes', async () => {
  let nowMs = Date.now();
  const state = join(dir, 'exec-state.json');
  const counter = join(dir, 'exec-runs');
  await writeFile(counter, '');
  const plugin = join(dir, 'plugin.mjs');
  // A plugin as `aws eks get-token` behaves: prints an ExecCredential with a token and its expiry.
  await writeFile(
    plugin,
    `import { readFileSync, appendFileSync } from 'node:fs';
const info = JSON.parse(process.env.KUBERNETES_EXEC_INFO);
if (info.kind !== 'ExecCredential' || info.spec.interactive !== false) process.exit(3);
appendFileSync(${JSON.stringify(counter)}, 'x');
const { token, expiresAtMs } = JSON.parse(readFileSync(${JSON.stringify(state)}, 'utf8'));
process.stdout.write(JSON.stringify({ apiVersion: info.apiVersion, kind: 'ExecCredential',
  status: { token, expirationTimestamp: new Date(expiresAtMs).toISOString() } }));
`,
  );
  const issue = async () => {
    const token = sim.issueToken(60_000);
    await writeFile(state, JSON.stringify({ token, expiresAtMs: nowMs + 60_000 }));
  };
  await issue();
  const file = join(dir, 'exec-kubeconfig');
  await writeFile(
    file,
    sim
      .kubeconfig()
      .replace(
        `    token: ${sim.token}`,
        [
          '    exec:',
          '      apiVersion: client.authentication.k8s.io/v1beta1',
          `      command: ${process.execPath}`,
          `      args: [${JSON.stringify(plugin)}]`,
          '      interactiveMode: Never',
        ].join('\n'),
      ),
  );
  const { config } = loadKubeConfig({ kubeconfigPath: file, env: { PATH: process.env.PATH } });
  assert.match(config.credentials.describe, /^exec /);
  const execApi = new HttpKubeApi(new KubeTransport(config, () => nowMs));
  const ns = (await execApi.resolve('', 'v1', 'Namespace'))!;
  await execApi.list(ns, { limit: 1 });
  await execApi.list(ns, { limit: 1 });
  const { readFile } = await import('node:fs/promises');
  assert.equal((await readFile(counter, 'utf8')).length, 1, 'one run while the token is valid');
  // Past its expirationTimestamp: the plugin runs again before the request.
  nowMs += 61_000;
  await issue();
  await execApi.list(ns, { limit: 1 });
  assert.equal((await readFile(counter, 'utf8')).length, 2);
  // Revoked early (the server says 401): refreshed at once, and the request succeeds.
  const { token: current } = JSON.parse(await readFile(state, 'utf8')) as { token: string };
  sim.revokeToken(current);
  await issue();
  await execApi.list(ns, { limit: 1 });
  assert.equal((await readFile(counter, 'utf8')).length, 3);
  assert.deepEqual(
    sim.requests.slice(-2).map((r) => r.status),
    [401, 200],
  );
});
