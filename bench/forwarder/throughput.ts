/**
 * `forwarder_throughput`: a real `sktrace forward` process (each variant: through tsx, and the
 * esbuild bundle the image runs) against the simulated API server holding `objects` Deployments,
 * posting to a counting endpoint, against a floor client (floor-client.ts) receiving the same
 * events from a second simulator with the same objects, in the same run, runs interleaved.
 *
 * - phase `watch`: `updatesPerRun` spec updates applied as fast as the consumer takes them; timed
 *   from the first update until the endpoint has accepted all of them (the forwarder) or the floor
 *   client has parsed all of them.
 * - phase `list`: a full relist of the `objects` (a compaction, then the watch ended: the
 *   re-watch gets 410 Gone and the forwarder relists), timed from the first page request until
 *   the endpoint has accepted every listed object; the floor lists them page by page.
 * Per event: wall µs (1e6 / events per second) and the consumer process's CPU µs.
 * - phase `delivery` (the bundle only, `delivery` options): the endpoint answers at most
 *   `changesPerSec` (one batch served at a time, as CountingIngest models a slow store), and
 *   `updatesPerRun` spec updates are applied as fast as the endpoint takes them; timed from the
 *   moment the endpoint had accepted 10 % of them to 90 % (the sustained rate: without the first
 *   batch's fill and the last one's linger). One forwarder per `inFlight` value
 *   (`--max-batches-in-flight`). The floor is the endpoint's own time per change (1e6 /
 *   changesPerSec µs): the ratio is how far delivery falls short of keeping it busy.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeSim } from '../../tests/kube-sim/server.ts';
import { configMap } from '../../tests/kube-sim/workload.ts';
import { type BenchResult, median, resultOf } from '../result.ts';
import { type ForwarderVariant, startForwarder } from './child.ts';
import { CountingIngest } from './counting-ingest.ts';
import { DEPLOYMENT_CONFIG, DeploymentFleet } from './fleet.ts';
import { FloorClient } from './floor.ts';
import { until } from './proc.ts';

export interface ThroughputOptions {
  objects: number;
  updatesPerRun: number;
  runs: number;
  /** Also time relists (phase `list`). */
  listRuns: number;
  /**
   * `nodeArgs`: V8 flags for the child (the bundle runs with the image's NODE_OPTIONS,
   * child.ts imageNodeFlags()); shown in the rows' params as `node_options`.
   */
  variants: { variant: ForwarderVariant; entry: string; nodeArgs?: string[] }[];
  /** Phase `delivery`: delivered changes/s against an endpoint of `changesPerSec`. */
  delivery?: { changesPerSec: number; updatesPerRun: number; runs: number; inFlight: number[] };
  log: (line: string) => void;
}

interface Figures {
  wallUs: number[];
  cpuUs: number[];
}

const newFigures = (): Figures => ({ wallUs: [], cpuUs: [] });

export async function benchThroughput(o: ThroughputOptions): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sktrace-bench-fwd-'));
  // Two simulators with the same objects: updates to one reach only its consumer.
  const simFwd = await KubeSim.start();
  const simFloor = await KubeSim.start();
  const fleetFwd = new DeploymentFleet(simFwd, o.objects);
  const fleetFloor = new DeploymentFleet(simFloor, o.objects);
  const floor = FloorClient.start(simFloor.url, simFloor.token);
  const results: BenchResult[] = [];
  /** Names the ConfigMap each relist run applies: one already applied unchanged moves nothing. */
  let relistMarks = 0;
  let kubeconfigPath = '';
  try {
    await floor.watch(simFloor.currentResourceVersion);
    kubeconfigPath = await simFwd.writeKubeconfig(dir);
    for (const { variant, entry, nodeArgs } of o.variants) {
      const ingest = await CountingIngest.start();
      const fw = await startForwarder({
        entry,
        ...(nodeArgs ? { nodeArgs } : {}),
        dir,
        configYaml: DEPLOYMENT_CONFIG,
        endpoint: ingest.url,
        cluster: 'bench',
        kubeconfigPath,
      });
      try {
        await until(
          () => ingest.counts.relist > 0 && ingest.counts.applied >= o.objects,
          120_000,
          'the first list',
        );
        const fwd = { watch: newFigures(), list: newFigures() };
        const flo = { watch: newFigures(), list: newFigures() };

        for (let r = 0; r < o.listRuns; r++) {
          const before = ingest.counts.applied;
          const relists = ingest.counts.relist;
          const s0 = await fw.sample();
          const seen = simFwd.requests.length;
          // 410 Gone on the re-watch: a change of a kind it does not watch moves the revision past
          // the last one its watch saw, the compaction takes that one away, and the watch ends
          // cleanly (re-watched at once, no backoff). Paused meanwhile, so the end comes without
          // the bookmark at the current revision a server sends before a deadline.
          simFwd.pauseWatches();
          simFwd.apply(configMap('default', `bench-relist-${relistMarks++}`));
          simFwd.compact();
          simFwd.endWatches();
          simFwd.resumeWatches();
          // Timed from the relist's first page request.
          await until(
            () => simFwd.requests.slice(seen).some((q) => q.query.watch === undefined),
            30_000,
            () =>
              `the relist to start (requests since: ${JSON.stringify(simFwd.requests.slice(seen - 2))}, watches open: ${simFwd.watchCount()})`,
            1,
          );
          const t0 = performance.now();
          await until(
            () => ingest.counts.applied - before >= o.objects && ingest.counts.relist > relists,
            120_000,
            'a relist to be delivered',
            5,
          );
          const wall = (performance.now() - t0) * 1000;
          const s1 = await fw.sample();
          fwd.list.wallUs.push(wall / o.objects);
          fwd.list.cpuUs.push((s1.cpuUs - s0.cpuUs) / o.objects);

          const c0 = await floor.cpuUs();
          const f0 = performance.now();
          const listed = await floor.list();
          const fwall = (performance.now() - f0) * 1000;
          const c1 = await floor.cpuUs();
          if (listed !== o.objects) throw new Error(`the floor client listed ${listed} of ${o.objects}`);
          flo.list.wallUs.push(fwall / o.objects);
          flo.list.cpuUs.push((c1 - c0) / o.objects);
        }

        for (let r = 0; r < o.runs; r++) {
          const before = ingest.counts.applied;
          const s0 = await fw.sample();
          const t0 = performance.now();
          await fleetFwd.pump(o.updatesPerRun, () => ingest.counts.applied - before);
          await until(() => ingest.counts.applied - before >= o.updatesPerRun, 120_000, 'the updates', 2);
          const wall = (performance.now() - t0) * 1000;
          const s1 = await fw.sample();
          fwd.watch.wallUs.push(wall / o.updatesPerRun);
          fwd.watch.cpuUs.push((s1.cpuUs - s0.cpuUs) / o.updatesPerRun);

          const fBefore = floor.watched;
          const c0 = await floor.cpuUs();
          const f0 = performance.now();
          await fleetFloor.pump(o.updatesPerRun, () => floor.watched - fBefore);
          await until(
            () => floor.watched - fBefore >= o.updatesPerRun,
            120_000,
            'the floor to watch the updates',
            1,
          );
          const fwall = (performance.now() - f0) * 1000;
          const c1 = await floor.cpuUs();
          flo.watch.wallUs.push(fwall / o.updatesPerRun);
          flo.watch.cpuUs.push((c1 - c0) / o.updatesPerRun);
        }

        // Each run must have been the stream (or the relist) it claims: no relist but the ones
        // asked for (a watch closed as too slow would add one), nothing refused, no update held
        // back as unchanged.
        const relists = await fw.metric('sktrace_forwarder_relists_total');
        const restarts = await fw.metric('sktrace_forwarder_watch_restarts_total');
        const deduplicated = await fw.metric('sktrace_forwarder_changes_deduplicated_total');
        const rss = (await fw.sample()).rssBytes;
        o.log(
          `forwarder_throughput ${variant}: relists ${relists} (expected ${1 + o.listRuns}), watch restarts ${restarts} (expected ${o.listRuns}), deduplicated ${deduplicated}, endpoint refused ${ingest.refused}, RSS ${(rss / 2 ** 20).toFixed(0)} MiB`,
        );
        if (relists !== 1 + o.listRuns || deduplicated !== 0 || ingest.refused !== 0) {
          throw new Error(`forwarder_throughput ${variant}: the runs were not clean (see above)`);
        }

        for (const phase of ['list', 'watch'] as const) {
          const events = phase === 'list' ? o.objects : o.updatesPerRun;
          const params = {
            variant,
            node_options: (nodeArgs ?? []).join(' ') || 'none',
            phase,
            objects: o.objects,
            events_per_run: events,
          };
          results.push(
            resultOf(
              'forwarder_throughput',
              {
                ...params,
                measure: 'wall',
                events_per_sec: Math.round(1e6 / median(fwd[phase].wallUs)),
                floor_events_per_sec: Math.round(1e6 / median(flo[phase].wallUs)),
              },
              'µs/event (wall; lower is better)',
              fwd[phase].wallUs,
              flo[phase].wallUs,
            ),
            resultOf(
              'forwarder_throughput',
              { ...params, measure: 'cpu' },
              'CPU µs/event of the consumer process',
              fwd[phase].cpuUs,
              flo[phase].cpuUs,
            ),
          );
        }
      } finally {
        await fw.close();
        await ingest.close();
      }
    }
    const bundle = o.variants.find((v) => v.variant === 'bundle');
    if (o.delivery && bundle) {
      for (const inFlight of o.delivery.inFlight) {
        results.push(
          await deliveryPhase(o, o.delivery, inFlight, bundle, {
            sim: simFwd,
            fleet: fleetFwd,
            dir,
            kubeconfigPath,
          }),
        );
      }
    }
  } finally {
    await floor.close();
    await simFwd.close();
    await simFloor.close();
    await rm(dir, { recursive: true, force: true });
  }
  return results;
}

async function deliveryPhase(
  o: ThroughputOptions,
  d: NonNullable<ThroughputOptions['delivery']>,
  inFlight: number,
  bundle: ThroughputOptions['variants'][number],
  at: { sim: KubeSim; fleet: DeploymentFleet; dir: string; kubeconfigPath: string },
): Promise<BenchResult> {
  const ingest = await CountingIngest.start();
  const fw = await startForwarder({
    entry: bundle.entry,
    ...(bundle.nodeArgs ? { nodeArgs: bundle.nodeArgs } : {}),
    dir: at.dir,
    configYaml: DEPLOYMENT_CONFIG,
    endpoint: ingest.url,
    cluster: 'bench',
    kubeconfigPath: at.kubeconfigPath,
    extraArgs: ['--max-batches-in-flight', String(inFlight)],
  });
  try {
    await until(
      () => ingest.counts.relist > 0 && ingest.counts.applied >= o.objects,
      120_000,
      'the first list',
    );
    ingest.setChangesPerSec(d.changesPerSec);
    const timingsAt = ingest.timings.length;
    const wallUs: number[] = [];
    const batches0 = await fw.metric('sktrace_forwarder_batches_sent_total');
    const sent0 = await fw.metric('sktrace_forwarder_changes_sent_total');
    for (let r = 0; r < d.runs; r++) {
      const before = ingest.counts.applied;
      // The sustained rate: from 10 % to 90 % of the updates accepted, without the first batch's
      // wait to fill and the last one's linger.
      const marks: number[] = [];
      const lo = Math.ceil(d.updatesPerRun * 0.1);
      const hi = Math.floor(d.updatesPerRun * 0.9);
      const watcher = setInterval(() => {
        const done = ingest.counts.applied - before;
        if (marks.length === 0 && done >= lo) marks.push(performance.now(), done);
        else if (marks.length === 2 && done >= hi) marks.push(performance.now(), done);
      }, 1);
      try {
        await at.fleet.pump(d.updatesPerRun, () => ingest.counts.applied - before);
        await until(() => ingest.counts.applied - before >= d.updatesPerRun, 300_000, 'the updates', 2);
      } finally {
        clearInterval(watcher);
      }
      if (marks.length < 4) throw new Error('forwarder_throughput delivery: the run was too short to time');
      wallUs.push(((marks[2]! - marks[0]!) * 1000) / (marks[3]! - marks[1]!));
    }
    const batches = (await fw.metric('sktrace_forwarder_batches_sent_total')) - batches0;
    const sent = (await fw.metric('sktrace_forwarder_changes_sent_total')) - sent0;
    const perSec = Math.round(1e6 / median(wallUs));
    const timings = ingest.timings.slice(timingsAt);
    const ms = (xs: number[]) => (xs.length > 0 ? median(xs).toFixed(1) : '-');
    // With one in flight, the endpoint idles for each batch's turnaround plus its read time.
    o.log(
      `forwarder_throughput delivery, ${inFlight} in flight: ${perSec} changes/s against ${d.changesPerSec}/s, ${Math.round(sent / batches)} changes per batch; median per batch: turnaround (answer to next arrival) ${ms(timings.map((t) => t.turnaroundMs))} ms, endpoint read ${ms(timings.map((t) => t.readMs))} ms`,
    );
    return resultOf(
      'forwarder_throughput',
      {
        variant: bundle.variant,
        node_options: (bundle.nodeArgs ?? []).join(' ') || 'none',
        phase: 'delivery',
        objects: o.objects,
        events_per_run: d.updatesPerRun,
        max_batches_in_flight: inFlight,
        endpoint_changes_per_sec: d.changesPerSec,
        changes_per_sec: perSec,
        changes_per_batch: Math.round(sent / batches),
      },
      "µs/change (wall; the floor: the endpoint's own time per change)",
      wallUs,
      [1e6 / d.changesPerSec],
    );
  } finally {
    await fw.close();
    await ingest.close();
  }
}
