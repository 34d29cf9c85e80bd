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
import { parseQueryResponse } from './query-json.ts';

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
      const parsed = parseQueryResponse(bytes) as { Items?: Item[] };
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
