/**
 * The change feed (lib/store/feed.ts) on dynalite: pages follow changes in the order they landed,
 * a change stored late for an earlier second is still delivered, a retried batch whose first
 * attempt stopped before its record loses nothing, a change replaced in its second is delivered
 * once, and cursors are checked. The clock is a variable the tests move.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FeedChange } from '../../lib/store/ports.ts';
import { applied, deleted, deployment, localTables, makeStore, NOW, relist } from './support.ts';

const local = localTables('feed');

function clockedStore(tableName: string, changeFeed = true) {
  const clock = { ms: NOW * 1000 };
  const store = makeStore(local.aws, {
    tableName,
    nowSec: () => Math.floor(clock.ms / 1000),
    nowMs: () => clock.ms,
    settleMs: 1000,
    changeFeed,
  });
  return { clock, store };
}

/** Every change after `after`, page by page (`limit` each), as `ts type nsName seq` lines. */
async function drain(
  store: ReturnType<typeof makeStore>,
  after: string | undefined,
  limit = 100,
): Promise<{ lines: string[]; cursor: string; pages: number }> {
  const lines: string[] = [];
  let cursor = after;
  let pages = 0;
  for (;;) {
    const page = await store.changesAfter('c1', cursor, { limit });
    pages++;
    lines.push(...page.changes.map(line));
    cursor = `c1:${page.cursorSk}`;
    if (page.caughtUp) return { lines, cursor, pages };
  }
}

const line = (c: FeedChange) => `${c.ts} ${c.type} ${c.nsName} ${c.seq}`;

test('pages follow the order changes landed in, including one late for an earlier second', async () => {
  const { clock, store } = clockedStore(await local.freshTable());
  const start = (await drain(store, 'now')).cursor;
  clock.ms += 2000;
  await store.applyBatch('c1', { changes: [applied(NOW, deployment('a'), 1)] }, { nowSec: NOW });
  clock.ms += 10;
  // Lands after `a` but is a change of a second 2 hours earlier (another hour's partitions).
  await store.applyBatch('c1', { changes: [applied(NOW - 7200, deployment('old'), 1)] }, { nowSec: NOW });
  clock.ms += 10;
  await store.applyBatch('c1', { changes: [deleted(NOW + 1, deployment('a'), 1)] }, { nowSec: NOW });
  // Not settled yet: nothing to follow.
  assert.deepEqual((await drain(store, start)).lines, []);
  clock.ms += 1500;
  const { lines, cursor } = await drain(store, start);
  assert.deepEqual(lines, [
    `${NOW} applied shop/a 1`,
    `${NOW - 7200} applied shop/old 1`,
    `${NOW + 1} deleted shop/a 1`,
  ]);
  // From the last cursor: nothing again, until something new lands.
  assert.deepEqual((await drain(store, cursor)).lines, []);
  await store.applyBatch('c1', { changes: [applied(NOW + 5, deployment('b'), 1)] }, { nowSec: NOW });
  clock.ms += 1500;
  assert.deepEqual((await drain(store, cursor)).lines, [`${NOW + 5} applied shop/b 1`]);
});

test('paging: 250 changes in pages of 100 arrive once each', async () => {
  const { clock, store } = clockedStore(await local.freshTable());
  const start = (await drain(store, 'now')).cursor;
  const expected: string[] = [];
  for (let b = 0; b < 5; b++) {
    clock.ms += 5;
    const changes = Array.from({ length: 50 }, (_, i) => applied(NOW + b, deployment(`d${b}-${i}`), i));
    await store.applyBatch('c1', { changes }, { nowSec: NOW });
    expected.push(
      ...changes.map(
        (c) => `${c.ts} applied ${c.object.metadata.namespace}/${c.object.metadata.name} ${c.seq}`,
      ),
    );
  }
  clock.ms += 1500;
  const { lines, pages } = await drain(store, start, 100);
  assert.deepEqual(lines, expected);
  assert.ok(pages >= 3, `pages ${pages}`);
});

test('a retried batch whose first attempt stopped before its feed record loses nothing', async () => {
  const tableName = await local.freshTable();
  const { clock, store } = clockedStore(tableName);
  // The first attempt: every event and state written, no feed record (as if it died right before it).
  const firstAttempt = clockedStore(tableName, false).store;
  const start = (await drain(store, 'now')).cursor;
  const batch = {
    changes: [
      applied(NOW, deployment('x'), 1),
      applied(NOW, deployment('x', 'shop', 5), 2), // the same second, later seq: x's event is this one
      applied(NOW, deployment('y'), 1),
      relist(NOW + 1, 'apps/v1.Deployment', ['shop/x']), // deletes y
    ],
  };
  await firstAttempt.applyBatch('c1', batch, { nowSec: NOW });
  clock.ms += 1500;
  assert.deepEqual((await drain(store, start)).lines, [], 'no record yet');
  await store.applyBatch('c1', batch, { nowSec: NOW });
  clock.ms += 1500;
  const { lines } = await drain(store, start);
  assert.deepEqual(
    lines.sort(),
    [`${NOW + 1} deleted shop/y 0`, `${NOW} applied shop/x 2`, `${NOW} applied shop/y 1`].sort(),
  );
});

test('a change replaced in its second is delivered once, as the later change', async () => {
  const { clock, store } = clockedStore(await local.freshTable());
  const start = (await drain(store, 'now')).cursor;
  await store.applyBatch('c1', { changes: [applied(NOW, deployment('z'), 1)] }, { nowSec: NOW });
  clock.ms += 5;
  await store.applyBatch('c1', { changes: [applied(NOW, deployment('z', 'shop', 9), 2)] }, { nowSec: NOW });
  clock.ms += 1500;
  const page = await store.changesAfter('c1', start, { limit: 100 });
  assert.deepEqual(page.changes.map(line), [`${NOW} applied shop/z 2`]);
  assert.equal((page.changes[0]!.object.spec as { replicas: number }).replicas, 9);
});

test('filters by kind and namespace; cursors that are not ours, from the future or too old are refused', async () => {
  const { clock, store } = clockedStore(await local.freshTable());
  const start = (await drain(store, 'now')).cursor;
  await store.applyBatch(
    'c1',
    { changes: [applied(NOW, deployment('p', 'web'), 1), applied(NOW, deployment('q', 'db'), 1)] },
    { nowSec: NOW },
  );
  clock.ms += 1500;
  assert.deepEqual(
    (await store.changesAfter('c1', start, { limit: 10, namespace: 'db' })).changes.map(line),
    [`${NOW} applied db/q 1`],
  );
  assert.deepEqual((await store.changesAfter('c1', start, { limit: 10, gvk: 'v1.Pod' })).changes, []);
  await assert.rejects(store.changesAfter('c1', 'abc', { limit: 1 }), { code: 'invalid_cursor' });
  await assert.rejects(store.changesAfter('c1', 'c1:9999999999999#~', { limit: 1 }), {
    code: 'invalid_cursor',
  });
  await assert.rejects(store.changesAfter('c1', 'c1:0000000000001#~', { limit: 1 }), {
    code: 'cursor_expired',
  });
});

test('a deletion and a relist page of the same second: the deleted object is listed once', async () => {
  const { clock, store } = clockedStore(await local.freshTable());
  await store.applyBatch('c1', { changes: [applied(NOW - 10, deployment('m'), 1)] }, { nowSec: NOW });
  clock.ms += 1500;
  const start = (await drain(store, 'now')).cursor;
  clock.ms += 5;
  // The page finds m dead at its own second (the rule that re-lists an earlier attempt's deletions).
  await store.applyBatch(
    'c1',
    { changes: [deleted(NOW, deployment('m'), 1), relist(NOW, 'apps/v1.Deployment', [])] },
    { nowSec: NOW },
  );
  clock.ms += 1500;
  assert.deepEqual((await drain(store, start)).lines, [`${NOW} deleted shop/m 1`]);
});
