/**
 * `forwarder_memory`: the RSS of a real `sktrace forward` process (the bundle the image runs) over
 * a long stream of spec updates to a fixed set of `objects` Deployments. Its only per-object state
 * is one spec hash per kind+name, so the RSS must stay flat however many events go by.
 *
 * At each checkpoint (events since the first list was delivered) the stream pauses until the
 * endpoint has everything, then VmRSS is sampled SAMPLES times, SAMPLE_GAP_MS apart. The last
 * checkpoint is cut short once `budgetMs` is spent, unless the rate so far reaches it within
 * `maxBudgetMs` (params.events says how far it got, params.stream_s when).
 * ratio = RSS at a checkpoint / RSS at the first one. Each checkpoint also forces a full GC in
 * the child (inspector.ts) and records the heap it really retains (params.heap_after_gc_mib):
 * RSS and heap used without it move with when V8 last collected.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeSim } from '../../tests/kube-sim/server.ts';
import { type BenchResult, median, resultOf, sig } from '../result.ts';
import { startForwarder } from './child.ts';
import { CountingIngest } from './counting-ingest.ts';
import { DEPLOYMENT_CONFIG, DeploymentFleet } from './fleet.ts';
import type { ChildMemory } from './inspector.ts';
import { sleep, until } from './proc.ts';

export interface MemoryOptions {
  objects: number;
  entry: string;
  /** Event counts to sample at, increasing. */
  checkpoints: number[];
  /**
   * Time the stream may take. Past it, the stream goes on only while the rate seen so far says
   * the last checkpoint is reached within `maxBudgetMs`; otherwise it is cut at a chunk boundary.
   */
  budgetMs: number;
  maxBudgetMs: number;
  /** V8 flags of the image (child.ts imageNodeFlags). */
  nodeArgs?: string[];
  log: (line: string) => void;
}

const SAMPLES = 5;
const SAMPLE_GAP_MS = 300;
const CHUNK = 10_000;
const MIB = 2 ** 20;

export async function benchMemory(o: MemoryOptions): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sktrace-bench-mem-'));
  const sim = await KubeSim.start();
  const fleet = new DeploymentFleet(sim, o.objects);
  const ingest = await CountingIngest.start();
  const fw = await startForwarder({
    entry: o.entry,
    dir,
    configYaml: DEPLOYMENT_CONFIG,
    endpoint: ingest.url,
    cluster: 'bench',
    kubeconfigPath: await sim.writeKubeconfig(dir),
    inspect: true,
    ...(o.nodeArgs ? { nodeArgs: o.nodeArgs } : {}),
  });
  const steps: {
    events: number;
    rssMiB: number[];
    heapMiB: number;
    gc: ChildMemory;
    secs: number;
    cpuUs: number;
  }[] = [];
  try {
    await until(
      () => ingest.counts.relist > 0 && ingest.counts.applied >= o.objects,
      120_000,
      'the first list',
    );
    const base = ingest.counts.applied;
    const delivered = () => ingest.counts.applied - base;
    const started = performance.now();
    // The child's CPU from here: per watch event between checkpoints (the image's V8 flags set
    // the young generation's size, which trades RSS for scavenges).
    const cpuStartUs = (await fw.sample()).cpuUs;
    const lastTarget = o.checkpoints.at(-1)!;
    let sent = 0;
    for (const target of o.checkpoints) {
      let cut = false;
      while (sent < target) {
        // A chunk takes a few seconds: once the budget is spent, stop at a chunk boundary unless
        // the rate so far finishes the last checkpoint within the hard budget.
        const elapsedMs = performance.now() - started;
        const projectedMs = elapsedMs + ((lastTarget - sent) * elapsedMs) / Math.max(1, sent);
        if (elapsedMs > o.budgetMs && projectedMs > o.maxBudgetMs && sent > (steps.at(-1)?.events ?? 0)) {
          cut = true;
          break;
        }
        const n = Math.min(CHUNK, target - sent);
        const from = sent;
        await fleet.pump(n, () => delivered() - from);
        sent += n;
      }
      if (sent === (steps.at(-1)?.events ?? -1)) break;
      await until(() => delivered() >= sent, 120_000, 'the updates to be delivered', 5);
      const cpuUs = (await fw.sample()).cpuUs - cpuStartUs;
      const rssMiB: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        await sleep(SAMPLE_GAP_MS);
        rssMiB.push((await fw.sample()).rssBytes / MIB);
      }
      const heapMiB = (await fw.metric('nodejs_heap_size_used_bytes')) / MIB;
      const gc = await fw.memoryAfterGc();
      const secs = (performance.now() - started) / 1000;
      steps.push({ events: sent, rssMiB, heapMiB, gc, secs, cpuUs });
      o.log(
        `forwarder_memory: ${sent} events after ${secs.toFixed(0)} s: RSS ${median(rssMiB).toFixed(1)} MiB, heap used ${heapMiB.toFixed(1)} MiB; after a full GC: heap ${(gc.heapUsedBytes / MIB).toFixed(1)} MiB, external ${(gc.externalBytes / MIB).toFixed(1)} MiB, RSS ${(gc.rssBytes / MIB).toFixed(1)} MiB`,
      );
      if (cut) break;
    }
    const relists = await fw.metric('sktrace_forwarder_relists_total');
    if (relists !== 1 || ingest.refused !== 0) {
      throw new Error(`forwarder_memory: ${relists} relists (expected 1), ${ingest.refused} batches refused`);
    }
  } finally {
    await fw.close();
    await ingest.close();
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  }
  const first = steps[0]!.rssMiB;
  const target = o.checkpoints.at(-1)!;
  return steps.flatMap((s, i) => {
    // CPU per event since the previous checkpoint (the first: since the list was delivered).
    const prev = steps[i - 1];
    const cpuPerEventUs = (s.cpuUs - (prev?.cpuUs ?? 0)) / (s.events - (prev?.events ?? 0));
    const params = {
      variant: 'bundle',
      kind: 'Deployment',
      objects: o.objects,
      events: s.events,
      stream_s: Math.round(s.secs),
      ...(s === steps.at(-1) && s.events < target ? { events_target: target } : {}),
    };
    const gcHeapMiB = s.gc.heapUsedBytes / MIB;
    return [
      resultOf(
        'forwarder_memory',
        {
          ...params,
          measure: 'rss',
          heap_used_mib: Math.round(s.heapMiB * 10) / 10,
          cpu_us_per_event: sig(cpuPerEventUs),
        },
        'MiB VmRSS (median of samples; ratio to the first checkpoint)',
        s.rssMiB,
        first,
      ),
      resultOf(
        'forwarder_memory',
        {
          ...params,
          measure: 'heap_after_gc',
          rss_after_gc_mib: Math.round((s.gc.rssBytes / MIB) * 10) / 10,
        },
        'MiB V8 heap used after a forced full GC (ratio to the first checkpoint)',
        [gcHeapMiB],
        [steps[0]!.gc.heapUsedBytes / MIB],
      ),
    ];
  });
}
