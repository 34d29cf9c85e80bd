/**
 * The benchmark's DynamoDB and S3: dynalite and s3rver in a child process (bench/support/aws-child.ts),
 * so CPU spent serving requests is not charged to the code under test. `cpu()` reads the child's.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { INGEST_MAX_BATCH_SEC } from '../../functions/env.ts';
import { makeDynamoClient, makeS3Client } from '../../lib/aws/clients.ts';
import { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { S3BlobStore } from '../../lib/aws/s3-blob-store.ts';
import type { CheckpointFormat } from '../../lib/aws/trace-store/checkpoints.ts';
import type { HistoryTarget } from './bulk-history.ts';
import type { ChangeSpread } from './export-changes.ts';

export interface CpuSample {
  /** Microseconds of user + system CPU since the child started. */
  us: number;
  rssBytes: number;
}

export interface ChildAws {
  endpoints: { dynamo: string; s3: string };
  tableName: string;
  bucket: string;
  dynamo: DynamoDBClient;
  s3: S3Client;
  pid: number;
  cpu(): Promise<CpuSample>;
  /**
   * Writes the event items of `changes` for `target` straight into dynalite's LevelDB, in the
   * child (bench/support/bulk-history.ts `loadHistoryEvents`); resolves to the number written.
   */
  loadEvents(target: HistoryTarget, changes: ChangeSpread): Promise<number>;
  close(): Promise<void>;
}

/** The benches' store layout; seeding that writes the table directly must use the same. */
export const BENCH_SHARDS = 4;
export const BENCH_RETENTION_DAYS = 14;

/** The trace store the benches seed and read through: their layout, 32 requests in flight. */
/**
 * The store seeding writes with: the deployed functions' batch bound (functions/env.ts), so
 * checkpoints have the replay margin the hourly checkpoint function gives them; `maxBatchSec`
 * overrides it, and `checkpointFormat` the checkpoints' (the seed cache's fingerprint of an older
 * seeding, export-seed.ts).
 */
export function benchTraceStore(
  aws: ChildAws,
  maxBatchSec = INGEST_MAX_BATCH_SEC,
  checkpointFormat?: CheckpointFormat,
): DynamoTraceStore {
  return new DynamoTraceStore({
    ...(checkpointFormat ? { checkpointFormat } : {}),
    dynamo: aws.dynamo,
    tableName: aws.tableName,
    blobs: new S3BlobStore(aws.s3, aws.bucket),
    shards: BENCH_SHARDS,
    retentionDays: BENCH_RETENTION_DAYS,
    concurrency: 32,
    maxBatchSec,
  });
}

const CHILD = fileURLToPath(new URL('./aws-child.ts', import.meta.url));

export async function startChildAws(
  options: { dataDir?: string; s3Dir?: string; maxOldSpaceMb?: number } = {},
): Promise<ChildAws> {
  const child: ChildProcess = fork(CHILD, [], {
    execArgv: [
      ...(options.maxOldSpaceMb ? [`--max-old-space-size=${options.maxOldSpaceMb}`] : []),
      '--import',
      'tsx',
    ],
    env: {
      ...process.env,
      ...(options.dataDir ? { BENCH_DYNAMO_DIR: options.dataDir } : {}),
      ...(options.s3Dir ? { BENCH_S3_DIR: options.s3Dir } : {}),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<{ dynamo: string; s3: string; tableName: string; bucket: string }>(
    (resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`AWS child exited with ${code} before it was ready`)));
      child.on(
        'message',
        (msg: { ready?: { dynamo: string; s3: string; tableName: string; bucket: string } }) => {
          if (msg.ready) resolve(msg.ready);
        },
      );
    },
  );
  const loads = new Map<number, { resolve: (written: number) => void; reject: (err: Error) => void }>();
  child.removeAllListeners('exit');
  child.once('exit', (code) => {
    for (const load of loads.values())
      load.reject(new Error(`AWS child exited with ${code} during a direct load`));
    loads.clear();
  });
  let nextId = 0;
  const pending = new Map<number, (s: CpuSample) => void>();
  child.on(
    'message',
    (msg: {
      cpu?: number;
      user?: number;
      system?: number;
      rssBytes?: number;
      load?: number;
      written?: number;
      error?: string;
    }) => {
      if (msg.load !== undefined) {
        const load = loads.get(msg.load);
        loads.delete(msg.load);
        if (msg.error !== undefined)
          load?.reject(new Error(`direct load in the AWS child failed: ${msg.error}`));
        else load?.resolve(msg.written ?? 0);
        return;
      }
      if (msg.cpu === undefined) return;
      pending.get(msg.cpu)?.({ us: (msg.user ?? 0) + (msg.system ?? 0), rssBytes: msg.rssBytes ?? 0 });
      pending.delete(msg.cpu);
    },
  );
  // Generous retries: a benchmark should measure, not fail on one slow LevelDB compaction.
  const retry = { maxAttempts: 8, baseDelayMs: 20, maxDelayMs: 1000 };
  const dynamo = makeDynamoClient({ endpoint: ready.dynamo, retry });
  const s3 = makeS3Client({ endpoint: ready.s3, retry });
  return {
    endpoints: { dynamo: ready.dynamo, s3: ready.s3 },
    tableName: ready.tableName,
    bucket: ready.bucket,
    dynamo,
    s3,
    pid: child.pid ?? -1,
    cpu() {
      const id = nextId++;
      return new Promise((resolve) => {
        pending.set(id, resolve);
        child.send({ cpu: id });
      });
    },
    loadEvents(target, changes) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        loads.set(id, { resolve, reject });
        child.send({ load: id, target, spread: changes });
      });
    },
    async close() {
      dynamo.destroy();
      s3.destroy();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
