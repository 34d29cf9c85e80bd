/**
 * Found by the chaos harness (duplicate + late replayed batches, under load): a relist page
 * delivered a second time — a duplicated request still in flight, a late replay — after a watch
 * event of the same second had created an object deleted that object: the store only compared
 * seconds (`state.ts <= page.ts`). The forwarder now stamps its pages with `seq` when the list is
 * done, and the store orders a page against changes of its own second by it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ensureTable } from '../../lib/aws/table.ts';
import { validateBatch } from '../../lib/ingest/validate.ts';
import type { Batch } from '../../lib/ingest/wire.ts';
import { applied, collect, makeStore, NOW, obj, summary } from '../store/support.ts';
import { type LocalAws, startLocalAws } from '../support/local-aws.ts';

const D = 'apps/v1.Deployment';
let aws: LocalAws;
before(async () => {
  aws = await startLocalAws();
});
after(async () => {
  await aws?.close();
});

/** Through the ingest validator, as the handler does: `seq` must survive it. */
const wire = (json: unknown): Batch => validateBatch(json, { nowSec: NOW, maxSkewSec: 300 });

test('a relist page arriving again after a newer change of its second deletes nothing', async () => {
  await ensureTable(aws.dynamo, 'relist-order', 1);
  const store = makeStore(aws, { tableName: 'relist-order' });
  const ts = NOW - 100;
  // The list saw a/1 (seq 10); the page was stamped when the list was done (seq 11); then the
  // watch saw a/2 created in the same second (seq 12).
  const page = { type: 'relist', ts, seq: 11, gvk: D, after: null, through: null, ns_names: ['shop/a1'] };
  const first = wire({ changes: [applied(ts, obj(D, 'shop/a1'), 10), page] });
  assert.equal(first.changes[1]?.type === 'relist' && first.changes[1].seq, 11, 'the validator keeps seq');
  await store.applyBatch('c1', first, { nowSec: NOW });
  await store.applyBatch('c1', wire({ changes: [applied(ts, obj(D, 'shop/a2'), 12)] }), { nowSec: NOW });
  // The same page again (a duplicated delivery), after the watch change.
  const again = await store.applyBatch('c1', wire({ changes: [page] }), { nowSec: NOW });
  assert.equal(again.reconciled_deletions, 0);
  const changes = summary(await collect(store.changesBetween('c1', ts - 1, ts + 10)));
  assert.deepEqual(
    changes.map((c) => c.split(' ').slice(0, 4).join(' ')),
    [`${ts} applied ${D} shop/a1`, `${ts} applied ${D} shop/a2`],
  );
  // Without seq (an older sender) the page still reconciles by its second alone.
  const legacy = await store.applyBatch('c1', wire({ changes: [{ ...page, seq: undefined, ts: ts + 1 }] }), {
    nowSec: NOW,
  });
  assert.equal(legacy.reconciled_deletions, 1, 'a/2 is missing from a later page without seq');
});
