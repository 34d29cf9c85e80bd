/**
 * Retention, large bodies, capacity and checkpoints, against dynalite + s3rver. dynalite never
 * expires items, so these tests also prove every read filters expired items itself.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Change } from '../../lib/ingest/wire.ts';
import {
  applied,
  bare,
  collect,
  deleted,
  deployment,
  localTables,
  makeStore,
  NOW,
  obj,
  scanTable,
} from './support.ts';

const local = localTables();

const D = 'apps/v1.Deployment';
const HOUR = 3600;

test('expired history is invisible to every read, live state never expires, and the horizon says so', async () => {
  const tableName = await local.freshTable();
  let now = 100 * HOUR;
  // Retention of one hour: history expires an hour after the later of event and ingest time.
  const store = makeStore(local.aws, { tableName, retentionDays: 1 / 24, nowSec: () => now });
  const t0 = 100 * HOUR;
  await store.applyBatch(
    'c1',
    {
      changes: [
        { type: 'config', ts: t0, config: { trackedObjects: { [D]: {} } } },
        applied(t0, obj(D, 'a/old', { v: 1 })),
        applied(t0, obj(D, 'a/gone', { v: 1 })),
        deleted(t0 + 10, bare(D, 'a/gone')),
        {
          type: 'lifecycle',
          ts: t0,
          owner: { gvk: D, ns_name: 'a/old' },
          pod: 'p1',
          pod_spec_hash: '1',
          start_ts: t0,
          end_ts: t0 + 5,
        },
        {
          type: 'lifecycle',
          ts: t0,
          owner: { gvk: D, ns_name: 'a/old' },
          pod: 'p2',
          pod_spec_hash: '1',
          start_ts: t0,
        },
      ],
    },
    { nowSec: t0 },
  );
  now = t0 + 2 * HOUR;
  await store.applyBatch('c1', { changes: [applied(now, obj(D, 'a/new', { v: 1 }))] }, { nowSec: now });

  // Two hours later the first batch's history has expired (but is still in dynalite).
  assert.ok((await scanTable(local.aws.dynamo, tableName)).some((l) => l.includes('a/gone')));
  assert.deepEqual(
    (await collect(store.changesBetween('c1', 0, now + 1))).map((c) => `${c.ts} ${c.object.metadata.name}`),
    [`${now} new`],
  );
  assert.deepEqual(await collect(store.lifecycles('c1')), [
    { owner: { gvk: D, nsName: 'a/old' }, podSpecHash: 1n, lifecycles: [{ startTs: t0 }] },
  ]);
  // The config in force never expires while it is the latest.
  assert.deepEqual(await store.configAt('c1', now), { ts: t0, config: { trackedObjects: { [D]: {} } } });
  // History is complete only from the hour after the expired items' latest ts.
  assert.deepEqual(await store.retentionHorizon('c1'), { firstTs: t0, horizonTs: t0 + HOUR });
  // A live set from history alone is flagged incomplete (a/old's only event expired).
  const live = await store.liveAt('c1', now + 1);
  assert.equal(live.complete, false);
  // Its state item still holds it: a checkpoint taken now recovers it.
  const cp = await store.writeCheckpoint('c1', { nowSec: now + 1 });
  now += 3;
  const fromCheckpoint = await store.liveAt('c1', now);
  assert.equal(fromCheckpoint.checkpointTs, cp.validFromTs);
  assert.deepEqual(fromCheckpoint.objects.map((c) => c.object.metadata.name).sort(), ['new', 'old']);
});

test('a body over the item limit goes to S3 by content hash and comes back whole', async () => {
  const tableName = await local.freshTable();
  const store = makeStore(local.aws, { tableName });
  // ~600 KB of incompressible data: far over DynamoDB's 400 KB item limit even compressed.
  const big = obj('v1.ConfigMap', 'a/big', undefined, {
    data: { blob: randomBytes(450_000).toString('base64') },
  });
  const r = await store.applyBatch(
    'c1',
    { changes: [applied(100, big), applied(101, obj('v1.ConfigMap', 'a/small'))] },
    { nowSec: NOW },
  );
  assert.equal(r.deduplicated, 0);
  const back = await collect(store.changesBetween('c1', 0, 1000));
  assert.deepEqual(back[0]?.object, big);
  const listed = await local.aws.s3.send(
    new ListObjectsV2Command({ Bucket: local.aws.bucket, Prefix: 'bodies/c1/' }),
  );
  assert.equal(listed.KeyCount, 1);
  assert.match(listed.Contents?.[0]?.Key ?? '', /^bodies\/c1\/[0-9a-f]{64}$/);
  // Reconcile and checkpoints read the big body through the same reference.
  const live = await store.liveAt('c1', 1000);
  assert.deepEqual(live.objects.find((c) => c.object.metadata.name === 'big')?.object, big);
});

test('write units per change of a typical 3.4 KB Deployment', async () => {
  const tableName = await local.freshTable();
  const store = makeStore(local.aws, { tableName });
  const n = 50;
  // Live ingestion: changes a few seconds old (older ones would add a late-batch record per batch).
  const t = NOW - 200;
  const create: Change[] = Array.from({ length: n }, (_, i) => applied(t, deployment(`svc-${i}`), i));
  const first = await store.applyBatch('c1', { changes: create }, { nowSec: NOW });
  const update: Change[] = Array.from({ length: n }, (_, i) =>
    applied(t + 60, deployment(`svc-${i}`, 'shop', 4), i),
  );
  const second = await store.applyBatch('c1', { changes: update }, { nowSec: NOW });
  const unchanged: Change[] = Array.from({ length: n }, (_, i) =>
    applied(t + 120, deployment(`svc-${i}`, 'shop', 4), i),
  );
  const third = await store.applyBatch('c1', { changes: unchanged }, { nowSec: NOW });
  console.log(
    `per change: create ${first.writeUnits / n} WCU (batch total ${first.writeUnits}), update ${second.writeUnits / n} WCU, ` +
      `unchanged ${third.writeUnits / n} WCU; reads ${first.readUnits / n} / ${second.readUnits / n} / ${third.readUnits / n} RCU`,
  );
  // Event item (1 WCU: ~0.66 KB body + ~0.15 KB keys) + state item (1 WCU) per change; the
  // cluster metadata adds a few writes to the first batch (registry, kind, first ts, expiry day)
  // and none to the second; the batch's change-feed record names its 50 events in 50 lines of
  // ~45 bytes (`shard seq ts apps/v1.Deployment shop/svc-N`), ~2.3 KB: 3 WCU.
  assert.equal(
    second.writeUnits,
    2 * n + 3,
    'spec change: exactly one event item and one state item, 1 WCU each, and 3 for the feed record',
  );
  assert.ok(first.writeUnits <= 2 * n + 3 + 4, `create: ${first.writeUnits}`);
  assert.equal(third.writeUnits, 0, 'spec-unchanged changes write nothing');
  // One strongly consistent read of the state (≤ 4 KB) per object per batch.
  assert.ok(second.readUnits <= n, `reads ${second.readUnits}`);
});
