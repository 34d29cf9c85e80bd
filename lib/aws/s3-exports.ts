/**
 * Exported traces in S3, handed out as presigned GET URLs.
 *
 * - Upload: one PutObject up to `multipartThresholdBytes`, else a multipart upload in parts of
 *   `partBytes` (S3: parts of 5 MiB to 5 GiB, at most 10,000; a single PUT takes up to 5 GiB, but
 *   a failed part is retried alone, which matters on a slow link). A failed multipart upload is
 *   aborted so no parts linger (the bucket's lifecycle rule for incomplete uploads is the backstop).
 * - Presign: a SigV4 query-string signature for GetObject of exactly that key (the signature
 *   covers method, bucket and key, so the URL opens nothing else), valid `ttlSec` seconds (SigV4
 *   caps it at 7 days). A URL signed with temporary credentials — a Lambda role's — stops working
 *   when that session ends, whatever its `X-Amz-Expires` says: URLs from the exports function live
 *   at most as long as the function's role session (up to 12 h, often ~1 h left). Presigning on
 *   each GET gives a fresh URL from fresh credentials every time.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ExportObjectStore, ExportUpload } from '../export/ports.ts';
import { toStoreError } from './errors.ts';

const MIB = 1024 * 1024;

/**
 * Trace bodies (PutObject, UploadPart) are signed with `UNSIGNED-PAYLOAD` as their payload hash:
 * S3 takes that literal string in the canonical request and as the `x-amz-content-sha256` header of
 * a header-signed request ("Unsigned payload option", https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html),
 * and the signer uses a hash the request already carries (@smithy/signature-v4 getPayloadHash)
 * instead of reading the body. It read the whole body for its SHA-256 before sending it: ~8 ms of
 * a 12.8 MB put on the export's one thread (docs/benchmarks.md "export"). The body's integrity is
 * still checked by S3: the SDK sends its CRC32 (flexible checksums, `x-amz-checksum-crc32`), which
 * S3 verifies before it stores anything, and the connection is TLS.
 */
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/** The part of a command's middleware stack used here (the SDK's types live in a transitive package). */
interface BuildStack {
  add(
    middleware: (
      next: (args: { request: unknown }) => Promise<unknown>,
    ) => (args: { request: unknown }) => Promise<unknown>,
    options: { step: 'build'; name: string },
  ): void;
}

/** `command`, its request sent with an unsigned payload hash (the build step runs before signing). */
function unsignedPayload<C extends PutObjectCommand | UploadPartCommand>(command: C): C {
  (command.middlewareStack as unknown as BuildStack).add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers['x-amz-content-sha256'] = UNSIGNED_PAYLOAD;
      return next(args);
    },
    { step: 'build', name: 'sktraceUnsignedPayload' },
  );
  return command;
}
/** SigV4's longest presigned validity. */
export const MAX_PRESIGN_TTL_SEC = 7 * 24 * 3600;

export interface S3ExportObjectsOptions {
  /** Client for uploads. */
  s3: S3Client;
  /** Client for presigning, when URLs must name another endpoint than uploads use (local stack). */
  presignS3?: S3Client;
  bucket: string;
  multipartThresholdBytes?: number;
  partBytes?: number;
}

export class S3ExportObjects implements ExportObjectStore {
  readonly #s3: S3Client;
  readonly #presignS3: S3Client;
  readonly #bucket: string;
  readonly #threshold: number;
  readonly #partBytes: number;

  constructor(options: S3ExportObjectsOptions) {
    this.#s3 = options.s3;
    this.#presignS3 = options.presignS3 ?? options.s3;
    this.#bucket = options.bucket;
    this.#partBytes = Math.max(5 * MIB, options.partBytes ?? 8 * MIB);
    this.#threshold = Math.max(this.#partBytes, options.multipartThresholdBytes ?? 16 * MIB);
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const common = this.#common(key);
    if (bytes.length <= this.#threshold) {
      await this.#send('PutObject', key, () =>
        this.#s3.send(unsignedPayload(new PutObjectCommand({ ...common, Body: bytes }))),
      );
      return;
    }
    const upload = await this.startUpload(key);
    try {
      const parts: Promise<void>[] = [];
      for (let at = 0, n = 1; at < bytes.length; at += this.#partBytes, n++) {
        parts.push(upload.uploadPart(n, bytes.subarray(at, Math.min(bytes.length, at + this.#partBytes))));
        if (parts.length >= 2) await parts.shift();
      }
      await Promise.all(parts);
      await upload.complete();
    } catch (err) {
      await upload.abort();
      throw err;
    }
  }

  async startUpload(key: string): Promise<ExportUpload> {
    const created = await this.#send('CreateMultipartUpload', key, () =>
      this.#s3.send(new CreateMultipartUploadCommand(this.#common(key))),
    );
    const uploadId = created.UploadId!;
    const ref = { Bucket: this.#bucket, Key: key, UploadId: uploadId };
    const etags = new Map<number, string>();
    return {
      uploadPart: async (partNumber, body) => {
        const out = await this.#send('UploadPart', key, () =>
          this.#s3.send(
            unsignedPayload(new UploadPartCommand({ ...ref, PartNumber: partNumber, Body: body })),
          ),
        );
        etags.set(partNumber, out.ETag!);
      },
      complete: async () => {
        // S3 wants the parts listed in ascending order, whatever order they were uploaded in.
        const parts = [...etags]
          .sort(([a], [b]) => a - b)
          .map(([PartNumber, ETag]) => ({ PartNumber, ETag }));
        await this.#send('CompleteMultipartUpload', key, () =>
          this.#s3.send(new CompleteMultipartUploadCommand({ ...ref, MultipartUpload: { Parts: parts } })),
        );
      },
      abort: async () => {
        await this.#s3.send(new AbortMultipartUploadCommand(ref)).catch(() => undefined);
      },
    };
  }

  #common(key: string) {
    return {
      Bucket: this.#bucket,
      Key: key,
      ContentType: 'application/octet-stream',
      ContentDisposition: `attachment; filename="${key.split('/').at(-1)}"`,
    };
  }

  async presign(key: string, ttlSec: number): Promise<string> {
    const expiresIn = Math.max(1, Math.min(MAX_PRESIGN_TTL_SEC, Math.floor(ttlSec)));
    return this.#send('presign GetObject', key, () =>
      getSignedUrl(this.#presignS3, new GetObjectCommand({ Bucket: this.#bucket, Key: key }), { expiresIn }),
    );
  }

  async #send<T>(operation: string, key: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw toStoreError(err, { operation: `S3 ${operation}`, bucket: this.#bucket, key });
    }
  }
}
