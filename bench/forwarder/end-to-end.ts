/**
 * `end_to_end`: sustained changes per second from the simulated cluster through a real
 * `sktrace forward` process (the bundle), the local stack's API Gateway emulation, the real ingest
 * handler and DynamoTraceStore on dynalite (lib/local/serve.ts `startLocalStack`, as
 * `sktrace serve` runs it), checked change by change at the end against what the simulator applied.
 *
 * Each run, in the same process and against the same dynalite, three paths take `updatesPerRun`
 * changes to a cluster of their own:
 * - `forwarder`: spec updates applied to the simulator, timed until the forwarder's endpoint has
 *   accepted all of them (`sktrace_forwarder_changes_sent_total`: accepted means stored);
 * - `gateway`: batches of the size the forwarder just sent, posted by this process through the
 *   forwarder's own HTTP client (gzipped, one in flight) to the same stack: gateway + handler +
 *   store, no watch and no forwarder;
 * - floor: the same batches handed to the store's applyBatch directly (no HTTP, no handler).
 * dynalite (LevelDB, in this process, one event loop shared with the gateway and the simulator)
 * is the limit; the ratios say how much the rest adds to it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { httpIngestPoster } from '../../lib/forwarder/ingest-client.ts';
import type { AppliedChange, Change } from '../../lib/ingest/wire.ts';
import { type LocalStack, startLocalStack } from '../../lib/local/serve.ts';
import { nsNameOf } from '../../lib/trace/gvk.ts';
import { specHash } from '../../lib/trace/hash.ts';
import { sanitizeObject } from '../../lib/trace/sanitize.ts';
import { KubeSim } from '../../tests/kube-sim/server.ts';
import { type BenchResult, median, resultOf } from '../result.ts';
import { startForwarder } from './child.ts';
import { DEPLOYMENT_CONFIG, DEPLOYMENT_GVK, DeploymentFleet } from './fleet.ts';
import { until } from './proc.ts';

export interface EndToEndOptions {
  /** At least 2 × updatesPerRun: consecutive runs then update disjoint objects (see verify). */
  objects: number;
  updatesPerRun: number;
  runs: number;
  entry: string;
  log: (line: string) => void;
}

const CLUSTER = 'bench-e2e';
const GATEWAY_CLUSTER = 'bench-e2e-gateway';
const FLOOR_CLUSTER = 'bench-e2e-floor';

/** The changes of one run of the gateway and floor paths: `count` spec updates, `size` per batch. */
function batchesOf(
  fleet: DeploymentFleet,
  run: number,
  count: number,
  size: number,
  seq: { n: number },
): Change[][] {
  const nowSec = Math.floor(Date.now() / 1000);
  const batches: Change[][] = [];
  for (let i = 0; i < count; i += size) {
    const batch: AppliedChange[] = [];
    for (let k = i; k < Math.min(count, i + size); k++) {
      const object = structuredClone(
        sanitizeObject(fleet.sim.get(DEPLOYMENT_GVK, fleet.nsName(k % fleet.count))!),
      );
      (object.spec as { replicas: number }).replicas = 1_000_000 + run * count + k;
      batch.push({ type: 'applied', ts: nowSec, seq: seq.n++, object });
    }
    batches.push(batch);
  }
  return batches;
}

export async function benchEndToEnd(o: EndToEndOptions): Promise<BenchResult[]> {
  if (o.objects < 2 * o.updatesPerRun)
    throw new Error('end_to_end: objects must be at least 2 × updatesPerRun');
  const dir = await mkdtemp(join(tmpdir(), 'sktrace-bench-e2e-'));
  const stack: LocalStack = await startLocalStack({ port: 0, logLevel: 'SILENT' });
  const sim = await KubeSim.start();
  const fleet = new DeploymentFleet(sim, o.objects);
  const startSec = Math.floor(Date.now() / 1000);
  const fw = await startForwarder({
    entry: o.entry,
    dir,
    configYaml: DEPLOYMENT_CONFIG,
    endpoint: stack.url,
    cluster: CLUSTER,
    token: stack.token,
    kubeconfigPath: await sim.writeKubeconfig(dir),
  });
  const poster = httpIngestPoster({
    endpoint: stack.url,
    cluster: GATEWAY_CLUSTER,
    token: stack.token,
    requestTimeoutMs: 60_000,
    nowMs: Date.now,
  });
  const sentApplied = () => fw.metric('sktrace_forwarder_changes_sent_total', 'type="applied"');
  const figures = { forwarder: [] as number[], gateway: [] as number[], floor: [] as number[] };
  const batchSizes: number[] = [];
  const seq = { n: 1 };
  let verified = '';
  let firstListSec = 0;
  try {
    const listStart = performance.now();
    await until(async () => (await sentApplied()) >= o.objects, 300_000, 'the first list to be stored', 100);
    firstListSec = Math.round((performance.now() - listStart) / 100) / 10;
    // From the forwarder's first log line: its discovery and list requests are counted in.
    o.log(`end_to_end: first list of ${o.objects} stored in ${firstListSec} s`);

    for (let r = 0; r < o.runs; r++) {
      const before = await sentApplied();
      const batchesBefore = await fw.metric('sktrace_forwarder_batches_sent_total');
      const t0 = performance.now();
      // All at once: a run is far inside the simulator's compaction window (10,000 revisions).
      await fleet.pump(o.updatesPerRun, () => o.updatesPerRun);
      await until(
        async () => (await sentApplied()) - before >= o.updatesPerRun,
        300_000,
        'the updates to be stored',
        20,
      );
      figures.forwarder.push(((performance.now() - t0) * 1000) / o.updatesPerRun);
      const size = Math.max(
        1,
        Math.round(
          o.updatesPerRun / ((await fw.metric('sktrace_forwarder_batches_sent_total')) - batchesBefore),
        ),
      );
      batchSizes.push(size);

      const viaGateway = batchesOf(fleet, r, o.updatesPerRun, size, seq);
      const g0 = performance.now();
      for (const changes of viaGateway) {
        const res = await poster.post(gzipSync(JSON.stringify({ changes })), new AbortController().signal);
        if (res.status !== 200)
          throw new Error(`end_to_end: the gateway answered ${res.status}: ${res.bodyText}`);
      }
      figures.gateway.push(((performance.now() - g0) * 1000) / o.updatesPerRun);

      const direct = batchesOf(fleet, r, o.updatesPerRun, size, seq);
      const f0 = performance.now();
      for (const changes of direct) {
        await stack.store.applyBatch(FLOOR_CLUSTER, { changes }, { nowSec: Math.floor(Date.now() / 1000) });
      }
      figures.floor.push(((performance.now() - f0) * 1000) / o.updatesPerRun);
    }
    verified = await verify(stack, fleet, startSec);
    o.log(`end_to_end: ${verified}`);
  } finally {
    await fw.close();
    await sim.close();
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  }
  const batchSize = median(batchSizes);
  const perSec = (us: number[]) => Math.round(1e6 / median(us));
  const common = {
    objects: o.objects,
    changes_per_run: o.updatesPerRun,
    batch_size: batchSize,
    store: 'dynalite',
  };
  return [
    resultOf(
      'end_to_end',
      {
        path: 'sim→forwarder→gateway→ingest→store',
        ...common,
        changes_per_sec: perSec(figures.forwarder),
        floor_changes_per_sec: perSec(figures.floor),
        first_list_sec: firstListSec,
        verified,
      },
      'µs/change (wall; lower is better)',
      figures.forwarder,
      figures.floor,
    ),
    resultOf(
      'end_to_end',
      {
        path: 'gateway→ingest→store',
        ...common,
        changes_per_sec: perSec(figures.gateway),
        share_of_end_to_end: Math.round((median(figures.gateway) / median(figures.forwarder)) * 100) / 100,
      },
      'µs/change (wall; lower is better)',
      figures.gateway,
      figures.floor,
    ),
  ];
}

/**
 * Zero loss, zero duplication: every object's stored history is exactly the sequence of spec
 * versions the simulator applied (the listed version, then each update), and its live spec hash
 * is the simulator's. Exact because no object is changed twice within a second: the store keeps
 * one event per object per second (the last), and consecutive runs update disjoint objects.
 */
async function verify(stack: LocalStack, fleet: DeploymentFleet, startSec: number): Promise<string> {
  const expected = new Map<string, number[]>();
  for (let i = 0; i < fleet.count; i++) expected.set(fleet.nsName(i), [1]);
  for (let n = 0; n < fleet.updates; n++)
    expected.get(fleet.nsName(n % fleet.count))!.push(DeploymentFleet.replicasOf(n));
  const stored = new Map<string, number[]>();
  let changes = 0;
  const endSec = Math.floor(Date.now() / 1000) + 5;
  for await (const c of stack.store.changesBetween(CLUSTER, startSec - 5, endSec)) {
    changes++;
    const key = nsNameOf(c.object);
    const list = stored.get(key) ?? [];
    list.push(c.type === 'deleted' ? -1 : (c.object.spec as { replicas: number }).replicas);
    stored.set(key, list);
  }
  const wrong: string[] = [];
  for (const [key, want] of expected) {
    const got = stored.get(key) ?? [];
    if (got.join() !== want.join()) wrong.push(`${key}: stored [${got.join()}], applied [${want.join()}]`);
  }
  for (const key of stored.keys()) if (!expected.has(key)) wrong.push(`${key}: stored, never applied`);
  const live = await stack.store.liveAt(CLUSTER, endSec);
  let hashes = 0;
  for (const c of live.objects) {
    const simObject = fleet.sim.get(DEPLOYMENT_GVK, nsNameOf(c.object));
    if (simObject && specHash(c.object.spec) === specHash(sanitizeObject(simObject).spec)) hashes++;
  }
  if (wrong.length > 0 || hashes !== fleet.count || live.objects.length !== fleet.count) {
    throw new Error(
      `end_to_end: the store does not hold what the cluster did: ${wrong.length} objects differ (${wrong.slice(0, 3).join('; ')}), ` +
        `${live.objects.length} live of ${fleet.count}, ${hashes} live spec hashes equal`,
    );
  }
  const total = fleet.count + fleet.updates;
  return `${changes} stored changes = ${total} applied (${fleet.count} listed + ${fleet.updates} updates), histories and ${hashes} live spec hashes equal`;
}
