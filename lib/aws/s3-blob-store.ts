/**
 * BlobStore on S3: bodies too large for a DynamoDB item (by content hash) and checkpoints.
 * Keys are content-addressed or unique, so a put is idempotent and a retried batch rewrites the
 * same bytes. S3 lifecycle rules (template.yaml) expire `bodies/` and `checkpoints/`; re-putting a
 * body refreshes its age, so a body outlives every item that references it.
 */
import { GetObjectCommand, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { BlobStore } from '../store/ports.ts';
import { errorName, toStoreError } from './errors.ts';

export class S3BlobStore implements BlobStore {
  readonly #s3: S3Client;
  readonly #bucket: string;

  constructor(s3: S3Client, bucket: string) {
    this.#s3 = s3;
    this.#bucket = bucket;
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    try {
      await this.#s3.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: key,
          Body: bytes,
          ContentType: 'application/octet-stream',
        }),
      );
    } catch (err) {
      throw toStoreError(err, { operation: 'S3 PutObject', bucket: this.#bucket, key });
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const out = await this.#s3.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      if (!out.Body) return new Uint8Array();
      return await out.Body.transformToByteArray();
    } catch (err) {
      if (err instanceof NoSuchKey || errorName(err) === 'NoSuchKey') return undefined;
      throw toStoreError(err, { operation: 'S3 GetObject', bucket: this.#bucket, key });
    }
  }
}
