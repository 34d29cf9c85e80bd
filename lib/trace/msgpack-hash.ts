/**
 * SimKube's spec hash (hash.ts) computed straight from an object's trace msgpack bytes — the bytes
 * the trace encoder writes for it (codec.ts), which a transcoded stored object already holds
 * (encoded-object.ts, lib/store/json-msgpack.ts) — feeding hash.ts's byte stream into the same
 * SipHash with no JS object built. The export's index needs one spec hash per exported object;
 * decoding each object again to hash it took ~100 ms at 5,000 objects (docs/benchmarks.md
 * "export": decoding ~45 ms, hashing ~53 ms).
 *
 * The byte stream, per msgpack form, is what hash.ts feeds for the value the codec's encoder wrote
 * those bytes from (its `Float64`-aware int and bigint encoders, `ignoreUndefined`):
 * - nil: 8 zero bytes; true/false: one byte 1/0;
 * - any int form (fixint, uint8–64, negative fixint, int8–64): the integer as u64 (non-negative)
 *   or i64 (negative), little-endian — what hash.ts gives a safe integer or an in-range bigint;
 * - float64: its bits little-endian, -0.0 as +0.0 — the encoder writes a float64 only for a
 *   `Float64` or a number that is not a safe integer, both hashed by their f64 bits;
 * - str (fix/8/16/32): the UTF-8 bytes, then 0xFF;
 * - array: the elements in order, no length;
 * - map: the entries with keys in byte-wise order (msgpack keys are the UTF-8 bytes already, so
 *   their byte ranges are compared as they are), each key as a string then its value.
 * Refused (undefined: the caller decodes the object and hashes it through hash.ts, which gives the
 * hash or its error — never a different hash from here): float32 (the encoder never writes it; a
 * decoder reads it as a plain number, integral ones as integers), NaN and ±Infinity (no JSON form),
 * bin and ext (no JSON form), the unused 0xc1, a map key that is not a string, a repeated key in a
 * map (a JS object holds one), a string that is not valid UTF-8 (hash.ts writes a JS string's
 * UTF-8, where a lone surrogate becomes U+FFFD), nesting beyond MAX_DEPTH, truncated input, and
 * bytes after the object.
 */
import { isUtf8 } from 'node:buffer';
import { HOST_LITTLE_ENDIAN, sipCompress, sipCompressWords, sipFinishAt, sipInit } from './siphash.ts';

/** Deeper than any object the trace encoder writes (its maxDepth, 100, counts the event and its list). */
const MAX_DEPTH = 100;
/** A scratch grown past this is dropped after use (one huge spec must not pin it). */
const MAX_RETAINED_BYTES = 1 << 20;
const INITIAL_BYTES = 16 * 1024;
const INITIAL_STATE = sipInit();
const state = sipInit();
/** The key `spec` as a msgpack fixstr. */
const SPEC_KEY = Uint8Array.of(0xa4, 0x73, 0x70, 0x65, 0x63);

const REFUSED = { refused: true };
function refuse(): never {
  throw REFUSED;
}

// The hash's byte stream is written into `out` (its own ArrayBuffer, so its 32-bit words are
// aligned for SipHash), `tmp` takes a map's entries while they are put in key order, and `entries`
// holds the open maps' entries: per entry its key's offset and length in the input and where its
// bytes start in `out`.
let out = Buffer.alloc(0);
let outView = new DataView(out.buffer);
let outWords = new Int32Array(0);
let tmp = Buffer.alloc(0);
let entries = new Int32Array(0);
let order: number[] = [];
/** Output end, and the first free slot of `entries` (3 per entry). */
let w = 0;
let top = 0;

function allocate(bytes: number, inputLength: number): void {
  if (out.length < bytes || out.length > MAX_RETAINED_BYTES) {
    const size = Math.max(INITIAL_BYTES, bytes);
    const ab = new ArrayBuffer(size);
    out = Buffer.from(ab);
    outView = new DataView(ab);
    outWords = new Int32Array(ab, 0, size >>> 2);
    tmp = Buffer.allocUnsafe(size);
  }
  // Every entry takes at least two input bytes (a key and a value).
  const slots = 3 * ((inputLength >>> 1) + 1);
  if (entries.length < slots || entries.length > MAX_RETAINED_BYTES) {
    entries = new Int32Array(Math.max(1024, slots));
  }
}

/**
 * The spec hash of the object whose trace msgpack is `bytes[from, to)` (a map; its `spec`, or null
 * when it has none), or undefined when the bytes hold a form this does not take (see above).
 */
export function specHashOfMsgpackObject(bytes: Uint8Array, from = 0, to = bytes.length): bigint | undefined {
  try {
    const range = specRange(bytes, from, to);
    if (range === undefined) return NULL_HASH;
    return hashRange(bytes, range.from, range.to);
  } catch (err) {
    if (err === REFUSED) return undefined;
    throw err;
  }
}

/** The hash of the one msgpack value in `bytes[from, to)`, or undefined (see above). */
export function hashMsgpackValue(bytes: Uint8Array, from = 0, to = bytes.length): bigint | undefined {
  try {
    return hashRange(bytes, from, to);
  } catch (err) {
    if (err === REFUSED) return undefined;
    throw err;
  }
}

/** The byte stream `hashMsgpackValue` feeds to SipHash (a copy), or undefined; for tests. */
export function msgpackHashInput(bytes: Uint8Array, from = 0, to = bytes.length): Uint8Array | undefined {
  try {
    streamRange(bytes, from, to);
    return out.subarray(0, w).slice();
  } catch (err) {
    if (err === REFUSED) return undefined;
    throw err;
  }
}

function hashRange(bytes: Uint8Array, from: number, to: number): bigint {
  streamRange(bytes, from, to);
  state.set(INITIAL_STATE);
  const nBlocks = w >>> 3;
  if (HOST_LITTLE_ENDIAN) sipCompressWords(state, outWords, nBlocks);
  else sipCompress(state, out, 0, nBlocks);
  return sipFinishAt(state, out, nBlocks * 8, w, w);
}

function streamRange(bytes: Uint8Array, from: number, to: number): void {
  if (!(from >= 0 && from <= to && to <= bytes.length)) refuse();
  // A value's stream is at most 8 bytes per input byte (nil and fixint: 1 → 8).
  allocate(8 * (to - from) + 16, to - from);
  w = 0;
  top = 0;
  if (walk(bytes, from, to, 0) !== to) refuse();
}

/** Where the value of the key `spec` lies in the object map at `bytes[from, to)`; undefined when absent. */
function specRange(bytes: Uint8Array, from: number, to: number): { from: number; to: number } | undefined {
  let p = from;
  const h = bytes[p]!;
  let n: number;
  if (h >= 0x80 && h <= 0x8f) {
    n = h & 0x0f;
    p += 1;
  } else if (h === 0xde) {
    n = (bytes[p + 1]! << 8) | bytes[p + 2]!;
    p += 3;
  } else if (h === 0xdf) {
    n = u32(bytes, p + 1);
    p += 5;
  } else {
    refuse();
  }
  let found: { from: number; to: number } | undefined;
  for (let k = 0; k < n; k++) {
    const keyAt = p;
    const kh = bytes[p];
    if (kh === undefined || !isStringHead(kh)) refuse();
    p = skip(bytes, p, to);
    const isSpec = p - keyAt === SPEC_KEY.length && sameBytes(bytes, keyAt, SPEC_KEY);
    const valueAt = p;
    p = skip(bytes, p, to);
    if (isSpec) {
      // A JS object holds one `spec`; which of two a decoder keeps is not this module's to guess.
      if (found !== undefined) refuse();
      found = { from: valueAt, to: p };
    }
  }
  if (p !== to) refuse();
  return found;
}

function isStringHead(h: number): boolean {
  return (h >= 0xa0 && h <= 0xbf) || h === 0xd9 || h === 0xda || h === 0xdb;
}

function sameBytes(bytes: Uint8Array, at: number, want: Uint8Array): boolean {
  for (let k = 0; k < want.length; k++) if (bytes[at + k] !== want[k]) return false;
  return true;
}

function u32(bytes: Uint8Array, p: number): number {
  return bytes[p]! * 0x1000000 + ((bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!);
}

/** The offset after the msgpack value at `p` (refused when it runs past `end` or is malformed). */
function skip(bytes: Uint8Array, p: number, end: number): number {
  let pending = 1;
  while (pending > 0) {
    pending--;
    const h = bytes[p];
    if (h === undefined || p >= end) refuse();
    if (h <= 0x7f || h >= 0xe0) {
      p += 1;
    } else if (h <= 0x8f) {
      pending += 2 * (h & 0x0f);
      p += 1;
    } else if (h <= 0x9f) {
      pending += h & 0x0f;
      p += 1;
    } else if (h <= 0xbf) {
      p += 1 + (h & 0x1f);
    } else {
      switch (h) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          p += 1;
          break;
        case 0xc4:
        case 0xd9:
          p += 2 + bytes[p + 1]!;
          break;
        case 0xc5:
        case 0xda:
          p += 3 + ((bytes[p + 1]! << 8) | bytes[p + 2]!);
          break;
        case 0xc6:
        case 0xdb:
          p += 5 + u32(bytes, p + 1);
          break;
        case 0xcc:
        case 0xd0:
          p += 2;
          break;
        case 0xcd:
        case 0xd1:
          p += 3;
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          p += 5;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          p += 9;
          break;
        case 0xdc:
          pending += (bytes[p + 1]! << 8) | bytes[p + 2]!;
          p += 3;
          break;
        case 0xdd:
          pending += u32(bytes, p + 1);
          p += 5;
          break;
        case 0xde:
          pending += 2 * ((bytes[p + 1]! << 8) | bytes[p + 2]!);
          p += 3;
          break;
        case 0xdf:
          pending += 2 * u32(bytes, p + 1);
          p += 5;
          break;
        case 0xd4:
          p += 3;
          break;
        case 0xd5:
          p += 4;
          break;
        case 0xd6:
          p += 6;
          break;
        case 0xd7:
          p += 10;
          break;
        case 0xd8:
          p += 18;
          break;
        case 0xc7:
          p += 3 + bytes[p + 1]!;
          break;
        case 0xc8:
          p += 4 + ((bytes[p + 1]! << 8) | bytes[p + 2]!);
          break;
        case 0xc9:
          p += 6 + u32(bytes, p + 1);
          break;
        default:
          refuse();
      }
    }
    // NaN (a length read past the end) fails this too.
    if (!(p <= end)) refuse();
  }
  return p;
}

function u64(lo: number, hi: number): void {
  outView.setUint32(w, lo, true);
  outView.setUint32(w + 4, hi, true);
  w += 8;
}

/** An 8-byte big-endian integer at `p` (uint64 or int64: the same bits) written little-endian. */
function reversed8(bytes: Uint8Array, p: number): void {
  const o = out;
  for (let k = 0; k < 8; k++) o[w + k] = bytes[p + 7 - k]!;
  w += 8;
}

/** Copies the string's `length` bytes at `q`, then 0xFF; refuses invalid UTF-8. */
function string(bytes: Uint8Array, q: number, length: number, end: number): void {
  if (q + length > end) refuse();
  const o = out;
  let high = 0;
  for (let k = 0; k < length; k++) {
    const c = bytes[q + k]!;
    high |= c;
    o[w + k] = c;
  }
  if (high >= 0x80 && !isUtf8(bytes.subarray(q, q + length))) refuse();
  w += length;
  o[w++] = 0xff;
}

/** Streams the value at `p` into `out`; returns the offset after it. */
function walk(bytes: Uint8Array, p: number, end: number, depth: number): number {
  if (p >= end) refuse();
  const h = bytes[p]!;
  if (h <= 0x7f) {
    u64(h, 0);
    return p + 1;
  }
  if (h >= 0xe0) {
    u64((h - 0x100) >>> 0, 0xffffffff);
    return p + 1;
  }
  if (h >= 0xa0 && h <= 0xbf) {
    string(bytes, p + 1, h & 0x1f, end);
    return p + 1 + (h & 0x1f);
  }
  if (h <= 0x8f) return map(bytes, p + 1, h & 0x0f, end, depth);
  if (h <= 0x9f) return array(bytes, p + 1, h & 0x0f, end, depth);
  switch (h) {
    case 0xc0:
      u64(0, 0);
      return p + 1;
    case 0xc2:
      out[w++] = 0;
      return p + 1;
    case 0xc3:
      out[w++] = 1;
      return p + 1;
    case 0xcc:
      if (p + 2 > end) refuse();
      u64(bytes[p + 1]!, 0);
      return p + 2;
    case 0xcd:
      if (p + 3 > end) refuse();
      u64((bytes[p + 1]! << 8) | bytes[p + 2]!, 0);
      return p + 3;
    case 0xce:
      if (p + 5 > end) refuse();
      u64(u32(bytes, p + 1), 0);
      return p + 5;
    case 0xcf:
    case 0xd3:
      if (p + 9 > end) refuse();
      reversed8(bytes, p + 1);
      return p + 9;
    case 0xd0: {
      if (p + 2 > end) refuse();
      const v = (bytes[p + 1]! << 24) >> 24;
      u64(v >>> 0, v < 0 ? 0xffffffff : 0);
      return p + 2;
    }
    case 0xd1: {
      if (p + 3 > end) refuse();
      const v = (((bytes[p + 1]! << 8) | bytes[p + 2]!) << 16) >> 16;
      u64(v >>> 0, v < 0 ? 0xffffffff : 0);
      return p + 3;
    }
    case 0xd2: {
      if (p + 5 > end) refuse();
      const v = (bytes[p + 1]! << 24) | (bytes[p + 2]! << 16) | (bytes[p + 3]! << 8) | bytes[p + 4]!;
      u64(v >>> 0, v < 0 ? 0xffffffff : 0);
      return p + 5;
    }
    case 0xcb: {
      if (p + 9 > end) refuse();
      const v = new DataView(bytes.buffer, bytes.byteOffset + p + 1, 8).getFloat64(0);
      if (!Number.isFinite(v)) refuse();
      outView.setFloat64(w, v === 0 ? 0 : v, true);
      w += 8;
      return p + 9;
    }
    case 0xd9: {
      if (p + 2 > end) refuse();
      const n = bytes[p + 1]!;
      string(bytes, p + 2, n, end);
      return p + 2 + n;
    }
    case 0xda: {
      if (p + 3 > end) refuse();
      const n = (bytes[p + 1]! << 8) | bytes[p + 2]!;
      string(bytes, p + 3, n, end);
      return p + 3 + n;
    }
    case 0xdb: {
      if (p + 5 > end) refuse();
      const n = u32(bytes, p + 1);
      string(bytes, p + 5, n, end);
      return p + 5 + n;
    }
    case 0xdc:
      if (p + 3 > end) refuse();
      return array(bytes, p + 3, (bytes[p + 1]! << 8) | bytes[p + 2]!, end, depth);
    case 0xdd:
      if (p + 5 > end) refuse();
      return array(bytes, p + 5, u32(bytes, p + 1), end, depth);
    case 0xde:
      if (p + 3 > end) refuse();
      return map(bytes, p + 3, (bytes[p + 1]! << 8) | bytes[p + 2]!, end, depth);
    case 0xdf:
      if (p + 5 > end) refuse();
      return map(bytes, p + 5, u32(bytes, p + 1), end, depth);
    default:
      // float32, bin, ext, 0xc1.
      refuse();
  }
}

function array(bytes: Uint8Array, p: number, n: number, end: number, depth: number): number {
  if (depth >= MAX_DEPTH) refuse();
  for (let k = 0; k < n; k++) p = walk(bytes, p, end, depth + 1);
  return p;
}

/**
 * A map's entries, written in the input's order with where each starts, then — unless the keys
 * already come in byte order — moved into that order through `tmp`.
 */
function map(bytes: Uint8Array, p: number, n: number, end: number, depth: number): number {
  if (depth >= MAX_DEPTH) refuse();
  if (n === 0) return p;
  const base = top;
  // Every entry takes at least two input bytes: a count beyond that is malformed.
  if (2 * n > end - p || top + 3 * n > entries.length) refuse();
  top += 3 * n;
  const e = entries;
  const regionStart = w;
  let sorted = true;
  for (let k = 0; k < n; k++) {
    const h = bytes[p];
    let keyAt: number;
    let keyLength: number;
    if (h !== undefined && h >= 0xa0 && h <= 0xbf) {
      keyAt = p + 1;
      keyLength = h & 0x1f;
    } else if (h === 0xd9) {
      keyAt = p + 2;
      keyLength = bytes[p + 1]!;
    } else if (h === 0xda) {
      keyAt = p + 3;
      keyLength = (bytes[p + 1]! << 8) | bytes[p + 2]!;
    } else if (h === 0xdb) {
      keyAt = p + 5;
      keyLength = u32(bytes, p + 1);
    } else {
      refuse();
    }
    const slot = base + 3 * k;
    e[slot] = keyAt;
    e[slot + 1] = keyLength;
    e[slot + 2] = w;
    if (k > 0) {
      const c = compareKeys(bytes, e[slot - 3]!, e[slot - 2]!, keyAt, keyLength);
      if (c === 0) refuse();
      if (c > 0) sorted = false;
    }
    string(bytes, keyAt, keyLength, end);
    p = walk(bytes, keyAt + keyLength, end, depth + 1);
  }
  if (!sorted) reorder(bytes, base, n, regionStart);
  top = base;
  return p;
}

/** Byte-wise comparison of two keys in the input (a prefix first). */
function compareKeys(bytes: Uint8Array, a: number, aLength: number, b: number, bLength: number): number {
  const n = aLength < bLength ? aLength : bLength;
  for (let k = 0; k < n; k++) {
    const d = bytes[a + k]! - bytes[b + k]!;
    if (d !== 0) return d;
  }
  return aLength - bLength;
}

/** Puts the `n` entries from `base` (written from `regionStart` to `w`) in key order. */
function reorder(bytes: Uint8Array, base: number, n: number, regionStart: number): void {
  const e = entries;
  order.length = n;
  for (let k = 0; k < n; k++) order[k] = base + 3 * k;
  const byKey = (x: number, y: number) => compareKeys(bytes, e[x]!, e[x + 1]!, e[y]!, e[y + 1]!);
  if (n <= 16) {
    for (let i = 1; i < n; i++) {
      const x = order[i]!;
      let j = i - 1;
      while (j >= 0 && byKey(order[j]!, x) > 0) {
        order[j + 1] = order[j]!;
        j--;
      }
      order[j + 1] = x;
    }
  } else {
    order.sort(byKey);
  }
  // Equal neighbours in the input were refused as they came; equal keys apart show up here.
  for (let k = 1; k < n; k++) if (byKey(order[k - 1]!, order[k]!) === 0) refuse();
  const regionEnd = w;
  out.copy(tmp, 0, regionStart, regionEnd);
  let at = regionStart;
  for (let k = 0; k < n; k++) {
    const slot = order[k]!;
    const from = e[slot + 2]!;
    const to = slot + 3 < base + 3 * n ? e[slot + 5]! : regionEnd;
    tmp.copy(out, at, from - regionStart, to - regionStart);
    at += to - from;
  }
  if (order.length > 1024) order = [];
}

/** The hash of null (an object without a spec): 8 zero bytes. */
const NULL_HASH = hashMsgpackValue(Uint8Array.of(0xc0))!;
