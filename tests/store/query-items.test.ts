/**
 * Query pages' items parsed past the SDK's deserializer (lib/aws/trace-store/query-items.ts) against
 * the SDK's own reading of the same item (GetItem, untouched): every attribute type DynamoDB has,
 * nested ones included, on dynalite.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { TableIo } from '../../lib/aws/trace-store/io.ts';
import { splitItems } from '../../lib/aws/trace-store/query-items.ts';
import { type LocalAws, startLocalAws } from '../support/local-aws.ts';

describe('Query items past the SDK deserializer (dynalite)', () => {
  let aws: LocalAws;
  before(async () => {
    aws = await startLocalAws();
  });
  after(() => aws.close());

  it('reads every attribute type as the SDK does, over several pages', async () => {
    const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
    const item = (i: number) => ({
      pk: { S: 'QI' },
      sk: { S: `k${String(i).padStart(3, '0')}` },
      n: { N: String(i * 1.5) },
      b: { B: bytes(i + 1) },
      ok: { BOOL: i % 2 === 0 },
      nil: { NULL: true },
      ss: { SS: ['a', `s${i}`] },
      ns: { NS: ['1', String(i + 2)] },
      bs: { BS: [bytes(3), bytes(i + 5)] },
      m: { M: { inner: { B: bytes(2) }, list: { L: [{ S: 'x' }, { M: { deep: { B: bytes(4) } } }] } } },
      pad: { S: 'p'.repeat(30_000) },
    });
    for (let i = 0; i < 40; i++) {
      await aws.dynamo.send(new PutItemCommand({ TableName: aws.tableName, Item: item(i) }));
    }
    const io = new TableIo(aws.dynamo, aws.tableName);
    const pages: number[] = [];
    const read: Record<string, unknown>[] = [];
    for await (const page of io.queryPages(
      {
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: 'QI' } },
        Limit: undefined,
      },
      { readUnits: 0 },
    )) {
      pages.push(page.length);
      read.push(...page);
    }
    assert.equal(read.length, 40);
    assert.ok(pages.length > 1, `one page only: ${pages}`);
    for (const got of read) {
      const sdk = await aws.dynamo.send(
        new GetItemCommand({ TableName: aws.tableName, Key: { pk: got.pk as never, sk: got.sk as never } }),
      );
      assert.deepEqual(normalize(got), normalize(sdk.Item));
    }
  });
});

describe('splitItems (Query response JSON cut into its items)', () => {
  // Oracle: JSON.parse of the whole text. Strings hold quotes, backslashes, braces, brackets and
  // non-ASCII text; members come in any order, with or without whitespace between tokens.
  const str = fc.string({
    unit: fc.constantFrom('a', '"', '\\', '{', '}', '[', ']', ',', ':', 'é', '😀', ' '),
  });
  const attr: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.record({ S: str }),
      fc.record({ N: fc.integer().map(String) }),
      fc.record({ B: fc.base64String() }),
      fc.record({ BOOL: fc.boolean() }),
      fc.record({ NULL: fc.constant(true) }),
      fc.record({ L: fc.array(tie('value'), { maxLength: 3 }) }),
      fc.record({ M: fc.dictionary(str, tie('value'), { maxKeys: 3 }) }),
    ),
  })).value;
  const item = fc.dictionary(str, attr, { maxKeys: 5 });
  const response = fc.record({
    Items: fc.array(item, { maxLength: 6 }),
    Count: fc.nat(),
    ScannedCount: fc.nat(),
    LastEvaluatedKey: fc.option(fc.record({ pk: fc.record({ S: str }), sk: fc.record({ S: str }) }), {
      nil: undefined,
    }),
    ConsumedCapacity: fc.record({
      TableName: str,
      CapacityUnits: fc.double({ noNaN: true, noDefaultInfinity: true }),
    }),
  });

  it('gives each item and the rest as JSON.parse of the whole text does', () => {
    fc.assert(
      fc.property(
        response,
        fc.boolean(),
        fc.shuffledSubarray(['Items', 'Count', 'ScannedCount', 'LastEvaluatedKey', 'ConsumedCapacity'], {
          minLength: 5,
        }),
        (r, spaced, order) => {
          const ordered = Object.fromEntries(order.map((k) => [k, r[k as keyof typeof r]]));
          const text = JSON.stringify(ordered, null, spaced ? 1 : undefined);
          const bytes = Buffer.from(text, 'utf8');
          const split = splitItems(bytes);
          assert.ok(split, text);
          const whole = JSON.parse(text) as { Items: unknown[] };
          assert.deepEqual(
            split.items.map(([a, b]) => JSON.parse(bytes.toString('utf8', a, b))),
            whole.Items,
          );
          assert.deepEqual(JSON.parse(split.rest.toString('utf8')), { ...whole, Items: [] });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('declines text that is not a response with an Items array of objects', () => {
    for (const text of [
      '[]',
      '{}',
      '{"Count":1}',
      '{"Items":{}}',
      '{"Items":[1]}',
      '{"Items":[{"a":1}',
      '{"Items":[{"a":"x}]}',
    ]) {
      assert.equal(splitItems(Buffer.from(text)), undefined, text);
    }
  });
});

/** Bytes as arrays (Buffer and Uint8Array compare unequal in deepStrictEqual), sets sorted. */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (v instanceof Set) return [...v].map(normalize).sort();
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => k !== '$unknown')
        .map(([k, x]): [string, unknown] => [k, normalize(x)])
        .sort(([a], [b]) => (a < b ? -1 : 1)),
    );
  }
  return v;
}
