/**
 * Moving traces through the API: importing a trace (its changes, in batches) and exporting a
 * window (create the job, poll it, download through the signed URL, decode). Shared by
 * `sktrace import` / `sktrace export` and the round-trip checks.
 */
import { type ApiClient, ApiError } from '../cli/client.ts';
import { SktraceError } from '../errors.ts';
import type { ExportJobView } from '../export/job.ts';
import { decodeTrace } from '../trace/codec.ts';
import type { ExportFilters, Trace, TraceWindow } from '../trace/model.ts';
import { type BatchLimits, DEFAULT_BATCH_LIMITS, toBatches, traceToChanges } from './import.ts';

export interface ImportResult {
  batches: number;
  changes: number;
  accepted: number;
  deduplicated: number;
}

export interface ImportProgress {
  batch: number;
  batches: number;
  changesSent: number;
  changes: number;
}

export async function importTrace(
  client: ApiClient,
  cluster: string,
  trace: Trace,
  options: { limits?: BatchLimits; onProgress?: (p: ImportProgress) => void } = {},
): Promise<ImportResult> {
  const changes = traceToChanges(trace);
  const batches = toBatches(changes, options.limits ?? DEFAULT_BATCH_LIMITS);
  const result: ImportResult = {
    batches: batches.length,
    changes: changes.length,
    accepted: 0,
    deduplicated: 0,
  };
  let sent = 0;
  for (const [i, batch] of batches.entries()) {
    const out = await client.postEvents(cluster, batch);
    result.accepted += out.accepted;
    result.deduplicated += out.deduplicated;
    sent += batch.changes.length;
    options.onProgress?.({
      batch: i + 1,
      batches: batches.length,
      changesSent: sent,
      changes: changes.length,
    });
  }
  return result;
}

export interface ExportOptions {
  /** First poll delay; it doubles up to pollMaxMs. */
  pollMs?: number;
  pollMaxMs?: number;
  /** Give up waiting for the job after this long. */
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  nowMs?: () => number;
  onStatus?: (job: ExportJobView, elapsedMs: number) => void;
  /** SKEL text applied server-side to every change before filtering and indexing. */
  transform?: string;
}

export interface ExportResult {
  job: ExportJobView;
  bytes: Uint8Array;
  trace: Trace;
}

/** An export job that ended `failed`, with the server's reason. */
export class ExportFailedError extends SktraceError {
  constructor(job: ExportJobView) {
    super('export_failed', `export ${job.id} failed: ${job.reason ?? 'no reason given'}`, { id: job.id });
    this.name = 'ExportFailedError';
  }
}

export async function exportTrace(
  client: ApiClient,
  cluster: string,
  window: TraceWindow,
  filters: ExportFilters,
  options: ExportOptions = {},
): Promise<ExportResult> {
  const sleep = options.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
  const nowMs = options.nowMs ?? Date.now;
  const startedMs = nowMs();
  const timeoutMs = options.timeoutMs ?? 20 * 60_000;
  let job = await client.createExport(cluster, {
    start_ts: window.startTs,
    end_ts: window.endTs,
    filters,
    ...(options.transform === undefined ? {} : { transform: options.transform }),
  });
  let delayMs = options.pollMs ?? 250;
  while (job.status === 'pending' || job.status === 'running') {
    options.onStatus?.(job, nowMs() - startedMs);
    if (nowMs() - startedMs > timeoutMs) {
      throw new SktraceError(
        'export_timeout',
        `export ${job.id} is still ${job.status} after ${Math.round(timeoutMs / 1000)} s; check it later with its id`,
        { id: job.id },
      );
    }
    await sleep(delayMs);
    delayMs = Math.min(options.pollMaxMs ?? 2000, delayMs * 2);
    job = await client.getExport(cluster, job.id);
  }
  options.onStatus?.(job, nowMs() - startedMs);
  if (job.status === 'failed') throw new ExportFailedError(job);
  if (!job.url)
    throw new ApiError(`GET export ${job.id}`, 200, { message: 'the job succeeded but has no URL' });
  const bytes = await client.download(job.url);
  let trace: Trace;
  try {
    trace = decodeTrace(bytes);
  } catch (err) {
    throw new SktraceError(
      'export_corrupt',
      `the downloaded export is not a trace: ${err instanceof Error ? err.message : String(err)}`,
      { id: job.id },
      { cause: err },
    );
  }
  return { job, bytes, trace };
}
