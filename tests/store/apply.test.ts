/**
 * applyBatch against dynalite + s3rver through the production SDK calls: idempotency (compared as
 * full table scans), dedupe, deletes, re-creates, kinds, clusters, lifecycles, config, ordering.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Batch, LifecycleChange } from '../../lib/ingest/wire.ts';
import {
  applied,
  bare,
  collect,
  deleted,
  localTables,
  makeStore,
  NOW,
  obj,
  relist,
  scanTable,
  summary,
} from './support.ts';

const local = localTables();

/** A fresh table and a store on it (one dynalite serves them all). */
async function freshStore(options: Parameters<typeof makeStore>[1] = {}) {
  const tableName = await local.freshTable();
  const store = makeStore(local.aws, { tableName, ...options });
  return { store, tableName, scan: () => scanTable(local.aws.dynamo, tableName) };
}

const D = 'apps/v1.Deployment';
const SA = 'v1.ServiceAccount';

function lifecycle(ts: number, pod: string, start: number, end?: number, hash = '42'): LifecycleChange {
  return {
    type: 'lifecycle',
    ts,
    owner: { gvk: D, ns_name: 'prod/web' },
    pod,
    pod_spec_hash: hash,
    start_ts: start,
    ...(end !== undefined ? { end_ts: end } : {}),
  };
}

const batch1: Batch = {
  changes: [
    { type: 'config', ts: 1000, config: { trackedObjects: { [D]: {} } } },
    applied(1000, obj(D, 'prod/web', { replicas: 1 }), 1),
    applied(1000, obj(SA, 'prod/web', { x: 1 }), 2),
    applied(1001, obj(D, 'prod/api', { replicas: 1 }), 3),
    applied(1002, obj(D, 'prod/web', { replicas: 1 }, { status: { ready: 1 } }), 4),
    applied(1003, obj(D, 'prod/web', { replicas: 2 }), 5),
    applied(1003, obj(D, 'prod/web', { replicas: 3 }), 6),
    deleted(1004, bare(D, 'prod/api'), 7),
    applied(1005, obj(D, 'prod/api', { replicas: 1 }), 8),
    lifecycle(1005, 'prod/web-1', 1001),
    applied(1006, obj(D, 'prod/old', { replicas: 1 }), 9),
    relist(1007, D, ['prod/api', 'prod/web']),
    lifecycle(1008, 'prod/web-2', 1002, 1008),
  ],
};
const batch2: Batch = {
  changes: [
    applied(1010, obj(D, 'prod/web', { replicas: 4 }), 10),
    lifecycle(1010, 'prod/web-1', 1001, 1010),
    deleted(1011, bare(SA, 'prod/web'), 11),
    { type: 'config', ts: 1012, config: { trackedObjects: { [D]: {}, [SA]: {} } } },
    applied(1012, obj(D, 'prod/new', { replicas: 1 }), 12),
  ],
};

describe('idempotency', () => {
  let once: string[];
  let onceThenTwo: string[];
  before(async () => {
    const a = await freshStore();
    await a.store.applyBatch('c1', batch1, { nowSec: NOW });
    once = await a.scan();
    await a.store.applyBatch('c1', batch2, { nowSec: NOW });
    onceThenTwo = await a.scan();
  });

  test('the same batch twice leaves the same items as once', async () => {
    const b = await freshStore();
    await b.store.applyBatch('c1', batch1, { nowSec: NOW });
    const second = await b.store.applyBatch('c1', batch1, { nowSec: NOW });
    assert.deepEqual(await b.scan(), once);
    assert.equal(second.reconciled_deletions, 0);
  });

  test('ten times, by ten store instances (cold caches), still the same', async () => {
    const { scan, tableName } = await freshStore();
    for (let i = 0; i < 10; i++) {
      await makeStore(local.aws, { tableName }).applyBatch('c1', batch1, { nowSec: NOW });
    }
    assert.deepEqual(await scan(), once);
  });

  test('redelivered after a later batch: the older batch is a no-op', async () => {
    const c = await freshStore();
    await c.store.applyBatch('c1', batch1, { nowSec: NOW });
    await c.store.applyBatch('c1', batch2, { nowSec: NOW });
    await c.store.applyBatch('c1', batch1, { nowSec: NOW });
    await c.store.applyBatch('c1', batch2, { nowSec: NOW });
    await c.store.applyBatch('c1', batch1, { nowSec: NOW });
    assert.deepEqual(await c.scan(), onceThenTwo);
  });
});

describe('what a batch records', () => {
  test('changes, dedupe, deletes, re-creates and the relist', async () => {
    const { store } = await freshStore();
    const result = await store.applyBatch('c1', batch1, { nowSec: NOW });
    assert.equal(result.accepted, batch1.changes.length);
    assert.equal(result.deduplicated, 1, 'the status-only change');
    assert.equal(result.reconciled_deletions, 1, 'prod/old');
    assert.ok(result.writeUnits > 0 && result.readUnits > 0);
    assert.deepEqual(summary(await collect(store.changesBetween('c1', 0, 2000))), [
      // Within a second, the sender's seq orders changes of different objects.
      `1000 applied ${D} prod/web {"replicas":1}`,
      `1000 applied ${SA} prod/web {"x":1}`,
      `1001 applied ${D} prod/api {"replicas":1}`,
      // One item per object per second: the later change of 1003 won.
      `1003 applied ${D} prod/web {"replicas":3}`,
      `1004 deleted ${D} prod/api {"replicas":1}`,
      `1005 applied ${D} prod/api {"replicas":1}`,
      `1006 applied ${D} prod/old {"replicas":1}`,
      `1007 deleted ${D} prod/old {"replicas":1}`,
    ]);
  });

  test('a deletion of an object that is not live, and a stale change, write nothing', async () => {
    const { store, scan } = await freshStore();
    await store.applyBatch('c1', { changes: [applied(100, obj(D, 'a/x'), 5)] }, { nowSec: NOW });
    const data = async () => (await scan()).filter((line) => !line.includes('META#'));
    const before = await data();
    const r = await store.applyBatch(
      'c1',
      {
        changes: [
          deleted(101, obj(D, 'a/nope')),
          applied(100, obj(D, 'a/x', { v: 9 }), 4),
          applied(99, obj(D, 'a/x', { v: 8 })),
        ],
      },
      { nowSec: NOW },
    );
    assert.equal(r.deduplicated, 2);
    // Only the cluster's metadata moved (the first ts is now 99); no event, state or other item.
    assert.deepEqual(await data(), before);
  });

  test('the deletion carries the last applied version when the sender sent only the name', async () => {
    const { store } = await freshStore();
    const full = obj(
      D,
      'a/x',
      { replicas: 2 },
      { metadata: { namespace: 'a', name: 'x', labels: { tier: 'db' } } },
    );
    const bare = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { namespace: 'a', name: 'x' } };
    await store.applyBatch(
      'c1',
      {
        changes: [
          { ...applied(100, full), owners: [{ gvk: 'example.com/v1.App', ns_name: 'a/app' }] },
          deleted(101, bare),
        ],
      },
      { nowSec: NOW },
    );
    const changes = await collect(store.changesBetween('c1', 0, 200));
    assert.deepEqual(changes[1], {
      ts: 101,
      type: 'deleted',
      object: full,
      owners: [{ gvk: 'example.com/v1.App', nsName: 'a/app' }],
    });
  });

  test('empty and pre-history ranges read nothing instead of failing', async () => {
    const { store } = await freshStore();
    await store.applyBatch('c1', { changes: [applied(100, obj(D, 'a/x', { v: 1 }))] }, { nowSec: NOW });
    assert.deepEqual(await collect(store.changesBetween('c1', 150, 150)), []);
    assert.deepEqual(await collect(store.changesBetween('c1', 10, 100)), [], 'ends at the first change');
    assert.equal((await collect(store.changesBetween('c1', 100, 101))).length, 1);
    assert.deepEqual((await store.liveAt('c1', 100)).objects, []);
  });

  test('same nsName in two kinds never collides', async () => {
    const { store } = await freshStore();
    await store.applyBatch(
      'c1',
      {
        changes: [
          applied(100, obj(D, 'a/x', { v: 1 })),
          applied(100, obj(SA, 'a/x', { v: 1 })),
          deleted(101, bare(SA, 'a/x')),
          applied(102, obj(D, 'a/x', { v: 1 })),
          applied(102, obj(SA, 'a/x', { v: 1 })),
        ],
      },
      { nowSec: NOW },
    );
    assert.deepEqual(summary(await collect(store.changesBetween('c1', 0, 200))), [
      `100 applied ${D} a/x {"v":1}`,
      `100 applied ${SA} a/x {"v":1}`,
      `101 deleted ${SA} a/x {"v":1}`,
      // The Deployment is unchanged (deduplicated); the ServiceAccount is re-created.
      `102 applied ${SA} a/x {"v":1}`,
    ]);
  });

  test('clusters are isolated', async () => {
    const { store } = await freshStore();
    await store.applyBatch('c1', { changes: [applied(100, obj(D, 'a/x', { v: 1 }))] }, { nowSec: NOW });
    await store.applyBatch(
      'c2',
      { changes: [applied(100, obj(D, 'a/x', { v: 1 })), relist(101, D, [])] },
      { nowSec: NOW },
    );
    assert.deepEqual(summary(await collect(store.changesBetween('c1', 0, 200))), [
      `100 applied ${D} a/x {"v":1}`,
    ]);
    assert.deepEqual(summary(await collect(store.changesBetween('c2', 0, 200))), [
      `100 applied ${D} a/x {"v":1}`,
      `101 deleted ${D} a/x {"v":1}`,
    ]);
    assert.deepEqual(await collect(store.changesBetween('c3', 0, 200)), []);
    await assert.rejects(store.applyBatch('C#1', { changes: [] }, { nowSec: NOW }), {
      code: 'invalid_cluster',
    });
    assert.throws(() => store.changesBetween('../x', 0, 1), { code: 'invalid_cluster' });
  });

  test('changes stream in ts order across buckets and shards, for any window', async () => {
    const { store } = await freshStore({ shards: 3 });
    const changes = [];
    for (let i = 0; i < 60; i++) changes.push(applied(10_000 + i * 300, obj(D, `ns/o${i % 7}`, { i }), i));
    await store.applyBatch('c1', { changes }, { nowSec: NOW });
    const all = await collect(store.changesBetween('c1', 0, 40_000));
    assert.equal(all.length, 60);
    assert.deepEqual(
      all.map((c) => c.ts),
      changes.map((c) => c.ts),
    );
    const window = await collect(store.changesBetween('c1', 10_600, 12_100));
    assert.deepEqual(
      window.map((c) => c.ts),
      [10_600, 10_900, 11_200, 11_500, 11_800],
    );
  });
});

describe('lifecycles', () => {
  test('per owner and pod-spec hash, in launch order, only moving forward', async () => {
    const { store } = await freshStore({ shards: 2 });
    const other = { gvk: 'batch/v1.Job', ns_name: 'prod/job' };
    await store.applyBatch(
      'c1',
      {
        changes: [
          lifecycle(100, 'prod/web-c', 300),
          lifecycle(100, 'prod/web-b', 200, 250),
          lifecycle(100, 'prod/web-a', 300),
          lifecycle(100, 'prod/web-d', 100, undefined, '7'),
          { ...lifecycle(100, 'p', 50, 60), owner: other },
          // Regressions: a Running after Finished, a Finished with another start.
          lifecycle(101, 'prod/web-b', 200),
          lifecycle(101, 'prod/web-c', 299, 400),
          // Forward: Running → Finished with the same start.
          lifecycle(102, 'prod/web-a', 300, 500),
        ],
      },
      { nowSec: NOW },
    );
    const got = await collect(store.lifecycles('c1'));
    assert.deepEqual(got, [
      { owner: { gvk: D, nsName: 'prod/web' }, podSpecHash: 7n, lifecycles: [{ startTs: 100 }] },
      {
        owner: { gvk: D, nsName: 'prod/web' },
        podSpecHash: 42n,
        lifecycles: [{ startTs: 200, endTs: 250 }, { startTs: 300, endTs: 500 }, { startTs: 300 }],
      },
      {
        owner: { gvk: 'batch/v1.Job', nsName: 'prod/job' },
        podSpecHash: 42n,
        lifecycles: [{ startTs: 50, endTs: 60 }],
      },
    ]);
    const windowed = await collect(store.lifecycles('c1', { startTs: 260, endTs: 280 }));
    assert.deepEqual(windowed, [
      { owner: { gvk: D, nsName: 'prod/web' }, podSpecHash: 7n, lifecycles: [{ startTs: 100 }] },
    ]);
  });
});

describe('lifecycles of one pod name', () => {
  // A StatefulSet pod deleted and recreated keeps its name: SimKube's tracer records one lifecycle
  // per incarnation. Keys hold the start, so incarnations never overwrite each other.
  const sts = { gvk: 'apps/v1.StatefulSet', ns_name: 'prod/db' };
  const at = (ts: number, pod: string, start: number, end?: number): LifecycleChange => ({
    ...lifecycle(ts, pod, start, end),
    owner: sts,
  });

  test('each incarnation is kept; an unseen end is closed by the next start; contradicting ones are ignored', async () => {
    const { store } = await freshStore({ shards: 2 });
    const batches: LifecycleChange[][] = [
      // Seen end to end, then recreated.
      [at(100, 'prod/db-0', 100), at(150, 'prod/db-0', 100, 150)],
      [at(200, 'prod/db-0', 200)],
      // Recreated while nobody watched: the next incarnation's start closes the first.
      [at(100, 'prod/db-1', 100)],
      [at(300, 'prod/db-1', 300)],
      // An older incarnation delivered late: kept when it ended before the running one started,
      // ignored when it would overlap it (and it must not unindex the running one).
      [at(300, 'prod/db-2', 300)],
      [at(310, 'prod/db-2', 100, 200), at(311, 'prod/db-2', 250, 400)],
    ];
    for (const changes of batches) await store.applyBatch('c1', { changes }, { nowSec: NOW });
    // A pods relist without db-2 finishes its running incarnation, so it was still indexed.
    await store.applyBatch(
      'c1',
      {
        changes: [
          {
            type: 'relist',
            ts: 500,
            gvk: 'v1.Pod',
            after: null,
            through: null,
            ns_names: ['prod/db-0', 'prod/db-1'],
            lifecycles: true,
          },
        ],
      },
      { nowSec: NOW },
    );
    const got = await collect(store.lifecycles('c1'));
    assert.deepEqual(got, [
      {
        owner: { gvk: sts.gvk, nsName: sts.ns_name },
        podSpecHash: 42n,
        lifecycles: [
          // Launch order; same start by pod: db-0, db-1, db-2.
          { startTs: 100, endTs: 150 },
          { startTs: 100, endTs: 300 },
          { startTs: 100, endTs: 200 },
          { startTs: 200 },
          { startTs: 300 },
          { startTs: 300, endTs: 500 },
        ],
      },
    ]);
  });
});

describe('config', () => {
  test('the config in force at a time', async () => {
    const { store } = await freshStore();
    const c1 = { trackedObjects: { [D]: {} } };
    const c2 = { trackedObjects: { [D]: {}, 'v1.Pod': { trackLifecycle: true } } };
    await store.applyBatch(
      'c1',
      {
        changes: [
          { type: 'config', ts: 100, config: c1 },
          { type: 'config', ts: 200, config: c2 },
        ],
      },
      { nowSec: NOW },
    );
    // A redelivered older config never replaces the newer one.
    await store.applyBatch('c1', { changes: [{ type: 'config', ts: 100, config: c1 }] }, { nowSec: NOW });
    assert.equal(await store.configAt('c1', 99), undefined);
    assert.deepEqual(await store.configAt('c1', 150), { ts: 100, config: c1 });
    assert.deepEqual(await store.configAt('c1', 200), { ts: 200, config: c2 });
    assert.deepEqual(await store.configAt('c1', 10_000), { ts: 200, config: c2 });
    assert.equal(await store.configAt('c2', 10_000), undefined);
  });
});
