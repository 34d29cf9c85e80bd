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

  async load(cluster: ClusterId, body: StoredBody): Promise<unknown> {
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
    return decodeBody(bytes, body.enc);
  }

  async loadPayload(cluster: ClusterId, body: StoredBody): Promise<ObjectPayload> {
    return payloadOf(await this.load(cluster, body), cluster);
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
