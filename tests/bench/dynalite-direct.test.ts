/**
 * The export benchmark's direct loader (bench/support/dynalite-direct.ts, bulk-history.ts
 * `loadHistoryEvents`) stores exactly what the store's own write path stores: 24 changes of 5
 * objects over three hour buckets go through the trace store's `applyBatch` (one change a batch,
 * ingested in its second, as the benchmark's history claims to be), through BatchWriteItem and
 * through the direct LevelDB path, each into its own table of one dynalite; the event items are
 * then compared item by item via Scan, every event partition via Query (key encoding and sort
 * order), and the direct table's LevelDB entries byte for byte against the BatchWriteItem table's.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  type AttributeValue,
  DescribeTableCommand,
  type DynamoDBClient,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { loadHistoryEvents, writeHistoryEvents } from '../../bench/support/bulk-history.ts';
import {
  DirectItemWriter,
  DirectLoadError,
  type DynaliteWithStore,
  startDynalite,
  wireItem,
} from '../../bench/support/dynalite-direct.ts';
import { type ChangeSpread, spread } from '../../bench/support/export-changes.ts';
import { DEPLOYMENT_CONFIG } from '../../bench/support/objects.ts';
import { seedChanges } from '../../bench/support/seed.ts';
import { makeDynamoClient } from '../../lib/aws/clients.ts';
import { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { ensureTable } from '../../lib/aws/table.ts';
import type { BlobStore } from '../../lib/store/ports.ts';

type Item = Record<string, AttributeValue>;

const CLUSTER = 'direct';
const target = { cluster: CLUSTER, shards: 4, retentionDays: 14 };
// 2024-01-01T00:30:00Z: 24 changes over two hours reach three hour buckets.
const CHANGES: ChangeSpread = {
  count: 24,
  fromTs: 1_704_069_000,
  spanSec: 7200,
  firstVersion: 1,
  liveObjects: 5,
  objectBytes: 1024,
};

/** Every body here is ~1 KB and stored inline: the store must never reach for a blob. */
class NoBlobs implements BlobStore {
  calls = 0;
  async put() {
    this.calls++;
  }
  async get() {
    this.calls++;
    return undefined;
  }
}

async function scanAll(dynamo: DynamoDBClient, tableName: string): Promise<Item[]> {
  const items: Item[] = [];
  let start: Item | undefined;
  do {
    const out = await dynamo.send(
      new ScanCommand({ TableName: tableName, ...(start ? { ExclusiveStartKey: start } : {}) }),
    );
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

async function queryAll(dynamo: DynamoDBClient, tableName: string, pk: string): Promise<Item[]> {
  const items: Item[] = [];
  let start: Item | undefined;
  do {
    const out = await dynamo.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND sk >= :lo',
        ExpressionAttributeValues: { ':pk': { S: pk }, ':lo': { S: '0' } },
        // Small pages: paging resumes from the direct table's keys too.
        Limit: 2,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

const byKey = (a: Item, b: Item) => (`${a.pk?.S}\u0000${a.sk?.S}` < `${b.pk?.S}\u0000${b.sk?.S}` ? -1 : 1);

/** The raw LevelDB entries of one table (keys without the `item-<table>~` prefix, values as stored). */
async function levelEntries(aws: DynaliteWithStore, tableName: string): Promise<[string, unknown][]> {
  const db = (aws.store as unknown as { db: { iterator(o: object): AsyncIterable<[string, unknown]> } }).db;
  const prefix = `item-${tableName}~`;
  const out: [string, unknown][] = [];
  for await (const [key, value] of db.iterator({ gte: prefix, lt: `${prefix}\xff` })) {
    out.push([key.slice(prefix.length), value]);
  }
  return out;
}

describe('direct load into dynalite (export benchmark seeding)', () => {
  let aws: DynaliteWithStore;
  let dynamo: DynamoDBClient;
  const blobs = new NoBlobs();

  before(async () => {
    aws = startDynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await new Promise<void>((resolve) => aws.server.listen(0, '127.0.0.1', resolve));
    dynamo = makeDynamoClient({
      endpoint: `http://127.0.0.1:${(aws.server.address() as AddressInfo).port}`,
      retry: { maxAttempts: 4, baseDelayMs: 2, maxDelayMs: 20 },
    });
    for (const table of ['via-store', 'via-batch', 'via-direct']) await ensureTable(dynamo, table, 5);

    const store = new DynamoTraceStore({
      dynamo,
      tableName: 'via-store',
      blobs,
      shards: 4,
      retentionDays: 14,
    });
    const changes = [...spread(CHANGES)];
    // One change a batch, applied in its own second: ingested on time, as the seeding claims.
    await seedChanges(
      store,
      CLUSTER,
      [
        { type: 'config', ts: CHANGES.fromTs, config: DEPLOYMENT_CONFIG },
        ...changes.map((c) => ({ type: 'applied' as const, ts: c.ts, object: c.object })),
      ],
      { maxChanges: 1 },
    );
    await writeHistoryEvents(dynamo, 'via-batch', target, spread(CHANGES), { concurrency: 2 });
    // Two calls, so a later load lands beside items already in LevelDB; the second through a
    // worker thread, as the benchmark loads.
    const writer = new DirectItemWriter(aws.store, 'via-direct');
    await loadHistoryEvents(writer, target, { ...CHANGES, toK: 10 }, { workers: 0 });
    await loadHistoryEvents(writer, target, { ...CHANGES, fromK: 10 }, { workers: 1 });
  });

  after(async () => {
    dynamo.destroy();
    aws.server.closeAllConnections?.();
    await new Promise((resolve) => aws.server.close(resolve));
  });

  it("stores, via Scan, exactly the event items applyBatch stores, and BatchWriteItem's", async () => {
    const viaStore = (await scanAll(dynamo, 'via-store'))
      .filter((i) => i.pk?.S?.startsWith('EV#'))
      .sort(byKey);
    const viaBatch = (await scanAll(dynamo, 'via-batch')).sort(byKey);
    const viaDirect = (await scanAll(dynamo, 'via-direct')).sort(byKey);
    assert.equal(viaStore.length, CHANGES.count);
    assert.equal(new Set(viaStore.map((i) => i.pk?.S)).size > 3, true, 'several event partitions');
    assert.deepEqual(viaDirect, viaStore);
    assert.deepEqual(viaBatch, viaStore);
    assert.equal(blobs.calls, 0);
  });

  it('answers Query on every event partition as the store-written table does, in the same order', async () => {
    const partitions = new Set(
      (await scanAll(dynamo, 'via-store')).map((i) => i.pk?.S ?? '').filter((pk) => pk.startsWith('EV#')),
    );
    for (const pk of partitions) {
      const want = await queryAll(dynamo, 'via-store', pk);
      assert.ok(want.length > 0);
      assert.deepEqual(await queryAll(dynamo, 'via-direct', pk), want, pk);
    }
  });

  it("writes LevelDB entries identical to dynalite's own BatchWriteItem, key and value", async () => {
    const direct = await levelEntries(aws, 'via-direct');
    assert.equal(direct.length, CHANGES.count);
    assert.deepEqual(direct, await levelEntries(aws, 'via-batch'));
  });

  it('leaves the table description as BatchWriteItem does', async () => {
    const describe = async (TableName: string) => {
      const t = (await dynamo.send(new DescribeTableCommand({ TableName }))).Table;
      return { status: t?.TableStatus, items: t?.ItemCount, bytes: t?.TableSizeBytes };
    };
    assert.deepEqual(await describe('via-direct'), await describe('via-batch'));
  });

  it('refuses an item dynalite would refuse, and a type it does not write, naming the item', async () => {
    const writer = new DirectItemWriter(aws.store, 'via-direct');
    await assert.rejects(
      writer.put([{ pk: { S: 'X' }, sk: { S: '' } }]),
      (err: unknown) => err instanceof DirectLoadError && /X \/ .*PutItem validation/.test(err.message),
    );
    assert.throws(
      () => wireItem({ pk: { S: 'X' }, sk: { S: 'y' }, tags: { SS: ['a'] } }),
      (err: unknown) => err instanceof DirectLoadError && /"tags"/.test(err.message),
    );
  });
});
