/**
 * The checkpoint body in msgpack (versions 2 and 3): each object stored as its trace bytes — the very
 * bytes the trace encoder writes for it (lib/trace/codec.ts) — so an export's start state copies
 * them into the trace, as it copies a transcoded change's (lib/trace/encoded-object.ts), instead of
 * transcoding ~5 MB of JSON at every export (70–100 ms of a 10,000-change export's CPU, cold:
 * docs/benchmarks.md "export"). Version 1 (JSON, lib/aws/trace-store/checkpoints.ts) is still read:
 * a deployment holds v1 checkpoints until its next hourly checkpoint.
 *
 * Layout, before the store's body encoding (raw DEFLATE with its dictionary, body-codec.ts): a
 * msgpack map of exactly these five keys in this order —
 * `{v: 3, cluster: str, validFromTs: int, replayFromTs: int, objects: [[ts, d, w, o], …]}` — where
 * `ts` is an int, `d` the digest of the object's stored body (16 bytes, a bin; the caller's,
 * lib/aws/trace-store/replay.ts `storedBodyDigest`), `w` the owners as JSON text (a str; as v1
 * holds them) and `o` the object's trace bytes (a map). Version 2 (written on 2026-12-06 before
 * version 3) is the same but for `v: 2` and entries `[ts, w, o]` without the digest; it is still
 * read. The digest lets the replay know a margin version whose body is the very one the checkpoint
 * holds (checkpoints.ts `liveAt`), so that body need not be inflated and transcoded again. The
 * first byte tells the versions apart: `{` for v1's JSON, 0x85 (a map of five) for v2 and v3.
 * The writer checks nothing of the data (the objects come from stored bodies, which the store
 * validated); it writes v1 instead when an object holds a string that is not well-formed UTF-16 (a
 * lone surrogate): UTF-8 cannot carry one, and the reader refuses what is not UTF-8.
 *
 * Reading makes JS values only of what an export reads (`CapturePlan`, lib/store/json-msgpack.ts:
 * kind, metadata, what validation follows), as the JSON transcoder does, each as `parseJson` gives
 * it from the JSON text (an integral float64 as a `Float64`, an own `__proto__` key kept); the whole
 * object only when asked (`fullObject`). A body that is not exactly this layout — truncated, a byte
 * changed, a form the encoder never writes — is refused with a StoreError (`store_corrupt_item`)
 * naming what is wrong; nothing is guessed.
 */
import { isUtf8 } from 'node:buffer';
import { encodeTraceEventInto } from '../trace/codec.ts';
import { EncodedObject } from '../trace/encoded-object.ts';
import { floatValue } from '../trace/float.ts';
import type { KubeObject, ObjectRef } from '../trace/model.ts';
import { specHashOfMsgpackObject } from '../trace/msgpack-hash.ts';
import { StoreError } from './errors.ts';
import { type CapturePlan, elementNode } from './json-msgpack.ts';

export interface CheckpointHeader {
  cluster: string;
  validFromTs: number;
  replayFromTs: number;
}

export interface CheckpointEntry {
  ts: number;
  /** The digest of the version's stored body (16 bytes; version 3 on, undefined read from v1 or v2). */
  digest?: Uint8Array;
  o: KubeObject;
  w: ObjectRef[];
}

const KEYS = ['v', 'cluster', 'validFromTs', 'replayFromTs', 'objects'] as const;
/** A version 3 entry's body digest: 128 bits. */
export const DIGEST_BYTES = 16;
const UTF8 = new TextEncoder();
/** The event the encoder writes around one object: `{ts: 0, applied_objs: [`, then `], deleted_objs: []}`. */
const EVENT_HEAD = Uint8Array.of(0x83, 0xa2, 0x74, 0x73, 0x00, 0xac, ...UTF8.encode('applied_objs'), 0x91);
const EVENT_TAIL = Uint8Array.of(0xac, ...UTF8.encode('deleted_objs'), 0x90);
/** A lone surrogate in a JS string, as `JSON.stringify` escapes it. */
const LONE_SURROGATE = /\\ud[89a-f][0-9a-f]{2}/i;

/** Whether an inflated checkpoint body is this module's (version 2 or 3), not v1's JSON. */
export function isMsgpackCheckpoint(inflated: Uint8Array): boolean {
  return inflated[0] === 0x85;
}

/**
 * The v3 body of a checkpoint (not yet deflated), or undefined when an object holds a lone
 * surrogate (the caller writes v1 then). Each object's bytes are the trace encoder's, taken from
 * an event holding only it, so they are exactly what an export would write for it. `version: 2`
 * writes the previous layout (no digests; for tests of reading it and for recognising a bench seed
 * cache written then); v3 needs each entry's digest.
 */
export function encodeCheckpointMsgpack(
  header: CheckpointHeader,
  objects: readonly CheckpointEntry[],
  version: 2 | 3 = 3,
): Uint8Array | undefined {
  const chunks: Uint8Array[] = [];
  const w = new ByteWriter();
  w.byte(0x85);
  w.str(KEYS[0]);
  w.int(version);
  w.str(KEYS[1]);
  w.str(header.cluster);
  w.str(KEYS[2]);
  w.int(header.validFromTs);
  w.str(KEYS[3]);
  w.int(header.replayFromTs);
  w.str(KEYS[4]);
  w.arrayHeader(objects.length);
  for (const entry of objects) {
    const owners = JSON.stringify(entry.w);
    if (LONE_SURROGATE.test(owners) || LONE_SURROGATE.test(JSON.stringify(entry.o))) return undefined;
    if (version === 2) {
      w.byte(0x93);
      w.int(entry.ts);
    } else {
      if (entry.digest?.length !== DIGEST_BYTES) {
        throw new Error(`a version 3 checkpoint entry needs its ${DIGEST_BYTES}-byte digest`);
      }
      w.byte(0x94);
      w.int(entry.ts);
      w.bin(entry.digest);
    }
    w.str(owners);
    chunks.push(w.take());
    chunks.push(objectBytes(entry.o));
  }
  chunks.push(w.take());
  return Buffer.concat(chunks);
}

function objectBytes(obj: KubeObject): Uint8Array {
  const pieces: Uint8Array[] = [];
  encodeTraceEventInto({ ts: 0, applied_objs: [obj], deleted_objs: [] }, (b) => pieces.push(b.slice()));
  const event = Buffer.concat(pieces);
  const tailAt = event.length - EVENT_TAIL.length;
  if (
    !event.subarray(0, EVENT_HEAD.length).equals(EVENT_HEAD) ||
    !event.subarray(tailAt).equals(EVENT_TAIL)
  ) {
    // The encoder's event layout is fixed (codec.ts); anything else is a bug here.
    throw new Error('unexpected event encoding around a checkpoint object');
  }
  return event.subarray(EVENT_HEAD.length, tailAt);
}

/** A minimal msgpack writer for the body's frame (ints, strings, headers). */
class ByteWriter {
  #buf = Buffer.allocUnsafe(1024);
  #len = 0;

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(2 * this.#buf.length, this.#len + n));
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }

  byte(b: number): void {
    this.#room(1);
    this.#buf[this.#len++] = b;
  }

  int(n: number): void {
    if (!Number.isSafeInteger(n)) throw new RangeError(`${n} is not a safe integer`);
    this.#room(9);
    const b = this.#buf;
    if (n >= 0 && n < 0x80) b[this.#len++] = n;
    else if (n >= 0 && n < 0x100000000) {
      b[this.#len++] = 0xce;
      b.writeUInt32BE(n, this.#len);
      this.#len += 4;
    } else {
      b[this.#len++] = 0xd3;
      b.writeBigInt64BE(BigInt(n), this.#len);
      this.#len += 8;
    }
  }

  str(s: string): void {
    const bytes = UTF8.encode(s);
    this.#room(5 + bytes.length);
    const b = this.#buf;
    if (bytes.length < 32) b[this.#len++] = 0xa0 | bytes.length;
    else {
      b[this.#len++] = 0xdb;
      b.writeUInt32BE(bytes.length, this.#len);
      this.#len += 4;
    }
    b.set(bytes, this.#len);
    this.#len += bytes.length;
  }

  /** A bin of fewer than 256 bytes (bin 8). */
  bin(bytes: Uint8Array): void {
    this.#room(2 + bytes.length);
    this.#buf[this.#len++] = 0xc4;
    this.#buf[this.#len++] = bytes.length;
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
  }

  arrayHeader(n: number): void {
    this.#room(5);
    this.#buf[this.#len++] = 0xdd;
    this.#buf.writeUInt32BE(n, this.#len);
    this.#len += 4;
  }

  /** The bytes so far (a copy); the writer starts empty again. */
  take(): Uint8Array {
    const out = Buffer.from(this.#buf.subarray(0, this.#len));
    this.#len = 0;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

class Damaged {
  readonly what: string;
  constructor(what: string) {
    this.what = what;
  }
}

function damaged(what: string): never {
  throw new Damaged(what);
}

/**
 * The objects of an inflated v2 body, `plan`'s parts of each made JS values on an EncodedObject
 * holding its trace bytes (views of `inflated`), or — without a plan — each decoded whole. Throws
 * a StoreError (`store_corrupt_item`) for a body that is not exactly the v2 layout.
 */
export function decodeCheckpointMsgpack(
  inflated: Uint8Array,
  plan: CapturePlan | undefined,
): { header: CheckpointHeader; objects: CheckpointEntry[] } {
  const s = Buffer.isBuffer(inflated)
    ? inflated
    : Buffer.from(inflated.buffer, inflated.byteOffset, inflated.byteLength);
  try {
    const r = new Reader(s);
    if (r.byte() !== 0x85) damaged('not a map of five keys');
    r.key(KEYS[0]);
    const version = r.int();
    if (version !== 2 && version !== 3) damaged(`version ${version} is neither 2 nor 3`);
    const entryHead = version === 2 ? 0x93 : 0x94;
    r.key(KEYS[1]);
    const cluster = r.str();
    r.key(KEYS[2]);
    const validFromTs = r.int();
    r.key(KEYS[3]);
    const replayFromTs = r.int();
    r.key(KEYS[4]);
    const n = r.arrayLength();
    if (n > s.length) damaged(`${n} objects in ${s.length} bytes`);
    const objects: CheckpointEntry[] = new Array(n);
    for (let k = 0; k < n; k++) {
      if (r.byte() !== entryHead) damaged(`object ${k} is not [ts, ${version === 2 ? '' : 'd, '}w, o]`);
      const ts = r.int();
      const digest = version === 2 ? undefined : r.bin(DIGEST_BYTES);
      const w = parseOwners(r.str(), k);
      const from = r.pos;
      if (!isMapHead(s[from])) damaged(`object ${k} is not a map`);
      let o: KubeObject;
      if (plan) {
        const target = new CheckpointMsgpackObject();
        captureValue(s, from, plan.root, 0, target);
        r.pos = pos;
        target.place(s.subarray(from, pos));
        o = target as KubeObject;
      } else {
        o = decodeValue(s, from, 0) as KubeObject;
        r.pos = pos;
      }
      objects[k] = digest === undefined ? { ts, o, w } : { ts, digest, o, w };
    }
    if (r.pos !== s.length) damaged(`${s.length - r.pos} bytes after the objects`);
    return { header: { cluster, validFromTs, replayFromTs }, objects };
  } catch (err) {
    if (err instanceof Damaged) {
      throw new StoreError('store_corrupt_item', `a msgpack checkpoint body is damaged: ${err.what}`, {
        what: err.what,
      });
    }
    throw err;
  }
}

function parseOwners(text: string, k: number): ObjectRef[] {
  let owners: unknown;
  try {
    owners = JSON.parse(text);
  } catch {
    damaged(`object ${k}'s owners are not JSON`);
  }
  if (!Array.isArray(owners)) damaged(`object ${k}'s owners are not a list`);
  return owners as ObjectRef[];
}

function isMapHead(h: number | undefined): boolean {
  return h !== undefined && ((h >= 0x80 && h <= 0x8f) || h === 0xde || h === 0xdf);
}

/** A checkpoint object: its trace bytes (a view of the inflated body) and the captured parts. */
class CheckpointMsgpackObject extends EncodedObject {
  #bytes: Uint8Array | undefined;
  #taken = false;

  place(bytes: Uint8Array): void {
    this.#bytes = bytes;
  }

  takeMsgpack(): Uint8Array | undefined {
    if (this.#taken) return undefined;
    this.#taken = true;
    return this.#bytes;
  }

  msgpackLength(): number | undefined {
    return this.#taken ? undefined : this.#bytes?.length;
  }

  // Kept after the encoder took them (they are a view of the body, which the objects share).
  override specHashFromBytes(): bigint | undefined {
    return this.#bytes === undefined ? undefined : specHashOfMsgpackObject(this.#bytes);
  }

  fullObject(): KubeObject {
    const b = this.#bytes!;
    return decodeValue(Buffer.from(b.buffer, b.byteOffset, b.byteLength), 0, 0) as KubeObject;
  }
}

class Reader {
  pos = 0;
  readonly #s: Buffer;

  constructor(s: Buffer) {
    this.#s = s;
  }

  byte(): number {
    const b = this.#s[this.pos++];
    if (b === undefined) damaged('truncated');
    return b;
  }

  key(name: string): void {
    if (this.str() !== name) damaged(`key ${name} expected`);
  }

  int(): number {
    const value = decodeValue(this.#s, this.pos, 0);
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) damaged('an integer expected');
    this.pos = pos;
    return value;
  }

  str(): string {
    const value = decodeValue(this.#s, this.pos, 0);
    if (typeof value !== 'string') damaged('a string expected');
    this.pos = pos;
    return value;
  }

  /** A bin 8 of exactly `length` bytes (a view: the objects keep the body anyway). */
  bin(length: number): Uint8Array {
    if (this.byte() !== 0xc4 || this.byte() !== length) damaged(`a bin of ${length} bytes expected`);
    if (this.pos + length > this.#s.length) damaged('truncated');
    const out = this.#s.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  arrayLength(): number {
    const h = this.byte();
    if (h >= 0x90 && h <= 0x9f) return h & 0x0f;
    if (h === 0xdc) return this.#s[this.pos++]! * 256 + this.#s[this.pos++]!;
    if (h === 0xdd) {
      if (this.pos + 4 > this.#s.length) damaged('truncated');
      const n = this.#s.readUInt32BE(this.pos);
      this.pos += 4;
      return n;
    }
    return damaged('an array expected');
  }
}

/** Nesting the trace encoder writes at most (its maxDepth, 100, counts the event and its list). */
const MAX_DEPTH = 100;

// The walkers below return a value and leave the offset after it in `pos`, and a string's or a
// container's head in `at`/`count` (module state, no tuple per value: the start state is ~5,000
// objects read once in a cold process, where every allocation counts).
let pos = 0;
let at = 0;
let count = 0;
let isMap = false;

function u32(s: Uint8Array, p: number): number {
  if (p + 4 > s.length) damaged('truncated');
  return s[p]! * 0x1000000 + ((s[p + 1]! << 16) | (s[p + 2]! << 8) | s[p + 3]!);
}

function u16(s: Uint8Array, p: number): number {
  if (p + 2 > s.length) damaged('truncated');
  return (s[p]! << 8) | s[p + 1]!;
}

/** The string of `length` bytes at `from`; refuses what is not UTF-8. */
function utf8(s: Buffer, from: number, length: number): string {
  const to = from + length;
  if (to > s.length) damaged('truncated string');
  let high = 0;
  for (let k = from; k < to; k++) high |= s[k]!;
  if (high >= 0x80 && !isUtf8(s.subarray(from, to))) damaged('a string that is not UTF-8');
  return s.toString(high < 0x80 ? 'latin1' : 'utf8', from, to);
}

/** Whether `p` holds a string; its bytes then start at `at`, `count` long. */
function stringAt(s: Uint8Array, p: number): boolean {
  const h = s[p];
  if (h === undefined) return false;
  if (h >= 0xa0 && h <= 0xbf) {
    at = p + 1;
    count = h & 0x1f;
  } else if (h === 0xd9) {
    if (p + 2 > s.length) damaged('truncated');
    at = p + 2;
    count = s[p + 1]!;
  } else if (h === 0xda) {
    at = p + 3;
    count = u16(s, p + 1);
  } else if (h === 0xdb) {
    at = p + 5;
    count = u32(s, p + 1);
  } else {
    return false;
  }
  return true;
}

/** Whether `p` holds a map or an array: `isMap`, `count` elements from `at`. */
function containerAt(s: Uint8Array, p: number): boolean {
  const h = s[p];
  if (h === undefined) damaged('truncated');
  if (h >= 0x80 && h <= 0x9f) {
    isMap = h <= 0x8f;
    count = h & 0x0f;
    at = p + 1;
  } else if (h === 0xde || h === 0xdc) {
    isMap = h === 0xde;
    count = u16(s, p + 1);
    at = p + 3;
  } else if (h === 0xdf || h === 0xdd) {
    isMap = h === 0xdf;
    count = u32(s, p + 1);
    at = p + 5;
  } else {
    return false;
  }
  // Every element takes at least a byte (a map entry two).
  if (count > s.length - at) damaged(`a count of ${count} beyond the body`);
  return true;
}

function setKey(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    // An own key, as JSON.parse makes it, not the prototype.
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/**
 * The value at `p` as `parseJson` gives it from the JSON text the encoder's bytes stand for (the
 * offset after it in `pos`). Forms the encoder never writes for such a value are damage.
 */
function decodeValue(s: Buffer, p: number, depth: number): unknown {
  const h = s[p];
  if (h === undefined) damaged('truncated');
  if (h <= 0x7f) {
    pos = p + 1;
    return h;
  }
  if (h >= 0xe0) {
    pos = p + 1;
    return h - 0x100;
  }
  if (stringAt(s, p)) {
    const from = at;
    const length = count;
    pos = from + length;
    return utf8(s, from, length);
  }
  if (containerAt(s, p)) {
    if (depth >= MAX_DEPTH) damaged('nested too deep');
    const n = count;
    let q = at;
    if (isMap) {
      const o: Record<string, unknown> = {};
      for (let k = 0; k < n; k++) {
        if (!stringAt(s, q)) damaged('a map key that is not a string');
        const name = utf8(s, at, count);
        const v = decodeValue(s, at + count, depth + 1);
        setKey(o, name, v);
        q = pos;
      }
      pos = q;
      return o;
    }
    const a: unknown[] = new Array(n);
    for (let k = 0; k < n; k++) {
      a[k] = decodeValue(s, q, depth + 1);
      q = pos;
    }
    pos = q;
    return a;
  }
  switch (h) {
    case 0xc0:
      pos = p + 1;
      return null;
    case 0xc2:
      pos = p + 1;
      return false;
    case 0xc3:
      pos = p + 1;
      return true;
    case 0xcc:
      if (p + 2 > s.length) damaged('truncated');
      pos = p + 2;
      return s[p + 1]!;
    case 0xcd:
      pos = p + 3;
      return u16(s, p + 1);
    case 0xce:
      pos = p + 5;
      return u32(s, p + 1);
    case 0xd0:
      if (p + 2 > s.length) damaged('truncated');
      pos = p + 2;
      return (s[p + 1]! << 24) >> 24;
    case 0xd1:
      pos = p + 3;
      return (u16(s, p + 1) << 16) >> 16;
    case 0xd2:
      pos = p + 5;
      return u32(s, p + 1) | 0;
    case 0xcf:
    case 0xd3: {
      if (p + 9 > s.length) damaged('truncated');
      const big = h === 0xcf ? s.readBigUInt64BE(p + 1) : s.readBigInt64BE(p + 1);
      // The encoder writes uint64/int64 for safe integers beyond 32 bits (a JSON integer).
      if (big > MAX_SAFE || big < -MAX_SAFE)
        damaged('an integer beyond 2^53 (no stored JSON body holds one)');
      pos = p + 9;
      return Number(big);
    }
    case 0xcb: {
      if (p + 9 > s.length) damaged('truncated');
      const n = s.readDoubleBE(p + 1);
      if (!Number.isFinite(n)) damaged('a float with no JSON form');
      pos = p + 9;
      return floatValue(n);
    }
    default:
      return damaged(`a msgpack form 0x${h.toString(16)} no checkpoint object holds`);
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

type CaptureNode = CapturePlan['root'];

/** The offset after the value at `p`, its structure checked (no value built). */
function skipValue(s: Buffer, p: number, depth: number): number {
  const h = s[p];
  if (h === undefined) damaged('truncated');
  let next: number;
  if (h <= 0x7f || h >= 0xe0 || h === 0xc0 || h === 0xc2 || h === 0xc3) next = p + 1;
  else if (stringAt(s, p)) next = at + count;
  else if (containerAt(s, p)) {
    if (depth >= MAX_DEPTH) damaged('nested too deep');
    const n = isMap ? 2 * count : count;
    next = at;
    for (let k = 0; k < n; k++) next = skipValue(s, next, depth + 1);
  } else if (h === 0xcc || h === 0xd0) next = p + 2;
  else if (h === 0xcd || h === 0xd1) next = p + 3;
  else if (h === 0xce || h === 0xd2) next = p + 5;
  else if (h === 0xcf || h === 0xd3 || h === 0xcb) next = p + 9;
  else damaged(`a msgpack form 0x${h.toString(16)} no checkpoint object holds`);
  if (next > s.length) damaged('truncated');
  return next;
}

/**
 * The captured value of the value at `p` under `node` (undefined: nothing captured; the offset
 * after it in `pos`), as the JSON transcoder captures it (json-msgpack.ts `transcode`): a leaf
 * whole; a presence node as null for null, else `true` unless something below it is captured; a
 * container's captured children in a new object/array (an array with nulls for the elements that
 * captured nothing), made only when one is captured — the root's onto `rootTarget`.
 */
function captureValue(
  s: Buffer,
  p: number,
  node: CaptureNode | undefined,
  depth: number,
  rootTarget?: Record<string, unknown>,
): unknown {
  if (node === undefined) {
    pos = skipValue(s, p, depth);
    return undefined;
  }
  if (node.leaf) return decodeValue(s, p, depth);
  const follows = node.keys.length > 0 || node.star !== undefined;
  if (!follows || !containerAt(s, p)) {
    pos = skipValue(s, p, depth);
    if (!node.presence) return undefined;
    return s[p] === 0xc0 ? null : true;
  }
  if (depth >= MAX_DEPTH) damaged('nested too deep');
  const map = isMap;
  const n = count;
  let q = at;
  let captured: Record<string, unknown> | unknown[] | undefined;
  if (map) {
    for (let k = 0; k < n; k++) {
      if (!stringAt(s, q)) damaged('a map key that is not a string');
      const keyAt = at;
      const keyLength = count;
      const child = childByKey(node, s, keyAt, keyLength);
      const v = captureValue(s, keyAt + keyLength, child, depth + 1);
      if (v !== undefined) {
        captured ??= rootTarget ?? {};
        setKey(captured as Record<string, unknown>, utf8(s, keyAt, keyLength), v);
      }
      q = pos;
    }
  } else {
    for (let k = 0; k < n; k++) {
      const v = captureValue(s, q, elementNode(node, k), depth + 1);
      if (v !== undefined) {
        captured ??= new Array(k).fill(null);
        (captured as unknown[]).push(v);
      } else if (captured !== undefined) {
        (captured as unknown[]).push(null);
      }
      q = pos;
    }
  }
  pos = q;
  if (captured !== undefined) return captured;
  return node.presence ? true : undefined;
}

function childByKey(node: CaptureNode, s: Uint8Array, at: number, length: number): CaptureNode | undefined {
  for (const entry of node.keys) {
    const b = entry.bytes;
    if (b.length !== length) continue;
    let j = 0;
    while (j < length && b[j] === s[at + j]) j++;
    if (j === length) return entry.node;
  }
  return undefined;
}
