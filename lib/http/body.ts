/**
 * Body decoding: API Gateway base64-encodes bodies it treats as binary (gzip ones always), and
 * senders may gzip (`Content-Encoding: gzip`). Both are undone into `event.bodyBytes`, with two
 * caps: `maxBodyBytes` on the bytes as sent, and `maxDecodedBytes` on the bytes after gunzip, so
 * a small "zip bomb" cannot make the function inflate gigabytes.
 *
 * Sizes: API Gateway HTTP APIs take payloads up to 10 MB, but a synchronous Lambda invocation
 * takes at most 6 MB of event (6,291,456 bytes), and the body travels inside the event
 * base64-encoded (4/3 larger) when it is binary. 4 MiB of body is 5.33 MiB of base64, which
 * leaves room for the headers and the rest of the event: that is the default `maxBodyBytes`.
 * Compressed Kubernetes JSON shrinks 5–10×, so 32 MiB decoded covers a full 4 MiB gzip body.
 */

import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { SktraceError } from '../errors.ts';
import { type HttpMiddleware, type HttpRequest, header } from './event.ts';

const gunzipAsync = promisify(gunzip);

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_DECODED_BYTES = 32 * 1024 * 1024;

export interface BodyLimits {
  maxBodyBytes: number;
  maxDecodedBytes: number;
}

export function decodeBody(limits: BodyLimits): HttpMiddleware {
  return {
    before: async (request: HttpRequest) => {
      const { event } = request;
      const raw = event.body ?? '';
      const sent = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
      if (sent.length > limits.maxBodyBytes) {
        throw tooLarge(
          `the body is ${sent.length} bytes; at most ${limits.maxBodyBytes} are accepted: send smaller batches`,
        );
      }
      const coding = contentCoding(header(event, 'content-encoding'));
      if (coding === 'identity') {
        if (sent.length > limits.maxDecodedBytes) {
          throw tooLarge(`the body is ${sent.length} bytes; at most ${limits.maxDecodedBytes} are accepted`);
        }
        event.bodyBytes = sent;
        return;
      }
      try {
        event.bodyBytes = await gunzipAsync(sent, { maxOutputLength: limits.maxDecodedBytes });
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
          throw tooLarge(
            `the gzip body inflates past ${limits.maxDecodedBytes} bytes; send smaller batches`,
            err,
          );
        }
        throw new SktraceError(
          'invalid_encoding',
          `the body is not valid gzip although Content-Encoding says so: ${(err as Error).message}`,
          {},
          { cause: err },
        );
      }
    },
  };
}

/** `identity` or `gzip`, from a Content-Encoding header (RFC 9110 §8.4: a list, case-insensitive). */
function contentCoding(value: string | undefined): 'identity' | 'gzip' {
  const codings = (value ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return 'identity';
  // x-gzip is gzip's old alias, which RFC 9110 §8.4.1.3 says to treat alike.
  if (codings.length === 1 && (codings[0] === 'gzip' || codings[0] === 'x-gzip')) return 'gzip';
  throw new SktraceError(
    'unsupported_encoding',
    `Content-Encoding "${value}" is not supported; send the body as is or with Content-Encoding: gzip`,
    { encoding: value },
  );
}

function tooLarge(message: string, cause?: unknown): SktraceError {
  return new SktraceError('payload_too_large', message, {}, cause === undefined ? undefined : { cause });
}
