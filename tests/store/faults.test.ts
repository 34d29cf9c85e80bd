/**
 * Throttling, 5xx and partial failures, through a fault-injecting HTTP proxy in front of dynalite
 * (tests/store/fault-proxy.ts: real DynamoDB error bodies, real SDK retries, no mocks).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeDynamoClient } from '../../lib/aws/clients.ts';
import { ensureTable } from '../../lib/aws/table.ts';
import type { SktraceError } from '../../lib/errors.ts';
import type { Batch } from '../../lib/ingest/wire.ts';
import { type LocalAws, startLocalAws } from '../support/local-aws.ts';
import { type FaultProxy, startFaultProxy } from './fault-proxy.ts';
import {
  applied,
  bare,
  collect,
  deleted,
  deployment,
  makeStore,
  NOW,
  obj,
  relist,
  scanTable,
} from './support.ts';

let aws: LocalAws;
let proxy: FaultProxy;
let tables = 0;
after(async () => {
  await proxy?.close();
  await aws?.close();
});

const D = 'apps/v1.Deployment';
const batch: Batch = {
  changes: [
    { type: 'config', ts: 1000, config: { trackedObjects: { [D]: {} } } },
    ...Array.from({ length: 5 }, (_, i) => applied(1000, deployment(`web-${i}`), i)),
    applied(1001, deployment('web-0', 'shop', 5), 10),
    applied(1001, deployment('web-1', 'shop', 3), 11),
    deleted(1002, bare(D, 'shop/web-2'), 12),
    applied(1003, deployment('web-2'), 13),
    {
      type: 'lifecycle',
      ts: 1003,
      owner: { gvk: D, ns_name: 'shop/web-0' },
      pod: 'shop/web-0-a',
      pod_spec_hash: '9',
      start_ts: 1001,
    },
    relist(1004, D, ['shop/web-0', 'shop/web-1', 'shop/web-2', 'shop/web-3']),
    applied(1005, obj('v1.ConfigMap', 'shop/cfg', undefined, { data: { a: '1' } }), 14),
  ],
};

/** The table a DynamoDB request names (single-item calls and Query carry TableName; batches key by it). */
function tableOf(body: Record<string, unknown>): string {
  if (typeof body.TableName === 'string') return body.TableName;
  return Object.keys((body.RequestItems as Record<string, unknown>) ?? {})[0] ?? '';
}

async function freshTable(): Promise<string> {
  const tableName = `table-${++tables}`;
  await ensureTable(aws.dynamo, tableName, 1);
  return tableName;
}

function proxiedStore(tableName: string, maxAttempts = 4) {
  const dynamo = makeDynamoClient({
    endpoint: proxy.endpoint,
    retry: { maxAttempts, baseDelayMs: 1, maxDelayMs: 5 },
  });
  return makeStore(aws, { dynamo, tableName, retry: { maxAttempts, baseDelayMs: 1, maxDelayMs: 5 } });
}

let reference: string[];
before(async () => {
  aws = await startLocalAws();
  proxy = await startFaultProxy(aws.endpoints.dynamo);
  const tableName = await freshTable();
  await makeStore(aws, { tableName }).applyBatch('c1', batch, { nowSec: NOW });
  reference = await scanTable(aws.dynamo, tableName);
});

describe('throttling and 5xx inside the retry budget', () => {
  test('the batch completes and leaves the same items', async () => {
    const tableName = await freshTable();
    // Half of all calls are refused on their first two attempts: throttled, then a 500.
    let n = 0;
    const chosen = new Map<string, boolean>();
    proxy.policy = (req) => {
      if (!chosen.has(req.invocationId)) chosen.set(req.invocationId, n++ % 2 === 0);
      if (!chosen.get(req.invocationId)) return 'pass';
      return req.attempt === 1 ? 'throttle' : req.attempt === 2 ? 'server-error' : 'pass';
    };
    try {
      const result = await proxiedStore(tableName).applyBatch('c1', batch, { nowSec: NOW });
      assert.equal(result.reconciled_deletions, 1);
    } finally {
      proxy.policy = () => 'pass';
    }
    assert.ok(n > 20, `only ${n} calls`);
    assert.deepEqual(await scanTable(aws.dynamo, tableName), reference);
  });

  test('BatchGetItem keys left unprocessed are retried', async () => {
    const tableName = await freshTable();
    let refusals = 0;
    proxy.policy = (req) => {
      if (req.operation !== 'BatchGetItem' || refusals >= 2) return 'pass';
      refusals++;
      // What DynamoDB answers when a batch read exceeds the partition's capacity: 200, keys handed back.
      const items = req.body.RequestItems as Record<string, unknown>;
      return { status: 200, body: { Responses: { [tableName]: [] }, UnprocessedKeys: items } };
    };
    try {
      await proxiedStore(tableName).applyBatch('c1', batch, { nowSec: NOW });
    } finally {
      proxy.policy = () => 'pass';
    }
    assert.equal(refusals, 2);
    assert.deepEqual(await scanTable(aws.dynamo, tableName), reference);
  });
});

describe('retries exhausted', () => {
  const cases: [
    string,
    Parameters<FaultProxy['policy']> extends [infer R] ? (r: R) => ReturnType<FaultProxy['policy']> : never,
    string,
  ][] = [
    ['every call throttled', () => 'throttle', 'store_throttled'],
    ['every call a 500', () => 'server-error', 'store_unavailable'],
    [
      'batch reads never processed',
      (req) =>
        req.operation === 'BatchGetItem'
          ? { status: 200, body: { Responses: {}, UnprocessedKeys: req.body.RequestItems } }
          : 'pass',
      'store_throttled',
    ],
  ];
  for (const [name, policy, code] of cases) {
    test(`${name} → ${code}`, async () => {
      const tableName = await freshTable();
      proxy.policy = policy;
      try {
        await assert.rejects(
          proxiedStore(tableName, 3).applyBatch('c1', batch, { nowSec: NOW }),
          (err: SktraceError) => {
            assert.equal(err.code, code);
            assert.match(String(err.context.operation), /DynamoDB \w+/);
            return true;
          },
        );
      } finally {
        proxy.policy = () => 'pass';
      }
    });
  }

  test('reads fail the same way', async () => {
    proxy.policy = () => 'server-error';
    try {
      // table-1 holds the reference run's items.
      const store = proxiedStore('table-1', 2);
      await assert.rejects(collect(store.changesBetween('c1', 0, 2000)), { code: 'store_unavailable' });
      await assert.rejects(store.configAt('c1', 2000), { code: 'store_unavailable' });
    } finally {
      proxy.policy = () => 'pass';
    }
  });
});

describe('partial failure, then a full retry', () => {
  test('after any prefix of the writes, retrying the batch ends in the same items', async () => {
    // Count the writes one clean run makes, then cut after each number of them.
    let writes = 0;
    proxy.policy = (req) => {
      if (req.operation === 'PutItem' || req.operation === 'UpdateItem') writes++;
      return 'pass';
    };
    await proxiedStore(await freshTable()).applyBatch('c1', batch, { nowSec: NOW });
    const total = writes;
    assert.ok(total > 25, `${total} writes`);

    // Four cuts at a time, each on its own table; the proxy tells them apart by table name.
    const perTable = new Map<
      string,
      Parameters<typeof proxy.policy>[0] extends infer R ? (r: R) => ReturnType<typeof proxy.policy> : never
    >();
    proxy.policy = (req) => perTable.get(tableOf(req.body))?.(req) ?? 'pass';
    const runCut = async (cut: number) => {
      const tableName = await freshTable();
      const store = proxiedStore(tableName, 2);
      let passed = 0;
      let down = false;
      // After `cut` writes the backend goes down for everything, until healed.
      perTable.set(tableName, (req) => {
        if (down) return 'server-error';
        if (req.operation === 'PutItem' || req.operation === 'UpdateItem') {
          if (passed >= cut) {
            down = true;
            return 'server-error';
          }
          passed++;
        }
        return 'pass';
      });
      await assert.rejects(store.applyBatch('c1', batch, { nowSec: NOW }), { code: 'store_unavailable' });
      perTable.delete(tableName);
      await store.applyBatch('c1', batch, { nowSec: NOW });
      assert.deepEqual(
        await scanTable(aws.dynamo, tableName),
        reference,
        `cut after ${cut} of ${total} writes`,
      );
    };
    try {
      for (let cut = 0; cut < total; cut += 4) {
        await Promise.all([cut, cut + 1, cut + 2, cut + 3].filter((c) => c < total).map(runCut));
      }
    } finally {
      proxy.policy = () => 'pass';
    }
  });
});
