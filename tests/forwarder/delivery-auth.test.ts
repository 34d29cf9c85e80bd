/**
 * Delivery on 401, 403 and 404 from the ingest endpoint (docs/forwarder.md, "Retries"): they mean
 * a wrong token or a wrong endpoint — nothing would get through, so the batch is HELD and retried
 * with the very same bytes until the endpoint takes it, never split, rejected or dropped (unlike a
 * 400/413/422, which isolates and drops the one bad change). Against a real HTTP endpoint
 * (support/ingest-recorder.ts); the expectations are written from the documentation, not read from
 * lib/forwarder/delivery.ts.
 *
 * Mutation caught: removing any of 401/403/404 from `isRetryable` in lib/forwarder/delivery.ts
 * makes the batch split (different bytes) and the changes dropped as rejected.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { configMapChange, deliveryOptions, names, startDelivery } from './support/delivery.ts';
import { IngestRecorder } from './support/ingest-recorder.ts';
import { eventually } from './support/runtime.ts';

let ingest: IngestRecorder;
before(async () => {
  ingest = await IngestRecorder.start();
});
after(async () => {
  await ingest.close();
});

const options = deliveryOptions({ maxBatchChanges: 8 });
const change = (i: number) => configMapChange(i, { i: String(i) });

function setup() {
  return startDelivery({ endpoint: `${ingest.url}/`, cluster: 'prod', options });
}

for (const status of [401, 403, 404]) {
  test(`a ${status} holds the batch: retried with the same bytes until taken, nothing split, rejected or dropped`, async (t) => {
    const start = ingest.requests.length;
    const { delivery, metrics, log, runtime } = setup();
    t.after(() => delivery.flush(1000));
    ingest.fail(4, status);
    const sent = [1, 2, 3, 4, 5].map(change);
    assert.equal(await delivery.offer(sent), true);
    await eventually(() => delivery.depth === 0, 10_000, 'the queue to drain');
    const reqs = ingest.requests.slice(start);
    assert.deepEqual(
      reqs.map((r) => r.status),
      [status, status, status, status, 200],
    );
    for (const r of reqs)
      assert.ok(r.raw.equals(reqs[0]!.raw), 'every attempt is byte-for-byte the same batch');
    assert.deepEqual(names(JSON.parse(gunzipSync(reqs[0]!.raw).toString()).changes), [
      'cm-1',
      'cm-2',
      'cm-3',
      'cm-4',
      'cm-5',
    ]);
    assert.deepEqual(names(ingest.acceptedRequests().at(-1)!.changes), [
      'cm-1',
      'cm-2',
      'cm-3',
      'cm-4',
      'cm-5',
    ]);
    assert.equal(metrics.changesRejected.total(), 0, 'nothing counted as rejected');
    assert.equal(metrics.deliveryRetries.get({ reason: String(status) }), 4);
    assert.equal(metrics.changesSent.get({ type: 'applied' }), 5);
    assert.equal(log.records.filter((r) => /rejected/.test(r.msg)).length, 0, JSON.stringify(log.records));
    // Backed off between attempts, as for any retry (jitter 0: 100, 200, 400, 800 ms asked).
    assert.deepEqual(runtime.sleeps.filter((ms) => ms >= 100).slice(-4), [100, 200, 400, 800]);
  });
}

test('while a 401 persists the changes stay queued (held), and all land in order once it stops', async (t) => {
  const start = ingest.requests.length;
  const { delivery, metrics } = setup();
  t.after(() => delivery.flush(1000));
  // 30 refusals: the tests' backoff sleeps last at most 5 ms, so this is ~0.3 s of "wrong token".
  ingest.fail(30, 401);
  await delivery.offer([10, 11, 12].map(change));
  await ingest.waitFor(() => ingest.requests.length - start >= 6, 10_000, 'six 401s');
  assert.equal(delivery.depth, 3, 'the three changes are held, not dropped');
  assert.equal(metrics.changesRejected.total(), 0);
  // Offered meanwhile: queued behind the held batch, not overtaking it.
  await delivery.offer([13].map(change));
  await eventually(() => delivery.depth === 0, 10_000, 'the queue to drain');
  const accepted = ingest.requests
    .slice(start)
    .filter((r) => r.status === 200)
    .flatMap((r) => names(r.changes));
  assert.deepEqual(accepted, ['cm-10', 'cm-11', 'cm-12', 'cm-13']);
  assert.equal(metrics.changesRejected.total(), 0);
  assert.equal(ingest.requests.slice(start).filter((r) => r.status === 401).length, 30);
});
