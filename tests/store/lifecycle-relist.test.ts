/**
 * Pods relist pages (`relist` of v1.Pod with `lifecycles: true`): running lifecycles of pods that
 * vanished while no forwarder watched are finished at the page's time — only in the page's range,
 * only those not newer than the page, idempotently. Found by `npm run demo`: before, a pod deleted
 * while the forwarder was restarting stayed Running in every later export.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LifecycleChange, RelistChange } from '../../lib/ingest/wire.ts';
import { collect, localTables, makeStore, NOW, relist, scanTable } from './support.ts';

const local = localTables();

async function freshStore() {
  const tableName = await local.freshTable();
  return {
    store: makeStore(local.aws, { tableName, shards: 2 }),
    scan: () => scanTable(local.aws.dynamo, tableName),
  };
}

const D = 'apps/v1.Deployment';
const J = 'batch/v1.Job';

function running(ts: number, pod: string, start: number, owner = D): LifecycleChange {
  return {
    type: 'lifecycle',
    ts,
    owner: { gvk: owner, ns_name: owner === D ? 'shop/web' : 'shop/report' },
    pod,
    pod_spec_hash: '42',
    start_ts: start,
  };
}
const finished = (ts: number, pod: string, start: number, end: number): LifecycleChange => ({
  ...running(ts, pod, start),
  end_ts: end,
});
function podsPage(
  ts: number,
  names: string[],
  from: string | null = null,
  to: string | null = null,
): RelistChange {
  return { type: 'relist', ts, gvk: 'v1.Pod', after: from, through: to, ns_names: names, lifecycles: true };
}

test('a pods page finishes running lifecycles of unlisted pods in its range, not newer ones', async () => {
  const { store, scan } = await freshStore();
  await store.applyBatch(
    'c1',
    {
      changes: [
        running(100, 'shop/web-a', 100),
        running(100, 'shop/web-b', 101),
        running(100, 'shop/web-c', 102),
        running(100, 'shop/report-1', 103, J),
        finished(100, 'shop/web-d', 90, 95),
        // Started after the page below: the page cannot know it.
        running(300, 'shop/web-e', 300),
      ],
    },
    { nowSec: NOW },
  );
  const page = {
    changes: [
      // (null, shop/web-b]: lists shop/web-a only → shop/report-1 and shop/web-b vanished.
      podsPage(200, ['shop/web-a'], null, 'shop/web-b'),
      // (shop/web-b, end]: nothing listed → shop/web-c vanished; shop/web-e is newer than the page.
      podsPage(200, [], 'shop/web-b', null),
    ],
  };
  await store.applyBatch('c1', page, { nowSec: NOW });
  const groups = await collect(store.lifecycles('c1'));
  assert.deepEqual(
    groups.flatMap((g) => g.lifecycles.map((l) => `${g.owner.gvk} ${l.startTs}-${l.endTs ?? ''}`)).sort(),
    [
      `${D} 100-`, // listed: still running
      `${D} 101-200`,
      `${D} 102-200`,
      `${D} 300-`, // newer than the page
      `${D} 90-95`,
      `${J} 103-200`,
    ].sort(),
  );

  // Idempotent: the same pages again change nothing, and no index entry is left for a finished one.
  const once = await scan();
  await store.applyBatch('c1', page, { nowSec: NOW });
  assert.deepEqual(await scan(), once);
  const index = once.filter((line) => line.includes('RUNLC#'));
  assert.equal(index.length, 2, `index entries of the two running lifecycles only: ${index.join('\n')}`);
});

test('a relist without lifecycles, even of v1.Pod, never finishes a lifecycle', async () => {
  const { store } = await freshStore();
  await store.applyBatch('c1', { changes: [running(100, 'shop/web-a', 100)] }, { nowSec: NOW });
  await store.applyBatch('c1', { changes: [relist(200, 'v1.Pod', []), relist(200, D, [])] }, { nowSec: NOW });
  const [group] = await collect(store.lifecycles('c1'));
  assert.deepEqual(group?.lifecycles, [{ startTs: 100 }]);
});

test('a Running redelivered after its Finished leaves no index entry: a later page finishes nothing twice', async () => {
  const { store, scan } = await freshStore();
  await store.applyBatch('c1', { changes: [running(100, 'shop/web-a', 100)] }, { nowSec: NOW });
  await store.applyBatch('c1', { changes: [finished(150, 'shop/web-a', 100, 150)] }, { nowSec: NOW });
  const finishedOnce = await scan();
  await store.applyBatch('c1', { changes: [running(100, 'shop/web-a', 100)] }, { nowSec: NOW });
  assert.deepEqual(await scan(), finishedOnce);
  await store.applyBatch('c1', { changes: [podsPage(200, [])] }, { nowSec: NOW });
  const [group] = await collect(store.lifecycles('c1'));
  assert.deepEqual(group?.lifecycles, [{ startTs: 100, endTs: 150 }]);
});
