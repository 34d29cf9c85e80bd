/**
 * Child-process entry for the export benchmark: one run of the export's read + assembly + msgpack
 * encoding (`assembleExport` then `encodeTrace`, what the export job does before its S3 put) of one
 * window, in a fresh process so its peak RSS is this export's alone (RSS never shrinks back after
 * a run, and the parent holds seeding garbage). Started with --expose-gc.
 *
 * It also measures the floor: msgpack-encoding the same trace again, already in memory; for
 * memory, the process's RSS before the export plus the heap the trace and its encoding hold.
 *
 * Input: one JSON argument (ExportChildInput). Output: one JSON line on stdout (ExportRun).
 */
import { makeDynamoClient, makeS3Client } from '../../lib/aws/clients.ts';
import { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { S3BlobStore } from '../../lib/aws/s3-blob-store.ts';
import { assembleExport } from '../../lib/export/pipeline.ts';
import type { ReadMeter } from '../../lib/store/ports.ts';
import { encodeTrace } from '../../lib/trace/codec.ts';
import type { TraceWindow } from '../../lib/trace/model.ts';

export interface ExportChildInput {
  endpoints: { dynamo: string; s3: string };
  tableName: string;
  bucket: string;
  cluster: string;
  window: TraceWindow;
}

export interface ExportRun {
  wallMs: number;
  peakRssBytes: number;
  readUnits: number;
  floorMs: number;
  floorPeakRssBytes: number;
  events: number;
  startObjects: number;
  windowObjects: number;
  bytes: number;
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

/** Samples RSS every 10 ms while `fn` runs (and once at each end): its peak. */
async function peakRss<T>(fn: () => Promise<T> | T): Promise<{ value: T; peakRssBytes: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { value, peakRssBytes: peak };
  } finally {
    clearInterval(timer);
  }
}

async function main(input: ExportChildInput): Promise<ExportRun> {
  const dynamo = makeDynamoClient({ endpoint: input.endpoints.dynamo });
  const s3 = makeS3Client({ endpoint: input.endpoints.s3 });
  const store = new DynamoTraceStore({
    dynamo,
    tableName: input.tableName,
    blobs: new S3BlobStore(s3, input.bucket),
  });
  const filters = { excluded_namespaces: [], excluded_labels: [] };
  gc();
  const baseline = memory();
  const meter: ReadMeter = { readUnits: 0 };
  const started = performance.now();
  const exported = await peakRss(async () => {
    const trace = await assembleExport(store, input.cluster, { window: input.window, filters }, meter);
    return { trace, bytes: encodeTrace(trace) };
  });
  const wallMs = performance.now() - started;
  const { trace } = exported.value;
  const floorStarted = performance.now();
  const floorBytes = encodeTrace(trace);
  const floorMs = performance.now() - floorStarted;
  // The floor's memory: the process as it was before the export, plus the trace and its encoding.
  exported.value.bytes = new Uint8Array(0);
  gc();
  const held = memory();
  const floorPeakRssBytes = baseline.rss + (held.heap - baseline.heap);
  const [first, ...rest] = trace.events;
  dynamo.destroy();
  s3.destroy();
  return {
    wallMs,
    peakRssBytes: exported.peakRssBytes,
    readUnits: meter.readUnits,
    floorMs,
    floorPeakRssBytes,
    events: trace.events.length,
    startObjects: first?.applied_objs.length ?? 0,
    windowObjects: rest.reduce((sum, e) => sum + e.applied_objs.length, 0),
    bytes: floorBytes.length,
  };
}

/** RSS, and the JS heap plus buffers outside it (the trace's objects and its encoded bytes). */
function memory(): { rss: number; heap: number } {
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.arrayBuffers };
}

const input = JSON.parse(process.argv[2] ?? '{}') as ExportChildInput;
process.stdout.write(`${JSON.stringify(await main(input))}\n`);
