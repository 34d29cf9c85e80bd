/**
 * The live-set replay's reads (checkpoints.ts `liveAt`): the changes after a checkpoint, in the
 * export's order, with their bodies left as stored. Only each object's last version before the
 * window counts for the start state, and with a busy cluster most replayed changes are superseded
 * (1,000,000 changes an hour over 5,000 objects: ~417,000 in the checkpoint's 25-minute margin,
 * 5,000 of them last versions), so bodies are decoded — inflated and parsed, or downloaded from
 * the blob store — for the last versions alone, once the replay is over (docs/benchmarks.md
 * "export": decoding was ~12 µs of the ~40 µs each replayed change cost).
 */
import { decodeBody, transcodeObjectBody } from '../../store/body-codec.ts';
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

/** Blob bodies downloaded at once when the last versions are decoded. */
const BLOB_LOADS = 16;

/**
 * The live set's entries as changes, in the map's order: checkpoint objects as they are, stored
 * versions (all `applied`: a deletion removes its object from the map) decoded now — an inline body
 * transcoded with `plan` when it can be, as the window's changes are (reader.ts `changeOf`; a blob
 * body is downloaded and decoded, as there).
 */
export async function decodeLive(
  live: ReadonlyMap<string, ObjectChange | StoredVersion>,
  cluster: ClusterId,
  bodies: Bodies,
  plan?: CapturePlan,
): Promise<ObjectChange[]> {
  const out: ObjectChange[] = new Array(live.size);
  const blobs: { at: number; v: StoredVersion }[] = [];
  let at = 0;
  for (const entry of live.values()) {
    if (!('body' in entry)) out[at] = entry;
    else if (entry.body.bytes !== undefined) {
      const transcoded = plan && transcodeObjectBody(entry.body.bytes, entry.body.enc, plan);
      const payload = transcoded || payloadOf(decodeBody(entry.body.bytes, entry.body.enc), cluster);
      out[at] = { ts: entry.ts, type: entry.type, object: payload.o, owners: payload.w };
    } else blobs.push({ at, v: entry });
    at++;
  }
  await forEachLimit(blobs, BLOB_LOADS, async ({ at, v }) => {
    const payload = await bodies.loadPayload(cluster, v.body);
    out[at] = { ts: v.ts, type: v.type, object: payload.o, owners: payload.w };
  });
  return out;
}
