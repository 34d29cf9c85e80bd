/**
 * Floats with an integral value (`2.0`). JavaScript has one number type, so a msgpack float64 2.0
 * and the integer 2 both decode as the number 2; but SimKube keeps them apart (serde_json's
 * `Number` is `PosInt | NegInt | Float`): rmp writes a float as float64 (0xcb) and its spec hash
 * feeds a float's f64 bits where an integer gives its u64 (serde_json `N::hash`). Losing the
 * difference changes a trace's bytes and its index hash.
 *
 * So an integral float is carried as a `Float64` from every decoder that can see the difference
 * (msgpack's float64 head, JSON text written as `2.0`/`2e0`) to every encoder: msgpack writes it as
 * float64 (codec.ts), `JSON.stringify` writes it as `2.0` through `toJSON` + `JSON.rawJSON`
 * (Node ≥ 21), so it survives the ingest wire and stored bodies; the spec hash takes its f64 bits
 * (hash.ts). Non-integral floats need none of this: a JS number with a fraction is a float
 * everywhere already.
 */

/** An f64 whose value is an integer (or −0): kept apart from the integer of the same value. */
export class Float64 {
  readonly value: number;

  constructor(value: number) {
    this.value = value;
  }

  /** JSON text with a fraction part, so a JSON reader (ours, serde_json) reads a float back. */
  toJSON(): unknown {
    return rawJson(floatJsonText(this.value));
  }

  valueOf(): number {
    return this.value;
  }
}

// Node 22 has JSON.rawJSON (V8 11.4); TypeScript's lib does not declare it yet.
const rawJson = (JSON as unknown as { rawJSON: (text: string) => unknown }).rawJSON;

/** `2` → `2.0`, `-0` → `-0.0`; other values as JSON writes them. */
export function floatJsonText(n: number): string {
  if (Object.is(n, -0)) return '-0.0';
  const text = JSON.stringify(n);
  return /[.eE]/.test(text) || !Number.isFinite(n) ? text : `${text}.0`;
}

/** Whether a float64 decoded as `n` must be wrapped to keep being a float in JS. */
export function needsFloatWrapper(n: number): boolean {
  return Number.isSafeInteger(n) || Object.is(n, -0);
}

/** A decoded float64 as the rest of sktrace carries it. */
export function floatValue(n: number): number | Float64 {
  return needsFloatWrapper(n) ? new Float64(n) : n;
}

/** The number a JSON value stands for: a Float64's value, else the value itself. */
export function numericValue(v: unknown): unknown {
  return v instanceof Float64 ? v.value : v;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A `JSON.parse` reviver keeping what serde_json would see (Node 22 hands revivers the source
 * text of each primitive): an integer literal beyond 2^53 becomes an exact bigint, and a number
 * written with a fraction or exponent whose value is integral (`2.0`) becomes a Float64.
 */
export function jsonNumberReviver(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number' || context?.source === undefined) return value;
  const source = context.source;
  if (/[.eE]/.test(source)) return needsFloatWrapper(value) ? new Float64(value) : value;
  if (!Number.isSafeInteger(value) && /^-?\d+$/.test(source)) {
    const big = BigInt(source);
    return big > MAX_SAFE || big < -MAX_SAFE ? big : value;
  }
  return value;
}

/**
 * A reviver keeping only the float/integer difference: integers stay numbers as plain
 * `JSON.parse` gives them (the ingest wire and stored bodies never held bigints).
 */
function floatReviver(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number' || context?.source === undefined) return value;
  return /[.eE]/.test(context.source) && needsFloatWrapper(value) ? new Float64(value) : value;
}

/**
 * Text that may hold a float with an integral value: a number token — after `:`, `,`, `[` or at
 * the start, before `,`, `}`, `]` or the end, JSON's only places for a value — of digits, a point
 * and only zeros (`2.0`; `2.` is not JSON), or with an exponent. Strings matching it only cost the
 * slower parse. Anchoring on the token's ends matters: the older test (any digit followed by `e`,
 * or `.0`) matched every hex digest — image digests, uids, checksums, i.e. nearly every Kubernetes
 * object — so nearly every stored body took the reviver, ~35 µs for a 1 KB Deployment against
 * ~4 µs (docs/benchmarks.md "export").
 */
const INTEGRAL_FLOAT_CANDIDATE = /(?:^|[:,[])\s*-?[0-9]+(?:(?:\.[0-9]+)?[eE][+-]?[0-9]+|\.0+)\s*(?:[,}\]]|$)/;

/**
 * `JSON.parse` keeping integral floats as Float64. Text without a candidate (almost every
 * Kubernetes object: quantities are strings) takes the plain parse, which is faster and, unlike a
 * reviver (recursive in V8), takes any nesting depth; so does text the reviver cannot walk (a
 * stack overflow): its floats are then plain numbers, and a depth check after parsing refuses it.
 */
export function parseJson(text: string): unknown {
  if (!INTEGRAL_FLOAT_CANDIDATE.test(text)) return JSON.parse(text);
  try {
    return JSON.parse(text, floatReviver as (this: unknown, key: string, value: unknown) => unknown);
  } catch (err) {
    if (err instanceof RangeError) return JSON.parse(text);
    throw err;
  }
}
