/**
 * Export jobs: their model, ids, S3 keys, state transitions and their API view. Pure.
 *
 * Lifecycle: `pending` (created by POST, handed to the runner) → `running` (a runner claimed it)
 * → `succeeded` (the trace is in S3) or `failed` (with a reason). Only a `pending` job can be
 * claimed, by a conditional write on its status and attempt count, so of two invocations for one
 * job (Lambda delivers asynchronous events at least once, and retries) exactly one runs it; the
 * other finds it claimed and does nothing. `succeeded` and `failed` are final. A job left
 * `running` past the runner's longest possible run (`DEFAULT_MAX_RUN_SEC`: its runner died of a
 * timeout or OOM) is failed — shown so at once, and written so by the next invocation that finds
 * it — and is never taken over: a client never polls forever, and no second run overlaps a first
 * one that might still be writing. A `pending` job older than `DEFAULT_START_DEADLINE_SEC` is
 * never started (its event waited too long in Lambda's queue; the client was told it failed).
 */
import type { ClusterId } from '../store/ports.ts';
import type { ExportFilters, TraceWindow } from '../trace/model.ts';
import type { ExportRequest } from './request.ts';

export type ExportStatus = 'pending' | 'running' | 'succeeded' | 'failed';

export interface ExportCounts {
  /** Events in the trace, the start event included. */
  events: number;
  /** Objects in the trace's index. */
  objects: number;
  /** Size of the msgpack trace. */
  bytes: number;
  /**
   * Findings per validation rule that found any (lib/validation: W0000, E0001…E0005), as
   * `sktrace validate` counts them; absent when the trace is clean.
   */
  validation?: Record<string, number>;
}

/** Where a running export is (the job record, every few seconds). */
export interface ExportProgress {
  phase: 'lifecycles' | 'start_state' | 'changes' | 'finishing';
  /** The window's changes read so far. */
  changesRead: number;
  /** Bytes of the trace encoded so far (uploaded or in an upload part). */
  bytesWritten: number;
  /** The ts of the latest change read: (reachedTs − start_ts) / (end_ts − start_ts) is the share done. */
  reachedTs?: number;
}

export interface ExportJob {
  cluster: ClusterId;
  id: string;
  status: ExportStatus;
  window: TraceWindow;
  filters: ExportFilters;
  /** The request's SKEL transform, when it had one. */
  transform?: string;
  createdAtSec: number;
  updatedAtSec: number;
  startedAtSec?: number;
  finishedAtSec?: number;
  /** Runs claimed so far (Lambda may retry an async invocation). */
  attempts: number;
  /** Why it failed, in words a user can act on. */
  reason?: string;
  /** S3 key of the trace, once succeeded. */
  key?: string;
  counts?: ExportCounts;
  /** DynamoDB read units the export consumed (cost accounting). */
  readUnits?: number;
  /** While running: how far it got. */
  progress?: ExportProgress;
  /** The job record's TTL, unix seconds. */
  expiresAtSec: number;
}

/** A reference to a job, the payload of the runner's invocation. */
export interface JobRef {
  cluster: ClusterId;
  id: string;
}

/**
 * The longest a run can last: the export-job function's 900 s timeout (template.yaml) and a
 * minute of clock skew between functions. A `running` job older than this has a dead runner.
 */
export const DEFAULT_MAX_RUN_SEC = 960;
/**
 * A `pending` job not claimed within this is never started: the template's
 * MaximumEventAgeInSeconds (900) drops its event by then, and the exports function reports it
 * failed once DEFAULT_MAX_RUN_SEC has passed since its creation.
 */
export const DEFAULT_START_DEADLINE_SEC = 900;

// RFC 4648 base32 alphabet, lowercase: ids are path segments and S3 keys, case never matters.
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const ID_BYTES = 16;
/** 128 bits in base32 are 26 characters. */
export const JOB_ID_PATTERN = /^[a-z2-7]{26}$/;

/**
 * A new job id: 128 random bits in base32. Not a sequence and not derived from time, so one id
 * says nothing about another (the URL of one export gives no handle on any other).
 */
export function newJobId(randomBytes: (size: number) => Uint8Array): string {
  const bytes = randomBytes(ID_BYTES);
  if (bytes.length !== ID_BYTES)
    throw new RangeError(`expected ${ID_BYTES} random bytes, got ${bytes.length}`);
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}

export function isJobId(value: unknown): value is string {
  return typeof value === 'string' && JOB_ID_PATTERN.test(value);
}

/**
 * Where a job's trace goes. The key holds the cluster, so a signed URL names its cluster, and S3
 * lifecycle rules or IAM conditions can scope `exports/<cluster>/`; the random id makes it unguessable.
 */
export function exportKey(cluster: ClusterId, id: string): string {
  return `exports/${cluster}/${id}.sktrace`;
}

export function newJob(
  ref: JobRef,
  request: ExportRequest,
  nowSec: number,
  options: { retentionSec: number },
): ExportJob {
  return {
    cluster: ref.cluster,
    id: ref.id,
    status: 'pending',
    window: { ...request.window },
    filters: request.filters,
    ...(request.transform === undefined ? {} : { transform: request.transform }),
    createdAtSec: nowSec,
    updatedAtSec: nowSec,
    attempts: 0,
    expiresAtSec: nowSec + options.retentionSec,
  };
}

/** Statuses a runner may claim a job from (with the attempts it read: see ExportJobStore.replace). */
export const CLAIMABLE: readonly ExportStatus[] = ['pending'];

export function isFinal(status: ExportStatus): boolean {
  return status === 'succeeded' || status === 'failed';
}

export function claimed(job: ExportJob, nowSec: number): ExportJob {
  return {
    ...job,
    status: 'running',
    attempts: job.attempts + 1,
    startedAtSec: nowSec,
    updatedAtSec: nowSec,
  };
}

export function withProgress(job: ExportJob, progress: ExportProgress, nowSec: number): ExportJob {
  return { ...job, progress: { ...progress }, updatedAtSec: nowSec };
}

export function succeeded(
  job: ExportJob,
  result: { key: string; counts: ExportCounts; readUnits: number },
  nowSec: number,
): ExportJob {
  const { reason: _reason, progress: _progress, ...rest } = job;
  return {
    ...rest,
    status: 'succeeded',
    key: result.key,
    counts: result.counts,
    readUnits: result.readUnits,
    updatedAtSec: nowSec,
    finishedAtSec: nowSec,
  };
}

export function failed(job: ExportJob, reason: string, nowSec: number, readUnits?: number): ExportJob {
  const { progress: _progress, ...rest } = job;
  return {
    ...rest,
    status: 'failed',
    reason,
    updatedAtSec: nowSec,
    finishedAtSec: nowSec,
    ...(readUnits === undefined ? {} : { readUnits }),
  };
}

/**
 * The status a client should see: a job `running` for longer than any run can last (or `pending`
 * that long: its launch was lost) has a dead runner, and is reported failed.
 */
export function effectiveJob(job: ExportJob, nowSec: number, maxRunSec: number): ExportJob {
  if (isFinal(job.status)) return job;
  const since = job.status === 'running' ? (job.startedAtSec ?? job.updatedAtSec) : job.createdAtSec;
  if (nowSec - since <= maxRunSec) return job;
  return failed(
    job,
    job.status === 'running'
      ? `the export job stopped without finishing (it ran past ${maxRunSec} s or crashed); request the export again`
      : `the export job never started within ${maxRunSec} s; request the export again`,
    job.updatedAtSec,
  );
}

/** The JSON a client gets for a job (GET, and the 202 of POST). Times are unix seconds. */
export interface ExportJobView {
  id: string;
  cluster: ClusterId;
  status: ExportStatus;
  reason?: string;
  start_ts: number;
  end_ts: number;
  filters: ExportFilters;
  created_at: number;
  updated_at: number;
  started_at?: number;
  finished_at?: number;
  attempts: number;
  key?: string;
  url?: string;
  url_expires_at?: number;
  counts?: ExportCounts;
  read_units?: number;
  /** While running: phase, changes read, bytes written, and the latest change's ts reached. */
  progress?: {
    phase: ExportProgress['phase'];
    changes_read: number;
    bytes_written: number;
    reached_ts?: number;
  };
}

export function jobView(job: ExportJob, signed?: { url: string; expiresAtSec: number }): ExportJobView {
  const view: ExportJobView = {
    id: job.id,
    cluster: job.cluster,
    status: job.status,
    start_ts: job.window.startTs,
    end_ts: job.window.endTs,
    filters: job.filters,
    created_at: job.createdAtSec,
    updated_at: job.updatedAtSec,
    attempts: job.attempts,
  };
  if (job.reason !== undefined) view.reason = job.reason;
  if (job.startedAtSec !== undefined) view.started_at = job.startedAtSec;
  if (job.finishedAtSec !== undefined) view.finished_at = job.finishedAtSec;
  if (job.status === 'succeeded') {
    if (job.key !== undefined) view.key = job.key;
    if (signed) {
      view.url = signed.url;
      view.url_expires_at = signed.expiresAtSec;
    }
    if (job.counts) view.counts = job.counts;
  }
  if (job.readUnits !== undefined) view.read_units = job.readUnits;
  if (job.progress && !isFinal(job.status)) {
    const p = job.progress;
    view.progress = {
      phase: p.phase,
      changes_read: p.changesRead,
      bytes_written: p.bytesWritten,
      ...(p.reachedTs === undefined ? {} : { reached_ts: p.reachedTs }),
    };
  }
  return view;
}
