/**
 * Measures the forwarder (not a test; timings decide nothing in `npm test`):
 *   npx node --import tsx tests/forwarder/measure.ts [objects=10000] [updates=20000]
 *
 * - memory: RSS and V8 heap of a real `sktrace forward` process (read from its /metrics after
 *   the first list is delivered and things settled) with no objects, then with `objects`
 *   Deployments in the simulated API server; the difference per object;
 * - throughput: `updates` spec changes applied to the simulated cluster as fast as it takes
 *   them, timed until the recording endpoint has accepted all of them.
 * Prints one JSON document. SKTRACE_CLI points it at another entry (an esbuild bundle).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeSim } from '../kube-sim/server.ts';
import { deployment } from '../kube-sim/workload.ts';
import { IngestRecorder } from './support/ingest-recorder.ts';

const objects = Number(process.argv[2] ?? 10_000);
/** The command to measure: the tsx entry by default, or a bundle (SKTRACE_CLI=/tmp/sktrace.mjs). */
const cli = process.env.SKTRACE_CLI ?? 'lib/cli/sktrace.mjs';
const updates = Number(process.argv[3] ?? 20_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

interface Run {
  child: ChildProcess;
  ops: string;
  sim: KubeSim;
  ingest: IngestRecorder;
  close(): Promise<void>;
}

async function start(count: number): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), 'sktrace-measure-'));
  const sim = await KubeSim.start();
  for (let i = 0; i < count; i++) sim.apply(deployment(`ns-${i % 50}`, `app-${i}`, { replicas: 1 }));
  const ingest = await IngestRecorder.start();
  const config = join(dir, 'config.yaml');
  await writeFile(config, 'trackedObjects:\n  apps/v1.Deployment: {}\n');
  const child = spawn(
    process.execPath,
    [
      cli,
      'forward',
      '--config',
      config,
      '--endpoint',
      ingest.url,
      '--cluster',
      'measure',
      '--kubeconfig',
      await sim.writeKubeconfig(dir),
      '--listen',
      '127.0.0.1:0',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  await until(() => /"ops":"([^"]+)"/.test(out), 60_000, 'start-up');
  const ops = /"ops":"([^"]+)"/.exec(out)![1]!;
  return {
    child,
    ops,
    sim,
    ingest,
    async close() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await sim.close();
      await ingest.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function scrape(ops: string): Promise<string> {
  return (await fetch(`${ops}/metrics`)).text();
}

async function settled(run: Run, expectedApplied: number): Promise<void> {
  await until(
    async () => {
      const m = await scrape(run.ops);
      return (
        metric(m, 'sktrace_forwarder_kind_listed') === 1 &&
        metric(m, 'sktrace_forwarder_queue_changes') === 0 &&
        run.ingest.accepted().filter((c) => c.type === 'applied').length >= expectedApplied
      );
    },
    300_000,
    'the first list to be delivered',
  );
}

async function memoryOf(run: Run): Promise<{ rssBytes: number; heapUsedBytes: number }> {
  // Let the list's garbage go; take the lowest of a few scrapes (RSS moves with GC).
  let rssBytes = Number.POSITIVE_INFINITY;
  let heapUsedBytes = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 10; i++) {
    await sleep(500);
    const m = await scrape(run.ops);
    rssBytes = Math.min(rssBytes, metric(m, 'process_resident_memory_bytes'));
    heapUsedBytes = Math.min(heapUsedBytes, metric(m, 'nodejs_heap_size_used_bytes'));
  }
  return { rssBytes, heapUsedBytes };
}

const empty = await start(0);
await settled(empty, 0);
const emptyMem = await memoryOf(empty);
await empty.close();

const full = await start(objects);
const listStart = Date.now();
await settled(full, objects);
const listMs = Date.now() - listStart;
const fullMem = await memoryOf(full);

// Throughput: spec changes (replicas) round-robin over the Deployments.
const before = full.ingest.accepted().filter((c) => c.type === 'applied').length;
const t0 = Date.now();
for (let i = 0; i < updates; i++) {
  const name = `app-${i % Math.max(1, objects)}`;
  const d = structuredClone(
    full.sim.get('apps/v1.Deployment', `ns-${(i % Math.max(1, objects)) % 50}/${name}`)!,
  ); // stored objects are frozen
  (d.spec as { replicas: number }).replicas = 2 + i;
  full.sim.apply(d);
  if (i % 500 === 499) await sleep(0);
}
const appliedMs = Date.now() - t0;
await until(
  () => full.ingest.accepted().filter((c) => c.type === 'applied').length - before >= updates,
  600_000,
  'every update to be accepted',
);
const deliveredMs = Date.now() - t0;
const afterMem = await memoryOf(full);
const m = await scrape(full.ops);
await full.close();

console.log(
  JSON.stringify(
    {
      objects,
      memory: {
        empty: emptyMem,
        withObjects: fullMem,
        afterUpdates: afterMem,
        rssPerObjectBytes: Math.round((fullMem.rssBytes - emptyMem.rssBytes) / Math.max(1, objects)),
        heapPerObjectBytes: Math.round(
          (fullMem.heapUsedBytes - emptyMem.heapUsedBytes) / Math.max(1, objects),
        ),
      },
      initialList: { ms: listMs, objectsPerSec: Math.round(objects / (listMs / 1000)) },
      throughput: {
        updates,
        simApplyMs: appliedMs,
        deliveredMs,
        eventsPerSec: Math.round(updates / (deliveredMs / 1000)),
        watchRestarts: metric(m, 'sktrace_forwarder_watch_restarts_total'),
        relists: metric(m, 'sktrace_forwarder_relists_total'),
      },
    },
    null,
    2,
  ),
);
