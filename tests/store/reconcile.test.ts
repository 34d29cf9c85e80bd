/**
 * Per-kind reconcile from relist pages: only the page's kind, only its range, only objects whose
 * last change is not newer than the page. The large relist runs 1,000 objects in pages of 250 by
 * default (dynalite applies ~100-200 changes/s); SKTRACE_BIG_RELIST=1 runs 100,000 in pages of 5,000.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Change } from '../../lib/ingest/wire.ts';
import { applied, collect, localTables, makeStore, NOW, obj, relist, summary } from './support.ts';

const local = localTables();

async function freshStore() {
  const tableName = await local.freshTable();
  return makeStore(local.aws, { tableName });
}

const D = 'apps/v1.Deployment';
const SA = 'v1.ServiceAccount';

test('a page deletes only unlisted live objects of its kind in its range, not newer than it', async () => {
  const store = await freshStore();
  const names = ['a/1', 'a/2', 'a/3', 'b/1', 'b/2', 'c/1'];
  await store.applyBatch(
    'c1',
    {
      changes: [
        ...names.map((n) => applied(100, obj(D, n))),
        ...names.map((n) => applied(100, obj(SA, n))),
        applied(300, obj(D, 'b/3')),
      ],
    },
    { nowSec: NOW },
  );
  const result = await store.applyBatch(
    'c1',
    {
      changes: [
        // (a/2, b/3]: lists b/1 only. a/2 itself is outside (after is exclusive); b/3 changed after the page.
        relist(200, D, ['b/1'], 'a/2', 'b/3'),
        // (c/0, end]: lists nothing → c/1 goes.
        relist(200, D, [], 'c/0', null),
      ],
    },
    { nowSec: NOW },
  );
  assert.equal(result.reconciled_deletions, 3);
  const changes = summary(await collect(store.changesBetween('c1', 150, 1000)));
  assert.deepEqual(changes, [
    `200 deleted ${D} a/3 {"v":1}`,
    `200 deleted ${D} b/2 {"v":1}`,
    `200 deleted ${D} c/1 {"v":1}`,
    `300 applied ${D} b/3 {"v":1}`,
  ]);
  // ServiceAccounts with the same names are untouched; a/1, a/2, b/1 Deployments remain live.
  const live = await store.liveAt('c1', 1000);
  assert.deepEqual(
    live.objects
      .map((c) => `${c.object.kind} ${c.object.metadata.namespace}/${c.object.metadata.name}`)
      .sort(),
    [
      'Deployment a/1',
      'Deployment a/2',
      'Deployment b/1',
      'Deployment b/3',
      ...names.map((n) => `ServiceAccount ${n}`),
    ].sort(),
  );
});

test('a relist of many objects in pages', async () => {
  const big = process.env.SKTRACE_BIG_RELIST === '1';
  const count = big ? 100_000 : 1_000;
  const pageSize = big ? 5_000 : 250;
  const store = await freshStore();
  const name = (i: number) => `ns/o-${String(i).padStart(6, '0')}`;
  const started = Date.now();
  // Seed with batches of 1,000 applied changes (the ingest limit's order of magnitude).
  for (let i = 0; i < count; i += 1000) {
    const changes: Change[] = [];
    for (let j = i; j < Math.min(count, i + 1000); j++)
      changes.push(applied(100, obj('v1.ConfigMap', name(j), undefined)));
    await store.applyBatch('c1', { changes }, { nowSec: NOW });
  }
  const seeded = Date.now();
  // Every 10th object vanished; the relist tiles the space in pages.
  const kept: string[] = [];
  for (let i = 0; i < count; i++) if (i % 10 !== 0) kept.push(name(i));
  let deletions = 0;
  let readUnits = 0;
  for (let p = 0; p < kept.length; p += pageSize) {
    const page = kept.slice(p, p + pageSize);
    const afterName = p === 0 ? null : kept[p - 1]!;
    const through = p + pageSize >= kept.length ? null : page[page.length - 1]!;
    const r = await store.applyBatch(
      'c1',
      { changes: [relist(200, 'v1.ConfigMap', page, afterName, through)] },
      { nowSec: NOW },
    );
    deletions += r.reconciled_deletions;
    readUnits += r.readUnits;
  }
  const reconciled = Date.now();
  console.log(
    `relist of ${count}: seed ${seeded - started} ms, reconcile ${reconciled - seeded} ms, ${readUnits} read units`,
  );
  assert.equal(deletions, count / 10);
  const gone = await collect(store.changesBetween('c1', 200, 201));
  assert.equal(gone.length, count / 10);
  assert.ok(gone.every((c) => c.type === 'deleted' && Number(c.object.metadata.name!.slice(2)) % 10 === 0));
});
