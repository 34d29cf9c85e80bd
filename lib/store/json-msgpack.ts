/**
 * A stored object body's JSON text (UTF-8 bytes) transcoded straight to the msgpack bytes the trace
 * encoder would write for it, with no JS object in between; only the few parts an export reads
 * (kind, metadata, what validation follows) are made JS values on the way (`CapturePlan`).
 *
 * Why: an export's steady state per change was inflate → `JSON.parse` → assembly → msgpack-encode
 * the whole object again (@msgpack/msgpack walking every key and value), ~14 µs of a ~35 µs change
 * plus most of the garbage (docs/benchmarks.md "export"). Here each byte is looked at once.
 *
 * The bytes must be exactly what the object path gives: `encodeTraceEventInto` (lib/trace/codec.ts,
 * @msgpack/msgpack 3 with `ignoreUndefined`) of `parseJson(text)` (lib/trace/float.ts). So:
 * - maps and arrays in their smallest header (fix/16/32), strings as fixstr/str8/str16/str32 of
 *   their UTF-8 bytes, `true`/`false`/`null` as 0xc3/0xc2/0xc0;
 * - an integer literal that is a safe integer in its smallest int (a non-negative one unsigned,
 *   ≥ 2^32 as uint64, `-0` as 0), any other integer literal as the float64 of its value (what
 *   `JSON.parse` gives it); a literal with a fraction or an exponent as float64 — `parseJson` keeps
 *   those whose value is integral as `Float64` (`2.0`), and the others are not safe integers;
 * - keys in text order: a JS object lists array-index keys ("0", "42") first, ascending, so text
 *   whose index keys are not already first and ascending is left to the object path.
 * Everything the object path would treat otherwise is refused here (`undefined`: the caller takes
 * the object path, which gives its bytes or its error): text that is not JSON as `JSON.parse`
 * reads it, invalid UTF-8 (decoding would replace it), a lone surrogate escape, nesting the encoder
 * refuses (its depth limit, 100, counting the event and its list), and a literal like
 * `1.0000000000000000001` — a fraction that is not all zeros, no exponent, an integral value — which
 * `parseJson` reads as a float or an integer depending on the rest of the text. Duplicate keys are
 * not looked for: stored bodies are written by `JSON.stringify`, which cannot repeat a key.
 */
import { isUtf8 } from 'node:buffer';
import { parseJson } from '../trace/float.ts';

/** Which parts of an object become JS values while it is transcoded; built by `capturePlan`. */
export interface CapturePlan {
  readonly root: CaptureNode;
}

interface CaptureNode {
  /** The whole value is captured (as `parseJson` gives it). */
  leaf: boolean;
  /** Only whether the value is null: captured as null, or as `true` (when nothing below is captured). */
  presence: boolean;
  /** Object keys (and array indices) to follow. */
  keys: { name: string; bytes: Uint8Array; node: CaptureNode }[];
  /** Every array element. */
  star: CaptureNode | undefined;
}

/** Marks "every array element" in a capture path (a token that is exactly `*`). */
export const ANY_ELEMENT = '*';

export interface CapturePath {
  tokens: readonly string[];
  /** Capture whether the value is null, not the value (e.g. `status` for SimKube's W0000). */
  presence?: boolean;
}

const UTF8 = new TextEncoder();

function newNode(): CaptureNode {
  return { leaf: false, presence: false, keys: [], star: undefined };
}

/**
 * The capture tree of `paths`: each path's value is captured whole (or its presence), and the
 * values on the way hold only what leads to one. In an array, a token that is an index follows
 * that element and `*` every element, as lib/skel's `resolve`/`matches` do.
 */
export function capturePlan(paths: readonly CapturePath[]): CapturePlan {
  const root = newNode();
  for (const path of paths) {
    let node = root;
    for (const token of path.tokens) {
      if (token === ANY_ELEMENT) {
        node.star ??= newNode();
        node = node.star;
        continue;
      }
      let entry = node.keys.find((k) => k.name === token);
      if (!entry) {
        entry = { name: token, bytes: UTF8.encode(token), node: newNode() };
        node.keys.push(entry);
      }
      node = entry.node;
    }
    if (path.presence) node.presence = true;
    else node.leaf = true;
  }
  return { root };
}

/** Nesting the trace encoder refuses: its maxDepth (100) counts the event (1) and its list (2). */
/** Nesting the trace encoder refuses: its maxDepth (100) counts the event (1) and its list (2). */
const MAX_LEVEL = 97;

const REFUSED = { refused: true };

function refuse(): never {
  throw REFUSED;
}

// Output: one buffer reused for every body (the result is copied out), and the open containers'
// state. Module-wide, as the transcoding is synchronous; the loops below work on locals.
let out = new Uint8Array(64 * 1024);
let view = new DataView(out.buffer);
const FRAMES = MAX_LEVEL + 2;
/** Output offset of each open container's header byte. */
const fHead = new Int32Array(FRAMES);
const fCount = new Int32Array(FRAMES);
const fIsMap = new Uint8Array(FRAMES);
/** Maps: the last array-index key (−1: none yet), and whether a named key came. */
const fLastIndex = new Float64Array(FRAMES);
const fNamed = new Uint8Array(FRAMES);
/** Capture: the container's node (when something below it is captured), its captured value, the
 * current key's entry (maps), whether anything was captured, and whether it is a presence node. */
const fNode: (CaptureNode | undefined)[] = new Array(FRAMES).fill(undefined);
const fTarget: (Record<string, unknown> | unknown[] | undefined)[] = new Array(FRAMES).fill(undefined);
const fEntry: (KeyEntry | undefined)[] = new Array(FRAMES).fill(undefined);
const fAny = new Uint8Array(FRAMES);
const fPresence = new Uint8Array(FRAMES);

type KeyEntry = CaptureNode['keys'][number];

// Results of the helpers besides their return value (the input position after what they read),
// and what was seen in the current body / captured value.
let pos = 0;
let sawFraction = false;

/**
 * Transcodes an object body `{"o": {…}, "w": […]}`: returns the msgpack bytes of `o` (a copy), with
 * the plan's parts of `o` assigned onto `target`, and `w` as `parseJson` gives it; or undefined
 * when the object path must decide (see the module's doc).
 */
export function transcodePayload(
  bytes: Uint8Array,
  plan: CapturePlan,
  target: Record<string, unknown>,
): { msgpack: Uint8Array; owners: unknown } | undefined {
  const s = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = s.length;
  // Room for the worst case (`1e0,` → 9 bytes; headers that grow to 16/32-bit sizes), so the
  // writes below need no bounds checks.
  const need = 3 * end + 64;
  if (out.length < need) {
    out = new Uint8Array(Math.max(need, 2 * out.length));
    view = new DataView(out.buffer);
  }
  try {
    let msgpack: Uint8Array | undefined;
    let owners: unknown;
    let sawOwners = false;
    let i = skipWs(s, 0);
    if (s[i] !== 0x7b) return undefined;
    for (i = skipWs(s, i + 1); ; ) {
      // A top-level key: exactly "o" or "w".
      if (s[i] !== 0x22 || s[i + 2] !== 0x22) return undefined;
      const key = s[i + 1];
      i = skipWs(s, i + 3);
      if (s[i] !== 0x3a) return undefined;
      i = skipWs(s, i + 1);
      if (key === 0x6f && msgpack === undefined) {
        if (s[i] !== 0x7b) return undefined;
        const o = transcode(s, i, 0, plan.root, target);
        i = pos;
        // From Buffer's pool (one allocation per ~8 KB, not one per object): the caller lets go
        // of it once written (lib/trace/encoded-object.ts `takeMsgpack`).
        msgpack = Buffer.allocUnsafe(o);
        msgpack.set(out.subarray(0, o));
      } else if (key === 0x77 && !sawOwners) {
        owners = ownersAt(s, i, 0);
        i = pos;
        sawOwners = true;
      } else {
        return undefined;
      }
      i = nextMember(s, i, 0x7d);
      if (i < 0) break;
    }
    if (skipWs(s, pos) !== end || msgpack === undefined || !sawOwners) return undefined;
    if (!isUtf8(s)) return undefined;
    return { msgpack, owners };
  } catch (err) {
    if (err === REFUSED) return undefined;
    throw err;
  }
}

function skipWs(s: Uint8Array, i: number): number {
  let c = s[i];
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = s[++i];
  return i;
}

/**
 * After a member of an object or array that `close` (`}` or `]`) ends: the next member's start,
 * past a `,`; or -1 once `close` is read, with `pos` just after it. Refuses anything else.
 */
function nextMember(s: Uint8Array, i: number, close: number): number {
  i = skipWs(s, i);
  const c = s[i++];
  if (c === 0x2c) return skipWs(s, i);
  if (c !== close) refuse();
  pos = i;
  return -1;
}

/**
 * A body's owners (`w`) at `i`: transcoded from `o` on only to be checked as the object is (the
 * output is dropped), then read as `parseJson` gives it; `pos` after it.
 */
function ownersAt(s: Buffer, i: number, o: number): unknown {
  sawFraction = false;
  transcode(s, i, o, undefined, undefined);
  return parseSlice(s, i, pos);
}

/** A captured value's text as `parseJson` reads it (plain `JSON.parse` when it holds no fraction or exponent). */
function parseSlice(s: Buffer, from: number, to: number): unknown {
  const text = s.toString('utf8', from, to);
  return sawFraction ? parseJson(text) : JSON.parse(text);
}

/**
 * Transcodes the JSON value at `i` into `out` from `o` on; returns the output's end, and sets
 * `pos` to the input's. With `root` (a node with keys, for an object), captures onto `rootTarget`.
 * Iterative (an explicit stack of open containers), its position and output offset in locals.
 */
function transcode(
  s: Buffer,
  i: number,
  o: number,
  root: CaptureNode | undefined,
  rootTarget: Record<string, unknown> | undefined,
): number {
  const buf = out;
  const fHead_ = fHead;
  const fCount_ = fCount;
  const fIsMap_ = fIsMap;
  const fAny_ = fAny;
  const fPresence_ = fPresence;
  const fNode_ = fNode;
  const fTarget_ = fTarget;
  const fEntry_ = fEntry;
  let d = -1;
  /** Capture node of the value about to be read. */
  let node: CaptureNode | undefined = root;
  /** An open leaf capture: where its value starts, and the depth of the container holding it. */
  let leafStart = -1;
  let leafDepth = -2;
  for (;;) {
    // ---- A value at i (whitespace skipped); `node` says what to capture of it.
    if (d + 1 > MAX_LEVEL) refuse();
    if (node?.leaf && leafStart < 0) {
      leafStart = i;
      leafDepth = d;
      sawFraction = false;
      node = undefined;
    }
    let value: unknown;
    let c = s[i]!;
    if (c === 0x7b || c === 0x5b) {
      const isMap = c === 0x7b;
      d++;
      fHead_[d] = o++;
      fCount_[d] = 0;
      fIsMap_[d] = isMap ? 1 : 0;
      fAny_[d] = 0;
      fPresence_[d] = node?.presence ? 1 : 0;
      if (node !== undefined && (node.keys.length > 0 || node.star !== undefined)) {
        fNode_[d] = node;
        // Made when the first value below is captured (most containers on a path capture nothing).
        fTarget_[d] = undefined;
      } else {
        fNode_[d] = undefined;
        fTarget_[d] = undefined;
      }
      i = skipWs(s, i + 1);
      c = s[i]!;
      if (c === (isMap ? 0x7d : 0x5d)) {
        // Empty: closed below.
        i++;
      } else {
        if (isMap) {
          fLastIndex[d] = -1;
          fNamed[d] = 0;
          o = mapKey(s, i, o, d);
          i = pos;
          node = fEntry_[d]?.node;
        } else {
          node = fNode_[d] === undefined ? undefined : elementNode(fNode_[d]!, 0);
        }
        continue;
      }
      // The empty container is the value: fall through to closing it.
      value = closeFrame(d, o);
      o = pos;
      d--;
    } else {
      if (c === 0x22) {
        o = writeString(s, i, o);
        i = pos;
      } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
        // Small non-negative integers (most numbers in Kubernetes objects) right here.
        let n = c - 0x30;
        let k = i + 1;
        let e = s[k];
        if (c !== 0x2d && c !== 0x30) {
          while (e !== undefined && e >= 0x30 && e <= 0x39 && k - i < 9) {
            n = n * 10 + (e - 0x30);
            e = s[++k];
          }
        }
        if (
          c !== 0x2d &&
          (e === undefined || e < 0x2e || (e > 0x39 && e !== 0x45 && e !== 0x65) || e === 0x2f)
        ) {
          if (n < 0x80) {
            buf[o++] = n;
          } else {
            o = writeInt(buf, o, n);
          }
          i = k;
        } else {
          o = writeNumber(s, i, o);
          i = pos;
        }
      } else if (c === 0x74 && s[i + 1] === 0x72 && s[i + 2] === 0x75 && s[i + 3] === 0x65) {
        buf[o++] = 0xc3;
        i += 4;
      } else if (
        c === 0x66 &&
        s[i + 1] === 0x61 &&
        s[i + 2] === 0x6c &&
        s[i + 3] === 0x73 &&
        s[i + 4] === 0x65
      ) {
        buf[o++] = 0xc2;
        i += 5;
      } else if (c === 0x6e && s[i + 1] === 0x75 && s[i + 2] === 0x6c && s[i + 3] === 0x6c) {
        buf[o++] = 0xc0;
        i += 4;
        if (node?.presence) value = null;
      } else {
        refuse();
      }
      if (node?.presence && c !== 0x6e) value = true;
    }
    // ---- The value is complete: hand it to its container, then the next value or the container's end.
    for (;;) {
      if (leafStart >= 0 && leafDepth === d) {
        value = parseSlice(s, leafStart, i);
        leafStart = -1;
      }
      if (d < 0) {
        pos = i;
        return o;
      }
      if (fNode_[d] !== undefined) {
        let target = fTarget_[d];
        if (fIsMap_[d] === 1) {
          if (value !== undefined) {
            if (target === undefined) {
              target = d === 0 && rootTarget !== undefined ? rootTarget : {};
              fTarget_[d] = target;
            }
            const name = fEntry_[d]!.name;
            if (name === '__proto__') {
              Object.defineProperty(target, name, {
                value,
                enumerable: true,
                writable: true,
                configurable: true,
              });
            } else {
              (target as Record<string, unknown>)[name] = value;
            }
            fAny_[d] = 1;
          }
        } else if (value !== undefined) {
          if (target === undefined) {
            // An element with nothing captured is null: a path through it fails there, as through
            // the element itself (nothing captured means none of the paths below it exists).
            target = new Array(fCount_[d]!).fill(null);
            fTarget_[d] = target;
          }
          (target as unknown[]).push(value);
          fAny_[d] = 1;
        } else if (target !== undefined) {
          (target as unknown[]).push(null);
        }
      }
      value = undefined;
      fCount_[d] = fCount_[d]! + 1;
      i = skipWs(s, i);
      c = s[i++]!;
      if (c === 0x2c) {
        i = skipWs(s, i);
        if (fIsMap_[d] === 1) {
          o = mapKey(s, i, o, d);
          i = pos;
          node = fEntry_[d]?.node;
        } else {
          node = fNode_[d] === undefined ? undefined : elementNode(fNode_[d]!, fCount_[d]!);
        }
        break;
      }
      if (c !== (fIsMap_[d] === 1 ? 0x7d : 0x5d)) refuse();
      value = closeFrame(d, o);
      o = pos;
      d--;
    }
  }
}

/**
 * Writes the key at `i` of the map at depth `d`, checks array-index keys come first and
 * ascending, finds its capture entry (`fEntry_[d]`); returns the output's end, `pos` after the `:`
 * and the whitespace after it.
 */
function mapKey(s: Buffer, i: number, o: number, d: number): number {
  if (s[i] !== 0x22) refuse();
  const keyAt = o;
  const first = s[i + 1]!;
  o = writeString(s, i, o);
  i = pos;
  if (first >= 0x30 && first <= 0x39) {
    const index = arrayIndex(keyAt);
    if (index >= 0) {
      if (fNamed[d] === 1 || index <= fLastIndex[d]!) refuse();
      fLastIndex[d] = index;
    } else {
      fNamed[d] = 1;
    }
  } else {
    fNamed[d] = 1;
  }
  const node = fNode[d];
  fEntry[d] = node === undefined || node.keys.length === 0 ? undefined : childByKey(node, keyAt);
  i = skipWs(s, i);
  if (s[i] !== 0x3a) refuse();
  pos = skipWs(s, i + 1);
  return o;
}

/** Closes the container at depth `d` (its header written, content moved if it grows); returns
 * its captured value, `pos` the output's end. */
function closeFrame(d: number, o: number): unknown {
  const head = fHead[d]!;
  const count = fCount[d]!;
  const isMap = fIsMap[d] === 1;
  if (count < 16) {
    out[head] = (isMap ? 0x80 : 0x90) | count;
  } else if (count < 0x10000) {
    out.copyWithin(head + 3, head + 1, o);
    o += 2;
    out[head] = isMap ? 0xde : 0xdc;
    out[head + 1] = count >>> 8;
    out[head + 2] = count & 0xff;
  } else {
    out.copyWithin(head + 5, head + 1, o);
    o += 4;
    out[head] = isMap ? 0xdf : 0xdd;
    view.setUint32(head + 1, count);
  }
  pos = o;
  const captured = fAny[d] === 1 ? fTarget[d] : fPresence[d] === 1 ? true : undefined;
  fTarget[d] = undefined;
  fNode[d] = undefined;
  fEntry[d] = undefined;
  return captured;
}

/** The capture entry for the key just written at `keyAt` (a msgpack string), if the node has one. */
function childByKey(node: CaptureNode, keyAt: number): KeyEntry | undefined {
  const keys = node.keys;
  const h = out[keyAt]!;
  // Keys the plan names are short: longer keys (str8+) are looked up the slow way.
  let start = keyAt + 1;
  let length = h & 0x1f;
  if (h >= 0xc0) {
    const at = stringAt(keyAt);
    start = at.start;
    length = at.length;
  }
  for (let k = 0; k < keys.length; k++) {
    const entry = keys[k]!;
    const b = entry.bytes;
    if (b.length !== length) continue;
    let j = 0;
    while (j < length && b[j] === out[start + j]) j++;
    if (j === length) return entry;
  }
  return undefined;
}

const INDEX_TOKEN = /^(?:0|[1-9][0-9]*)$/;

/** The node for element `i` of an array: `*`, or an index token (both: their union, rare). */
export function elementNode(node: CaptureNode, i: number): CaptureNode | undefined {
  let byIndex: CaptureNode | undefined;
  if (node.keys.length > 0) {
    const name = String(i);
    for (const k of node.keys) if (k.name === name && INDEX_TOKEN.test(name)) byIndex = k.node;
  }
  if (byIndex === undefined) return node.star;
  if (node.star === undefined) return byIndex;
  return union(byIndex, node.star);
}

function union(a: CaptureNode, b: CaptureNode): CaptureNode {
  const u: CaptureNode = {
    leaf: a.leaf || b.leaf,
    presence: a.presence || b.presence,
    keys: [],
    star: a.star && b.star ? union(a.star, b.star) : (a.star ?? b.star),
  };
  for (const k of [...a.keys, ...b.keys]) {
    const known = u.keys.find((x) => x.name === k.name);
    if (known) known.node = union(known.node, k.node);
    else u.keys.push({ ...k });
  }
  return u;
}

/** Start and length of the bytes of the msgpack string at `at`. */
function stringAt(at: number): { start: number; length: number } {
  const h = out[at]!;
  if (h < 0xc0) return { start: at + 1, length: h & 0x1f };
  if (h === 0xd9) return { start: at + 2, length: out[at + 1]! };
  if (h === 0xda) return { start: at + 3, length: view.getUint16(at + 1) };
  return { start: at + 5, length: view.getUint32(at + 1) };
}

/** The key written at `keyAt` as an array index (`0`, `[1-9][0-9]*`, ≤ 2^32 − 2), else −1. */
function arrayIndex(keyAt: number): number {
  const { start, length } = stringAt(keyAt);
  if (length === 0 || length > 10) return -1;
  if (out[start] === 0x30 && length > 1) return -1;
  let n = 0;
  for (let k = 0; k < length; k++) {
    const digit = out[start + k]! - 0x30;
    if (digit < 0 || digit > 9) return -1;
    n = n * 10 + digit;
  }
  return n <= 0xfffffffe ? n : -1;
}

/** Each byte inside a JSON string: 0 copied as is (UTF-8 checked once per body), 1 `"`, 2 `\\`, 3 a control character. */
const STRING_BYTE = new Uint8Array(256);
STRING_BYTE[0x22] = 1;
STRING_BYTE[0x5c] = 2;
STRING_BYTE.fill(3, 0, 0x20);

/**
 * Writes the string at `i` (its opening quote) as a msgpack string; returns the output's end, `pos`
 * after the closing quote. Copied while scanned, after a one-byte header (most strings are under
 * 32 bytes), moved once the length says the header is longer; escapes are decoded apart.
 */
function writeString(s: Buffer, i: number, o: number): number {
  const buf = out;
  const start = ++i;
  let w = o + 1;
  let c = s[i]!;
  let kind = STRING_BYTE[c];
  while (kind === 0) {
    buf[w++] = c;
    c = s[++i]!;
    kind = STRING_BYTE[c];
  }
  if (kind === 1) {
    pos = i + 1;
    const length = w - o - 1;
    if (length < 32) {
      buf[o] = 0xa0 | length;
      return w;
    }
    const header = headerBytes(length);
    buf.copyWithin(o + header, o + 1, w);
    stringHeader(o, length);
    return w + header - 1;
  }
  if (kind !== 2) refuse();
  // An escape: find the end, then decode the whole string.
  for (;;) {
    c = s[i]!;
    if (c === 0x22) break;
    if (c === 0x5c) {
      i += 2;
      continue;
    }
    if (c === undefined || c < 0x20) refuse();
    i++;
  }
  if (i > s.length) refuse();
  pos = i + 1;
  return writeEscaped(s, start, i - start, o);
}

/** An escaped string's bytes, decoded (never more than the escaped text: written after the largest
 * header it could need, moved back if the header is smaller). */
function writeEscaped(s: Buffer, from: number, raw: number, o: number): number {
  const buf = out;
  const head = o;
  const room = headerBytes(raw);
  o += room;
  const start = o;
  for (let i = from; i < from + raw; ) {
    const c = s[i]!;
    if (c !== 0x5c) {
      buf[o++] = c;
      i++;
      continue;
    }
    const e = s[i + 1];
    i += 2;
    switch (e) {
      case 0x22:
      case 0x5c:
      case 0x2f:
        buf[o++] = e;
        break;
      case 0x62:
        buf[o++] = 0x08;
        break;
      case 0x66:
        buf[o++] = 0x0c;
        break;
      case 0x6e:
        buf[o++] = 0x0a;
        break;
      case 0x72:
        buf[o++] = 0x0d;
        break;
      case 0x74:
        buf[o++] = 0x09;
        break;
      case 0x75: {
        let u = hex4(s, i);
        i += 4;
        if (u >= 0xd800 && u <= 0xdfff) {
          // A surrogate pair gives one code point; a lone surrogate is left to the object path
          // (the encoder writes it differently by string length).
          if (u > 0xdbff || s[i] !== 0x5c || s[i + 1] !== 0x75) refuse();
          const low = hex4(s, i + 2);
          if (low < 0xdc00 || low > 0xdfff) refuse();
          i += 6;
          u = 0x10000 + ((u - 0xd800) << 10) + (low - 0xdc00);
          buf[o++] = 0xf0 | (u >>> 18);
          buf[o++] = 0x80 | ((u >>> 12) & 0x3f);
          buf[o++] = 0x80 | ((u >>> 6) & 0x3f);
          buf[o++] = 0x80 | (u & 0x3f);
        } else if (u < 0x80) {
          buf[o++] = u;
        } else if (u < 0x800) {
          buf[o++] = 0xc0 | (u >>> 6);
          buf[o++] = 0x80 | (u & 0x3f);
        } else {
          buf[o++] = 0xe0 | (u >>> 12);
          buf[o++] = 0x80 | ((u >>> 6) & 0x3f);
          buf[o++] = 0x80 | (u & 0x3f);
        }
        break;
      }
      default:
        refuse();
    }
  }
  const length = o - start;
  const used = headerBytes(length);
  if (used < room) {
    buf.copyWithin(head + used, start, o);
    o -= room - used;
  }
  stringHeader(head, length);
  return o;
}

function hex4(s: Buffer, at: number): number {
  let u = 0;
  for (let k = 0; k < 4; k++) {
    const c = s[at + k];
    let digit: number;
    if (c === undefined) refuse();
    if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) digit = c - 0x57;
    else if (c >= 0x41 && c <= 0x46) digit = c - 0x37;
    else refuse();
    u = (u << 4) | digit;
  }
  return u;
}

function headerBytes(length: number): number {
  return length < 32 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
}

/** Writes a string header at `o`; returns the offset after it. */
function stringHeader(o: number, length: number): number {
  const buf = out;
  if (length < 32) {
    buf[o++] = 0xa0 | length;
  } else if (length < 0x100) {
    buf[o++] = 0xd9;
    buf[o++] = length;
  } else if (length < 0x10000) {
    buf[o++] = 0xda;
    buf[o++] = length >>> 8;
    buf[o++] = length & 0xff;
  } else {
    buf[o++] = 0xdb;
    view.setUint32(o, length);
    o += 4;
  }
  return o;
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

/** Writes the number at `i` as the encoder writes what `parseJson` makes of it; `pos` after it. */
function writeNumber(s: Buffer, i: number, o: number): number {
  const start = i;
  const negative = s[i] === 0x2d;
  if (negative) i++;
  let acc = 0;
  let digits = 0;
  if (s[i] === 0x30) {
    i++;
    digits = 1;
  } else {
    while (isDigit(s[i])) {
      acc = acc * 10 + (s[i]! - 0x30);
      i++;
      digits++;
    }
    if (digits === 0) refuse();
  }
  let fraction = false;
  let fractionZeros = true;
  let exponent = false;
  if (s[i] === 0x2e) {
    fraction = true;
    i++;
    if (!isDigit(s[i])) refuse();
    while (isDigit(s[i])) {
      if (s[i] !== 0x30) fractionZeros = false;
      i++;
    }
  }
  const e = s[i];
  if (e === 0x65 || e === 0x45) {
    exponent = true;
    i++;
    if (s[i] === 0x2b || s[i] === 0x2d) i++;
    if (!isDigit(s[i])) refuse();
    while (isDigit(s[i])) i++;
  }
  pos = i;
  if (!fraction && !exponent) {
    if (digits <= 15) return writeInt(out, o, negative ? -acc : acc);
    const v = Number(s.toString('latin1', start, i));
    return Number.isSafeInteger(v) ? writeInt(out, o, v) : writeF64(o, v);
  }
  sawFraction = true;
  const v = Number(s.toString('latin1', start, i));
  // parseJson makes `1.0000000000000000001` (integral value, fraction not all zeros, no exponent)
  // a Float64 only when some other number in the text looks like an integral float.
  if (!exponent && !fractionZeros && Number.isSafeInteger(v)) refuse();
  return writeF64(o, v);
}

/** @msgpack/msgpack `encodeNumber` for a safe integer (uint64/int64 beyond 32 bits, as rmp). */
function writeInt(buf: Uint8Array, o: number, v: number): number {
  if (v >= 0) {
    if (v < 0x80) {
      buf[o++] = v;
    } else if (v < 0x100) {
      buf[o++] = 0xcc;
      buf[o++] = v;
    } else if (v < 0x10000) {
      buf[o++] = 0xcd;
      buf[o++] = v >>> 8;
      buf[o++] = v & 0xff;
    } else if (v < 0x100000000) {
      buf[o++] = 0xce;
      view.setUint32(o, v);
      o += 4;
    } else {
      buf[o++] = 0xcf;
      view.setUint32(o, v / 0x100000000);
      view.setUint32(o + 4, v);
      o += 8;
    }
  } else if (v >= -0x20) {
    buf[o++] = 0xe0 | (v + 0x20);
  } else if (v >= -0x80) {
    buf[o++] = 0xd0;
    view.setInt8(o++, v);
  } else if (v >= -0x8000) {
    buf[o++] = 0xd1;
    view.setInt16(o, v);
    o += 2;
  } else if (v >= -0x80000000) {
    buf[o++] = 0xd2;
    view.setInt32(o, v);
    o += 4;
  } else {
    buf[o++] = 0xd3;
    view.setUint32(o, Math.floor(v / 0x100000000));
    view.setUint32(o + 4, v);
    o += 8;
  }
  return o;
}

function writeF64(o: number, v: number): number {
  out[o++] = 0xcb;
  view.setFloat64(o, v);
  return o + 8;
}

/** One object of a transcoded checkpoint (`transcodeCheckpoint`). */
export interface TranscodedCheckpointObject<T> {
  ts: number;
  /** The target the plan's parts of `o` were assigned onto. */
  target: T;
  /** The msgpack bytes of `o` (a view of one buffer shared by the checkpoint's objects). */
  msgpack: Uint8Array;
  owners: unknown;
  /** Where `o`'s JSON text lies in the checkpoint's bytes (for the whole object, read later). */
  from: number;
  to: number;
}

/**
 * Transcodes a checkpoint body (lib/aws/trace-store/checkpoints.ts `CheckpointBody`, written by
 * `JSON.stringify`): `{…, "objects": [{"ts": …, "o": {…}, "w": […]}, …], …}`, each object's `o` as
 * `transcodePayload` transcodes one, onto a target from `newTarget`. Undefined when any part of the
 * text is refused (the caller then parses the whole checkpoint, which gives its objects or its
 * error as before): what `transcodePayload` refuses, a repeated key, an entry without `ts`, `o` or
 * `w`, or a `ts` that is not an integer literal.
 *
 * The object path parses the checkpoint as one text, and `parseJson` decides once for the whole
 * text whether integral floats are looked for; each part here is read on its own. The two agree on
 * everything not refused: a number that could read differently by that decision (`1.000…01`) is
 * refused wherever it is, and `2.0`-like literals are found by either decision.
 */
export function transcodeCheckpoint<T extends Record<string, unknown>>(
  bytes: Uint8Array,
  plan: CapturePlan,
  newTarget: () => T,
): TranscodedCheckpointObject<T>[] | undefined {
  const s = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = s.length;
  if (!isUtf8(s)) return undefined;
  // The objects' bytes one after another in one buffer of their own, handed out as views of it:
  // one allocation, not one per object (from Buffer's pool: ~15 ms of the ~95 ms transcoding 5,000
  // objects). Room for the worst case (see transcodePayload); not zero-filled, so the pages never
  // written are never touched. The module's own buffer stays as it was.
  // Past 1 GiB of room (a checkpoint of ~350 MB of JSON, ~300,000 objects) the parse decides,
  // rather than reserve that much address space.
  if (3 * end + 64 > MAX_CHECKPOINT_OUTPUT_BYTES) return undefined;
  const savedOut = out;
  const savedView = view;
  out = Buffer.allocUnsafeSlow(3 * end + 64);
  view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  written = 0;
  try {
    let objects: TranscodedCheckpointObject<T>[] | undefined;
    const keys = new Set<string>();
    let i = skipWs(s, 0);
    if (s[i] !== 0x7b) return undefined;
    i = skipWs(s, i + 1);
    if (s[i] === 0x7d) return undefined;
    for (;;) {
      const key = keyAt(s, i);
      if (key === undefined || keys.has(key)) return undefined;
      keys.add(key);
      i = pos;
      if (key === 'objects') {
        objects = checkpointObjects(s, i, plan, newTarget);
        if (objects === undefined) return undefined;
        i = pos;
      } else {
        transcode(s, i, written, undefined, undefined);
        i = pos;
      }
      i = nextMember(s, i, 0x7d);
      if (i < 0) break;
    }
    if (skipWs(s, pos) !== end) return undefined;
    return objects;
  } catch (err) {
    if (err === REFUSED) return undefined;
    throw err;
  } finally {
    out = savedOut;
    view = savedView;
  }
}

/** A plain key (no escapes) at `i` and its `:`; `pos` at its value. Undefined otherwise. */
function keyAt(s: Buffer, i: number): string | undefined {
  if (s[i] !== 0x22) return undefined;
  let k = i + 1;
  while (k < s.length && s[k] !== 0x22 && s[k] !== 0x5c && s[k]! >= 0x20) k++;
  if (s[k] !== 0x22) return undefined;
  const key = s.toString('latin1', i + 1, k);
  const colon = skipWs(s, k + 1);
  if (s[colon] !== 0x3a) return undefined;
  pos = skipWs(s, colon + 1);
  return key;
}

const INTEGER_LITERAL = /^-?(?:0|[1-9][0-9]*)$/;

const MAX_CHECKPOINT_OUTPUT_BYTES = 1024 * 1024 * 1024;

/** transcodeCheckpoint: the output's end (the objects' bytes so far); other values are written after it, then dropped. */
let written = 0;

/** The checkpoint's `objects` array at `i`; `pos` after it. */
function checkpointObjects<T extends Record<string, unknown>>(
  s: Buffer,
  i: number,
  plan: CapturePlan,
  newTarget: () => T,
): TranscodedCheckpointObject<T>[] | undefined {
  const objects: TranscodedCheckpointObject<T>[] = [];
  if (s[i] !== 0x5b) return undefined;
  i = skipWs(s, i + 1);
  if (s[i] === 0x5d) {
    pos = i + 1;
    return objects;
  }
  for (;;) {
    if (s[i] !== 0x7b) return undefined;
    i = skipWs(s, i + 1);
    let ts: number | undefined;
    let target: T | undefined;
    let msgpack: Uint8Array | undefined;
    let owners: unknown;
    let sawOwners = false;
    let from = 0;
    let to = 0;
    if (s[i] === 0x7d) return undefined;
    for (;;) {
      const key = keyAt(s, i);
      if (key === undefined) return undefined;
      i = pos;
      if (key === 'ts' && ts === undefined) {
        const at = i;
        transcode(s, i, written, undefined, undefined);
        i = pos;
        const text = s.toString('latin1', at, i);
        if (!INTEGER_LITERAL.test(text)) return undefined;
        ts = Number(text);
      } else if (key === 'o' && target === undefined) {
        if (s[i] !== 0x7b) return undefined;
        target = newTarget();
        from = i;
        const o = transcode(s, i, written, plan.root, target);
        i = pos;
        to = i;
        msgpack = out.subarray(written, o);
        written = o;
      } else if (key === 'w' && !sawOwners) {
        owners = ownersAt(s, i, written);
        i = pos;
        sawOwners = true;
      } else {
        // Another key (the object path ignores it) or a repeated one (the object path takes the last).
        return undefined;
      }
      i = nextMember(s, i, 0x7d);
      if (i < 0) break;
    }
    if (ts === undefined || target === undefined || msgpack === undefined || !sawOwners) return undefined;
    objects.push({ ts, target, msgpack, owners, from, to });
    i = nextMember(s, pos, 0x5d);
    if (i < 0) break;
  }
  return objects;
}
