/**
 * The store's ports: what the ingest and export functions need from storage, independent of
 * DynamoDB. Adapters live in `lib/aws/` (DynamoTraceStore, S3BlobStore, …).
 */
import type { Batch, BatchResult } from '../ingest/wire.ts';
import type { Lifecycle, ObjectChange, ObjectRef, TraceConfigDoc, TraceWindow } from '../trace/model.ts';
import type { CapturePlan } from './json-msgpack.ts';

/** Clusters are named by the path segment `{cluster}`; every key in storage is scoped by it. */
export type ClusterId = string;

export interface ApplyOptions {
  /** Ingest time, unix seconds; retention counts from the later of event time and this. */
  nowSec: number;
}

/** Writes of the ingest side. A batch must already be validated (lib/ingest/validate.ts). */
export interface TraceWriter {
  /**
   * Applies a batch idempotently: applying it again (whole, after any partial failure) leaves
   * exactly the same items. Throws SktraceError code `store_throttled` (maps to 429) or
   * `store_unavailable` (maps to 503) when retries inside the adapter are exhausted.
   */
  applyBatch(cluster: ClusterId, batch: Batch, options: ApplyOptions): Promise<ApplyResult>;
}

/** What a batch did, plus the DynamoDB capacity it consumed (from ReturnConsumedCapacity), for cost logs. */
export interface ApplyResult extends BatchResult {
  writeUnits: number;
  readUnits: number;
}

/** A bearer token's stored record: only the hash of the token is ever stored. */
export interface TokenRecord {
  cluster: ClusterId;
  tokenId: string;
  /** hex SHA-256 of the token. */
  tokenHash: string;
  createdAtSec: number;
  description?: string;
}

export interface TokenStore {
  put(record: TokenRecord): Promise<void>;
  /** Looks a token up by its hash, across clusters (so a token of another cluster is a 403, not a 401). */
  findByHash(tokenHash: string): Promise<TokenRecord | undefined>;
  list(cluster: ClusterId): Promise<TokenRecord[]>;
  revoke(cluster: ClusterId, tokenId: string): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------
// Read side (export, issue 4) and the store's supporting ports. Added by the store (D1); see
// docs/storage.md for the items behind each call.

/**
 * Read capacity a read consumed, from DynamoDB's ReturnConsumedCapacity. Reads are streamed, so
 * the caller passes a meter and the store adds to it as pages arrive.
 */
export interface ReadMeter {
  readUnits: number;
}

/** The lifecycles of one owner's pods with one stable pod-spec hash, in launch order. */
export interface StoredOwnerLifecycles {
  owner: ObjectRef;
  podSpecHash: bigint;
  lifecycles: Lifecycle[];
}

/** The tracer config doc in force at some time, and when it was posted. */
export interface StoredConfig {
  ts: number;
  config: TraceConfigDoc;
}

/**
 * How far back a cluster's history is complete. `horizonTs` is the oldest second from which every
 * change is still stored (expiry by retention may have removed older ones); undefined when the
 * cluster has no history yet. `firstTs` is the oldest change ever ingested.
 */
export interface RetentionHorizon {
  firstTs?: number;
  horizonTs?: number;
}

/** The objects alive at a time, each as its latest applied version before that time. */
export interface LiveSet {
  atTs: number;
  /** Applied changes, one per live object, any order. */
  objects: ObjectChange[];
  /**
   * False when part of the history this live set is built from has expired (the start state
   * would silently lack objects): callers must refuse or say so.
   */
  complete: boolean;
  /** The checkpoint it started from, if any (else it replayed from the cluster's first change). */
  checkpointTs?: number;
}

/** A checkpoint's description (its body lives in the blob store). */
export interface CheckpointInfo {
  cluster: ClusterId;
  /** Usable for live sets at any `atTs >= validFromTs`. */
  validFromTs: number;
  /** Replay changes from this second on (per object, only those newer than its entry). */
  replayFromTs: number;
  objects: number;
  blobKey: string;
}

export interface ChangeReadOptions {
  /**
   * Objects transcoded (lib/store/json-msgpack.ts): with a plan, a store may hand out each stored
   * object as an `EncodedObject` holding its trace bytes and only the plan's parts
   * (lib/trace/encoded-object.ts). A promise: the plan depends on the config, read while the
   * first pages are on their way; undefined means plain objects.
   */
  encodedObjects?: Promise<CapturePlan | undefined>;
}

export interface TraceReader {
  /** Changes with `fromTs <= ts < toTs`, in ts order (within a second: seq, then GVK and nsName), page by page. */
  changesBetween(
    cluster: ClusterId,
    fromTs: number,
    toTs: number,
    meter?: ReadMeter,
  ): AsyncIterable<ObjectChange>;
  /** changesBetween in batches, when the store can (saves an await per change on large windows). */
  changeBatches?(
    cluster: ClusterId,
    fromTs: number,
    toTs: number,
    meter?: ReadMeter,
    options?: ChangeReadOptions,
  ): AsyncIterable<ObjectChange[]>;
  /**
   * The objects alive at `atTs` (after every change with ts < atTs), from a checkpoint plus the
   * changes after it; with `encodedObjects`, as changeBatches hands out the window's (the export's
   * start state: docs/storage.md "Bodies").
   */
  liveAt(cluster: ClusterId, atTs: number, meter?: ReadMeter, options?: ChangeReadOptions): Promise<LiveSet>;
  /**
   * Stored lifecycles, grouped by owner then pod-spec hash; `window` keeps those overlapping it
   * (a store with `lifecyclesOf` reads only those: docs/storage.md "Lifecycles by window").
   */
  lifecycles(
    cluster: ClusterId,
    window?: TraceWindow,
    meter?: ReadMeter,
  ): AsyncIterable<StoredOwnerLifecycles>;
  /** Every stored lifecycle of these owners (bare pods alive at a window's start), grouped as `lifecycles`. */
  lifecyclesOf?(
    cluster: ClusterId,
    owners: ObjectRef[],
    meter?: ReadMeter,
  ): AsyncIterable<StoredOwnerLifecycles>;
  /** About how many changes were posted for the window (for sizing an export up front), when the store counts them. */
  estimateChanges?(cluster: ClusterId, window: TraceWindow, meter?: ReadMeter): Promise<number>;
  /** The config doc in force at `atTs` (the latest posted at or before it). */
  configAt(cluster: ClusterId, atTs: number, meter?: ReadMeter): Promise<StoredConfig | undefined>;
  retentionHorizon(cluster: ClusterId, meter?: ReadMeter): Promise<RetentionHorizon>;
}

/** Checkpoints of the live set, so a live set reads one checkpoint plus the changes after it. */
export interface Checkpointer {
  /** Snapshots the current live set (all kinds) of `cluster`; run periodically (e.g. hourly). */
  writeCheckpoint(cluster: ClusterId, options: { nowSec: number }): Promise<CheckpointInfo>;
  /** The newest checkpoint usable for a live set at `atTs` (validFromTs <= atTs, not invalidated by late changes). */
  latestCheckpointAtOrBefore(
    cluster: ClusterId,
    atTs: number,
    meter?: ReadMeter,
  ): Promise<CheckpointInfo | undefined>;
}

/** Content-addressed bytes (bodies too large for an item, checkpoints), e.g. S3. */
export interface BlobStore {
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** Undefined when no blob has that key. */
  get(key: string): Promise<Uint8Array | undefined>;
}

/**
 * The clusters the store has data for, so scheduled work (hourly checkpoints) needs no list of
 * its own. A cluster is recorded with its first batch, once (docs/storage.md "Cluster registry").
 */
export interface ClusterDirectory {
  /** Every cluster that has sent a batch, by id (lexical order). */
  listClusters(meter?: ReadMeter): Promise<ClusterId[]>;
}

/** One change as the change feed delivers it (GET /v1/clusters/{cluster}/changes). */
export interface FeedChange {
  ts: number;
  type: 'applied' | 'deleted';
  gvk: string;
  nsName: string;
  /** The sender's order within the second; (ts, gvk, nsName, seq) identifies the change. */
  seq: number;
  object: ObjectChange['object'];
}

export interface FeedQuery {
  /** Stop after the feed record that reaches this many changes. */
  limit: number;
  gvk?: string;
  namespace?: string;
}

export interface FeedPage {
  changes: FeedChange[];
  /** Feed sort key to continue after (lib/store/feed.ts `formatCursor` makes the API's cursor). */
  cursorSk: string;
  /** Every record a reader may follow yet was read. */
  caughtUp: boolean;
}

/** The order in which changes landed (lib/store/feed.ts): what `sktrace tail` follows. */
export interface ChangeFeed {
  /** `after`: a cursor from an earlier page, `now`, or undefined (= now). Throws CursorError. */
  changesAfter(
    cluster: ClusterId,
    after: string | undefined,
    query: FeedQuery,
    meter?: ReadMeter,
  ): Promise<FeedPage>;
}
