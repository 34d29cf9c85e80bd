/**
 * Lifecycles read by window (docs/storage.md "Lifecycles by window") on dynalite: the same groups,
 * lifecycles and order as the whole read filtered to the window (the old path, which reads the
 * owner-keyed items, is the oracle; one case is also written out by hand); read units that follow
 * the lifecycles overlapping the window, not the pod history before it (ConsumedCapacity); data
 * written before the layout existed still read in full; and an export that drops a bare pod which
 * finished before the window, as the in-memory reference does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { assembleExport } from '../../lib/export/pipeline.ts';
import type { LifecycleChange } from '../../lib/ingest/wire.ts';
import { lifecyclePk, lifecycleSk, shardOf } from '../../lib/store/keys.ts';
import type { ReadMeter, StoredOwnerLifecycles } from '../../lib/store/ports.ts';
import { assembleFromHistory } from '../../lib/trace/assemble.ts';
import { tracerConfigFromDoc } from '../../lib/trace/config.ts';
import { overlapsWindow } from '../../lib/trace/lifecycle.ts';
import type { ObjectChange, TraceWindow } from '../../lib/trace/model.ts';
import { applied, collect, localTables, makeStore, NOW, obj } from './support.ts';

const local = localTables('lcw');
const DAY = 86_400;
const D = 'apps/v1.Deployment';

function lifecycle(
  pod: string,
  start: number,
  end?: number,
  owner = 'shop/web',
  hash = '42',
): LifecycleChange {
  return {
    type: 'lifecycle',
    ts: end ?? start,
    owner: { gvk: D, ns_name: owner },
    pod,
    pod_spec_hash: hash,
    start_ts: start,
    ...(end === undefined ? {} : { end_ts: end }),
  };
}

/** The whole read (every lifecycle item), filtered to the window: the oracle. */
async function wholeRead(
  store: ReturnType<typeof makeStore>,
  cluster: string,
  window: TraceWindow,
): Promise<StoredOwnerLifecycles[]> {
  const all = await collect(store.lifecycles(cluster, undefined, { readUnits: 0 }));
  return all
    .map((g) => ({ ...g, lifecycles: g.lifecycles.filter((lc) => overlapsWindow(lc, window)) }))
    .filter((g) => g.lifecycles.length > 0);
}

async function byWindow(store: ReturnType<typeof makeStore>, cluster: string, window: TraceWindow) {
  const meter: ReadMeter = { readUnits: 0 };
  const groups = await collect(store.lifecycles(cluster, window, meter));
  return { groups, readUnits: meter.readUnits };
}

test('reads the lifecycles overlapping a window: same as the whole read, written out by hand for one window', async () => {
  const tableName = await local.freshTable();
  const store = makeStore(local.aws, { tableName, shards: 2 });
  const T = NOW - 2 * DAY;
  await store.applyBatch(
    'c1',
    {
      changes: [
        lifecycle('shop/web-a', T - 7200, T - 3600), // ended before the window
        lifecycle('shop/web-b', T - 600, T + 100), // spans the start
        lifecycle('shop/web-c', T + 200, T + 300), // inside
        lifecycle('shop/web-d', T + 3000, T + 9000), // spans the end
        lifecycle('shop/web-e', T - 5000), // still running
        lifecycle('shop/web-f', T + 4000), // starts after the window
        lifecycle('shop/api-a', T + 10, T + 20, 'shop/api', '7'),
        lifecycle('shop/web-g', T + 50, T + 60, 'shop/web', '8'),
        // Incarnations of one pod name, the first finished by the second's start.
        lifecycle('shop/web-h', T + 400),
        lifecycle('shop/web-h', T + 500),
      ],
    },
    { nowSec: NOW },
  );
  const window = { startTs: T, endTs: T + 3600 };
  const { groups } = await byWindow(store, 'c1', window);
  assert.deepEqual(groups, [
    {
      owner: { gvk: D, nsName: 'shop/api' },
      podSpecHash: 7n,
      lifecycles: [{ startTs: T + 10, endTs: T + 20 }],
    },
    {
      owner: { gvk: D, nsName: 'shop/web' },
      podSpecHash: 8n,
      lifecycles: [{ startTs: T + 50, endTs: T + 60 }],
    },
    {
      owner: { gvk: D, nsName: 'shop/web' },
      podSpecHash: 42n,
      lifecycles: [
        { startTs: T - 5000 },
        { startTs: T - 600, endTs: T + 100 },
        { startTs: T + 200, endTs: T + 300 },
        { startTs: T + 400, endTs: T + 500 },
        { startTs: T + 500 },
        { startTs: T + 3000, endTs: T + 9000 },
      ],
    },
  ]);
  for (const w of [
    window,
    { startTs: T - 4000, endTs: T - 3599 },
    { startTs: T + 8999, endTs: T + 9001 },
    { startTs: T + 301, endTs: T + 399 },
  ]) {
    assert.deepEqual(
      (await byWindow(store, 'c1', w)).groups,
      await wholeRead(store, 'c1', w),
      JSON.stringify(w),
    );
  }
});

test('10x older pod history adds no read units to a window (ConsumedCapacity)', async () => {
  const tableName = await local.freshTable();
  const store = makeStore(local.aws, { tableName });
  const T = NOW - DAY;
  const inWindow = (cluster: string) =>
    store.applyBatch(
      cluster,
      {
        changes: Array.from({ length: 50 }, (_, i) =>
          lifecycle(`shop/web-${i}`, T + i * 60, i % 4 === 0 ? undefined : T + i * 60 + 600),
        ),
      },
      { nowSec: NOW },
    );
  await inWindow('plain');
  await inWindow('aged');
  // 500 older lifecycles of 10 minutes each, over the 5 days before the window.
  const older = Array.from({ length: 500 }, (_, i) => {
    const start = T - 5 * DAY + i * 840;
    return lifecycle(`shop/old-${i}`, start, start + 600);
  });
  for (let i = 0; i < older.length; i += 250) {
    await store.applyBatch('aged', { changes: older.slice(i, i + 250) }, { nowSec: NOW });
  }
  const window = { startTs: T, endTs: T + 3600 };
  const plain = await byWindow(store, 'plain', window);
  const aged = await byWindow(store, 'aged', window);
  assert.deepEqual(aged.groups, plain.groups);
  assert.deepEqual(aged.groups, await wholeRead(store, 'aged', window));
  assert.ok(
    aged.readUnits <= plain.readUnits * 1.1,
    `${aged.readUnits} RCU with history vs ${plain.readUnits}`,
  );
  // The whole read pays for the history: what the window read saves.
  const whole: ReadMeter = { readUnits: 0 };
  await collect(store.lifecycles('aged', undefined, whole));
  assert.ok(whole.readUnits > 2 * aged.readUnits, `whole ${whole.readUnits} vs window ${aged.readUnits}`);
});

test('lifecycles stored before the layout existed are still read: windows before it read everything', async () => {
  const tableName = await local.freshTable();
  const store = makeStore(local.aws, { tableName, shards: 2 });
  const T = NOW - 3 * DAY;
  // As the previous version wrote them: owner-keyed items only, no layout record.
  for (const [pod, start, end] of [
    ['shop/web-old1', T, T + 100],
    ['shop/web-old2', T + 50, T + 5000],
  ] as const) {
    const shard = shardOf(D, 'shop/web', 2);
    await local.aws.dynamo.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          pk: { S: lifecyclePk('c1', shard) },
          sk: { S: lifecycleSk(D, 'shop/web', 42n, pod, start) },
          startTs: { N: String(start) },
          endTs: { N: String(end) },
          ts: { N: String(end) },
        },
      }),
    );
  }
  const before = { startTs: T, endTs: T + 3600 };
  assert.deepEqual((await byWindow(store, 'c1', before)).groups, await wholeRead(store, 'c1', before));
  assert.equal((await byWindow(store, 'c1', before)).groups[0]?.lifecycles.length, 2);
  // The new writer records that older items exist (sinceSec = now): old windows stay whole reads,
  // windows after it use the end-hour items.
  await store.applyBatch(
    'c1',
    { changes: [lifecycle('shop/web-new', NOW + 1000, NOW + 1100)] },
    { nowSec: NOW },
  );
  assert.deepEqual((await byWindow(store, 'c1', before)).groups, await wholeRead(store, 'c1', before));
  const after = { startTs: NOW + 900, endTs: NOW + 2000 };
  assert.deepEqual((await byWindow(store, 'c1', after)).groups, await wholeRead(store, 'c1', after));
  assert.equal((await byWindow(store, 'c1', after)).groups.length, 1);
});

test('an export drops a bare pod alive at the start whose lifecycles all ended before it, as the reference does', async () => {
  const tableName = await local.freshTable();
  const store = makeStore(local.aws, { tableName });
  const T = NOW - DAY;
  const configDoc = { trackedObjects: { 'v1.Pod': { trackLifecycle: true } } };
  const history: ObjectChange[] = [
    { ts: T, type: 'applied', object: obj('v1.Pod', 'shop/done', { c: 1 }), owners: [] },
    { ts: T, type: 'applied', object: obj('v1.Pod', 'shop/running', { c: 2 }), owners: [] },
    { ts: T + 10, type: 'applied', object: obj('v1.ConfigMap', 'shop/cm', { d: 1 }), owners: [] },
  ];
  await store.applyBatch(
    'c1',
    {
      changes: [
        { type: 'config', ts: T - 1, config: configDoc },
        ...history.map((c) => applied(c.ts, c.object)),
        { ...lifecycle('shop/done', T, T + 100), owner: { gvk: 'v1.Pod', ns_name: 'shop/done' } },
        { ...lifecycle('shop/running', T), owner: { gvk: 'v1.Pod', ns_name: 'shop/running' } },
      ],
    },
    { nowSec: NOW },
  );
  const window = { startTs: T + 3600, endTs: T + 7200 };
  const filters = { excluded_namespaces: [], excluded_labels: [] };
  const trace = await assembleExport(store, 'c1', { window, filters }, { readUnits: 0 });
  const want = assembleFromHistory(history, window, filters, tracerConfigFromDoc(configDoc), [
    {
      owner: { gvk: 'v1.Pod', nsName: 'shop/done' },
      podSpecHash: 42n,
      lifecycles: [{ startTs: T, endTs: T + 100 }],
    },
    { owner: { gvk: 'v1.Pod', nsName: 'shop/running' }, podSpecHash: 42n, lifecycles: [{ startTs: T }] },
  ]);
  assert.deepEqual(trace, want);
  assert.deepEqual(
    trace.events[0]!.applied_objs.map((o) => o.metadata.name),
    ['cm', 'running'],
  );
});
