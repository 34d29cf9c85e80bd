/**
 * Bodies in and out of items: compressed inline when they fit, otherwise in the blob store under
 * their content hash, the item keeping the reference. A large object is never dropped: the blob is
 * written before the item that names it, so a retry after a partial failure finds it or rewrites it.
 */
import { CURRENT_ENCODING, decodeBody, encodeBody, sha256Hex } from '../../store/body-codec.ts';
import { StoreError } from '../../store/errors.ts';
import { bodyBlobKey } from '../../store/keys.ts';
import type { BlobStore, ClusterId } from '../../store/ports.ts';
import type { KubeObject, ObjectRef } from '../../trace/model.ts';
import type { StoredBody } from './items.ts';

/** What an event or state item's body holds: the object and the owner chain its sender resolved. */
export interface ObjectPayload {
  o: KubeObject;
  w: ObjectRef[];
}

/**
 * Whether a checkpoint run at `nowSec` should write back (touch) the blob of a live object whose
 * last change was at `changeTs`. Every change re-puts its body (`store`), so a blob is never older
 * than the newest change naming it, and the bucket expires `bodies/` RetentionDays after the last
 * put (template.yaml), when every event naming it has expired too. Only a live object's state item
 * can name a blob for longer, and hourly checkpoints read every live state: they write such a blob
 * back twice a day, in the hour its age (from the change's ts, at most 300 s of skew younger than
 * the put) crosses a multiple of 12 hours, so it stays younger than a day — the shortest
 * RetentionDays — unless checkpoints fail for half a day (CheckpointFailuresAlarm pages first).
 * Live objects' bodies never expire; bodies no item names any more go by the lifecycle rule.
 */
export const BODY_REFRESH_EVERY_SEC = 12 * 3600;
export function refreshDue(changeTs: number, nowSec: number): boolean {
  const ageSec = nowSec - changeTs;
  return ageSec >= BODY_REFRESH_EVERY_SEC && ageSec % BODY_REFRESH_EVERY_SEC < 3600;
}

/**
 * DynamoDB's item limit is 400 KB (names and values together); bodies above this go to S3, leaving
 * room for keys and attributes. Tests lower it to exercise the blob path with small objects.
 */
export const DEFAULT_INLINE_BODY_LIMIT_BYTES = 350 * 1024;

export class Bodies {
  readonly #blobs: BlobStore;
  readonly #inlineLimitBytes: number;

  constructor(blobs: BlobStore, inlineLimitBytes = DEFAULT_INLINE_BODY_LIMIT_BYTES) {
    this.#blobs = blobs;
    this.#inlineLimitBytes = inlineLimitBytes;
  }

  async store(cluster: ClusterId, value: unknown): Promise<StoredBody> {
    const bytes = encodeBody(value);
    if (bytes.byteLength <= this.#inlineLimitBytes) return { enc: CURRENT_ENCODING, bytes };
    const ref = sha256Hex(bytes);
    await this.#blobs.put(bodyBlobKey(cluster, ref), bytes);
    return { enc: CURRENT_ENCODING, ref };
  }

  /**
   * The body's value. With `touch`, a blob is written back as read (same key, same bytes), which
   * restarts its age for the bucket's `bodies/` expiry: how a live object's body outlives that
   * expiry however long the object goes unchanged (see refreshDue).
   */
  async load(cluster: ClusterId, body: StoredBody, options: { touch?: boolean } = {}): Promise<unknown> {
    if (body.bytes !== undefined) return decodeBody(body.bytes, body.enc);
    const key = bodyBlobKey(cluster, body.ref ?? '');
    const bytes = await this.#blobs.get(key);
    if (bytes === undefined) {
      throw new StoreError('store_blob_missing', `stored body ${key} is missing from the blob store`, {
        key,
      });
    }
    if (sha256Hex(bytes) !== body.ref) {
      throw new StoreError('store_corrupt_item', `stored body ${key} does not match its content hash`, {
        key,
      });
    }
    if (options.touch) await this.#blobs.put(key, bytes);
    return decodeBody(bytes, body.enc);
  }

  async loadPayload(
    cluster: ClusterId,
    body: StoredBody,
    options: { touch?: boolean } = {},
  ): Promise<ObjectPayload> {
    return payloadOf(await this.load(cluster, body, options), cluster);
  }
}

/** A decoded object body, checked to be `{o, w}`. */
export function payloadOf(decoded: unknown, cluster: ClusterId): ObjectPayload {
  const value = decoded as Partial<ObjectPayload> | null;
  if (!value || typeof value !== 'object' || !value.o || !Array.isArray(value.w)) {
    throw new StoreError('store_corrupt_item', 'a stored object body is not {o, w}', { cluster });
  }
  return value as ObjectPayload;
}
