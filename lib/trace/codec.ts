/**
 * The SimKube trace file, format v2: msgpack as sk-tracer writes it (`rmp_serde::to_vec_named`),
 * and the JSON variant SimKube's own tests use. Pure: bytes or text in, `Trace` out, and back.
 *
 * What the file holds (checked against real traces; re-encoding them reproduces them byte for byte):
 * - one map with the fields version, config, events, index, pod_lifecycles, in that order;
 * - integers in their smallest encoding (rmp's `write_sint`/`write_uint`: a non-negative i64 is
 *   written as an unsigned int), floats as float64, strings as fixstr/str8/str16/str32;
 * - `index` is `{GVK: {nsName: u64}}`;
 * - `pod_lifecycles` is a map whose keys are 2-element arrays `[ownerGVK, ownerNsName]` and whose
 *   values are maps keyed by u64 pod-spec hashes, each a list of `{"Running": start}` or
 *   `{"Finished": [start, end]}` (serde's externally tagged enum).
 *
 * @msgpack/msgpack does the value encoding. It cannot write maps with non-string keys and by default
 * refuses to read them, so: on decode a `mapKeyConverter` replaces every non-string key by a tagged
 * string pointing into a side table, which `pod_lifecycles` resolves and which is an error
 * anywhere else (a trace v2 has no other non-string keys); on encode the map headers of `index` and `pod_lifecycles` are written here, around
 * keys and values the library encodes. Decoding uses `useBigInt64`, so a uint64 never passes through
 * a float; index values and pod-spec hashes become bigint, other integers up to 2^53 numbers.
 *
 * A float64 with an integral value (`2.0`) decodes as a `Float64` (float.ts) and is re-encoded as
 * float64, so it keeps its bytes and its spec hash; so does `2.0` in the JSON form.
 *
 * Known limits (JS objects have one key order):
 * - JS objects list integer-like keys ("0", "42") first, so an object in the events (a label map,
 *   say) holding such keys after others is re-encoded in another order (the index, a Map, keeps
 *   its order: see `DecodeContext`);
 * - a `podSpecTemplatePaths: nil` in a trace's config decodes as absent and is re-encoded absent.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import { EncodedObject } from './encoded-object.ts';
import { TraceFormatError } from './errors.ts';
import { Float64, floatValue, jsonNumberReviver } from './float.ts';
import type {
  Gvk,
  KubeObject,
  Lifecycle,
  LifecyclesBySpecHash,
  NsName,
  PodLifecycles,
  Trace,
  TraceConfigDoc,
  TraceEvent,
  TrackedObjectDoc,
} from './model.ts';
import { objKey } from './model.ts';

export const TRACE_VERSION = 2;
export type TraceFileFormat = 'msgpack' | 'json';

const TRACE_FIELDS = ['version', 'config', 'events', 'index', 'pod_lifecycles'] as const;
const EVENT_FIELDS = new Set(['ts', 'applied_objs', 'deleted_objs']);
const TRACKED_OBJECT_FIELDS = new Set(['podSpecTemplatePaths', 'trackLifecycle', 'skipOwned']);
const U64_MAX = (1n << 64n) - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
// Stands in for a non-string map key during decoding. A real string key starting with it is
// refused rather than misread (no Kubernetes or SimKube key starts with a NUL).
const KEY_TAG = '\u0000sktrace-key:';

// ---------------------------------------------------------------------------------------------
// Decoding

/** Decodes a msgpack trace v2. Throws `TraceFormatError` naming what is wrong. */
export function decodeTrace(bytes: Uint8Array): Trace {
  if (bytes.length === 0) throw new TraceFormatError('not a trace: the data is empty', { length: 0 });
  const head = bytes[0]!;
  // rmp writes the trace struct as a map (fixmap, map16 or map32): anything else is not a trace,
  // and saying so beats the decoder's complaint about what follows the first value.
  if (!((head >= 0x80 && head <= 0x8f) || head === 0xde || head === 0xdf)) {
    throw new TraceFormatError(
      `not a trace: the data starts with byte 0x${head.toString(16).padStart(2, '0')}, expected a msgpack map (or JSON text)`,
      { firstByte: head },
    );
  }
  const ctx = new DecodeContext('msgpack');
  const decoder = new Decoder({ useBigInt64: true, mapKeyConverter: (key: unknown) => ctx.convertKey(key) });
  keepIntegralFloats(decoder);
  let raw: unknown;
  try {
    raw = decoder.decode(bytes);
  } catch (err) {
    throw msgpackError(err, decoder, bytes.length);
  }
  return traceFromValue(raw, ctx);
}

/**
 * Decodes SimKube's JSON variant of a trace v2. Integers beyond 2^53 (u64 hashes) are read from
 * their source text, exactly, as bigint. `pod_lifecycles` must be `{}`: its keys are
 * `[GVK, nsName]` arrays, which a JSON object key cannot hold.
 */
export function decodeTraceJson(text: string): Trace {
  let raw: unknown;
  try {
    raw = JSON.parse(text, jsonNumberReviver as (this: unknown, key: string, value: unknown) => unknown);
  } catch (err) {
    throw new TraceFormatError(`not a trace: not JSON (${(err as Error).message})`, {}, { cause: err });
  }
  return traceFromValue(raw, new DecodeContext('json'));
}

/** True when the bytes look like JSON text (`{` or whitespace first) rather than msgpack. */
export function looksLikeJson(bytes: Uint8Array): boolean {
  const b = bytes[0];
  // A msgpack trace starts with a map header (0x80–0x8f, 0xde, 0xdf); the UTF-8 BOM (0xef) is JSON.
  return b === 0x7b || b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0xef;
}

/** Decodes a trace in either form, choosing by content. */
export function decodeTraceBytes(bytes: Uint8Array): { trace: Trace; format: TraceFileFormat } {
  if (looksLikeJson(bytes)) {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
    } catch (err) {
      throw new TraceFormatError('not a trace: looks like JSON but is not valid UTF-8', {}, { cause: err });
    }
    return { trace: decodeTraceJson(text), format: 'json' };
  }
  return { trace: decodeTrace(bytes), format: 'msgpack' };
}

/**
 * Makes the decoder hand a float64 with an integral value over as a `Float64` (float.ts) instead
 * of a number indistinguishable from an integer. @msgpack/msgpack reads a float64 (head 0xcb, the
 * only float rmp writes) through its `readF64` method and has no option for this, so that method
 * is wrapped on this one instance.
 */
function keepIntegralFloats(decoder: Decoder): void {
  const d = decoder as unknown as { readF64: () => number | Float64 };
  const readF64 = d.readF64.bind(decoder) as () => number;
  d.readF64 = () => floatValue(readF64());
}

function msgpackError(err: unknown, decoder: Decoder, length: number): TraceFormatError {
  if (err instanceof TraceFormatError) return err;
  if (err instanceof RangeError) {
    const extra = /^Extra (\d+) of (\d+) byte\(s\) found at buffer\[(\d+)\]/.exec(err.message);
    if (extra) {
      return new TraceFormatError(
        `trailing data: ${extra[1]} byte(s) after the end of the trace at byte ${extra[3]} of ${length}`,
        { trailingBytes: Number(extra[1]), endOffset: Number(extra[3]), length },
        { cause: err },
      );
    }
    // The decoder ran out of input (its "Insufficient data", or a DataView read past the end).
    const pos = Reflect.get(decoder, 'pos');
    const at = typeof pos === 'number' ? Math.min(pos, length) : length;
    return new TraceFormatError(
      `truncated trace: the data ends inside the value at byte ${at} of ${length}`,
      { offset: at, length },
      { cause: err },
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new TraceFormatError(`not a trace: not valid msgpack (${message})`, {}, { cause: err });
}

/**
 * Map keys during one decoding. The msgpack decoder builds JS objects, which cannot hold a
 * non-string key and list integer-like keys ("0", "42") before all others. So `convertKey` swaps
 * both kinds for a tag (a string that is neither) pointing into `keys`: `nonStringKey` resolves a
 * tag where a non-string key belongs (pod_lifecycles), and `name` everywhere else, where it gives
 * an integer-like key back and refuses a non-string one. Keys of the index keep their place this
 * way; an object's integer-like keys come back first, as JS objects have them.
 */
class DecodeContext {
  readonly format: TraceFileFormat;
  private readonly keys: unknown[] = [];

  constructor(format: TraceFileFormat) {
    this.format = format;
  }

  convertKey(key: unknown): string {
    if (typeof key === 'string') {
      const c = key.charCodeAt(0);
      if (c === 0 && key.startsWith(KEY_TAG)) {
        // Refused rather than misread; no Kubernetes or SimKube key starts with a NUL.
        throw new TraceFormatError(`map key ${JSON.stringify(key)} starts with a reserved prefix`);
      }
      if (c < 0x30 || c > 0x39 || !INTEGER_LIKE.test(key)) return key;
    }
    this.keys.push(key);
    return KEY_TAG + (this.keys.length - 1);
  }

  private tagged(key: string): { value: unknown } | undefined {
    if (this.format !== 'msgpack' || key.charCodeAt(0) !== 0 || !key.startsWith(KEY_TAG)) return undefined;
    return { value: this.keys[Number(key.slice(KEY_TAG.length))] };
  }

  /** The string key `key` stands for; throws when it stands for a non-string key. */
  name(key: string, where: string): string {
    const tag = this.tagged(key);
    if (tag === undefined) return key;
    if (typeof tag.value === 'string') return tag.value;
    throw new TraceFormatError(
      `not a trace v2: ${where} has a map key that is ${describe(tag.value)}: only pod_lifecycles has non-string keys`,
      { path: where },
    );
  }

  /** The non-string key behind a tag, or undefined when `key` stands for a string. */
  nonStringKey(key: string): { value: unknown } | undefined {
    const tag = this.tagged(key);
    return tag === undefined || typeof tag.value === 'string' ? undefined : tag;
  }

  /** [name, value] pairs of a decoded map, with string keys restored. */
  entries(map: Record<string, unknown>, where: string): [string, unknown][] {
    return Object.entries(map).map(([k, v]) => [this.name(k, where), v]);
  }
}

const INTEGER_LIKE = /^(?:0|[1-9][0-9]*)$/;

function traceFromValue(raw: unknown, ctx: DecodeContext): Trace {
  if (!isMap(raw)) {
    throw new TraceFormatError(
      `not a trace: the top level is ${describe(raw)}, expected a map with the fields ${TRACE_FIELDS.join(', ')}`,
    );
  }
  // The version first: another version has other fields, and "wrong version" is the useful message.
  if (!('version' in raw)) throw missing('version', 'the trace');
  const version = raw.version;
  if (version !== TRACE_VERSION && version !== BigInt(TRACE_VERSION)) {
    throw new TraceFormatError(
      `unsupported trace version ${typeof version === 'number' || typeof version === 'bigint' ? version : describe(version)}: sktrace reads trace format version ${TRACE_VERSION}`,
      { version: typeof version === 'bigint' ? version.toString() : version },
    );
  }
  for (const field of TRACE_FIELDS) {
    if (!(field in raw)) throw missing(field, 'the trace');
  }
  for (const [field] of ctx.entries(raw, 'the trace')) {
    if (!(TRACE_FIELDS as readonly string[]).includes(field)) throw unexpected(field, 'the trace');
  }
  return {
    version: TRACE_VERSION,
    config: configFromValue(raw.config, ctx),
    events: eventsFromValue(raw.events, ctx),
    index: indexFromValue(raw.index, ctx),
    podLifecycles: lifecyclesFromValue(raw.pod_lifecycles, ctx),
  };
}

function configFromValue(raw: unknown, ctx: DecodeContext): TraceConfigDoc {
  expectMap(raw, 'config');
  for (const [field] of ctx.entries(raw, 'config')) {
    if (field !== 'trackedObjects') throw unexpected(field, 'config');
  }
  if (!('trackedObjects' in raw)) throw missing('trackedObjects', 'config');
  const tracked = raw.trackedObjects;
  expectMap(tracked, 'config.trackedObjects');
  const trackedObjects: Record<Gvk, TrackedObjectDoc> = {};
  for (const [gvk, doc] of ctx.entries(tracked, 'config.trackedObjects')) {
    const path = `config.trackedObjects[${JSON.stringify(gvk)}]`;
    expectMap(doc, path);
    const out: TrackedObjectDoc = {};
    for (const [field, value] of ctx.entries(doc, path)) {
      if (!TRACKED_OBJECT_FIELDS.has(field)) throw unexpected(field, path);
      if (field === 'podSpecTemplatePaths') {
        if (value === null) continue;
        if (!Array.isArray(value) || !value.every((p) => typeof p === 'string')) {
          throw wrongType(`${path}.podSpecTemplatePaths`, 'a list of strings', value);
        }
        out.podSpecTemplatePaths = value;
      } else {
        if (typeof value !== 'boolean') throw wrongType(`${path}.${field}`, 'a boolean', value);
        out[field as 'trackLifecycle' | 'skipOwned'] = value;
      }
    }
    trackedObjects[gvk] = out;
  }
  return { trackedObjects };
}

function eventsFromValue(raw: unknown, ctx: DecodeContext): TraceEvent[] {
  if (!Array.isArray(raw)) throw wrongType('events', 'a list', raw);
  const events: TraceEvent[] = [];
  for (let i = 0; i < raw.length; i++) {
    const path = `events[${i}]`;
    const e: unknown = raw[i];
    expectMap(e, path);
    for (const field of EVENT_FIELDS) {
      if (!(field in e)) throw missing(field, path);
    }
    for (const [field] of ctx.entries(e, path)) {
      if (!EVENT_FIELDS.has(field)) throw unexpected(field, path);
    }
    events.push({
      ts: safeInt(e.ts, `${path}.ts`),
      applied_objs: objectsFromValue(e.applied_objs, `${path}.applied_objs`, ctx),
      deleted_objs: objectsFromValue(e.deleted_objs, `${path}.deleted_objs`, ctx),
    });
  }
  return events;
}

function objectsFromValue(raw: unknown, path: string, ctx: DecodeContext): KubeObject[] {
  if (!Array.isArray(raw)) throw wrongType(path, 'a list', raw);
  for (let i = 0; i < raw.length; i++) {
    const objPath = `${path}[${i}]`;
    const obj = normalizeJson(raw[i], objPath, ctx);
    expectMap(obj, objPath);
    if (typeof obj.apiVersion !== 'string') {
      throw wrongType(`${objPath}.apiVersion`, 'a string', obj.apiVersion);
    }
    if (typeof obj.kind !== 'string') throw wrongType(`${objPath}.kind`, 'a string', obj.kind);
    expectMap(obj.metadata, `${objPath}.metadata`);
    raw[i] = obj;
  }
  return raw as KubeObject[];
}

/**
 * Makes a decoded value plain JSON: a bigint that fits a double exactly becomes a number (rmp
 * writes any integer ≥ 2^32 as uint64, which the decoder hands over as bigint); larger integers
 * stay bigint, which the spec hash and the encoder take as integers. Tagged integer-like keys get
 * their names back. Binary data and msgpack extensions have no JSON form and are refused.
 */
function normalizeJson(value: unknown, path: string, ctx: DecodeContext): unknown {
  if (typeof value === 'bigint') {
    return value <= MAX_SAFE && value >= MIN_SAFE ? Number(value) : value;
  }
  if (typeof value !== 'object' || value === null || value instanceof Float64) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v === 'object' || typeof v === 'bigint') value[i] = normalizeJson(v, `${path}[${i}]`, ctx);
    }
    return value;
  }
  if (!isMap(value)) throw wrongType(path, 'a JSON value', value);
  let renamed = false;
  for (const key in value) {
    if (key.charCodeAt(0) === 0) renamed = true;
    const v = value[key];
    if (typeof v === 'object' || typeof v === 'bigint') value[key] = normalizeJson(v, `${path}.${key}`, ctx);
  }
  // Rare (an object with an integer-like key): rebuild it with the real names.
  return renamed ? Object.fromEntries(ctx.entries(value, path)) : value;
}

function indexFromValue(raw: unknown, ctx: DecodeContext): Map<Gvk, Map<NsName, bigint>> {
  expectMap(raw, 'index');
  const index = new Map<Gvk, Map<NsName, bigint>>();
  for (const [gvk, byName] of ctx.entries(raw, 'index')) {
    const path = `index[${JSON.stringify(gvk)}]`;
    expectMap(byName, path);
    const m = new Map<NsName, bigint>();
    for (const [nsName, hash] of ctx.entries(byName, path)) {
      m.set(nsName, u64(hash, `${path}[${JSON.stringify(nsName)}]`));
    }
    index.set(gvk, m);
  }
  return index;
}

function lifecyclesFromValue(raw: unknown, ctx: DecodeContext): PodLifecycles {
  expectMap(raw, 'pod_lifecycles');
  const out: PodLifecycles = new Map();
  for (const [ownerKey, byHash] of Object.entries(raw)) {
    const owner = ctx.nonStringKey(ownerKey);
    if (owner === undefined) {
      const name = ctx.name(ownerKey, 'pod_lifecycles');
      throw new TraceFormatError(
        ctx.format === 'json'
          ? 'pod_lifecycles in a JSON trace must be {}: its keys are [GVK, nsName] arrays, which JSON object keys cannot hold'
          : `pod_lifecycles key ${JSON.stringify(name)} is a string, expected a [GVK, nsName] array`,
        { key: name },
      );
    }
    const ref = owner.value;
    if (!Array.isArray(ref) || ref.length !== 2 || typeof ref[0] !== 'string' || typeof ref[1] !== 'string') {
      throw wrongType('a pod_lifecycles key', 'a [GVK, nsName] array of two strings', ref);
    }
    const ownerRef = { gvk: ref[0], nsName: ref[1] };
    const path = `pod_lifecycles[${JSON.stringify(ref)}]`;
    expectMap(byHash, path);
    const bySpecHash: LifecyclesBySpecHash = new Map();
    for (const [hashKey, list] of Object.entries(byHash)) {
      const tagged = ctx.nonStringKey(hashKey);
      if (tagged === undefined) {
        throw wrongType(`a key of ${path}`, 'a u64 pod-spec hash', ctx.name(hashKey, path));
      }
      const hash = u64(tagged.value, `a key of ${path}`);
      bySpecHash.set(hash, lifecycleList(list, `${path}[${hash}]`, ctx));
    }
    const key = objKey(ownerRef);
    if (out.has(key)) {
      throw new TraceFormatError(`${path} appears twice in pod_lifecycles`, { owner: ownerRef });
    }
    out.set(key, { owner: ownerRef, bySpecHash });
  }
  return out;
}

function lifecycleList(raw: unknown, path: string, ctx: DecodeContext): Lifecycle[] {
  if (!Array.isArray(raw)) throw wrongType(path, 'a list of lifecycles', raw);
  return raw.map((lc: unknown, i) => {
    const at = `${path}[${i}]`;
    if (isMap(lc)) {
      const entries = ctx.entries(lc, at);
      const [variant, value] = entries[0] ?? [];
      if (entries.length === 1 && variant === 'Running') return { startTs: safeInt(value, `${at}.Running`) };
      if (entries.length === 1 && variant === 'Finished') {
        if (Array.isArray(value) && value.length === 2) {
          return {
            startTs: safeInt(value[0], `${at}.Finished[0]`),
            endTs: safeInt(value[1], `${at}.Finished[1]`),
          };
        }
        throw wrongType(`${at}.Finished`, 'a [start, end] pair', value);
      }
    }
    throw wrongType(at, '{"Running": start} or {"Finished": [start, end]}', lc);
  });
}

function isMap(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function expectMap(v: unknown, path: string): asserts v is Record<string, unknown> {
  if (!isMap(v)) throw wrongType(path, 'a map', v);
}

function safeInt(v: unknown, path: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'bigint' && v <= MAX_SAFE && v >= MIN_SAFE) return Number(v);
  throw wrongType(path, 'an integer', v);
}

function u64(v: unknown, path: string): bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'bigint' && v >= 0n && v <= U64_MAX) return v;
  throw wrongType(path, 'a u64', v);
}

function describe(v: unknown): string {
  if (v === null) return 'nil';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Uint8Array) return 'binary data';
  if (typeof v === 'object') return isMap(v) ? 'a map' : `a ${v.constructor?.name ?? 'value'}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number' || typeof v === 'bigint') return `the number ${v}`;
  return `${typeof v} ${String(v)}`;
}

function missing(field: string, where: string): TraceFormatError {
  return new TraceFormatError(`not a trace v2: ${where} has no field ${JSON.stringify(field)}`, {
    field,
    where,
  });
}

function unexpected(field: string, where: string): TraceFormatError {
  return new TraceFormatError(`not a trace v2: unexpected field ${JSON.stringify(field)} in ${where}`, {
    field,
    where,
  });
}

function wrongType(path: string, expected: string, got: unknown): TraceFormatError {
  return new TraceFormatError(`not a trace v2: ${path} is ${describe(got)}, expected ${expected}`, {
    path,
    expected,
  });
}

// ---------------------------------------------------------------------------------------------
// Encoding

// Without useBigInt64 the library writes every safe integer in its smallest int encoding (uint64
// and int64 included), as rmp does; with it, it would write integers ≥ 2^32 as float64.
const intEncoder = withFloat64(new Encoder({ ignoreUndefined: true }));
// Only for values holding bigints (u64 beyond 2^53): there safe integers outside the 32-bit
// ranges are turned into bigint first, so both kinds come out as uint64/int64.
const bigIntEncoder = withFloat64(new Encoder({ ignoreUndefined: true, useBigInt64: true }));

/**
 * Makes the encoder write a `Float64` (float.ts) as a msgpack float64, as rmp writes every f64, and
 * an `EncodedObject` (encoded-object.ts) as the bytes it already holds. The
 * library would see a class instance as a map; its `doEncode` writes primitives itself and hands
 * every other value to `encodeObject` (extensions, arrays, binary, maps), which has no hook for
 * this, so it is wrapped on this one instance. (Wrapping `doEncode` instead ran the check for every
 * value, strings and numbers included: ~8 % of an export's CPU.)
 */
function withFloat64(encoder: Encoder): Encoder {
  const e = encoder as unknown as {
    encodeObject: (object: unknown, depth: number) => void;
    writeU8: (b: number) => void;
    writeF64: (n: number) => void;
    writeU8a: (bytes: Uint8Array) => void;
  };
  const encodeObject = e.encodeObject.bind(encoder);
  e.encodeObject = (object, depth) => {
    if (object instanceof Float64) {
      e.writeU8(0xcb);
      e.writeF64(object.value);
    } else if (object instanceof EncodedObject) {
      // Already the bytes this encoder would write for the whole object (lib/store/json-msgpack.ts);
      // written once (a second encoding, which no export does, encodes the whole object again).
      const bytes = object.takeMsgpack();
      if (bytes !== undefined) e.writeU8a(bytes);
      else encodeObject(object.fullObject(), depth);
    } else {
      encodeObject(object, depth);
    }
  };
  return encoder;
}

/**
 * Encodes a trace v2 as sk-tracer does: decoding one of its files and encoding the result gives
 * the same bytes (within the limits listed at the top of this module).
 */
export function encodeTrace(trace: Trace): Uint8Array {
  const out = new ChunkWriter();
  out.mapHeader(TRACE_FIELDS.length);
  out.value('version');
  out.value(TRACE_VERSION);
  out.value('config');
  out.value(trace.config);
  out.value('events');
  out.value(trace.events);
  writeTail(out, trace);
  return out.concat();
}

function writeTail(out: ChunkWriter, trace: Pick<Trace, 'index' | 'podLifecycles'>): void {
  out.value('index');
  out.mapHeader(trace.index.size);
  for (const [gvk, byName] of trace.index) {
    out.value(gvk);
    out.mapHeader(byName.size);
    writeIndexEntries(out, byName);
  }
  out.value('pod_lifecycles');
  out.mapHeader(trace.podLifecycles.size);
  for (const { owner, bySpecHash } of trace.podLifecycles.values()) {
    out.value([owner.gvk, owner.nsName]);
    out.mapHeader(bySpecHash.size);
    for (const [hash, lifecycles] of bySpecHash) {
      out.value(hashValue(hash));
      out.value(
        lifecycles.map((lc) =>
          lc.endTs === undefined ? { Running: lc.startTs } : { Finished: [lc.startTs, lc.endTs] },
        ),
      );
    }
  }
}

/**
 * One GVK's index entries — nsName, then its spec hash — written into one chunk: an encoder call
 * per name and per hash (a bigint, widened and encoded on its own) took 5–32 ms for an export's
 * 5,000 objects after its last event (docs/benchmarks.md "export"). The same bytes as `value()`:
 * an ASCII name (every Kubernetes name; others go through `value()`) as fixstr/str8/str16/str32,
 * a hash ≥ 2^32 as uint64 (0xcf, big-endian) — what the encoders write for a number ≥ 2^32 and
 * for a bigint alike; a smaller hash (odds 2^-32 each) through `value()`, which picks its form.
 */
function writeIndexEntries(out: ChunkWriter, byName: ReadonlyMap<NsName, bigint>): void {
  let bytes = 0;
  for (const nsName of byName.keys()) bytes += 5 + nsName.length + 9;
  const chunk = Buffer.allocUnsafe(bytes);
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.length);
  let at = 0;
  let from = 0;
  for (const [nsName, hash] of byName) {
    const length = nsName.length;
    // UTF-8 as long as UTF-16 only when every code unit is ASCII.
    if (Buffer.byteLength(nsName, 'utf8') !== length || hash < U32_LIMIT || hash > U64_MAX) {
      // This entry through value(), after what the chunk holds so far.
      if (at > from) out.bytes(chunk.subarray(from, at));
      out.value(nsName);
      out.value(hashValue(hash));
      from = at;
      continue;
    }
    if (length < 32) chunk[at++] = 0xa0 | length;
    else if (length < 0x100) {
      chunk[at++] = 0xd9;
      chunk[at++] = length;
    } else if (length < 0x10000) {
      chunk[at++] = 0xda;
      chunk.writeUInt16BE(length, at);
      at += 2;
    } else {
      chunk[at++] = 0xdb;
      chunk.writeUInt32BE(length, at);
      at += 4;
    }
    at += chunk.write(nsName, at, 'latin1');
    chunk[at++] = 0xcf;
    view.setBigUint64(at, hash);
    at += 8;
  }
  if (at > from) out.bytes(chunk.subarray(from, at));
}

const U32_LIMIT = 1n << 32n;

/** A u64 as the encoder should see it: a number when exact, so it gets the smallest encoding. */
function hashValue(hash: bigint): number | bigint {
  if (hash < 0n || hash > U64_MAX) throw new RangeError(`${hash} is not a u64`);
  return hash <= MAX_SAFE ? Number(hash) : hash;
}

class ChunkWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  private push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** A msgpack map header: fixmap (< 16 entries), map16 or map32, sizes big-endian. */
  mapHeader(size: number): void {
    if (size < 16) {
      this.push(Uint8Array.of(0x80 | size));
    } else if (size < 0x10000) {
      this.push(Uint8Array.of(0xde, size >>> 8, size & 0xff));
    } else {
      this.push(Uint8Array.of(0xdf, size >>> 24, (size >>> 16) & 0xff, (size >>> 8) & 0xff, size & 0xff));
    }
  }

  /** Bytes written as they are. */
  bytes(chunk: Uint8Array): void {
    this.push(chunk);
  }

  value(v: unknown): void {
    this.push(hasBigInt(v) ? bigIntEncoder.encode(widenForBigIntEncoder(v)) : intEncoder.encode(v));
  }

  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

function hasBigInt(v: unknown): boolean {
  if (typeof v === 'bigint') return true;
  if (typeof v !== 'object' || v === null || v instanceof EncodedObject) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if ((typeof x === 'object' || typeof x === 'bigint') && hasBigInt(x)) return true;
    }
    return false;
  }
  for (const key in v) {
    const x: unknown = (v as Record<string, unknown>)[key];
    if ((typeof x === 'object' || typeof x === 'bigint') && hasBigInt(x)) return true;
  }
  return false;
}

/** A copy where integers are what `bigIntEncoder` writes in rmp's encoding (see above). */
function widenForBigIntEncoder(v: unknown): unknown {
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) && (v >= 0x100000000 || v < -0x80000000) ? BigInt(v) : v;
  }
  if (typeof v === 'bigint') {
    if (v <= MAX_SAFE && v >= MIN_SAFE) return widenForBigIntEncoder(Number(v));
    if (v > U64_MAX || v < -(1n << 63n)) throw new RangeError(`${v} does not fit a msgpack integer`);
    return v;
  }
  if (typeof v !== 'object' || v === null || v instanceof Float64 || v instanceof EncodedObject) return v;
  if (Array.isArray(v)) return v.map(widenForBigIntEncoder);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = widenForBigIntEncoder(x);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Streaming encoding (exports too large to hold): the same bytes as `encodeTrace`, in pieces.
// A msgpack array is its header followed by its elements, so `encodeTraceHead` + `encodeArrayHeader
// (n)` + n events (`encodeTraceEventInto`) + `encodeTraceTail` equals `encodeTrace` of the same
// trace; the events' count is needed only for the header, which a streaming writer fills in last
// (lib/export/trace-stream.ts). tests/export/stream.test.ts compares both on random histories.

/** The trace's map header, `version`, `config` and the key `events`: everything before the events array. */
export function encodeTraceHead(config: TraceConfigDoc): Uint8Array {
  const out = new ChunkWriter();
  out.mapHeader(TRACE_FIELDS.length);
  out.value('version');
  out.value(TRACE_VERSION);
  out.value('config');
  out.value(config);
  out.value('events');
  return out.concat();
}

/** A msgpack array header in its smallest form (fixarray, array16, array32), as the encoder writes it. */
export function encodeArrayHeader(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0 || length > 0xffffffff) {
    throw new RangeError(`${length} is not a msgpack array length`);
  }
  if (length < 16) return Uint8Array.of(0x90 | length);
  if (length < 0x10000) return Uint8Array.of(0xdc, length >>> 8, length & 0xff);
  return Uint8Array.of(0xdd, length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
}

/**
 * One event's bytes, handed to `sink` in one or more pieces, in order, each valid only during its
 * call: a view of the encoder's own buffer, reused by the next call (copying it out once is the
 * caller's job — saves a copy per event), or an object's own bytes.
 */
export function encodeTraceEventInto(event: TraceEvent, sink: (bytes: Uint8Array) => void): void {
  if (encodedObjectBytes(event) >= PIECES_MIN_BYTES && encodeInPieces(event, sink)) return;
  // Events almost never hold a bigint (stored bodies never do; a u64 beyond 2^53 only comes from
  // an imported trace or a transform), so the int encoder is tried first: it refuses a bigint
  // (its encodeObject throws "Unrecognized object"), and only then is the event walked for one.
  // Walking every event first (hasBigInt) was ~6 % of an export's CPU.
  let bytes: Uint8Array;
  try {
    bytes = intEncoder.encodeSharedRef(event);
  } catch (err) {
    if (!hasBigInt(event)) throw err;
    bytes = bigIntEncoder.encodeSharedRef(widenForBigIntEncoder(event));
  }
  sink(bytes);
}

/**
 * An event whose applied objects are all `EncodedObject`s holding this many bytes or more goes out
 * in pieces: a start event from a transcoded checkpoint (5,000 objects, ~4.4 MB) written through
 * the encoder grew its buffer from 2 KiB to 8 MiB on the way, copying and zero-filling ~16 MB in a
 * fresh export process (~45 ms of CPU, measured with the export's start state decoded and encoded
 * in a fresh process: docs/benchmarks.md "export"); handed over as they are, they are copied once,
 * by the sink.
 */
const PIECES_MIN_BYTES = 64 * 1024;

/** The total of the applied objects' bytes when every one is an EncodedObject holding its bytes, else 0. */
function encodedObjectBytes(event: TraceEvent): number {
  const objs = event.applied_objs;
  if (!Array.isArray(objs)) return 0;
  let total = 0;
  for (let i = 0; i < objs.length; i++) {
    const o = objs[i];
    if (!(o instanceof EncodedObject)) return 0;
    const n = o.msgpackLength();
    if (n === undefined) return 0;
    total += n;
  }
  return total;
}

const EVENT_KEYS = ['ts', 'applied_objs', 'deleted_objs'];
/** The key `applied_objs` as a fixstr, then an empty array's header. */
const APPLIED_EMPTY = Uint8Array.of(0xac, ...new TextEncoder().encode('applied_objs'), 0x90);

/**
 * The event encoded with no applied objects — `{ts, applied_objs: [], deleted_objs}`, the same
 * bytes as in one piece around them — split where the empty array's header stands: the objects'
 * array header and their bytes go there. Only for an event of exactly these keys in this order
 * (as assembly makes them); any other shape takes the encoder whole.
 */
function encodeInPieces(event: TraceEvent, sink: (bytes: Uint8Array) => void): boolean {
  const keys = Object.keys(event);
  if (keys.length !== 3 || !keys.every((k, i) => k === EVENT_KEYS[i])) return false;
  let skeleton: Uint8Array | undefined;
  encodeTraceEventInto({ ...event, applied_objs: [] }, (bytes) => {
    skeleton = bytes.slice();
  });
  // The first match is the key's: its fixstr header (0xac) occurs nowhere else in the needle, and
  // only the map header, `ts` and its number come before it.
  const at = indexOfBytes(skeleton!, APPLIED_EMPTY);
  if (at < 0) return false;
  const header = at + APPLIED_EMPTY.length - 1;
  sink(skeleton!.subarray(0, header));
  sink(encodeArrayHeader(event.applied_objs.length));
  for (const o of event.applied_objs) sink((o as EncodedObject).takeMsgpack()!);
  sink(skeleton!.subarray(header + 1));
  return true;
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(needle);
}

/** `index` and `pod_lifecycles`, keys included: everything after the events array. */
export function encodeTraceTail(trace: Pick<Trace, 'index' | 'podLifecycles'>): Uint8Array {
  const out = new ChunkWriter();
  writeTail(out, trace);
  return out.concat();
}
