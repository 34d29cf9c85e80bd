/**
 * Child-process entry for the export benchmark, one measurement per process (peak RSS is then
 * this run's alone: RSS never shrinks back, and the parent holds seeding garbage). Modes:
 *
 * - `export`: what the export job does — `streamExport`: the store's reads, assembly, msgpack
 *   encoding and the multipart upload to S3 (s3rver) — timed, with this process's CPU, its peak
 *   RSS (the kernel's high-water mark) and the read units;
 * - `read-floor`: the same window's event items read with the same Queries, in the same order
 *   and with the same parallelism (`readEventPages`, the reader's own scheduler), and not decoded:
 *   raw Query pages;
 * - `encode-floor`: msgpack-encoding the same trace in memory (`encodeTrace`), rebuilt from the
 *   seeding's recipe in chunks of ~5,000 objects so that 1 M changes fit in memory; only the
 *   `encodeTrace` calls are timed.
 *
 * The benchmark's floor for wall time is read-floor + encode-floor; for CPU, encode-floor's.
 * Input: one JSON argument (ExportChildInput). Output: one JSON line on stdout (ExportChildRun).
 */
import { appendFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { GCProfiler } from 'node:v8';
import { tuneExportHeap } from '../../functions/export-job/heap.ts';
import { makeDynamoClient, makeS3Client } from '../../lib/aws/clients.ts';
import { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { S3BlobStore } from '../../lib/aws/s3-blob-store.ts';
import { S3ExportObjects } from '../../lib/aws/s3-exports.ts';
import { type ProgressSink, streamExport } from '../../lib/export/pipeline.ts';
import type { ReadMeter } from '../../lib/store/ports.ts';
import { encodeTrace } from '../../lib/trace/codec.ts';
import type { KubeObject, Trace, TraceEvent, TraceWindow } from '../../lib/trace/model.ts';
import { objectName, sizedDeployment } from './objects.ts';

export interface WindowRecipe {
  liveObjects: number;
  windowChanges: number;
  objectBytes: number;
  /** Version of the window's first change of each object. */
  firstVersion: number;
}

export interface ExportChildInput {
  mode: 'export' | 'read-floor' | 'encode-floor';
  endpoints: { dynamo: string; s3: string };
  tableName: string;
  bucket: string;
  cluster: string;
  window: TraceWindow;
  recipe: WindowRecipe;
}

export interface ExportChildRun {
  wallMs: number;
  cpuMs: number;
  peakRssBytes: number;
  readUnits: number;
  events: number;
  objects: number;
  bytes: number;
  /** read-floor: items read. */
  items: number;
}

/**
 * The process's peak RSS once `fn` has run: the kernel's high-water mark (getrusage `ru_maxrss`,
 * what Lambda's "Max Memory Used" reports too), which catches every peak, where sampling every
 * 10 ms missed short ones and cost the measured export ~8–10 ms of CPU in `rss()` calls at 10,000
 * changes (docs/benchmarks.md "export"). Module loading before the export is counted, and is far
 * below the export's own peak.
 */
async function peakRss<T>(fn: () => Promise<T> | T): Promise<{ value: T; peakRssBytes: number }> {
  const value = await fn();
  return { value, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1000;
}

/** Clients to the parent's local AWS and a trace store on them; `close` destroys the clients. */
function openStore(input: ExportChildInput) {
  const dynamo = makeDynamoClient({ endpoint: input.endpoints.dynamo });
  const s3 = makeS3Client({ endpoint: input.endpoints.s3 });
  const store = new DynamoTraceStore({
    dynamo,
    tableName: input.tableName,
    blobs: new S3BlobStore(s3, input.bucket),
  });
  const close = () => {
    dynamo.destroy();
    s3.destroy();
  };
  return { s3, store, close };
}

/**
 * BENCH_EXPORT_PHASES=FILE: each phase change of the export (lib/export/job.ts `ExportProgress`),
 * and every ~10,000 changes read, appended to FILE with its ms since the start and the process's
 * memory — where a small window's fixed cost goes, and what a large one's peak RSS is made of.
 */
function phaseLog(started: number): ProgressSink {
  const file = process.env.BENCH_EXPORT_PHASES;
  if (!file) return () => undefined;
  let last: string | undefined;
  let loggedAt = 0;
  const mb = (n: number) => Math.round(n / 1e6);
  return (p) => {
    // Each phase change, and memory every ~10,000 changes read (where peak RSS comes from).
    if (p.phase === last && p.changesRead - loggedAt < 10_000) return;
    last = p.phase;
    loggedAt = p.changesRead;
    const m = process.memoryUsage();
    const line = {
      pid: process.pid,
      phase: p.phase,
      ms: Math.round(performance.now() - started),
      changesRead: p.changesRead,
      rssMb: mb(m.rss),
      heapUsedMb: mb(m.heapUsed),
      heapTotalMb: mb(m.heapTotal),
      externalMb: mb(m.external),
      arrayBuffersMb: mb(m.arrayBuffers),
      // Fresh pages touched so far: on the bench's VM each costs ~15 µs (docs/benchmarks.md "export").
      minorFaults: process.resourceUsage().minorPageFault,
    };
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  };
}

/**
 * BENCH_EXPORT_GC=FILE: the export's garbage collections (a `gc` PerformanceObserver: count and
 * ms by kind) and the bytes V8 allocated meanwhile, appended to FILE as one JSON line — how much
 * of a change's CPU is the collector's, and why (docs/benchmarks.md "export").
 */
function gcLog(): (changes: number) => void {
  const file = process.env.BENCH_EXPORT_GC;
  if (!file) return () => undefined;
  const byKind: Record<string, { count: number; ms: number }> = {};
  const names: Record<number, string> = {
    1: 'scavenge',
    2: 'markCompact',
    4: 'incremental',
    8: 'weakCallbacks',
  };
  const gcs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = names[(e as unknown as { detail: { kind: number } }).detail.kind] ?? 'other';
      const k = byKind[kind] ?? { count: 0, ms: 0 };
      byKind[kind] = k;
      k.count++;
      k.ms += e.duration;
    }
  });
  gcs.observe({ entryTypes: ['gc'] });
  const profiler = new GCProfiler();
  profiler.start();
  return (changes) => {
    const stats = profiler.stop();
    gcs.disconnect();
    // Allocated = what each collection found before it, less what the previous one left after it.
    let allocated = 0;
    let after = stats?.statistics[0]?.beforeGC.heapStatistics.usedHeapSize ?? 0;
    for (const g of stats?.statistics ?? []) {
      allocated += Math.max(0, g.beforeGC.heapStatistics.usedHeapSize - after);
      after = g.afterGC.heapStatistics.usedHeapSize;
    }
    const line = { pid: process.pid, changes, byKind, allocatedMb: Math.round(allocated / 1e6) };
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  };
}

async function runExport(input: ExportChildInput): Promise<ExportChildRun> {
  // As the export job function runs (functions/export-job/handler.ts).
  tuneExportHeap();
  const gcDone = gcLog();
  const { s3, store, close } = openStore(input);
  const objects = new S3ExportObjects({ s3, bucket: input.bucket });
  const filters = { excluded_namespaces: [], excluded_labels: [] };
  const meter: ReadMeter = { readUnits: 0 };
  const cpu = process.cpuUsage();
  const started = performance.now();
  const { value, peakRssBytes } = await peakRss(() =>
    streamExport(
      store,
      input.cluster,
      { window: input.window, filters },
      meter,
      { objects, key: `exports/${input.cluster}/bench.sktrace` },
      phaseLog(started),
    ),
  );
  const wallMs = performance.now() - started;
  const cpuMs = cpuMsSince(cpu);
  gcDone(value.counts.events);
  close();
  return {
    wallMs,
    cpuMs,
    peakRssBytes,
    readUnits: meter.readUnits,
    events: value.counts.events,
    objects: value.counts.objects,
    bytes: value.counts.bytes,
    items: 0,
  };
}

async function runReadFloor(input: ExportChildInput): Promise<ExportChildRun> {
  const { store, close } = openStore(input);
  const meter: ReadMeter = { readUnits: 0 };
  const cpu = process.cpuUsage();
  const started = performance.now();
  let items = 0;
  for await (const page of store.rawEventPages(
    input.cluster,
    input.window.startTs,
    input.window.endTs,
    meter,
  )) {
    items += page.length;
  }
  const wallMs = performance.now() - started;
  close();
  return {
    wallMs,
    cpuMs: cpuMsSince(cpu),
    peakRssBytes: 0,
    readUnits: meter.readUnits,
    events: 0,
    objects: 0,
    bytes: 0,
    items,
  };
}

/** The trace the export writes, rebuilt from the seeding recipe a chunk at a time; encodeTrace timed. */
function runEncodeFloor(input: ExportChildInput): ExportChildRun {
  const { recipe, window } = input;
  const templates = new Map<number, KubeObject>();
  // The padding (env digests) depends on the name only: build each object once, vary its version.
  const version = (i: number, v: number): KubeObject => {
    let t = templates.get(i);
    if (!t) {
      t = sizedDeployment(objectName(i), recipe.objectBytes, 1);
      templates.set(i, t);
    }
    const o = structuredClone(t) as KubeObject & {
      spec: { replicas: number; template: { metadata: { annotations: Record<string, string> } } };
    };
    o.spec.replicas = 1 + (v % 50);
    o.spec.template.metadata.annotations['bench/version'] = String(v);
    return o;
  };
  let encodeMs = 0;
  let cpuMs = 0;
  let bytes = 0;
  let events = 0;
  const config = { trackedObjects: { 'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/template'] } } };
  const encode = (chunk: TraceEvent[], index: Trace['index']) => {
    const cpu = process.cpuUsage();
    const t = performance.now();
    bytes += encodeTrace({ version: 2, config, events: chunk, index, podLifecycles: new Map() }).length;
    encodeMs += performance.now() - t;
    cpuMs += cpuMsSince(cpu);
    events += chunk.length;
  };
  const start: KubeObject[] = [];
  for (let i = 0; i < recipe.liveObjects; i++) start.push(version(i, recipe.firstVersion - 1));
  encode([{ ts: window.startTs, applied_objs: start, deleted_objs: [] }], new Map());
  let chunk: TraceEvent[] = [];
  let inChunk = 0;
  const span = window.endTs - window.startTs;
  for (let k = 0; k < recipe.windowChanges; k++) {
    const ts = window.startTs + Math.floor((k * span) / recipe.windowChanges);
    const object = version(k % recipe.liveObjects, recipe.firstVersion + Math.floor(k / recipe.liveObjects));
    const last = chunk.at(-1);
    if (last?.ts === ts) last.applied_objs.push(object);
    else {
      if (inChunk >= 5000) {
        encode(chunk, new Map());
        chunk = [];
        inChunk = 0;
      }
      chunk.push({ ts, applied_objs: [object], deleted_objs: [] });
    }
    inChunk++;
  }
  const index = new Map([['apps/v1.Deployment', new Map<string, bigint>()]]);
  for (let i = 0; i < recipe.liveObjects; i++)
    index.get('apps/v1.Deployment')!.set(`bench/${objectName(i)}`, BigInt(i) * 7919n);
  encode(chunk, index);
  return {
    wallMs: encodeMs,
    cpuMs,
    peakRssBytes: 0,
    readUnits: 0,
    events,
    objects: recipe.liveObjects,
    bytes,
    items: 0,
  };
}

const input = JSON.parse(process.argv[2] ?? '{}') as ExportChildInput;
const run =
  input.mode === 'export'
    ? await runExport(input)
    : input.mode === 'read-floor'
      ? await runReadFloor(input)
      : runEncodeFloor(input);
process.stdout.write(`${JSON.stringify(run)}\n`);
