/**
 * What the forwarder's RSS is made of over a big list, for docs/benchmarks.md's `forwarder_memory`
 * analysis. Not part of `npm run bench`:
 *
 *   npx node --import tsx bench/forwarder/probe-memory.ts [pods=100000] [--flags="--max-old-space-size=96 …"]
 *
 * The scenario of scale.ts (realistic pods under ReplicaSets and Deployments, compaction every 60 s,
 * an endpoint at 2,000 changes/s, 20 status writes/s), the image's bundle, V8 flags (or `--flags`)
 * and malloc settings. Every 2 s, without forcing a GC: VmRSS, V8's heap (used and committed, per
 * space), external and ArrayBuffer memory (`process.memoryUsage()` through the inspector), and
 * /proc's anonymous vs file-backed RSS. Once the list is delivered: the same, then after a forced
 * full GC.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBundle, FORWARDER_BUNDLE } from '../../deploy/build.ts';
import { KubeSim } from '../../tests/kube-sim/server.ts';
import { deployment, realisticPod, replicaSetFor, runningStatus } from '../../tests/kube-sim/workload.ts';
import { imageNodeFlags, startForwarder } from './child.ts';
import { CountingIngest } from './counting-ingest.ts';
import { DEPLOYMENT_CONFIG, DeploymentFleet } from './fleet.ts';
import { inspector } from './inspector.ts';
import { sleep, until } from './proc.ts';

const MIB = 2 ** 20;
const arg = (name: string) => process.argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
const pods = Number(arg('pods') ?? 100_000);
const flags = arg('--flags')?.split(/\s+/).filter(Boolean) ?? imageNodeFlags();

const PROBE = `JSON.stringify((() => {
  const m = process.memoryUsage();
  const spaces = {};
  for (const s of process.getBuiltinModule('v8').getHeapSpaceStatistics())
    spaces[s.space_name.replace('_space', '')] = [s.space_used_size, s.space_size];
  return { m, spaces };
})())`;

interface Probe {
  m: { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number };
  spaces: Record<string, [number, number]>;
}

export async function probe(url: string, pid: number, gc = false): Promise<string> {
  const ins = await inspector(url);
  let p: Probe;
  try {
    if (gc) await ins.call('HeapProfiler.collectGarbage');
    const r = (await ins.call('Runtime.evaluate', { expression: PROBE, returnByValue: true })) as {
      result: { value: string };
    };
    p = JSON.parse(r.result.value) as Probe;
  } finally {
    ins.close();
  }
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? 0) / 1024;
  const f = (b: number) => (b / MIB).toFixed(1);
  const sp = Object.entries(p.spaces)
    .filter(([, [, size]]) => size > 0)
    .map(([k, [used, size]]) => `${k} ${f(used)}/${f(size)}`)
    .join(' ');
  return `rss ${f(p.m.rss)} (anon ${kb('Anonymous').toFixed(1)} file ${(kb('Rss') - kb('Anonymous')).toFixed(1)}) heap ${f(p.m.heapUsed)}/${f(p.m.heapTotal)} ext ${f(p.m.external)} ab ${f(p.m.arrayBuffers)} | ${sp}`;
}

if (process.argv.includes('--deployments')) await deploymentStream();
else await podList();

async function podList(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sktrace-probe-'));
  const sim = await KubeSim.start({ compactionIntervalMs: 60_000 });
  const ingest = await CountingIngest.start({ changesPerSec: 2000 });
  try {
    const bundle = (await buildBundle(FORWARDER_BUNDLE, { outDir: dir, sourcemap: false })).file;
    const podNames: string[] = [];
    for (let d = 0; d < Math.ceil(pods / 5); d++) {
      const rs = sim.apply(replicaSetFor(sim.apply(deployment(`ns-${d % 100}`, `app-${d}`)), 'x5d4f'));
      for (let p = 0; p < 5 && d * 5 + p < pods; p++) {
        const pod = sim.apply(realisticPod(rs, { envBytes: 1024 }));
        podNames.push(`${pod.metadata.namespace}/${pod.metadata.name}`);
      }
    }
    let churned = 0;
    const churn = setInterval(() => {
      for (let k = 0; k < 2; k++)
        sim.patchStatus(
          'v1.Pod',
          podNames[(churned * 7919) % podNames.length]!,
          runningStatus(1e9 + ++churned),
        );
    }, 100);
    const fw = await startForwarder({
      entry: bundle,
      dir,
      configYaml: 'trackedObjects:\n  v1.Pod: {}\n',
      endpoint: ingest.url,
      cluster: 'probe',
      kubeconfigPath: await sim.writeKubeconfig(dir),
      inspect: true,
      nodeArgs: flags,
    });
    console.log(`flags ${flags.join(' ')}; load ${loadavg()[0]!.toFixed(1)}`);
    const started = performance.now();
    const t = () => `${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s`;
    let next = 0;
    await until(
      async () => {
        if (performance.now() - started >= next) {
          next += 2000;
          console.log(`${t()} applied ${ingest.counts.applied}: ${await probe(fw.inspector!, fw.pid)}`);
        }
        return ingest.counts.relist > 0 && ingest.counts.applied >= pods;
      },
      1_800_000,
      'the list',
      200,
    );
    clearInterval(churn);
    await sleep(1500);
    console.log(`${t()} delivered: ${await probe(fw.inspector!, fw.pid)}`);
    console.log(`CPU ${((await fw.sample()).cpuUs / 1e6).toFixed(1)} s`);
    console.log(`${t()} after GC: ${await probe(fw.inspector!, fw.pid, true)}`);
    if (process.argv.includes('--snapshot')) await snapshotSummary(fw.inspector!);
    const passes = await fw.metric('sktrace_forwarder_relists_total', 'gvk="v1.Pod"');
    console.log(`passes ${passes}; load ${loadavg()[0]!.toFixed(1)}`);
    await fw.close();
  } finally {
    await ingest.close();
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** 10,000 Deployments (memory.ts's fleet), then spec updates; the same breakdown every 50,000. */
async function deploymentStream(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sktrace-probe-'));
  const sim = await KubeSim.start();
  const fleet = new DeploymentFleet(sim, 10_000);
  const ingest = await CountingIngest.start();
  try {
    const bundle = (await buildBundle(FORWARDER_BUNDLE, { outDir: dir, sourcemap: false })).file;
    const fw = await startForwarder({
      entry: bundle,
      dir,
      configYaml: DEPLOYMENT_CONFIG,
      endpoint: ingest.url,
      cluster: 'probe',
      kubeconfigPath: await sim.writeKubeconfig(dir),
      inspect: true,
      nodeArgs: flags,
    });
    console.log(`flags ${flags.join(' ')}; load ${loadavg()[0]!.toFixed(1)}`);
    await until(() => ingest.counts.relist > 0 && ingest.counts.applied >= 10_000, 120_000, 'the list');
    const base = ingest.counts.applied;
    const events = Number(arg('events') ?? 300_000);
    for (let sent = 0; sent < events; ) {
      const from = sent;
      await fleet.pump(10_000, () => ingest.counts.applied - base - from);
      sent += 10_000;
      if (sent % 50_000 !== 0 && sent !== 10_000) continue;
      await until(() => ingest.counts.applied - base >= sent, 120_000, 'delivered', 5);
      await sleep(300);
      console.log(`${sent} events: ${await probe(fw.inspector!, fw.pid)}`);
    }
    console.log(`after GC: ${await probe(fw.inspector!, fw.pid, true)}`);
    await fw.close();
  } finally {
    await ingest.close();
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Self size by node type and name (strings by length bucket) of a heap snapshot taken now. */
async function snapshotSummary(url: string): Promise<void> {
  const chunks: string[] = [];
  // Chunks come as notifications, which inspector.ts's client does not pass on.
  const raw = await new Promise<string>((resolve, reject) => {
    const sock = new WebSocket(url);
    sock.addEventListener('open', () => {
      sock.send(
        JSON.stringify({ id: 1, method: 'HeapProfiler.takeHeapSnapshot', params: { reportProgress: false } }),
      );
    });
    sock.addEventListener('message', (e) => {
      const msg = JSON.parse(String(e.data)) as { id?: number; method?: string; params?: { chunk: string } };
      if (msg.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(msg.params!.chunk);
      else if (msg.id === 1) {
        sock.close();
        resolve(chunks.join(''));
      }
    });
    sock.addEventListener('error', () => reject(new Error('snapshot')));
  });
  const snap = JSON.parse(raw) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const nf = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const by = new Map<string, [number, number]>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += nf) {
    const type = types[snap.nodes[i + iType]!]!;
    let name = snap.strings[snap.nodes[i + iName]!]!;
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') {
      const n = name.length;
      name = n < 16 ? '<16' : n < 40 ? '<40' : n < 200 ? '<200' : '>=200';
    } else if (type === 'number') name = '';
    else if (name.length > 60) name = name.slice(0, 60);
    const key = `${type}: ${name}`;
    const size = snap.nodes[i + iSize]!;
    total += size;
    const e = by.get(key) ?? [0, 0];
    e[0] += size;
    e[1]++;
    by.set(key, e);
  }
  console.log(`snapshot: ${(total / MIB).toFixed(1)} MiB in ${snap.nodes.length / nf} nodes`);
  for (const [k, [size, count]] of [...by].sort((a, b) => b[1][0] - a[1][0]).slice(0, 30))
    console.log(`  ${(size / MIB).toFixed(2).padStart(7)} MiB ${String(count).padStart(8)}  ${k}`);
}
