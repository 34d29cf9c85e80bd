/**
 * Query pages' items parsed past the SDK's deserializer (lib/aws/trace-store/query-items.ts) against
 * the SDK's own reading of the same item (GetItem, untouched): every attribute type DynamoDB has,
 * nested ones included, on dynalite.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { TableIo } from '../../lib/aws/trace-store/io.ts';
import { EVENT_PAGE_ITEMS } from '../../lib/aws/trace-store/reader.ts';
import { type LocalAws, startLocalAws } from '../support/local-aws.ts';
import { applied, collect, localTables, makeStore, NOW, obj } from './support.ts';

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
      // Non-ASCII text on every other page's items: the body read as UTF-8, not latin1.
      ...(i % 7 === 3 ? { text: { S: `naïve 東京 🙂 ${i}` }, tags: { SS: ['é', `ü${i}`] } } : {}),
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

describe('Query pages of a set number of items (dynalite)', () => {
  const local = localTables('pages');

  it('caps each page at pageItems and reads on to the end; Limit still reads one page', async () => {
    const tableName = await local.freshTable();
    for (let i = 0; i < 40; i++) {
      await local.aws.dynamo.send(
        new PutItemCommand({
          TableName: tableName,
          Item: { pk: { S: 'P' }, sk: { S: `k${String(i).padStart(3, '0')}` } },
        }),
      );
    }
    const io = new TableIo(local.aws.dynamo, tableName);
    const query = { KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: 'P' } } };
    const pages = await collect(io.queryPages(query, { readUnits: 0 }, 7));
    assert.deepEqual(
      pages.map((p) => p.length),
      [7, 7, 7, 7, 7, 5],
    );
    assert.deepEqual(
      pages.flat().map((item) => item.sk?.S),
      Array.from({ length: 40 }, (_, i) => `k${String(i).padStart(3, '0')}`),
    );
    const one = await collect(io.queryPages({ ...query, Limit: 3 }, { readUnits: 0 }, 7));
    assert.deepEqual(
      one.map((p) => p.length),
      [3],
    );
  });

  it("reads the window's events in pages of EVENT_PAGE_ITEMS, every change in order", async () => {
    const tableName = await local.freshTable();
    const store = makeStore(local.aws, { tableName, shards: 1 });
    const D = 'apps/v1.Deployment';
    const changes = Array.from({ length: 1300 }, (_, i) =>
      applied(NOW - 3000 + Math.floor(i / 2), obj(D, `prod/d${i % 50}`, { replicas: i }), i + 1),
    );
    await store.applyBatch(
      'c1',
      { changes: [{ type: 'config', ts: NOW - 3000, config: { trackedObjects: { [D]: {} } } }, ...changes] },
      { nowSec: NOW },
    );
    // The event Queries' Limit, as the client sends them (a middleware on the test's own client).
    const limits: (number | undefined)[] = [];
    const name = 'recordEventQueryLimits';
    local.aws.dynamo.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as {
          KeyConditionExpression?: string;
          ExpressionAttributeValues?: Record<string, { S?: string }>;
          Limit?: number;
        };
        if (
          input.KeyConditionExpression?.includes('BETWEEN') &&
          input.ExpressionAttributeValues?.[':pk']?.S?.startsWith('EV#')
        ) {
          limits.push(input.Limit);
        }
        return next(args);
      },
      { step: 'initialize', name },
    );
    try {
      const read = await collect(store.changesBetween('c1', NOW - 3600, NOW));
      assert.deepEqual(
        read.map((c) => (c.object.spec as { replicas?: number } | undefined)?.replicas),
        changes.map((c) => (c.object.spec as { replicas?: number } | undefined)?.replicas),
      );
    } finally {
      local.aws.dynamo.middlewareStack.remove(name);
    }
    assert.ok(limits.length >= Math.ceil(1300 / EVENT_PAGE_ITEMS), `event Queries: ${limits.length}`);
    assert.ok(
      limits.every((l) => l === EVENT_PAGE_ITEMS),
      `Limits: ${limits.join(',')}`,
    );
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
