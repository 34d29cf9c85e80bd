/**
 * SipHash-1-3 (one compression round, three finalisation rounds), the function behind Rust's
 * `std::collections::hash_map::DefaultHasher`; `DefaultHasher::new()` uses keys (0, 0). SimKube
 * hashes object specs with it, so ours must be bit-exact.
 *
 * JavaScript has no u64, and BigInt arithmetic allocates on every operation, so each 64-bit
 * state word is kept as two 32-bit halves (`…h` high, `…l` low) and additions carry by hand.
 * The halves are int32 (`| 0`), not uint32 (`>>> 0`): V8 keeps int32 in registers, while uint32
 * values above 2^31 become doubles; measured, int32 halves hash about 1.6 times as fast. Only the
 * final result becomes a bigint.
 *
 * The state lives in an `Int32Array(8)` (v0h v0l v1h v1l v2h v2l v3h v3l) so that a caller can
 * compress a long input in chunks (`sipCompress`) and finish later (`sipFinish`).
 */

/** True on little-endian hosts, where an Int32Array over the input reads its LE words directly. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Int32Array([1]).buffer)[0] === 1;

/** A fresh SipHash state for keys `k0`, `k1` (u64 each; Rust's DefaultHasher: both 0). */
export function sipInit(k0 = 0n, k1 = 0n): Int32Array {
  const k0h = Number((k0 >> 32n) & 0xffffffffn);
  const k0l = Number(k0 & 0xffffffffn);
  const k1h = Number((k1 >> 32n) & 0xffffffffn);
  const k1l = Number(k1 & 0xffffffffn);
  // The SipHash constants: "somepseudorandomlygeneratedbytes" as four u64, xored with the keys.
  return Int32Array.of(
    0x736f6d65 ^ k0h,
    0x70736575 ^ k0l,
    0x646f7261 ^ k1h,
    0x6e646f6d ^ k1l,
    0x6c796765 ^ k0h,
    0x6e657261 ^ k0l,
    0x74656462 ^ k1h,
    0x79746573 ^ k1l,
  );
}

/**
 * Runs SipHash over message blocks. Block `i` is `words[from + 2i]` (low half) and
 * `words[from + 2i + 1]` (high half), i.e. 8 little-endian bytes. With `finalize`, one more
 * block (`lastLo`, `lastHi`: the tail bytes with the length in the top byte) follows, then the
 * `v2 ^= 0xff` and three rounds of finalisation. One loop serves both so that the round is
 * written once; the finalisation rounds use m = 0, which makes their xors no-ops.
 */
function sipCore(
  s: Int32Array,
  words: Int32Array,
  from: number,
  nBlocks: number,
  finalize: boolean,
  lastLo: number,
  lastHi: number,
): void {
  let v0h = s[0]!;
  let v0l = s[1]!;
  let v1h = s[2]!;
  let v1l = s[3]!;
  let v2h = s[4]!;
  let v2l = s[5]!;
  let v3h = s[6]!;
  let v3l = s[7]!;
  const total = finalize ? nBlocks + 4 : nBlocks;
  let w = from;
  for (let i = 0; i < total; i++) {
    let ml = 0;
    let mh = 0;
    if (i < nBlocks) {
      ml = words[w]!;
      mh = words[w + 1]!;
      w += 2;
    } else if (i === nBlocks) {
      ml = lastLo | 0;
      mh = lastHi | 0;
    } else if (i === nBlocks + 1) {
      v2l ^= 0xff;
    }
    v3l ^= ml;
    v3h ^= mh;

    // SipRound. Halves are int32 (V8 keeps them in registers, unboxed); a sum's low half carried
    // when, read unsigned, it is below an addend. t is scratch.
    // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
    let t = (v0l + v1l) | 0;
    v0h = (v0h + v1h + (t >>> 0 < v1l >>> 0 ? 1 : 0)) | 0;
    v0l = t;
    t = v1h;
    v1h = (v1h << 13) | (v1l >>> 19);
    v1l = (v1l << 13) | (t >>> 19);
    v1h ^= v0h;
    v1l ^= v0l;
    t = v0h;
    v0h = v0l;
    v0l = t;
    // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
    t = (v2l + v3l) | 0;
    v2h = (v2h + v3h + (t >>> 0 < v3l >>> 0 ? 1 : 0)) | 0;
    v2l = t;
    t = v3h;
    v3h = (v3h << 16) | (v3l >>> 16);
    v3l = (v3l << 16) | (t >>> 16);
    v3h ^= v2h;
    v3l ^= v2l;
    // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
    t = (v0l + v3l) | 0;
    v0h = (v0h + v3h + (t >>> 0 < v3l >>> 0 ? 1 : 0)) | 0;
    v0l = t;
    t = v3h;
    v3h = (v3h << 21) | (v3l >>> 11);
    v3l = (v3l << 21) | (t >>> 11);
    v3h ^= v0h;
    v3l ^= v0l;
    // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
    t = (v2l + v1l) | 0;
    v2h = (v2h + v1h + (t >>> 0 < v1l >>> 0 ? 1 : 0)) | 0;
    v2l = t;
    t = v1h;
    v1h = (v1h << 17) | (v1l >>> 15);
    v1l = (v1l << 17) | (t >>> 15);
    v1h ^= v2h;
    v1l ^= v2l;
    t = v2h;
    v2h = v2l;
    v2l = t;

    v0l ^= ml;
    v0h ^= mh;
  }
  s[0] = v0h;
  s[1] = v0l;
  s[2] = v1h;
  s[3] = v1l;
  s[4] = v2h;
  s[5] = v2l;
  s[6] = v3h;
  s[7] = v3l;
}

/**
 * Compresses `nBlocks` 8-byte blocks of `bytes` starting at byte `offset`. Words at a 4-byte
 * aligned address of a little-endian host are read in place; others are copied first.
 */
export function sipCompress(state: Int32Array, bytes: Uint8Array, offset: number, nBlocks: number): void {
  if (nBlocks <= 0) return;
  const start = bytes.byteOffset + offset;
  if (HOST_LITTLE_ENDIAN && start % 4 === 0) {
    sipCore(state, new Int32Array(bytes.buffer, start, nBlocks * 2), 0, nBlocks, false, 0, 0);
    return;
  }
  const words = new Int32Array(nBlocks * 2);
  const view = new DataView(bytes.buffer, start, nBlocks * 8);
  for (let i = 0; i < words.length; i++) words[i] = view.getInt32(i * 4, true);
  sipCore(state, words, 0, nBlocks, false, 0, 0);
}

/**
 * Finishes the hash: `tail` holds the last `tail.length` (< 8) message bytes and `totalLength`
 * is the length of the whole message, of which only the low byte counts (SipHash's b).
 */
export function sipFinish(state: Int32Array, tail: Uint8Array, totalLength: number): bigint {
  return sipFinishAt(state, tail, 0, tail.length, totalLength);
}

/**
 * `sipFinish` with the tail as `bytes[from, to)`: no view of it to make (the spec hash runs per
 * watch event, where every small allocation adds to the scavenges).
 */
export function sipFinishAt(
  state: Int32Array,
  bytes: Uint8Array,
  from: number,
  to: number,
  totalLength: number,
): bigint {
  let lastLo = 0;
  let lastHi = ((totalLength % 256) << 24) >>> 0;
  for (let i = 0; i < to - from; i++) {
    if (i < 4) lastLo = (lastLo | (bytes[from + i]! << (8 * i))) >>> 0;
    else lastHi = (lastHi | (bytes[from + i]! << (8 * (i - 4)))) >>> 0;
  }
  sipCore(state, EMPTY_WORDS, 0, 0, true, lastLo, lastHi);
  const hi = (state[0]! ^ state[2]! ^ state[4]! ^ state[6]!) >>> 0;
  const lo = (state[1]! ^ state[3]! ^ state[5]! ^ state[7]!) >>> 0;
  // One BigInt made from the two halves through a u64 view, instead of four by BigInt arithmetic.
  RESULT_HALVES[HOST_LITTLE_ENDIAN ? 0 : 1] = lo;
  RESULT_HALVES[HOST_LITTLE_ENDIAN ? 1 : 0] = hi;
  return RESULT_U64[0]!;
}

const RESULT_U64 = new BigUint64Array(1);
const RESULT_HALVES = new Uint32Array(RESULT_U64.buffer);

/**
 * Compresses `nBlocks` blocks of `words`, the little-endian 32-bit words of the message from its
 * start (block i: words 2i, 2i + 1) — for a caller that keeps an aligned word view of its buffer.
 */
export function sipCompressWords(state: Int32Array, words: Int32Array, nBlocks: number): void {
  if (nBlocks > 0) sipCore(state, words, 0, nBlocks, false, 0, 0);
}

const EMPTY_WORDS = new Int32Array(0);

/** SipHash-1-3 of `bytes` with keys `k0`, `k1` (default 0, 0: Rust's `DefaultHasher::new()`). */
export function sipHash13(bytes: Uint8Array, k0 = 0n, k1 = 0n): bigint {
  const state = sipInit(k0, k1);
  const nBlocks = Math.floor(bytes.length / 8);
  sipCompress(state, bytes, 0, nBlocks);
  return sipFinish(state, bytes.subarray(nBlocks * 8), bytes.length);
}
