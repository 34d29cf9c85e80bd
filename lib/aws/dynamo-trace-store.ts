/**
 * DynamoTraceStore: the trace store on one DynamoDB table (+ a blob store, S3, for bodies over the
 * item limit and for checkpoints). It implements the ingest port (TraceWriter), the export's read
 * port (TraceReader), the Checkpointer and the ClusterDirectory (clusters recorded by the writer). The policy lives in lib/store (rules, keys, body codec);
 * the pieces here only marshal, send and translate errors. docs/storage.md has the design.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Batch } from '../ingest/wire.ts';
import { DEFAULT_SETTLE_MS, parseCursor } from '../store/feed.ts';
import { assertCluster } from '../store/keys.ts';
import type {
  ApplyOptions,
  ApplyResult,
  BlobStore,
  ChangeFeed,
  ChangeReadOptions,
  Checkpointer,
  CheckpointInfo,
  ClusterDirectory,
  ClusterId,
  FeedPage,
  FeedQuery,
  LiveSet,
  ReadMeter,
  RetentionHorizon,
  StoredConfig,
  StoredOwnerLifecycles,
  TraceReader,
  TraceWriter,
} from '../store/ports.ts';
import { specHash } from '../trace/hash.ts';
import type { ObjectChange, ObjectRef, TraceWindow } from '../trace/model.ts';
import { BackoffRetryStrategy, type RetryPolicyOptions } from './clients.ts';
import { Bodies, DEFAULT_INLINE_BODY_LIMIT_BYTES } from './trace-store/bodies.ts';
import { type CheckpointFormat, Checkpoints } from './trace-store/checkpoints.ts';
import type { StoreContext, StoreSettings } from './trace-store/context.ts';
import { readFeed } from './trace-store/feed.ts';
import { TableIo } from './trace-store/io.ts';
import { ClusterMeta, readClusters, readHorizon } from './trace-store/meta.ts';
import { TraceReaderCore } from './trace-store/reader.ts';
import { TraceWriterCore } from './trace-store/writer.ts';

export interface DynamoTraceStoreOptions {
  dynamo: DynamoDBClient;
  tableName: string;
  blobs: BlobStore;
  /** History expires this many days after the later of event and ingest time (default 14). */
  retentionDays?: number;
  /** Partitions per time bucket / for lifecycles (default 4: ~4,000 event writes/s per cluster). Only ever raise it. */
  shards?: number;
  /** Objects written in parallel within a batch (default 16). */
  concurrency?: number;
  /** Compressed bodies above this go to the blob store (default 350 KiB, under the 400 KB item limit). */
  inlineBodyLimitBytes?: number;
  /** Batches whose oldest change is older than this behind ingest time are late (default 600 s). */
  lateMarginSec?: number;
  /** Longest a batch can take to apply (default 900 s, Lambda's maximum timeout). */
  maxBatchSec?: number;
  /** Keep hourly change counts for sizing exports (default false; see StoreSettings). */
  countChanges?: boolean;
  /** Clock for expiry filtering on reads (unix seconds). Writes take `nowSec` per batch instead. */
  nowSec?: () => number;
  /** Write a change-feed record per batch, for `sktrace tail` (default true; lib/store/feed.ts). */
  changeFeed?: boolean;
  /** Feed readers follow records stamped at least this long ago (default 5,000 ms). */
  settleMs?: number;
  /** Wall clock in ms for change-feed stamps and reads. */
  nowMs?: () => number;
  /** Backoff for BatchGetItem's unprocessed keys (requests themselves are retried by the SDK client). */
  retry?: RetryPolicyOptions;
  sleep?: (ms: number) => Promise<void>;
  /** SimKube's spec hash (lib/trace/hash.ts); injectable for tests. */
  specHash?: (spec: unknown) => bigint;
  /** How checkpoints are written (default msgpack; trace-store/checkpoints.ts `CheckpointFormat`). */
  checkpointFormat?: CheckpointFormat;
}

export class DynamoTraceStore
  implements TraceWriter, TraceReader, Checkpointer, ClusterDirectory, ChangeFeed
{
  readonly settings: StoreSettings;
  readonly #ctx: StoreContext;
  readonly #writer: TraceWriterCore;
  readonly #reader: TraceReaderCore;
  readonly #checkpoints: Checkpoints;

  constructor(options: DynamoTraceStoreOptions) {
    this.settings = {
      shards: options.shards ?? 4,
      retentionDays: options.retentionDays ?? 14,
      concurrency: options.concurrency ?? 16,
      lateMarginSec: options.lateMarginSec ?? 600,
      maxBatchSec: options.maxBatchSec ?? 900,
      changeFeed: options.changeFeed ?? true,
      settleMs: options.settleMs ?? DEFAULT_SETTLE_MS,
      countChanges: options.countChanges ?? false,
    };
    const io = new TableIo(options.dynamo, options.tableName, {
      unprocessedRetry: new BackoffRetryStrategy(options.retry),
      ...(options.sleep ? { sleep: options.sleep } : {}),
    });
    this.#ctx = {
      io,
      bodies: new Bodies(options.blobs, options.inlineBodyLimitBytes ?? DEFAULT_INLINE_BODY_LIMIT_BYTES),
      settings: this.settings,
      specHash: options.specHash ?? specHash,
      nowSec: options.nowSec ?? (() => Math.floor(Date.now() / 1000)),
      nowMs: options.nowMs ?? Date.now,
    };
    this.#writer = new TraceWriterCore(this.#ctx, new ClusterMeta(this.#ctx));
    this.#reader = new TraceReaderCore(this.#ctx);
    this.#checkpoints = new Checkpoints(this.#ctx, options.blobs, this.#reader, options.checkpointFormat);
  }

  async applyBatch(cluster: ClusterId, batch: Batch, options: ApplyOptions): Promise<ApplyResult> {
    assertCluster(cluster);
    return this.#writer.applyBatch(cluster, batch, options);
  }

  changesBetween(
    cluster: ClusterId,
    fromTs: number,
    toTs: number,
    meter: ReadMeter = { readUnits: 0 },
  ): AsyncIterable<ObjectChange> {
    assertCluster(cluster);
    return this.#reader.changesBetween(cluster, fromTs, toTs, meter);
  }

  changeBatches(
    cluster: ClusterId,
    fromTs: number,
    toTs: number,
    meter: ReadMeter = { readUnits: 0 },
    options: ChangeReadOptions = {},
  ): AsyncIterable<ObjectChange[]> {
    assertCluster(cluster);
    return this.#reader.changeBatches(cluster, fromTs, toTs, meter, options);
  }

  /** The window's raw event pages, read as changeBatches reads them, undecoded (the benchmark's read floor). */
  rawEventPages(
    cluster: ClusterId,
    fromTs: number,
    toTs: number,
    meter: ReadMeter = { readUnits: 0 },
  ): AsyncIterable<unknown[]> {
    assertCluster(cluster);
    return this.#reader.rawEventPages(cluster, fromTs, toTs, meter);
  }

  async liveAt(
    cluster: ClusterId,
    atTs: number,
    meter: ReadMeter = { readUnits: 0 },
    options: ChangeReadOptions = {},
  ): Promise<LiveSet> {
    assertCluster(cluster);
    return this.#checkpoints.liveAt(cluster, atTs, meter, options);
  }

  lifecycles(
    cluster: ClusterId,
    window?: TraceWindow,
    meter: ReadMeter = { readUnits: 0 },
  ): AsyncIterable<StoredOwnerLifecycles> {
    assertCluster(cluster);
    return this.#reader.lifecycles(cluster, window, meter);
  }

  lifecyclesOf(
    cluster: ClusterId,
    owners: ObjectRef[],
    meter: ReadMeter = { readUnits: 0 },
  ): AsyncIterable<StoredOwnerLifecycles> {
    assertCluster(cluster);
    return this.#reader.lifecyclesOf(cluster, owners, meter);
  }

  async estimateChanges(
    cluster: ClusterId,
    window: TraceWindow,
    meter: ReadMeter = { readUnits: 0 },
  ): Promise<number> {
    assertCluster(cluster);
    return this.#reader.estimateChanges(cluster, window, meter);
  }

  async configAt(
    cluster: ClusterId,
    atTs: number,
    meter: ReadMeter = { readUnits: 0 },
  ): Promise<StoredConfig | undefined> {
    assertCluster(cluster);
    return this.#reader.configAt(cluster, atTs, meter);
  }

  async retentionHorizon(cluster: ClusterId, meter: ReadMeter = { readUnits: 0 }): Promise<RetentionHorizon> {
    assertCluster(cluster);
    return readHorizon(this.#ctx, cluster, meter);
  }

  async writeCheckpoint(cluster: ClusterId, options: { nowSec: number }): Promise<CheckpointInfo> {
    assertCluster(cluster);
    return this.#checkpoints.writeCheckpoint(cluster, options);
  }

  async latestCheckpointAtOrBefore(
    cluster: ClusterId,
    atTs: number,
    meter: ReadMeter = { readUnits: 0 },
  ): Promise<CheckpointInfo | undefined> {
    assertCluster(cluster);
    return this.#checkpoints.latestCheckpointAtOrBefore(cluster, atTs, meter);
  }

  async changesAfter(
    cluster: ClusterId,
    after: string | undefined,
    query: FeedQuery,
    meter: ReadMeter = { readUnits: 0 },
  ): Promise<FeedPage> {
    assertCluster(cluster);
    const afterSk = parseCursor(after, this.#ctx.nowMs(), this.settings.settleMs);
    return readFeed(this.#ctx, cluster, afterSk, query, meter);
  }

  async listClusters(meter: ReadMeter = { readUnits: 0 }): Promise<ClusterId[]> {
    return readClusters(this.#ctx, meter);
  }
}
