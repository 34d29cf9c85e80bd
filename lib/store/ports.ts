/**
 * The store's ports: what the ingest and export functions need from storage, independent of
 * DynamoDB. Adapters live in `lib/aws/` (DynamoTraceStore, S3BlobStore, …).
 */
import type { Batch, BatchResult } from '../ingest/wire.ts';

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
