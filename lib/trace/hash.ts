/**
 * The spec hash: SimKube's `jsonutils::hash` (sk-core), i.e. Rust's `DefaultHasher`
 * (SipHash-1-3, keys 0, 0) fed by `Hash` of a `serde_json::Value`. That feeds these bytes:
 * - null: `None::<()>.hash`, the discriminant as an isize: 8 zero bytes;
 * - bool: one byte, 0 or 1;
 * - number: serde_json's `N::hash`: a non-negative integer as u64 LE, a negative one as i64 LE,
 *   any other number as its f64 bits LE, with -0.0 hashed as +0.0;
 * - string: `str::hash`: the UTF-8 bytes, then 0xFF;
 * - array: the elements in order, no length;
 * - object: serde_json's map is a BTreeMap, so keys in byte-wise (UTF-8) order, each key as a
 *   string then its value.
 * An absent spec hashes as null.
 *
 * JS values map to JSON values as `JSON.stringify` would: object properties whose value is
 * `undefined` are absent, `undefined` in an array is null. Integers are told from floats the only
 * way a JS value can: a safe integer (|n| < 2^53) is an integer, a bigint is an integer, other
 * numbers are floats, and so is a `Float64` (float.ts: a float with an integral value, `2.0`, as
 * the decoders keep it), hashed by its f64 bits as serde_json does. Limit, where serde_json would
 * have seen something else:
 * - an integer literal beyond u64/i64 is a float for serde_json; as a bigint it is hashed as the
 *   f64 nearest to it, as serde_json would parse it.
 *
 * Speed: the value is serialised into a reusable scratch buffer (numbers through a DataView,
 * strings with `Buffer.write` or a byte loop for short ASCII), then hashed over its 32-bit words.
 * `bench/hash.ts` compares hashing the whole buffer at the end with compressing as it fills
 * (`flushBytes`): equal within noise on 3 KB and 30 KB specs, so the default keeps it simple.
 */
import { SpecHashError } from './errors.ts';
import { Float64 } from './float.ts';
import { HOST_LITTLE_ENDIAN, sipCompress, sipCompressWords, sipFinishAt, sipInit } from './siphash.ts';

const TWO_POW_32 = 4294967296;
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
// Short ASCII strings are copied byte by byte: cheaper than a call into the UTF-8 encoder.
const SHORT_STRING = 32;
// Objects with at most this many keys are sorted by insertion (measured faster below ~16).
const SMALL_OBJECT = 12;
// A scratch grown past this is dropped after use.
const MAX_RETAINED_BYTES = 1 << 20;
const INITIAL_STATE = sipInit();

export interface JsonHasherOptions {
  /**
   * Compress the buffered bytes whenever this many are buffered (a multiple of 8), instead of
   * keeping the whole byte stream and hashing it at the end. `Infinity` (the default) keeps it.
   */
  flushBytes?: number;
  /** Initial scratch size in bytes. */
  initialBytes?: number;
  /**
   * `sorted` (default): object keys in byte order, as current SimKube (serde_json's BTreeMap).
   * `document`: keys in the order the object lists them, as traces of older SimKube were hashed
   * (serde_json with `preserve_order`): the JSON traces of SimKube's own tests carry such hashes.
   */
  keyOrder?: 'sorted' | 'document';
}

/** A reusable spec hasher with its own scratch buffer. Not reentrant; one per thread suffices. */
export interface JsonHasher {
  hash(value: unknown): bigint;
  /** The byte stream that `hash` feeds to SipHash (a copy), for tests and debugging. */
  bytes(value: unknown): Uint8Array;
}

export function createJsonHasher(options: JsonHasherOptions = {}): JsonHasher {
  const flushBytes = options.flushBytes ?? Number.POSITIVE_INFINITY;
  if (flushBytes !== Number.POSITIVE_INFINITY && (flushBytes < 8 || flushBytes % 8 !== 0)) {
    throw new RangeError(`flushBytes must be a multiple of 8, got ${flushBytes}`);
  }
  const w = new HashWriter(
    Math.max(64, options.initialBytes ?? 4096),
    flushBytes,
    options.keyOrder !== 'document',
  );
  return {
    hash(value) {
      w.reset();
      w.value(value);
      return w.finish();
    },
    bytes(value) {
      if (flushBytes !== Number.POSITIVE_INFINITY) {
        throw new RangeError('bytes() needs a hasher that keeps the whole stream');
      }
      w.reset();
      w.value(value);
      return w.buf.slice(0, w.pos);
    },
  };
}

// Created on first use: HashWriter is declared further down the module.
let sharedHasher: JsonHasher | undefined;
function defaultHasher(): JsonHasher {
  sharedHasher ??= createJsonHasher();
  return sharedHasher;
}

/** SimKube's hash of a JSON value (`jsonutils::hash`), as a u64. */
export function hashJsonValue(value: unknown): bigint {
  return defaultHasher().hash(value);
}

/** SimKube's spec hash of an object: the hash of its `spec`, null when it has none. */
export function specHash(spec: unknown): bigint {
  return defaultHasher().hash(spec === undefined ? null : spec);
}

let documentOrderHasher: JsonHasher | undefined;

/**
 * The spec hash as older SimKube computed it, with object keys in document order rather than
 * sorted (see `JsonHasherOptions.keyOrder`). Only for recognising such traces.
 */
export function specHashDocumentOrder(spec: unknown): bigint {
  documentOrderHasher ??= createJsonHasher({ keyOrder: 'document' });
  return documentOrderHasher.hash(spec === undefined ? null : spec);
}

/** The byte stream SimKube's hash feeds to SipHash for `value`. */
export function hashInputBytes(value: unknown): Uint8Array {
  return createJsonHasher().bytes(value);
}

class HashWriter {
  buf!: Buffer;
  view!: DataView;
  /** The scratch's little-endian 32-bit words (little-endian hosts): SipHash reads them in place. */
  words!: Int32Array;
  pos = 0;
  /** Bytes already compressed into `state` (streaming mode). */
  done = 0;
  readonly state = sipInit();
  private readonly initialBytes: number;
  private readonly flushBytes: number;
  private readonly sortKeys: boolean;
  /** First key → the key lists starting with it seen so far, each with its sorted order. */
  private readonly keyOrders = new Map<string, { given: string[]; sorted: string[] }[]>();
  private keyOrderCount = 0;

  constructor(initialBytes: number, flushBytes: number, sortKeys: boolean) {
    this.initialBytes = initialBytes;
    this.flushBytes = flushBytes;
    this.sortKeys = sortKeys;
    this.allocate(initialBytes);
  }

  reset(): void {
    this.pos = 0;
    this.done = 0;
    this.state.set(INITIAL_STATE);
    // One huge spec must not pin a huge scratch for the life of the process.
    if (this.buf.length > MAX_RETAINED_BYTES) this.allocate(this.initialBytes);
  }

  private allocate(size: number): void {
    // The scratch must start at offset 0 of its own ArrayBuffer so its words are 4-byte aligned.
    const ab = new ArrayBuffer(size);
    this.buf = Buffer.from(ab);
    this.view = new DataView(ab);
    this.words = new Int32Array(ab, 0, size >>> 2);
  }

  finish(): bigint {
    const nBlocks = this.pos >>> 3;
    this.compress(nBlocks);
    return sipFinishAt(this.state, this.buf, nBlocks * 8, this.pos, this.done + this.pos);
  }

  /** Compresses the first `nBlocks` blocks of the scratch (it starts at offset 0 of its buffer). */
  private compress(nBlocks: number): void {
    if (HOST_LITTLE_ENDIAN) sipCompressWords(this.state, this.words, nBlocks);
    else sipCompress(this.state, this.buf, 0, nBlocks);
  }

  /** Makes room for `n` more bytes: compresses whole blocks first in streaming mode, else grows. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    if (this.pos >= this.flushBytes) this.flush();
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const old = this.buf;
    this.allocate(size);
    old.copy(this.buf, 0, 0, this.pos);
  }

  private flush(): void {
    const nBlocks = this.pos >>> 3;
    this.compress(nBlocks);
    const used = nBlocks * 8;
    this.buf.copy(this.buf, 0, used, this.pos);
    this.done += used;
    this.pos -= used;
  }

  private u64(lo: number, hi: number): void {
    this.ensure(8);
    this.view.setUint32(this.pos, lo, true);
    this.view.setUint32(this.pos + 4, hi, true);
    this.pos += 8;
  }

  private number(n: number): void {
    if (Number.isSafeInteger(n)) {
      // Two's complement for negatives falls out of ToUint32 (modulo 2^32) on both halves.
      this.u64(n >>> 0, Math.floor(n / TWO_POW_32) >>> 0);
      return;
    }
    if (!Number.isFinite(n)) {
      throw new SpecHashError(`${n} has no JSON form and so no spec hash`, { value: String(n) });
    }
    this.float(n);
  }

  /** f64 bits LE; -0.0 as +0.0 (serde_json `N::hash`). */
  private float(n: number): void {
    if (!Number.isFinite(n)) {
      throw new SpecHashError(`${n} has no JSON form and so no spec hash`, { value: String(n) });
    }
    this.ensure(8);
    this.view.setFloat64(this.pos, n === 0 ? 0 : n, true);
    this.pos += 8;
  }

  private bigint(b: bigint): void {
    if (b >= I64_MIN && b <= U64_MAX) {
      const u = BigInt.asUintN(64, b);
      this.u64(Number(u & 0xffffffffn), Number(u >> 32n));
    } else {
      // serde_json parses an integer literal beyond u64/i64 as an f64.
      this.number(Number(b));
    }
  }

  private string(s: string): void {
    const n = s.length;
    this.ensure(n * 3 + 1);
    const buf = this.buf;
    let p = this.pos;
    if (n <= SHORT_STRING) {
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[p++] = c;
      }
      if (i < n) p += buf.write(i === 0 ? s : s.slice(i), p, 'utf8');
    } else {
      p += buf.write(s, p, 'utf8');
    }
    buf[p++] = 0xff;
    this.pos = p;
  }

  value(v: unknown): void {
    switch (typeof v) {
      case 'string':
        this.string(v);
        return;
      case 'number':
        this.number(v);
        return;
      case 'boolean':
        this.ensure(1);
        this.buf[this.pos++] = v ? 1 : 0;
        return;
      case 'bigint':
        this.bigint(v);
        return;
      case 'undefined':
        this.u64(0, 0);
        return;
      case 'object':
        if (v === null) {
          this.u64(0, 0);
        } else if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) this.value(v[i]);
        } else if (v instanceof Float64) {
          this.float(v.value);
        } else if (ArrayBuffer.isView(v)) {
          throw new SpecHashError('binary data has no JSON form and so no spec hash');
        } else {
          this.object(v as Record<string, unknown>);
        }
        return;
      default:
        throw new SpecHashError(`a ${typeof v} has no JSON form and so no spec hash`);
    }
  }

  private object(o: Record<string, unknown>): void {
    const keys = Object.keys(o);
    const ordered = keys.length > 1 && this.sortKeys ? this.sortedKeys(keys) : keys;
    for (let i = 0; i < ordered.length; i++) {
      const k = ordered[i]!;
      const v = o[k];
      if (v === undefined) continue;
      this.string(k);
      this.value(v);
    }
  }

  /**
   * `keys` in UTF-8 byte order. Spec objects of one kind have the same few key lists event after
   * event (JSON.parse interns keys, so comparing a list against a remembered one is a pointer
   * comparison per key): each distinct list is sorted once and its order reused (KEY_ORDERS).
   */
  private sortedKeys(keys: string[]): string[] {
    const n = keys.length;
    const first = keys[0]!;
    const known = this.keyOrders.get(first);
    if (known) {
      for (let e = 0; e < known.length; e++) {
        const entry = known[e]!;
        const given = entry.given;
        if (given.length !== n) continue;
        let i = 1;
        while (i < n && given[i] === keys[i]) i++;
        if (i === n) return entry.sorted;
      }
    }
    const sorted = sortUtf8(keys.slice());
    if (this.keyOrderCount >= MAX_KEY_ORDERS) {
      // A workload of ever-new key lists (keys that are data, e.g. label maps): start over rather
      // than grow without bound.
      this.keyOrders.clear();
      this.keyOrderCount = 0;
    }
    const entry = { given: keys, sorted };
    if (known && this.keyOrders.get(first) === known) known.push(entry);
    else this.keyOrders.set(first, [entry]);
    this.keyOrderCount++;
    return sorted;
  }
}

/** Distinct key lists remembered with their order (HashWriter.sortedKeys). */
const MAX_KEY_ORDERS = 4096;

/** Sorts `keys` in place into UTF-8 byte order. */
function sortUtf8(keys: string[]): string[] {
  const n = keys.length;
  if (n <= SMALL_OBJECT) {
    // Insertion sort: most spec objects have a handful of keys, where this beats a call to
    // Array.prototype.sort. `<` on strings compares UTF-16 units, as sort() does.
    for (let i = 1; i < n; i++) {
      const k = keys[i]!;
      let j = i - 1;
      while (j >= 0 && keys[j]! > k) {
        keys[j + 1] = keys[j]!;
        j--;
      }
      keys[j + 1] = k;
    }
  } else {
    keys.sort();
  }
  if (!utf16OrderIsUtf8Order(keys)) keys.sort(compareUtf8);
  return keys;
}

/**
 * Whether `sorted` (in UTF-16 code unit order) is also in UTF-8 byte order. The two orders part
 * only where two strings first differ at a surrogate (D800–DFFF) against E000–FFFF. If every
 * adjacent pair agrees, the whole sequence is UTF-8-sorted (that order is transitive), so only
 * adjacent pairs are compared, up to where they differ: a scan of their common prefixes rather
 * than of every key's every character (which was ~10 % of hashing a Deployment spec).
 * Conservative: a pair first differing at two units ≥ D800 answers false (then sorted again).
 */
function utf16OrderIsUtf8Order(sorted: string[]): boolean {
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    const n = Math.min(a.length, b.length);
    let j = 0;
    while (j < n && a.charCodeAt(j) === b.charCodeAt(j)) j++;
    if (j < n && a.charCodeAt(j) >= 0xd800 && b.charCodeAt(j) >= 0xd800) return false;
  }
  return true;
}

/**
 * Orders strings by their UTF-8 bytes (= by code points). UTF-16 code units order the same except
 * that surrogates (D800–DFFF) must sort after E000–FFFF: shift them above, the others below.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
    if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    return x - y;
  }
  return a.length - b.length;
}
