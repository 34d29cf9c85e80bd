/** What the writer, reader and checkpointer of the DynamoDB trace store share. */
import type { Bodies } from './bodies.ts';
import type { TableIo } from './io.ts';

export interface StoreSettings {
  /** Partitions per time bucket (events) and per cluster (lifecycles); see docs/storage.md. */
  shards: number;
  retentionDays: number;
  /** Objects written in parallel within a batch (each object's own changes stay in order). */
  concurrency: number;
  /** A batch whose oldest change is older than this behind its ingest time is "late" (imports, long outages). */
  lateMarginSec: number;
  /** Upper bound on how long one batch can take to apply (Lambda's timeout), for checkpoint safety. */
  maxBatchSec: number;
  /** Whether batches write change-feed records (lib/store/feed.ts); readers follow records this old. */
  changeFeed: boolean;
  settleMs: number;
  /**
   * Keep hourly change counts (META `N#<hour>`) for sizing exports. An estimate, not idempotent (a
   * redelivered batch counts again): off by default, on in the deployed functions and `sktrace serve`.
   */
  countChanges: boolean;
}

export interface StoreContext {
  io: TableIo;
  bodies: Bodies;
  settings: StoreSettings;
  specHash: (spec: unknown) => bigint;
  nowSec: () => number;
  /** Wall clock in ms, for change-feed stamps. */
  nowMs: () => number;
}
