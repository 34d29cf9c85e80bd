/**
 * The endpoint goes away: bounded memory, back-pressure on the watches, and complete delivery
 * once it is back — through the watch when the outage is short, through a relist when the
 * queue stayed full for too long.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configMap } from '../kube-sim/workload.ts';
import { Harness, settled } from './support/harness.ts';
import { eventually, fastRuntime } from './support/runtime.ts';

const CONFIG = `
trackedObjects:
  v1.ConfigMap: {}
  apps/v1.Deployment: {}
`;
const payload = { blob: 'x'.repeat(300) };
const cmName = (i: number) => `cm-${String(i).padStart(4, '0')}`;

test('a short outage: offers wait (bounded queue), the watch resumes, everything arrives in order without relist', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  const bound = 16 * 1024;
  const fw = await h.forwarder(CONFIG, { delivery: { maxQueueBytes: bound, maxBatchChanges: 20 } });
  await eventually(() => settled(fw), 20_000, 'initial lists');

  h.ingest.setDown(true);
  for (let i = 0; i < 150; i++) h.sim.apply(configMap('ns', cmName(i), payload));
  await eventually(() => fw.metrics.deliveryRetries.total() >= 3, 20_000, 'retries while down');
  // The queue holds at most the bound (plus the batch in flight never exceeds it either).
  let maxBytes = 0;
  for (let i = 0; i < 10; i++) {
    maxBytes = Math.max(maxBytes, fw.delivery.bytes);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(maxBytes <= bound, `queue bytes ${maxBytes} <= ${bound}`);
  assert.ok(fw.delivery.depth < 150, 'not everything was buffered: the watch was back-pressured');
  h.ingest.setDown(false);

  const store = await h.until((s) => s.names('v1.ConfigMap').length === 150, 'complete delivery');
  assert.deepEqual(
    store.names('v1.ConfigMap'),
    Array.from({ length: 150 }, (_, i) => `ns/${cmName(i)}`),
  );
  assert.equal(fw.metrics.changesDropped.total(), 0);
  assert.equal(fw.metrics.relists.get({ gvk: 'v1.ConfigMap', cause: 'stalled' }), 0);
  // Order per object is the watch's order: creations arrive in creation order.
  const created = h.ingest
    .accepted()
    .filter((c) => c.type === 'applied' && c.object.kind === 'ConfigMap')
    .map((c) => (c.type === 'applied' ? c.object.metadata.name : ''));
  assert.deepEqual(
    created,
    Array.from({ length: 150 }, (_, i) => cmName(i)),
  );
});

test('a long outage: the stalled kind stops watching and relists when the endpoint is back', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  for (let i = 0; i < 10; i++) h.sim.apply(configMap('ns', cmName(i), payload));
  const bound = 8 * 1024;
  const fw = await h.forwarder(CONFIG, {
    delivery: { maxQueueBytes: bound, maxBatchChanges: 10, stallTimeoutMs: 300 },
    runtime: fastRuntime(50, { realFromMs: 300 }),
  });
  await eventually(() => settled(fw), 20_000, 'initial lists');

  h.ingest.setDown(true);
  for (let i = 10; i < 200; i++) h.sim.apply(configMap('ns', cmName(i), payload));
  for (let i = 0; i < 5; i++) h.sim.delete('v1.ConfigMap', `ns/${cmName(i)}`);
  await eventually(
    () => fw.metrics.changesDropped.get({ gvk: 'v1.ConfigMap', reason: 'stalled' }) >= 1,
    30_000,
    'stall',
  );
  const line = fw.log.records.find((r) => r.msg.startsWith('delivery queue full for too long'));
  assert.ok(line, 'one clear log line');
  assert.equal(line.gvk, 'v1.ConfigMap');
  assert.ok(fw.delivery.bytes <= bound);
  assert.equal(fw.forwarder.readiness().kinds.find((k) => k.gvk === 'v1.ConfigMap')?.phase, 'empty');
  h.ingest.setDown(false);

  const store = await h.until(
    (s) => s.names('v1.ConfigMap').length === 195 && !s.kind('v1.ConfigMap').has(`ns/${cmName(0)}`),
    'relist after the outage',
    30_000,
  );
  assert.deepEqual(
    store.names('v1.ConfigMap'),
    Array.from({ length: 195 }, (_, i) => `ns/${cmName(i + 5)}`),
  );
  assert.ok(fw.metrics.relists.get({ gvk: 'v1.ConfigMap', cause: 'stalled' }) >= 1);
  // The Deployment kind was never stalled (nothing to send): it did not relist.
  assert.equal(fw.metrics.relists.get({ gvk: 'apps/v1.Deployment', cause: 'stalled' }), 0);
});
