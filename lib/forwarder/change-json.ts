/**
 * An applied change's JSON cut from the watch line it came in, instead of `JSON.stringify` of the
 * parsed object: the object's members are copied as the API server wrote them, except `metadata`
 * (replaced by the sanitised metadata's JSON) and `status` (left out) — what sanitising does
 * (lib/trace/sanitize.ts) when it leaves `spec` as it is (all kinds but Pods, whose
 * `spec.nodeName` it removes: the caller checks). Re-serialising a ~1 KB Deployment spec that
 * arrived as text cost more than finding where its text ends (docs/benchmarks.md
 * forwarder_throughput, session 7).
 *
 * Equal once parsed, not byte-equal: the text keeps the server's spelling (Go writes `<` as
 * `\u003c`; an integer beyond 2^53 keeps its digits, which the stringified double lost). Anything
 * this reader does not expect — whitespace between the members it walks, an escaped key, a line
 * not of the shape `{"type":…,"object":{…}}` — answers undefined, and the caller stringifies.
 */

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;

/** End (after the closing quote) of the JSON string opening at `i`; -1 if it does not close. */
function skipString(s: string, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = s.indexOf('"', from);
    if (q < 0) return -1;
    // Escaped only after an odd number of backslashes.
    let b = q - 1;
    while (s.charCodeAt(b) === BACKSLASH) b--;
    if (((q - 1 - b) & 1) === 0) return q + 1;
    from = q + 1;
  }
}

/**
 * End of the JSON value starting at `i` (no whitespace before it); -1 if malformed. Containers by
 * depth, strings by their quotes; scalars end at `,` `}` `]` or whitespace. Not a validator: the
 * line was parsed already (JSON.parse), so it is JSON; this only finds where values end.
 */
export function skipValue(s: string, i: number): number {
  const n = s.length;
  const c0 = s.charCodeAt(i);
  if (c0 === QUOTE) return skipString(s, i);
  if (c0 !== OPEN_BRACE && c0 !== OPEN_BRACKET) {
    let j = i;
    while (j < n) {
      const c = s.charCodeAt(j);
      if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || c <= 32) break;
      j++;
    }
    return j > i ? j : -1;
  }
  let depth = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === QUOTE) {
      i = skipString(s, i);
      if (i < 0) return -1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
      i++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      i++;
      if (--depth === 0) return i;
    } else {
      i++;
    }
  }
  return -1;
}

/**
 * Walks the members of the object opening at `at` (a `{`), calling `member(keyStart, valueStart,
 * valueEnd)` for each (keyStart at its opening quote); returns the index after the closing `}`,
 * or -1 on anything unexpected (whitespace, an escaped key, malformed text).
 */
function walkMembers(
  s: string,
  at: number,
  member: (key: number, value: number, end: number) => void,
): number {
  if (s.charCodeAt(at) !== OPEN_BRACE) return -1;
  let i = at + 1;
  if (s.charCodeAt(i) === CLOSE_BRACE) return i + 1;
  for (;;) {
    if (s.charCodeAt(i) !== QUOTE) return -1;
    const keyEnd = skipString(s, i);
    if (keyEnd < 0) return -1;
    // An escaped key could name `metadata` or `status` in a spelling the prefix checks miss.
    const slash = s.indexOf('\\', i);
    if (slash >= 0 && slash < keyEnd) return -1;
    if (s.charCodeAt(keyEnd) !== COLON) return -1;
    const end = skipValue(s, keyEnd + 1);
    if (end < 0) return -1;
    member(i, keyEnd + 1, end);
    const c = s.charCodeAt(end);
    if (c === CLOSE_BRACE) return end + 1;
    if (c !== COMMA) return -1;
    i = end + 1;
  }
}

/**
 * `JSON.stringify({ type: 'applied', ts, seq, object: sanitised })` — equal once parsed — from
 * the watch `line` whose object was sanitised into `metadataJson` (JSON.stringify of the
 * sanitised metadata) with its `spec` unchanged; undefined when the line is not as expected.
 */
export function appliedChangeJson(
  line: string,
  metadataJson: string,
  ts: number,
  seq: number,
): string | undefined {
  let objectAt = -1;
  let objectEnd = -1;
  const lineEnd = walkMembers(line, 0, (key, value, end) => {
    if (line.startsWith('"object":', key)) {
      objectAt = value;
      objectEnd = end;
    }
  });
  if (lineEnd !== line.length || objectAt < 0 || line.charCodeAt(objectAt) !== OPEN_BRACE) return undefined;
  let out = `{"type":"applied","ts":${ts},"seq":${seq},"object":{`;
  let first = true;
  const end = walkMembers(line, objectAt, (key, _value, memberEnd) => {
    if (line.startsWith('"status":', key)) return;
    const text = line.startsWith('"metadata":', key)
      ? `"metadata":${metadataJson}`
      : line.slice(key, memberEnd);
    out = first ? out + text : `${out},${text}`;
    first = false;
  });
  if (end !== objectEnd) return undefined;
  return `${out}}}`;
}
