/**
 * What the export API and job need besides the trace store's read port (lib/store/ports.ts):
 * a place for job records, a place for the traces with signed URLs, and a way to start a job
 * asynchronously. Adapters: lib/aws/dynamo-export-jobs.ts, lib/aws/s3-exports.ts,
 * lib/aws/lambda-launcher.ts (AWS) and lib/local/job-runner.ts (in-process, `sktrace serve`).
 */
import type { ClusterId } from '../store/ports.ts';
import type { ExportJob, ExportStatus, JobRef } from './job.ts';

export interface ExportJobStore {
  /** Stores a new job; throws if a job with that id exists (ids are random: a clash is a bug). */
  create(job: ExportJob): Promise<void>;
  /** The job of that id under that cluster: another cluster's job is never found. */
  get(cluster: ClusterId, id: string): Promise<ExportJob | undefined>;
  /**
   * Replaces the job by `next` only if its stored status is one of `from` and, when given, its
   * stored `attempts` is `attempts` (a conditional write): false when it was not, so two runners
   * never both claim or move a job on.
   */
  replace(next: ExportJob, from: readonly ExportStatus[], attempts?: number): Promise<boolean>;
  /** The cluster's jobs stored as `pending` or `running` (stale ones included: judge them with effectiveJob). */
  unfinished(cluster: ClusterId): Promise<ExportJob[]>;
  /** The live (unexpired at `nowSec`) record of an Idempotency-Key, by the key's hash. */
  getIdempotency(cluster: ClusterId, keyHash: string, nowSec: number): Promise<IdempotencyRecord | undefined>;
  /**
   * Stores `record` unless a live record of that key exists (a conditional write): undefined when
   * stored, else the record that won. `replacing` (a job id) overwrites the record only if it
   * still names that job (taking over a key whose job was never created).
   */
  putIdempotency(
    cluster: ClusterId,
    record: IdempotencyRecord,
    nowSec: number,
    replacing?: string,
  ): Promise<IdempotencyRecord | undefined>;
}

/** What an Idempotency-Key of POST /exports stands for: one request body, one job, for 24 h. */
export interface IdempotencyRecord {
  /** sha256 hex of the key as sent (the key itself is never stored). */
  keyHash: string;
  /** sha256 hex of the validated request: the same key with another body is refused. */
  requestHash: string;
  jobId: string;
  createdAtSec: number;
  expiresAtSec: number;
}

export interface ExportObjectStore {
  /** Stores the trace under `key` (overwriting: a retried job writes the same key). */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /**
   * Starts a multipart upload to `key` (S3: parts of ≥ 5 MiB but the last, numbered from 1,
   * uploaded in any order; the object appears, overwriting, only on complete()).
   */
  startUpload(key: string): Promise<ExportUpload>;
  /** A URL granting GET of that one key for `ttlSec` seconds, to anyone holding it. */
  presign(key: string, ttlSec: number): Promise<string>;
}

/** One multipart upload in progress. */
export interface ExportUpload {
  /** Once the promise has settled the caller may reuse `bytes`: keep no reference (copy if needed). */
  uploadPart(partNumber: number, bytes: Uint8Array): Promise<void>;
  /** Assembles the uploaded parts, in part-number order, into the object. */
  complete(): Promise<void>;
  /** Drops the parts uploaded so far (never throws: it runs on a failure path). */
  abort(): Promise<void>;
}

/** Starts the job runner for a job without waiting for it. */
export interface JobLauncher {
  launch(ref: JobRef): Promise<void>;
}
