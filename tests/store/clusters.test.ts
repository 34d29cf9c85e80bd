/**
 * The cluster registry (partition `CLUSTERS`): every cluster that sent a batch is listed once,
 * whatever the batch held, and recording it costs one conditional write per cluster per store
 * instance (a Lambda container), none per batch after that.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { CLUSTER_REGISTRY_PK } from '../../lib/aws/trace-store/meta.ts';
import { SktraceError } from '../../lib/errors.ts';
import type { Batch } from '../../lib/ingest/wire.ts';
import { applied, deployment, localTables, makeStore, NOW, scanTable } from './support.ts';

const local = localTables('clusters');

const configOnly = (ts: number): Batch => ({
  changes: [{ type: 'config', ts, config: { trackedObjects: { 'apps/v1.Deployment': {} } } }],
});

const registryLines = async (tableName: string) =>
  (await scanTable(local.aws.dynamo, tableName)).filter((line) =>
    line.includes(`"S":"${CLUSTER_REGISTRY_PK}"`),
  );

describe('cluster registry', () => {
  test('an empty table lists no cluster', async () => {
    const store = makeStore(local.aws, { tableName: await local.freshTable() });
    assert.deepEqual(await store.listClusters(), []);
  });

  test('every cluster that sent a batch is listed once, in id order, whatever its batch held', async () => {
    const tableName = await local.freshTable();
    const store = makeStore(local.aws, { tableName });
    await store.applyBatch('prod', configOnly(NOW - 60), { nowSec: NOW });
    await store.applyBatch('dev', { changes: [applied(NOW - 50, deployment('web'))] }, { nowSec: NOW });
    await store.applyBatch('prod', { changes: [applied(NOW - 40, deployment('web'))] }, { nowSec: NOW });
    // Another container (a fresh store instance) writing to a known cluster adds nothing.
    await makeStore(local.aws, { tableName }).applyBatch('dev', configOnly(NOW - 30), { nowSec: NOW });

    const meter = { readUnits: 0 };
    assert.deepEqual(await store.listClusters(meter), ['dev', 'prod']);
    assert.ok(meter.readUnits > 0, 'the Query adds its read units to the meter');
    assert.equal((await registryLines(tableName)).length, 2);
    // Other clusters' data never shows up as a cluster (e.g. token or metadata partitions).
    assert.deepEqual(await makeStore(local.aws, { tableName }).listClusters(), ['dev', 'prod']);
  });

  test('recording costs one write per cluster per store instance, none on later batches', async () => {
    const tableName = await local.freshTable();
    const warm = makeStore(local.aws, { tableName });
    await warm.applyBatch('prod', configOnly(NOW - 100), { nowSec: NOW });
    // A config-only batch writes no other metadata: the difference is the registry alone.
    const warmAgain = await warm.applyBatch('prod', configOnly(NOW - 90), { nowSec: NOW });
    const cold = await makeStore(local.aws, { tableName }).applyBatch('prod', configOnly(NOW - 80), {
      nowSec: NOW,
    });
    assert.ok(warmAgain.writeUnits > 0);
    // The cold instance's conditional write finds the item and fails: billed, counted as 1 WCU.
    assert.equal(cold.writeUnits, warmAgain.writeUnits + 1);
  });

  test('an item that is not a cluster id stops the listing instead of being checkpointed', async () => {
    const tableName = await local.freshTable();
    await local.aws.dynamo.send(
      new PutItemCommand({
        TableName: tableName,
        Item: { pk: { S: CLUSTER_REGISTRY_PK }, sk: { S: 'Prod#x' } },
      }),
    );
    await assert.rejects(makeStore(local.aws, { tableName }).listClusters(), (err: unknown) => {
      assert.ok(err instanceof SktraceError);
      assert.equal(err.code, 'store_corrupt_item');
      assert.match(err.message, /"Prod#x" is not a cluster id/);
      return true;
    });
  });
});
