/**
 * A full batch ends the linger once, not once per change queued behind it. `AbortController.abort()`
 * builds its default reason, a DOMException with a stack trace, before it checks whether the signal
 * already aborted: calling it for every change offered while a batch is in flight cost ~7 % of the
 * forwarder's CPU in bench/forwarder.ts's watch throughput (a profile of the bundle).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Delivery, type DeliveryOptions } from '../../lib/forwarder/delivery.ts';
import { memoryLogger } from '../../lib/forwarder/log.ts';
import { ForwarderMetrics } from '../../lib/forwarder/metrics.ts';
import type { IngestPoster, IngestResponse } from '../../lib/forwarder/ports.ts';
import type { AppliedChange } from '../../lib/ingest/wire.ts';
import { eventually, fastRuntime } from './support/runtime.ts';

const options: DeliveryOptions = {
  maxBatchBytes: 64 * 1024,
  maxBatchChanges: 3,
  lingerMs: 20,
  maxQueueBytes: 1024 * 1024,
  stallTimeoutMs: 60_000,
  backoff: {
    initialMs: 100,
    maxMs: 1000,
    factor: 2,
    jitter: 0,
    quietPeriodMs: 60_000,
    maxRetryAfterMs: 10_000,
  },
};

const change = (i: number): AppliedChange => ({
  type: 'applied',
  ts: 1_700_000_000,
  seq: i,
  object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'ns', name: `cm-${i}` } },
});

test('changes queued behind a full batch do not abort the linger again', async (t) => {
  // The endpoint holds every post until released: the first batch stays in flight.
  const held: Array<(r: IngestResponse) => void> = [];
  const poster: IngestPoster = {
    post: () => new Promise((resolve) => held.push(resolve)),
  };
  const delivery = new Delivery(options, {
    poster,
    runtime: fastRuntime(5),
    metrics: new ForwarderMetrics(),
    log: memoryLogger(),
  });
  delivery.start();

  const abort = AbortController.prototype.abort;
  let repeated = 0;
  AbortController.prototype.abort = function (this: AbortController, reason?: unknown) {
    if (this.signal.aborted) repeated++;
    return abort.call(this, reason);
  };
  t.after(() => {
    AbortController.prototype.abort = abort;
  });

  for (let i = 0; i < 3; i++) assert.equal(await delivery.offer([change(i)]), true);
  await eventually(() => held.length === 1, 5000, 'the first batch to be posted');
  for (let i = 3; i < 50; i++) assert.equal(await delivery.offer([change(i)]), true);
  AbortController.prototype.abort = abort;
  assert.equal(repeated, 0, 'abort() called on an already aborted linger');

  // Still delivered, in batches of 3, once the endpoint answers.
  const ok: IngestResponse = {
    status: 200,
    bodyText: '{"accepted":3,"deduplicated":0,"reconciled_deletions":0}',
  };
  for (let posted = 0; delivery.depth > 0 || held.length > 0; ) {
    await eventually(() => held.length > 0 || delivery.depth === 0, 5000, 'the next batch');
    const next = held.shift();
    if (next) {
      next(ok);
      posted++;
    }
    assert.ok(posted <= 17);
  }
  assert.equal(delivery.depth, 0);
  await delivery.flush(1000);
});
