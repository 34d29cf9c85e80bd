/**
 * Query pages' items parsed from the response's JSON directly, past the SDK's deserializer.
 *
 * The SDK (@aws-sdk/client-dynamodb ≥ 3.7xx) reads every response through its schema-driven
 * deserializer (@smithy/core `_readStruct`, @aws-sdk/dynamodb-codec `readAttributeValue`): for the
 * export's 1 MB Query pages that walk, member by member against the schema, cost ~13 % of an
 * export's CPU (docs/benchmarks.md "export") for what is, for Items, DynamoDB's own JSON: each
 * attribute already `{S: …}`, `{N: …}`, `{BOOL: …}`, …; only binary values (`B`, `BS`) are base64
 * text to turn into bytes. So a middleware on the command, placed inside the deserializer (step
 * `deserialize`, priority `low`), reads a successful response body itself, keeps the parsed
 * Items, and hands the deserializer the same JSON without them (Count, LastEvaluatedKey,
 * ConsumedCapacity… still come from the SDK as before). Failures (status ≥ 300) pass through
 * untouched, so error parsing, throttling and retries stay the SDK's.
 */
import type { AttributeValue, QueryCommand } from '@aws-sdk/client-dynamodb';
import type { Item } from './io.ts';

interface RawResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Receives the Items of each page the command is sent for; install once per command. */
export function takeItemsFromResponse(command: QueryCommand, onItems: (items: Item[]) => void): void {
  command.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const response = result.response as RawResponse;
      if (response.statusCode >= 300 || response.body === undefined) return result;
      const bytes = await collect(response.body);
      const split = splitItems(bytes);
      if (split !== undefined) {
        // Each item parsed from its own slice: no 1 MB string per page (V8 puts one that large
        // straight into the old generation, where only full collections free it; at a million
        // changes that was ~1 GB of such garbage and a heap growing with the window).
        const items = split.items.map(
          ([start, end]) => JSON.parse(bytes.toString('utf8', start, end)) as Item,
        );
        for (const item of items) for (const name in item) item[name] = fromJson(item[name]!);
        onItems(items);
        response.body = split.rest;
      } else {
        const parsed = JSON.parse(bytes.toString('utf8')) as { Items?: Item[] };
        if (parsed.Items !== undefined) {
          const items = parsed.Items;
          for (const item of items) for (const name in item) item[name] = fromJson(item[name]!);
          onItems(items);
          parsed.Items = undefined;
          response.body = Buffer.from(JSON.stringify(parsed), 'utf8');
        } else {
          response.body = bytes;
        }
      }
      delete response.headers['content-length'];
      return result;
    },
    { step: 'deserialize', priority: 'low', name: 'sktraceQueryItems' },
  );
}

async function collect(body: unknown): Promise<Buffer> {
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
  }
  return Buffer.concat(chunks);
}

/** An attribute value as DynamoDB's JSON has it, with binary values (base64 text) made bytes. */
function fromJson(value: AttributeValue): AttributeValue {
  const v = value as unknown as Record<string, unknown>;
  if (typeof v.B === 'string') return { B: Buffer.from(v.B, 'base64') };
  if (v.M !== undefined) {
    const m = v.M as Record<string, AttributeValue>;
    for (const k in m) m[k] = fromJson(m[k]!);
    return value;
  }
  if (v.L !== undefined) {
    const l = v.L as AttributeValue[];
    for (let i = 0; i < l.length; i++) l[i] = fromJson(l[i]!);
    return value;
  }
  if (Array.isArray(v.BS)) return { BS: (v.BS as string[]).map((b) => Buffer.from(b, 'base64')) };
  return value;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const ITEMS_KEY = Buffer.from('"Items"', 'utf8');

/**
 * Where each element of the top-level `Items` array lies in a Query response's JSON, and the
 * response without them (`"Items":[]`, for the SDK's deserializer), found by scanning the bytes:
 * strings skipped with `indexOf` (most bytes are base64 bodies inside strings), structure tracked
 * by depth. Undefined when the text is not as expected (no top-level object, no `Items` array of
 * objects); the caller then parses the whole text. Slices start and end at ASCII braces, so each
 * is whole UTF-8.
 */
export function splitItems(bytes: Buffer): { items: [number, number][]; rest: Buffer } | undefined {
  const n = bytes.length;
  let i = 0;
  const skipSpace = () => {
    while (i < n && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  };
  /** From an opening quote at i: i after the closing one, or -1. */
  const skipString = (): boolean => {
    let at = i + 1;
    for (;;) {
      const q = bytes.indexOf(QUOTE, at);
      if (q < 0) return false;
      let slashes = 0;
      for (let k = q - 1; k > i && bytes[k] === BACKSLASH; k--) slashes++;
      if (slashes % 2 === 0) {
        i = q + 1;
        return true;
      }
      at = q + 1;
    }
  };
  /** A whole value from i (object, array, string or scalar); false if malformed. */
  const skipValue = (): boolean => {
    skipSpace();
    const c = bytes[i];
    if (c === QUOTE) return skipString();
    if (c === 0x7b || c === 0x5b) {
      let depth = 0;
      while (i < n) {
        const b = bytes[i]!;
        if (b === QUOTE) {
          if (!skipString()) return false;
          continue;
        }
        if (b === 0x7b || b === 0x5b) depth++;
        else if (b === 0x7d || b === 0x5d) {
          depth--;
          if (depth === 0) {
            i++;
            return true;
          }
        }
        i++;
      }
      return false;
    }
    // A scalar: up to the next delimiter.
    while (i < n && bytes[i] !== 0x2c && bytes[i] !== 0x7d && bytes[i] !== 0x5d) i++;
    return i < n;
  };
  skipSpace();
  if (bytes[i] !== 0x7b) return undefined;
  i++;
  for (;;) {
    skipSpace();
    if (bytes[i] === 0x7d) return undefined; // the end of the object, no Items
    if (bytes[i] !== QUOTE) return undefined;
    const keyStart = i;
    if (!skipString()) return undefined;
    const isItems =
      i - keyStart === ITEMS_KEY.length && bytes.compare(ITEMS_KEY, 0, ITEMS_KEY.length, keyStart, i) === 0;
    skipSpace();
    if (bytes[i] !== 0x3a) return undefined;
    i++;
    skipSpace();
    if (isItems) {
      if (bytes[i] !== 0x5b) return undefined;
      const open = i;
      i++;
      const items: [number, number][] = [];
      for (;;) {
        skipSpace();
        if (bytes[i] === 0x5d) break;
        if (bytes[i] !== 0x7b) return undefined;
        const start = i;
        if (!skipValue()) return undefined;
        items.push([start, i]);
        skipSpace();
        if (bytes[i] === 0x2c) i++;
        else if (bytes[i] !== 0x5d) return undefined;
      }
      const close = i;
      const rest = Buffer.concat([bytes.subarray(0, open + 1), bytes.subarray(close)]);
      return { items, rest };
    }
    if (!skipValue()) return undefined;
    skipSpace();
    if (bytes[i] === 0x2c) i++;
    else return undefined;
  }
}
