/**
 * Keys of every item the trace store writes in its one DynamoDB table (`pk`/`sk`, both strings).
 * docs/storage.md explains each item type. Every key starts with its item type and the cluster, so
 * clusters never share a partition and one cluster's reads never see another's items.
 *
 * Separators: `#` inside partition keys (neither a cluster id nor a GVK can hold one), a space
 * inside sort keys that carry a GVK or nsName (validation refuses whitespace in names, and a space
 * sorts below every other character allowed, so the items of one object or owner are contiguous).
 */
import { isValidClusterId } from '../ingest/names.ts';
import type { Gvk, NsName } from '../trace/model.ts';
import { InvalidClusterError, StoreError } from './errors.ts';
import type { ClusterId } from './ports.ts';

/** Width of a zero-padded unix-seconds sort key: lexical order is numeric order up to year 2286. */
const TS_WIDTH = 10;
const MAX_TS = 9_999_999_999;
/** u64 as a fixed-width decimal (20 digits), so hashes sort numerically too. */
const U64_WIDTH = 20;

/** Seconds per time bucket of the event index: a 30-minute export window touches one or two. */
export const BUCKET_SEC = 3600;

export function assertCluster(cluster: unknown): asserts cluster is ClusterId {
  if (!isValidClusterId(cluster)) throw new InvalidClusterError(cluster);
}

export function padTs(ts: number): string {
  if (!Number.isSafeInteger(ts) || ts < 0 || ts > MAX_TS) {
    throw new StoreError('invalid_ts', `timestamp ${ts} is not unix seconds between 0 and ${MAX_TS}`, { ts });
  }
  return String(ts).padStart(TS_WIDTH, '0');
}

export function padU64(value: bigint): string {
  return value.toString().padStart(U64_WIDTH, '0');
}

export function bucketOf(ts: number): number {
  return Math.floor(ts / BUCKET_SEC) * BUCKET_SEC;
}

/**
 * Shard of an object (or lifecycle owner) among `shards` partitions: FNV-1a of kind and name, so
 * all items of one object land in one partition (its per-second slot is one item) while a busy
 * cluster's writes spread over `shards` partitions (one partition takes ~1,000 WCU/s).
 */
export function shardOf(gvk: Gvk, nsName: NsName, shards: number): number {
  let h = 0x811c9dc5;
  const s = `${gvk} ${nsName}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
}

// Event items: one per object per second, in the time-bucketed, sharded partitions.
export function eventPk(cluster: ClusterId, bucketStartSec: number, shard: number): string {
  return `EV#${cluster}#${bucketStartSec}#${shard}`;
}
export function eventSk(ts: number, gvk: Gvk, nsName: NsName): string {
  return `${padTs(ts)} ${gvk} ${nsName}`;
}
export function parseEventSk(sk: string): { ts: number; gvk: Gvk; nsName: NsName } {
  const gvkEnd = sk.indexOf(' ', TS_WIDTH + 1);
  if (sk.charAt(TS_WIDTH) !== ' ' || gvkEnd < 0) {
    throw new StoreError('store_corrupt_item', `event sort key "${sk}" is not "ts gvk nsName"`, { sk });
  }
  return {
    ts: Number(sk.slice(0, TS_WIDTH)),
    gvk: sk.slice(TS_WIDTH + 1, gvkEnd),
    nsName: sk.slice(gvkEnd + 1),
  };
}
/**
 * Sort-key bounds of the seconds `[fromTs, toTs)`: every event sk of second t is `t + ' ' + …`, and
 * `'!'` is the character right after the space, so `pad(toTs - 1) + '!'` is above all of them.
 */
export function eventSkRange(fromTs: number, toTs: number): { lo: string; hi: string } {
  return { lo: padTs(fromTs), hi: `${padTs(toTs - 1)}!` };
}

// Object state items: one per object, in one partition per kind, sorted by nsName (relist pages
// reconcile a range of nsNames with one Query).
export function statePk(cluster: ClusterId, gvk: Gvk): string {
  return `OBJ#${cluster}#${gvk}`;
}

// Lifecycle items: one per pod incarnation (pod id + start: a StatefulSet pod recreated under the
// same name is a new lifecycle, as in SimKube's tracer), in sharded partitions, sorted by owner,
// pod-spec hash, pod, start.
export function lifecyclePk(cluster: ClusterId, shard: number): string {
  return `LC#${cluster}#${shard}`;
}
export function lifecycleSk(
  ownerGvk: Gvk,
  ownerNsName: NsName,
  podSpecHash: bigint,
  pod: string,
  startTs: number,
): string {
  return `${ownerGvk} ${ownerNsName} ${padU64(podSpecHash)} ${pod} ${padTs(startTs)}`;
}
export function parseLifecycleSk(sk: string): {
  gvk: Gvk;
  nsName: NsName;
  podSpecHash: bigint;
  pod: string;
  startTs: number;
} {
  const a = sk.indexOf(' ');
  const b = a < 0 ? -1 : sk.indexOf(' ', a + 1);
  const c = b < 0 ? -1 : b + 1 + U64_WIDTH;
  const d = sk.lastIndexOf(' ');
  if (a < 0 || b < 0 || sk.charAt(c) !== ' ' || d <= c + 1 || !/^\d+$/.test(sk.slice(d + 1))) {
    throw new StoreError(
      'store_corrupt_item',
      `lifecycle sort key "${sk}" is not "gvk nsName hash pod start"`,
      { sk },
    );
  }
  return {
    gvk: sk.slice(0, a),
    nsName: sk.slice(a + 1, b),
    podSpecHash: BigInt(sk.slice(b + 1, c)),
    pod: sk.slice(c + 1, d),
    startTs: Number(sk.slice(d + 1)),
  };
}

// Finished lifecycles by the hour they ended (the window index of lifecycles): one item per
// finished incarnation, in the partition of its end hour, sorted by start, so the lifecycles
// overlapping a window [S, E) that have finished are in the end-hour partitions from S's hour to
// (E − 1 + the longest lifecycle's duration)'s, each read only up to start < E (a key condition:
// read units follow the lifecycles returned, not the partition). Running ones are in the
// running-lifecycle index. docs/storage.md "Lifecycles by window".
export function lifecycleEndPk(cluster: ClusterId, endHourStart: number): string {
  return `LCE#${cluster}#${endHourStart}`;
}
export function lifecycleEndSk(
  startTs: number,
  ownerGvk: Gvk,
  ownerNsName: NsName,
  podSpecHash: bigint,
  pod: string,
): string {
  return `${padTs(startTs)} ${ownerGvk} ${ownerNsName} ${padU64(podSpecHash)} ${pod}`;
}
/**
 * Metadata: the changes posted for one hour bucket (an estimate: counted per batch sent, written
 * at most once a minute per container), so an export request can be sized before it runs.
 */
export function metaChangeCountSk(hourStart: number): string {
  return `N#${padTs(hourStart)}`;
}
/** Metadata: since when (ingest second) this cluster's finished lifecycles have end-hour items, and the longest duration. */
export const META_LIFECYCLE_LAYOUT_SK = 'LCLAYOUT';

// Running-lifecycle index: one item per running lifecycle, in one partition per cluster, sorted
// by pod id, so a pods relist page (`lifecycles: true`) finds the running lifecycles of its range
// with one Query. Written with the Running lifecycle, deleted with its Finished one.
export function runningLifecyclePk(cluster: ClusterId): string {
  return `RUNLC#${cluster}`;
}
export function runningLifecycleSk(
  pod: string,
  ownerGvk: Gvk,
  ownerNsName: NsName,
  podSpecHash: bigint,
): string {
  return `${pod} ${ownerGvk} ${ownerNsName} ${padU64(podSpecHash)}`;
}

// Config items: history by ts, plus the latest (never expires: a config stays in force until replaced).
export function configPk(cluster: ClusterId): string {
  return `CFG#${cluster}`;
}
export const CONFIG_LATEST_SK = 'LATEST';

// Per-cluster metadata: first ts, expiry watermarks, known kinds, late batches.
export function metaPk(cluster: ClusterId): string {
  return `META#${cluster}`;
}
export const META_FIRST_SK = 'FIRST';
export function metaExpirySk(expiryBucketSec: number): string {
  return `EXP#${padTs(expiryBucketSec)}`;
}
export function metaKindSk(gvk: Gvk): string {
  return `KIND#${gvk}`;
}
export function metaLateSk(ingestSec: number, minTs: number): string {
  return `LATE#${padTs(ingestSec)}#${padTs(minTs)}`;
}

// Checkpoint items: one per checkpoint, sorted by the first second they are valid for.
export function checkpointPk(cluster: ClusterId): string {
  return `CKPT#${cluster}`;
}

// Blobs (S3): content-addressed bodies, and checkpoints.
export function bodyBlobKey(cluster: ClusterId, sha256Hex: string): string {
  return `bodies/${cluster}/${sha256Hex}`;
}
export function checkpointBlobKey(cluster: ClusterId, validFromTs: number, sha256Hex: string): string {
  return `checkpoints/${cluster}/${padTs(validFromTs)}-${sha256Hex.slice(0, 16)}`;
}
