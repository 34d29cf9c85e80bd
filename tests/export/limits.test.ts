/**
 * Sizing a window before exporting it: the store's hourly change counts (on dynalite), and the
 * refusal that says how to split a window too large for one export function.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkWindowSize, WindowTooLargeError } from '../../lib/export/limits.ts';
import { applied, localTables, makeStore, NOW, obj } from '../store/support.ts';

const local = localTables('limits');

test('estimateChanges counts the changes posted per hour, pro rata for hours the window cuts', async () => {
  const tableName = await local.freshTable();
  let nowSec = NOW;
  const store = makeStore(local.aws, { tableName, nowSec: () => nowSec, countChanges: true });
  const hour = Math.floor(NOW / 3600) * 3600 - 7200;
  // 360 changes in the first hour, 720 in the second, in batches 30 s apart: counts are written
  // at most once a minute per container, so the last ones wait for a later batch.
  for (let i = 0; i < 36; i++) {
    const changes = Array.from({ length: 10 }, (_, k) =>
      applied(hour + i * 100 + k, obj('v1.ConfigMap', `a/c${i}-${k}`)),
    );
    await store.applyBatch('c1', { changes }, { nowSec });
    nowSec += 30;
  }
  for (let i = 0; i < 36; i++) {
    const changes = Array.from({ length: 20 }, (_, k) =>
      applied(hour + 3600 + i * 100 + k, obj('v1.ConfigMap', `b/c${i}-${k}`)),
    );
    await store.applyBatch('c1', { changes }, { nowSec });
    nowSec += 30;
  }
  nowSec += 60;
  await store.applyBatch(
    'c1',
    { changes: [applied(hour + 7200, obj('v1.ConfigMap', 'z/last'))] },
    { nowSec },
  );
  assert.equal(await store.estimateChanges('c1', { startTs: hour, endTs: hour + 7200 }), 1080);
  assert.equal(await store.estimateChanges('c1', { startTs: hour + 1800, endTs: hour + 5400 }), 180 + 360);
  assert.equal(await store.estimateChanges('c1', { startTs: hour - 7200, endTs: hour }), 0);
});

test('checkWindowSize passes what fits and refuses the rest with a split that fits', () => {
  const window = { startTs: 1_000_000, endTs: 1_086_400 };
  checkWindowSize(window, 2_000_000, 2_000_000);
  assert.throws(
    () => checkWindowSize(window, 5_000_000, 2_000_000),
    (err: unknown) =>
      err instanceof WindowTooLargeError &&
      err.code === 'window_too_large' &&
      err.context.parts === 3 &&
      err.context.partSec === 28_800 &&
      /split it into 3 windows of at most 28800 s \(the first: start_ts 1000000, end_ts 1028800\)/.test(
        err.message,
      ),
  );
});
