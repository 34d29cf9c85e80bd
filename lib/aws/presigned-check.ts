/**
 * Checks a presigned S3 GET URL the way S3 would, for the local stack's gateway: s3rver serves
 * any request, signed or not, so `sktrace serve` verifies the URLs it hands out before passing
 * a download on. The URL is signed again with the same client (same credentials and endpoint),
 * key, date and lifetime (getSignedUrl's `signingDate`), and the two signatures must be equal;
 * the URL must not have expired (SigV4 query auth: X-Amz-Date + X-Amz-Expires).
 */
import { timingSafeEqual } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

/** `20240101T000000Z` → epoch ms, or undefined. */
function amzDateMs(value: string | null): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value ?? '');
  if (!m) return undefined;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

export async function isValidPresignedGet(
  client: S3Client,
  bucket: string,
  url: URL,
  nowMs: number,
): Promise<boolean> {
  const q = url.searchParams;
  const dateMs = amzDateMs(q.get('X-Amz-Date'));
  const expiresSec = Number(q.get('X-Amz-Expires'));
  const signature = q.get('X-Amz-Signature') ?? '';
  if (dateMs === undefined || !Number.isSafeInteger(expiresSec) || expiresSec <= 0) return false;
  if (nowMs > dateMs + expiresSec * 1000) return false;
  const prefix = `/${bucket}/`;
  if (!url.pathname.startsWith(prefix)) return false;
  const key = decodeURIComponent(url.pathname.slice(prefix.length));
  const expected = new URL(
    await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), {
      expiresIn: expiresSec,
      signingDate: new Date(dateMs),
    }),
  ).searchParams.get('X-Amz-Signature');
  if (!expected || expected.length !== signature.length) return false;
  return timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
}
