/**
 * Encoding of stored bodies (objects with their owners, config docs, checkpoints): JSON, then
 * raw DEFLATE with a preset dictionary of Kubernetes vocabulary. Measured on a typical 3.4 KB
 * Deployment (docs/storage.md): gzip 1,311 B, brotli q5 1,235 B (q11 1,101 B at ~6 ms),
 * zstd 1,357 B, deflate + dictionary 657 B at ~70 µs — the only one under the 1 KB write unit.
 * Every stored body names its encoding so a later dictionary can be added without rewriting data.
 */
import { createHash } from 'node:crypto';
import { constants, deflateRawSync, InflateRaw, inflateRawSync } from 'node:zlib';
import { EncodedObject } from '../trace/encoded-object.ts';
import { parseJson } from '../trace/float.ts';
import type { KubeObject, ObjectRef } from '../trace/model.ts';
import { specHashOfMsgpackObject } from '../trace/msgpack-hash.ts';
import { BODY_DICTIONARY_V1 } from './body-dictionary.ts';
import { decodeCheckpointMsgpack, isMsgpackCheckpoint } from './checkpoint-body.ts';
import { StoreError } from './errors.ts';
import { type CapturePlan, transcodeCheckpoint, transcodePayload } from './json-msgpack.ts';

export type BodyEncoding = 'd1';
export const CURRENT_ENCODING: BodyEncoding = 'd1';

const DICTIONARIES: Record<BodyEncoding, Buffer> = { d1: Buffer.from(BODY_DICTIONARY_V1, 'utf8') };

export function encodeBody(value: unknown, enc: BodyEncoding = CURRENT_ENCODING): Uint8Array {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  return deflateRawSync(json, { level: 6, dictionary: DICTIONARIES[enc] });
}

/** Bytes that are already a body's content (a msgpack checkpoint, checkpoint-body.ts), deflated as `encodeBody` does. */
export function encodeBinaryBody(bytes: Uint8Array, enc: BodyEncoding = CURRENT_ENCODING): Uint8Array {
  return deflateRawSync(bytes, { level: 6, dictionary: DICTIONARIES[enc] });
}

export function decodeBody(bytes: Uint8Array, enc: string): unknown {
  const dictionary = DICTIONARIES[enc as BodyEncoding];
  if (!dictionary) throw new StoreError('store_corrupt_item', `unknown body encoding "${enc}"`, { enc });
  try {
    // parseJson: an integral float (`2.0`, written so by Float64.toJSON) comes back a Float64.
    const text =
      inflaters[enc as BodyEncoding]?.inflateText(bytes) ??
      inflateRawSync(bytes, { dictionary, chunkSize: inflateChunkBytes(bytes) }).toString('utf8');
    return parseJson(text);
  } catch (err) {
    throw notDecodable(enc, err);
  }
}

/**
 * decodeBody for one large body — a checkpoint's live set (~5 MB of JSON from ~1.2 MB at 5,000
 * objects): inflated into one output chunk of eight times its compressed size (up to 64 MiB; more
 * takes more chunks) instead of 64 KiB chunks concatenated at the end — ~25 ms less of the ~95 ms
 * decoding that checkpoint took, the export's start state (docs/benchmarks.md "export").
 */
export function decodeLargeBody(bytes: Uint8Array, enc: string): unknown {
  return parseLargeBody(inflateLargeBody(bytes, enc), enc);
}

function inflateLargeBody(bytes: Uint8Array, enc: string): Buffer {
  const dictionary = DICTIONARIES[enc as BodyEncoding];
  if (!dictionary) throw new StoreError('store_corrupt_item', `unknown body encoding "${enc}"`, { enc });
  try {
    const chunkSize = Math.min(64 * 1024 * 1024, Math.max(64 * 1024, bytes.length * 8));
    return inflateRawSync(bytes, { dictionary, chunkSize });
  } catch (err) {
    throw notDecodable(enc, err);
  }
}

function parseLargeBody(inflated: Buffer, enc: string): unknown {
  try {
    return parseJson(inflated.toString('utf8'));
  } catch (err) {
    throw notDecodable(enc, err);
  }
}

/** A checkpoint's object (lib/aws/trace-store/checkpoints.ts), as `decodeCheckpointBody` gives it. */
export interface CheckpointObject {
  ts: number;
  /** The digest of the object's stored body: in a version 3 body only (checkpoint-body.ts). */
  digest?: Uint8Array;
  o: KubeObject;
  w: ObjectRef[];
}

/**
 * A checkpoint body `{…, objects: [{ts, o, w}, …]}` (decodeLargeBody), its objects' `o`
 * transcoded to their trace bytes with `plan`'s parts made JS values (`transcodeCheckpoint`,
 * lib/store/json-msgpack.ts) — instead of ~5 MB of JSON parsed into 5,000 objects that the start
 * event then encodes again (docs/benchmarks.md "export"). Without a plan, or when the transcoder
 * refuses any part of the text, the whole body is parsed as decodeLargeBody parses it (the
 * `objects` of what it gives; its error as before).
 */
export function decodeCheckpointObjects(
  bytes: Uint8Array,
  enc: string,
  plan: CapturePlan | undefined,
): CheckpointObject[] {
  const inflated = inflateLargeBody(bytes, enc);
  // Versions 2 and 3: the objects' trace bytes, copied as they are (checkpoint-body.ts).
  if (isMsgpackCheckpoint(inflated)) return decodeCheckpointMsgpack(inflated, plan).objects;
  if (plan !== undefined) {
    const transcoded = transcodeCheckpoint(inflated, plan, () => new CheckpointEntryObject(inflated));
    if (transcoded?.every((t) => Array.isArray(t.owners))) {
      const objects: CheckpointObject[] = new Array(transcoded.length);
      for (let k = 0; k < transcoded.length; k++) {
        const t = transcoded[k]!;
        t.target.place(t.msgpack, t.from, t.to);
        objects[k] = { ts: t.ts, o: t.target, w: t.owners as ObjectRef[] };
      }
      return objects;
    }
  }
  return (parseLargeBody(inflated, enc) as { objects: CheckpointObject[] }).objects;
}

/**
 * An object body `{o, w}` with `o` transcoded to its trace bytes (lib/store/json-msgpack.ts) and
 * only `plan`'s parts of it made JS values; undefined when the body must take `decodeBody` (the
 * transcoder refused it, or it does not inflate) — which then gives the object, or the error, as
 * before.
 */
export function transcodeObjectBody(
  bytes: Uint8Array,
  enc: string,
  plan: CapturePlan,
): { o: EncodedObject; w: ObjectRef[] } | undefined {
  const dictionary = DICTIONARIES[enc as BodyEncoding];
  if (!dictionary) return undefined;
  let inflated: Uint8Array | undefined = inflaters[enc as BodyEncoding]?.inflate(bytes);
  if (inflated === undefined) {
    // Larger than the inflater's buffer (or anything unexpected): zlib's own path decides.
    try {
      inflated = inflateRawSync(bytes, { dictionary, chunkSize: inflateChunkBytes(bytes) });
    } catch {
      return undefined;
    }
  }
  const o = new StoredObject(bytes, enc);
  const got = transcodePayload(inflated, plan, o);
  if (got === undefined || !Array.isArray(got.owners)) return undefined;
  o.encoded = got.msgpack;
  return { o, w: got.owners as ObjectRef[] };
}

/**
 * An object transcoded by this module: its trace bytes held until the encoder takes them, and kept
 * after that for the index's spec hash (lib/trace/msgpack-hash.ts), which then needs neither the
 * object decoded again nor the JS object hashed: ~3.5 µs per ~1 KB Deployment against ~14–20 µs
 * (docs/benchmarks.md "export"). Memory: only exported last versions stay referenced (the
 * assembly's index), so this is O(live objects) whatever the window — the bytes themselves (~0.9 KB
 * per bench Deployment) and, for a body's bytes, the share of the Buffer pool slab they sit in
 * (8 KiB; at worst one slab per live object, as the compressed body already pins one).
 */
abstract class TranscodedObject extends EncodedObject {
  #msgpack: Uint8Array | undefined;
  #kept: Uint8Array | undefined;

  protected holdMsgpack(bytes: Uint8Array): void {
    this.#msgpack = bytes;
    this.#kept = bytes;
  }

  override specHashFromBytes(): bigint | undefined {
    return this.#kept === undefined ? undefined : specHashOfMsgpackObject(this.#kept);
  }

  takeMsgpack(): Uint8Array | undefined {
    const bytes = this.#msgpack;
    this.#msgpack = undefined;
    return bytes;
  }

  msgpackLength(): number | undefined {
    return this.#msgpack?.length;
  }
}

/** An object transcoded from a stored body, which it keeps (compressed) for `fullObject`. */
class StoredObject extends TranscodedObject {
  readonly #body: Uint8Array;
  readonly #enc: string;

  constructor(body: Uint8Array, enc: string) {
    super();
    this.#body = body;
    this.#enc = enc;
  }

  set encoded(bytes: Uint8Array) {
    this.holdMsgpack(bytes);
  }

  fullObject(): KubeObject {
    return (decodeBody(this.#body, this.#enc) as { o: KubeObject }).o;
  }
}

/**
 * An object transcoded from a checkpoint, which keeps the checkpoint's inflated text (shared by all
 * its objects, ~5 MB at 5,000 objects) and where its own JSON lies in it, for `fullObject`.
 */
class CheckpointEntryObject extends TranscodedObject {
  readonly #text: Buffer;
  #from = 0;
  #to = 0;

  constructor(text: Buffer) {
    super();
    this.#text = text;
  }

  place(msgpack: Uint8Array, from: number, to: number): void {
    this.holdMsgpack(msgpack);
    this.#from = from;
    this.#to = to;
  }

  fullObject(): KubeObject {
    // parseJson of the object's text alone reads it as the whole checkpoint's parse did
    // (transcodeCheckpoint's doc).
    return parseJson(this.#text.toString('utf8', this.#from, this.#to)) as KubeObject;
  }
}

/** Shape of the native zlib handle behind a node:zlib stream (node/src/node_zlib.cc). */
interface NativeZlib {
  reset(): void;
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
  onerror: (message: string, errno: number) => void;
}

/**
 * One inflater kept for all bodies of an encoding. `inflateRawSync` builds a zlib stream per call
 * (a JS stream object, a native handle, zlib's 32 KiB window allocated and the dictionary set),
 * then closes it: ~9 µs per typical 0.4 KB body, most of a body's inflating (docs/benchmarks.md
 * "export"). Here one native handle is reset between bodies (`inflateReset` keeps the stream's
 * allocations; node_zlib.cc sets the dictionary again on reset) and written to synchronously in
 * one call: ~3 µs. node:zlib has no public API for this (its sync path closes the handle after
 * each call), so this drives the handle as node:zlib's own `processChunkSync` does —
 * `writeSync` with the output buffer, the result in the stream's `_writeState` — with errors
 * captured instead of closing the handle. Anything unexpected (no such internals, an error, an
 * output larger than the buffer, input left over) returns undefined and the caller inflates with
 * `inflateRawSync`, which gives the bytes or the error as before; after an error the handle is
 * dropped and a new one made.
 */
class ReusedInflater {
  readonly #dictionary: Buffer;
  #stream: { engine: { close(): void }; handle: NativeZlib; writeState: Uint32Array } | undefined;
  #failed: string | undefined;
  readonly #out = Buffer.allocUnsafe(64 * 1024);
  #unavailable = false;

  constructor(dictionary: Buffer) {
    this.#dictionary = dictionary;
  }

  /** The inflated text, or undefined when the caller must use inflateRawSync. */
  inflateText(bytes: Uint8Array): string | undefined {
    const out = this.inflate(bytes);
    return out === undefined ? undefined : out.toString('utf8');
  }

  /**
   * The inflated bytes — a view of the inflater's own buffer, valid until its next call — or
   * undefined when the caller must use inflateRawSync.
   */
  inflate(bytes: Uint8Array): Buffer | undefined {
    const stream = this.#open();
    if (!stream) return undefined;
    this.#failed = undefined;
    const out = this.#out;
    try {
      stream.handle.reset();
      stream.handle.writeSync(constants.Z_FINISH, bytes, 0, bytes.length, out, 0, out.length);
    } catch {
      this.#failed = 'threw';
    }
    const availOut = stream.writeState[0]!;
    const availIn = stream.writeState[1]!;
    if (this.#failed !== undefined) {
      this.#stream = undefined;
      try {
        stream.engine.close();
      } catch {
        // Already closed: nothing held any more.
      }
      return undefined;
    }
    // Output filled the buffer (maybe more to come) or input left over: let zlib's own path decide.
    if (availOut === 0 || availIn !== 0) return undefined;
    return out.subarray(0, out.length - availOut);
  }

  #open() {
    if (this.#stream || this.#unavailable) return this.#stream;
    const engine = new InflateRaw({ dictionary: this.#dictionary }) as unknown as {
      _handle?: NativeZlib;
      _writeState?: Uint32Array;
      close(): void;
    };
    const handle = engine._handle;
    const writeState = engine._writeState;
    if (
      !handle ||
      typeof handle.writeSync !== 'function' ||
      typeof handle.reset !== 'function' ||
      !writeState
    ) {
      this.#unavailable = true;
      return undefined;
    }
    handle.onerror = (message) => {
      this.#failed = message;
    };
    this.#stream = { engine, handle, writeState };
    return this.#stream;
  }
}

const inflaters: Partial<Record<BodyEncoding, ReusedInflater>> = { d1: new ReusedInflater(DICTIONARIES.d1) };

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

function notDecodable(enc: string, cause: unknown): StoreError {
  return new StoreError(
    'store_corrupt_item',
    `a stored body does not decode with encoding "${enc}"`,
    { enc },
    { cause },
  );
}
