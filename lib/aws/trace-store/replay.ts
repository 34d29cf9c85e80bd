/**
 * The live-set replay's reads (checkpoints.ts `liveAt`): the changes after a checkpoint, in the
 * export's order, with their bodies left as stored. Only each object's last version before the
 * window counts for the start state, and with a busy cluster most replayed changes are superseded
 * (1,000,000 changes an hour over 5,000 objects: ~417,000 in the checkpoint's 25-minute margin,
 * 5,000 of them last versions), so bodies are decoded — inflated and parsed, or downloaded from
 * the blob store — for the last versions alone, once the replay is over (docs/benchmarks.md
 * "export": decoding was ~12 µs of the ~40 µs each replayed change cost).
 */
import { createHash } from 'node:crypto';
import { type CheckpointObject, decodeBody, transcodeObjectBody } from '../../store/body-codec.ts';
import { DIGEST_BYTES } from '../../store/checkpoint-body.ts';
import type { CapturePlan } from '../../store/json-msgpack.ts';
import { forEachLimit } from '../../store/merge.ts';
import type { ClusterId } from '../../store/ports.ts';
import type { ObjectChange } from '../../trace/model.ts';
import { type Bodies, payloadOf } from './bodies.ts';
import type { Item } from './io.ts';
import { parseEventItem, type StoredBody } from './items.ts';
import { mergedSeconds } from './merge-seconds.ts';
import type { PagePrefetch } from './prefetch.ts';

/** A stored change with its body not decoded: what the replay keeps per object until the end. */
export interface StoredVersion {
  ts: number;
  seq: number;
  gvk: string;
  nsName: string;
  type: ObjectChange['type'];
  body: StoredBody;
}

/** Event items to stored versions: key fields parsed, bodies untouched (no blob download started). */
export function storedVersionsOf(items: Item[]): StoredVersion[] {
  const out: StoredVersion[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const r = parseEventItem(items[i]!);
    out[i] = { ts: r.ts, seq: r.seq, gvk: r.gvk, nsName: r.nsName, type: r.type, body: r.body };
  }
  return out;
}

/** Versions handed out per batch (one await per batch, not per change). */
const BATCH_VERSIONS = 512;

/**
 * The versions of the shards' sources merged in the order the export applies changes — by ts,
 * within a second by the sender's seq, then GVK and nsName, ties in source order — exactly as
 * `TraceReaderCore.changeBatchesWithSeq` merges them (merge-seconds.ts), bucket after bucket.
 */
export async function* mergedVersions(
  buckets: AsyncIterable<PagePrefetch<StoredVersion>[]>,
): AsyncGenerator<StoredVersion[]> {
  for await (const sources of buckets) {
    let out: StoredVersion[] = [];
    for await (const second of mergedSeconds(sources)) {
      for (const v of second) out.push(v);
      if (out.length >= BATCH_VERSIONS) {
        yield out;
        out = [];
      }
    }
    if (out.length > 0) yield out;
  }
}

/**
 * A stored body's identity for the checkpoint (lib/store/checkpoint-body.ts version 3): the first
 * 128 bits of SHA-256 over its encoding and its compressed bytes — or, for a blob body, its ref
 * (itself the SHA-256 of the compressed bytes, bodies.ts), tagged apart so an inline body's bytes
 * never hash alike with a ref. Equal digests mean equal stored bytes in the same encoding, so the
 * same object and owners: the replay then takes the checkpoint's decoded copy (`decodeLive`). The
 * same content stored another way (inline against blob, another encoding) only misses the skip.
 */
export function storedBodyDigest(body: StoredBody): Uint8Array {
  const hash = createHash('sha256').update(body.enc).update('\0');
  if (body.ref !== undefined) hash.update('r').update(body.ref);
  else hash.update('i').update(body.bytes ?? EMPTY);
  return hash.digest().subarray(0, DIGEST_BYTES);
}

const EMPTY = new Uint8Array(0);

/** Blob bodies downloaded at once when the last versions are decoded. */
const BLOB_LOADS = 16;

/**
 * The live set's entries as changes, in the map's order: checkpoint objects as they are, stored
 * versions (all `applied`: a deletion removes its object from the map) decoded now — taken from
 * `replaced` (the checkpoint's entries the replay replaced, by key) when the checkpoint holds that
 * very body (`storedBodyDigest`: in the 10× history bench ~1,500 of the margin's last versions,
 * ~96 ms of inflating and transcoding), else an inline body transcoded with `plan` when it can be,
 * as the window's changes are (reader.ts `changeOf`; a blob body is downloaded and decoded, as
 * there).
 */
export async function decodeLive(
  live: ReadonlyMap<string, CheckpointObject | StoredVersion>,
  replaced: ReadonlyMap<string, CheckpointObject>,
  cluster: ClusterId,
  bodies: Bodies,
  plan?: CapturePlan,
): Promise<ObjectChange[]> {
  const out: ObjectChange[] = new Array(live.size);
  const blobs: { at: number; v: StoredVersion }[] = [];
  let at = 0;
  for (const [key, entry] of live) {
    if (!('body' in entry)) {
      out[at] = { ts: entry.ts, type: 'applied', object: entry.o, owners: entry.w };
    } else {
      const held = replaced.get(key);
      if (held !== undefined && holds(held, entry.body)) {
        out[at] = { ts: entry.ts, type: entry.type, object: held.o, owners: held.w };
      } else if (entry.body.bytes !== undefined) {
        const transcoded = plan && transcodeObjectBody(entry.body.bytes, entry.body.enc, plan);
        const payload = transcoded || payloadOf(decodeBody(entry.body.bytes, entry.body.enc), cluster);
        out[at] = { ts: entry.ts, type: entry.type, object: payload.o, owners: payload.w };
      } else blobs.push({ at, v: entry });
    }
    at++;
  }
  await forEachLimit(blobs, BLOB_LOADS, async ({ at, v }) => {
    const payload = await bodies.loadPayload(cluster, v.body);
    out[at] = { ts: v.ts, type: v.type, object: payload.o, owners: payload.w };
  });
  return out;
}

/** Whether the checkpoint entry `held` (v3: with its body's digest) holds `body` itself. */
function holds(held: CheckpointObject, body: StoredBody): boolean {
  return held.digest !== undefined && Buffer.compare(held.digest, storedBodyDigest(body)) === 0;
}
