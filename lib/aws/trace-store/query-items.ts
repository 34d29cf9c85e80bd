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
import { isAscii } from 'node:buffer';
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
      const parsed = JSON.parse(responseText(bytes)) as { Items?: Item[] };
      if (parsed.Items !== undefined) {
        const items = parsed.Items;
        for (const item of items) for (const name in item) item[name] = fromJson(item[name]!);
        onItems(items);
        parsed.Items = undefined;
        response.body = Buffer.from(JSON.stringify(parsed), 'utf8');
      } else {
        response.body = bytes;
      }
      delete response.headers['content-length'];
      return result;
    },
    { step: 'deserialize', priority: 'low', name: 'sktraceQueryItems' },
  );
}

/**
 * A response body as text. DynamoDB's JSON of the store's items is ASCII (keys, numbers, base64
 * bodies; names are ASCII in Kubernetes), and ASCII bytes read as latin1 are the same string, made
 * without Node's UTF-8 decoder: 0.2 against 3.5 ms CPU per 1.17 MB Query page here (a 10,000-change
 * export reads ~11 MB of pages, a 1,000,000-change one ~1.1 GB; docs/benchmarks.md "export").
 * Anything with a byte ≥ 0x80 is decoded as UTF-8, as before.
 */
export function responseText(bytes: Buffer): string {
  return isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
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
