/**
 * Encoding of stored bodies (objects with their owners, config docs, checkpoints): JSON, then
 * raw DEFLATE with a preset dictionary of Kubernetes vocabulary. Measured on a typical 3.4 KB
 * Deployment (docs/storage.md): gzip 1,311 B, brotli q5 1,235 B (q11 1,101 B at ~6 ms),
 * zstd 1,357 B, deflate + dictionary 657 B at ~70 µs — the only one under the 1 KB write unit.
 * Every stored body names its encoding so a later dictionary can be added without rewriting data.
 */
import { createHash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { parseJson } from '../trace/float.ts';
import { BODY_DICTIONARY_V1 } from './body-dictionary.ts';
import { StoreError } from './errors.ts';

export type BodyEncoding = 'd1';
export const CURRENT_ENCODING: BodyEncoding = 'd1';

const DICTIONARIES: Record<BodyEncoding, Buffer> = { d1: Buffer.from(BODY_DICTIONARY_V1, 'utf8') };

export function encodeBody(value: unknown, enc: BodyEncoding = CURRENT_ENCODING): Uint8Array {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  return deflateRawSync(json, { level: 6, dictionary: DICTIONARIES[enc] });
}

export function decodeBody(bytes: Uint8Array, enc: string): unknown {
  const dictionary = DICTIONARIES[enc as BodyEncoding];
  if (!dictionary) throw new StoreError('store_corrupt_item', `unknown body encoding "${enc}"`, { enc });
  try {
    // parseJson: an integral float (`2.0`, written so by Float64.toJSON) comes back a Float64.
    return parseJson(
      inflateRawSync(bytes, { dictionary, chunkSize: inflateChunkBytes(bytes) }).toString('utf8'),
    );
  } catch (err) {
    throw new StoreError(
      'store_corrupt_item',
      `a stored body does not decode with encoding "${enc}"`,
      { enc },
      { cause: err },
    );
  }
}

/**
 * Output chunk for inflating `bytes`: zlib's default (16 KiB) is allocated per call, which for a
 * typical ~0.4 KB body (~1.5 KB of JSON) cost more than the inflating: measured 14–21 µs per body
 * with the default, 9–10 µs with 2 KiB (docs/benchmarks.md "export"). Four times the compressed
 * size covers a typical body in one chunk; larger outputs take more chunks, as before.
 */
function inflateChunkBytes(bytes: Uint8Array): number {
  return Math.min(64 * 1024, Math.max(1024, bytes.length * 4));
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
