import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Delivery, type DeliveryOptions } from '../../lib/forwarder/delivery.ts';
import { memoryLogger } from '../../lib/forwarder/log.ts';
import { ForwarderMetrics } from '../../lib/forwarder/metrics.ts';
import type { IngestPoster, IngestResponse } from '../../lib/forwarder/ports.ts';
import { BatchBodyWriter, JsonArena } from '../../lib/forwarder/queued-bytes.ts';
import type { Change } from '../../lib/ingest/wire.ts';
import { seededRand } from '../support/rand.ts';
import { configMapChange, deliveryOptions, names, startDelivery } from './support/delivery.ts';
import { IngestRecorder } from './support/ingest-recorder.ts';
import { eventually, fastRuntime, type RecordingRuntime } from './support/runtime.ts';

let ingest: IngestRecorder;
before(async () => {
  ingest = await IngestRecorder.start();
});
after(async () => {
  await ingest.close();
});

const options = deliveryOptions();
const change = (i: number, pad = 0) => configMapChange(i, { pad: 'x'.repeat(pad) });

/** `requestTimeoutMs`: long by default, so a slow machine never turns a post into a retry. */
function setup(
  overrides: Partial<DeliveryOptions> = {},
  runtime: RecordingRuntime = fastRuntime(5),
  requestTimeoutMs = 10_000,
) {
  const { delivery, metrics, log } = startDelivery({
    endpoint: `${ingest.url}/`,
    cluster: 'prod/eu',
    options: { ...options, ...overrides },
    runtime,
    requestTimeoutMs,
  });
  return { delivery, metrics, log };
}

async function settle(delivery: Delivery) {
  await eventually(() => delivery.depth === 0, 10_000, 'the queue to drain');
}

test('batches by count, in order, gzipped, with the bearer token, to the cluster path', async (t) => {
  const start = ingest.requests.length;
  const { delivery, metrics, log } = setup();
  t.after(() => delivery.flush(1000));
  for (let i = 0; i < 7; i++) assert.equal(await delivery.offer([change(i)]), true);
  await settle(delivery);
  // A retry after a lost response repeats the same bytes (allowed: the store is idempotent), so
  // compare the distinct accepted batches.
  const reqs = ingest.requests
    .slice(start)
    .filter(
      (r, i, all) =>
        r.status === 200 && !(i > 0 && all[i - 1]!.raw.equals(r.raw) && all[i - 1]!.status === 200),
    );
  assert.deepEqual(
    reqs.map((r) => names(r.changes)),
    [['cm-0', 'cm-1', 'cm-2'], ['cm-3', 'cm-4', 'cm-5'], ['cm-6']],
    JSON.stringify({ statuses: reqs.map((r) => r.status), log: log.records }),
  );
  for (const r of reqs) {
    assert.equal(r.path, '/v1/clusters/prod%2Feu/events');
    assert.equal(r.headers.authorization, 'Bearer sekret');
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(r.headers['content-type'], 'application/json');
  }
  assert.equal(metrics.changesSent.get({ type: 'applied' }), 7);
  assert.equal(metrics.batchesSent.total(), 3);
  assert.equal(metrics.changesRejected.total(), 0);
  assert.ok(metrics.lastSuccessSec.get() > 1_600_000_000);
});

test('batches by bytes: a batch never exceeds maxBatchBytes unless one change alone does', async (t) => {
  const start = ingest.requests.length;
  const { delivery } = setup({ maxBatchBytes: 720, maxBatchChanges: 100 });
  t.after(() => delivery.flush(1000));
  await delivery.offer([change(1, 200), change(2, 200), change(3, 200), change(4, 2000), change(5, 10)]);
  await settle(delivery);
  const sizes = ingest.requests.slice(start).map((r) => names(r.changes));
  assert.deepEqual(sizes, [['cm-1', 'cm-2'], ['cm-3'], ['cm-4'], ['cm-5']]);
});

test('batch bodies are exactly the offered changes, across a growing body buffer, multi-byte UTF-8 and one huge change', async (t) => {
  // Delivery writes every body into one buffer it keeps (BatchBodyWriter): batches of growing size
  // make it grow, a change far above the batch bound gets a buffer of its own, and the batch
  // after it must not carry a byte of the one before. Oracle: the changes as offered.
  const start = ingest.requests.length;
  const { delivery } = setup({ maxBatchBytes: 256 * 1024, maxBatchChanges: 1000 });
  t.after(() => delivery.flush(1000));
  const multiByte = 'é€😀'; // 2, 3 and 4 UTF-8 bytes per character
  const offered: Change[][] = [
    [change(1, 10)],
    Array.from({ length: 300 }, (_, i) =>
      configMapChange(100 + i, { v: `${multiByte.repeat(i % 7)}${'y'.repeat(i)}` }),
    ),
    [configMapChange(1000, { big: `${multiByte}${'z'.repeat(3 * 1024 * 1024)}` })],
    [change(2, 3)],
  ];
  for (const batch of offered) {
    assert.equal(await delivery.offer(batch), true);
    await settle(delivery);
  }
  const got = ingest.requests.slice(start).filter((r) => r.status === 200);
  assert.deepEqual(
    got.flatMap((r) => r.changes),
    offered.flat(),
  );
  // Each body is valid JSON of its own changes only, and the 3 MiB change went alone.
  assert.ok(got.some((r) => r.changes.length === 1 && names(r.changes)[0] === 'cm-1000'));
  assert.deepEqual(names(got.at(-1)!.changes), ['cm-2']);
});

test('BatchBodyWriter: each body equals JSON.stringify({changes}), for batches straddling every size the buffer grows through', () => {
  // Oracle: JSON.stringify of the whole batch. Batch sizes walk across 64 KiB, 128 KiB, … 4 MiB
  // in bytes, with 2–4-byte UTF-8 characters so that bytes and string length differ: a buffer
  // sized by string length instead of bytes, or not grown, truncates a body here.
  const writer = new BatchBodyWriter();
  const arena = new JsonArena();
  const chars = ['a', 'é', '€', '😀'];
  const rand = seededRand(7);
  for (const target of [100, 65_000, 65_600, 131_000, 131_100, 300_000, 4_300_000, 1_000, 70_000]) {
    const changes: Change[] = [];
    let bytes = 0;
    while (bytes < target) {
      const c = chars[rand(4)]!.repeat(1 + rand(400));
      const ch = configMapChange(changes.length, { v: c });
      changes.push(ch);
      bytes += Buffer.byteLength(JSON.stringify(ch)) + 1;
    }
    const queued = changes.map((c) => arena.add(c, 0));
    const body = writer.write(queued);
    assert.ok(body.equals(Buffer.from(JSON.stringify({ changes }))), `batch of ~${target} bytes`);
    arena.release(queued);
  }
});

test('JsonArena: every change still queued reads back as its JSON while others are released and their chunks reused', () => {
  // Oracle: JSON.stringify of each change, kept aside. Adds of 10 B to 300 KB (above the chunk
  // size), multi-byte text, releases mostly in queue order (sent batches) and sometimes out of
  // order (an offer that gave up): reusing a chunk that still holds a live change shows here.
  const arena = new JsonArena();
  const rand = seededRand(11);
  const live: { q: ReturnType<JsonArena['add']>; json: string }[] = [];
  for (let i = 0; i < 4000; i++) {
    const size = rand(20) === 0 ? 1 + rand(300_000) : 1 + rand(3000);
    const c = configMapChange(i, { v: `${'€😀'.repeat(rand(3))}${'x'.repeat(size)}` });
    live.push({ q: arena.add(c, i), json: JSON.stringify(c) });
    const r = rand(10);
    if (r < 3 && live.length > 0) {
      arena.release(live.splice(0, 1 + rand(Math.min(live.length, 400))).map((e) => e.q));
    } else if (r === 3 && live.length > 0) {
      arena.release(live.splice(rand(live.length), 1).map((e) => e.q));
    }
    if (r === 9 && rand(4) === 0) arena.trim(); // as when the queue drains (here it may not have)
    if (i % 50 === 0 || r < 4) {
      for (const e of live) assert.equal(arena.json(e.q), e.json, `change after step ${i}`);
    }
  }
});

test('changes offered within the linger time share a batch', async (t) => {
  const start = ingest.requests.length;
  const { delivery } = setup({ lingerMs: 1_000, maxBatchChanges: 100 }, fastRuntime(5_000));
  t.after(() => delivery.flush(1000));
  await delivery.offer([change(1)]);
  await new Promise((r) => setTimeout(r, 30));
  await delivery.offer([change(2)]);
  await settle(delivery);
  assert.deepEqual(
    ingest.requests.slice(start).map((r) => names(r.changes)),
    [['cm-1', 'cm-2']],
  );
});

test('5xx, 429 with Retry-After, timeouts and resets are retried with the very same bytes', async (t) => {
  const start = ingest.requests.length;
  const runtime = fastRuntime(5);
  const { delivery, metrics, log } = setup({}, runtime, 1_000);
  t.after(() => delivery.flush(1000));
  ingest.fail(1, 503);
  ingest.fail(1, 429, 7);
  ingest.hang(1);
  ingest.fail(1, 500);
  await delivery.offer([change(1), change(2)]);
  await settle(delivery);
  const reqs = ingest.requests.slice(start);
  assert.deepEqual(
    reqs.map((r) => r.status),
    [503, 429, 0, 500, 200],
  );
  for (const r of reqs) assert.ok(r.raw.equals(reqs[0]!.raw), 'a retried batch is byte-for-byte the same');
  assert.deepEqual(names(JSON.parse(gunzipSync(reqs[0]!.raw).toString()).changes), ['cm-1', 'cm-2']);
  // Exponential (jitter 0 in these options) and Retry-After as a floor: 100, max(200, 7000), 400, 800.
  assert.deepEqual(runtime.sleeps.slice(-4), [100, 7000, 400, 800]);
  assert.deepEqual(
    {
      503: metrics.deliveryRetries.get({ reason: '503' }),
      429: metrics.deliveryRetries.get({ reason: '429' }),
      timeout: metrics.deliveryRetries.get({ reason: 'timeout' }),
      500: metrics.deliveryRetries.get({ reason: '500' }),
    },
    { 503: 1, 429: 1, timeout: 1, 500: 1 },
  );
  assert.equal(log.records.filter((r) => r.msg.startsWith('posting a batch failed')).length, 4);
  assert.equal(metrics.changesSent.get({ type: 'applied' }), 2);
});

test('a connection refused or reset endpoint is retried until it is back', async (t) => {
  const start = ingest.requests.length;
  const { delivery, metrics } = setup();
  t.after(() => delivery.flush(1000));
  ingest.setDown(true);
  await delivery.offer([change(1)]);
  await eventually(() => metrics.deliveryRetries.get({ reason: 'connection' }) >= 2, 5000, 'retries');
  ingest.setDown(false);
  await settle(delivery);
  assert.deepEqual(names(ingest.accepted().slice(-1)), ['cm-1']);
  assert.equal(ingest.requests.slice(start).filter((r) => r.status === 200).length, 1);
});

test('a 400 naming no change is isolated by splitting: the bad change is dropped and logged, the rest goes through in order', async (t) => {
  const start = ingest.requests.length;
  const { delivery, metrics, log } = setup({ maxBatchChanges: 8 });
  t.after(() => delivery.flush(1000));
  const bad = (c: Change) => c.type === 'applied' && c.object.metadata.name === 'cm-105';
  ingest.reject(bad, 400, { named: false });
  await delivery.offer([100, 101, 102, 103, 104, 105, 106, 107].map((i) => change(i)));
  await settle(delivery);
  const accepted = ingest.requests
    .slice(start)
    .filter((r) => r.status === 200)
    .flatMap((r) => names(r.changes));
  assert.deepEqual(accepted, ['cm-100', 'cm-101', 'cm-102', 'cm-103', 'cm-104', 'cm-106', 'cm-107']);
  assert.equal(metrics.changesRejected.get({ status: '400' }), 1);
  const line = log.records.find((r) => r.msg === 'ingest rejected a change; it is dropped');
  assert.ok(line, 'the drop is logged');
  assert.match(String(line.error), /changes\[0\] is invalid/);
  assert.deepEqual(line.change, {
    type: 'applied',
    ref: 'v1.ConfigMap ns/cm-105',
    bytes: JSON.stringify(change(105)).length,
    json: JSON.stringify(change(105)),
  });
});

test('a 4xx naming the bad change (error.index): that change is dropped at once and the rest resent, in order, in one more post', async (t) => {
  const start = ingest.requests.length;
  const { delivery, metrics, log } = setup({ maxBatchChanges: 8 });
  t.after(() => delivery.flush(1000));
  for (const [name, status] of [
    ['cm-202', 422],
    ['cm-205', 413],
  ] as const) {
    ingest.reject((c) => c.type === 'applied' && c.object.metadata.name === name, status);
  }
  await delivery.offer([200, 201, 202, 203, 204, 205, 206, 207].map((i) => change(i)));
  await settle(delivery);
  const posts = ingest.requests.slice(start);
  // Refused (names cm-202), refused (names cm-205), accepted: no halving.
  assert.deepEqual(
    posts.map((r) => r.status),
    [422, 413, 200],
  );
  assert.deepEqual(names(posts[2]!.changes), ['cm-200', 'cm-201', 'cm-203', 'cm-204', 'cm-206', 'cm-207']);
  assert.equal(metrics.changesRejected.get({ status: '422' }), 1);
  assert.equal(metrics.changesRejected.get({ status: '413' }), 1);
  const dropped = log.records
    .filter((r) => r.msg === 'ingest rejected a change; it is dropped')
    .map((r) => (r.change as { ref: string }).ref);
  assert.deepEqual(dropped, ['v1.ConfigMap ns/cm-202', 'v1.ConfigMap ns/cm-205']);
});

test('bounded queue: offers wait while the endpoint is down, then everything is delivered in order', async (t) => {
  const start = ingest.requests.length;
  const one = JSON.stringify(change(0, 100)).length;
  const { delivery, metrics } = setup({ maxQueueBytes: one * 4, maxBatchChanges: 2 });
  t.after(() => delivery.flush(1000));
  ingest.setDown(true);
  const offered: Array<Promise<boolean>> = [];
  let resolved = 0;
  for (let i = 0; i < 10; i++) {
    const p = delivery.offer([change(i, 100)]);
    void p.then(() => resolved++);
    offered.push(p);
  }
  await eventually(() => metrics.deliveryRetries.total() >= 3, 5000, 'retries while down');
  assert.equal(resolved, 4, 'only what fits the bound is queued; the rest waits');
  assert.ok(delivery.bytes <= one * 4);
  ingest.setDown(false);
  assert.deepEqual(await Promise.all(offered), Array(10).fill(true));
  await settle(delivery);
  const accepted = ingest.requests
    .slice(start)
    .filter((r) => r.status === 200)
    .flatMap((r) => names(r.changes));
  assert.deepEqual(
    accepted,
    Array.from({ length: 10 }, (_, i) => `cm-${i}`),
  );
});

test('an offer that waits longer than the stall timeout gives up (false) and nothing of it is queued', async (t) => {
  const one = JSON.stringify(change(0, 100)).length;
  const start = ingest.requests.length;
  const { delivery } = setup({ maxQueueBytes: one, stallTimeoutMs: 50 }, fastRuntime(100));
  t.after(() => delivery.flush(1000));
  ingest.setDown(true);
  assert.equal(await delivery.offer([change(1, 100)]), true);
  assert.equal(await delivery.offer([change(2, 100)]), false);
  let roomAt = 0;
  const room = delivery.waitForRoom().then(() => {
    roomAt = delivery.depth;
  });
  ingest.setDown(false);
  await room;
  assert.equal(roomAt, 0);
  await settle(delivery);
  const accepted = ingest.requests.slice(start).filter((r) => r.status === 200);
  assert.deepEqual(
    accepted.flatMap((r) => names(r.changes)),
    ['cm-1'],
  );
});

test('flush sends what is held at once, and reports what the grace period could not send', async () => {
  const { delivery, metrics, log } = setup({ lingerMs: 60_000 }, fastRuntime(100_000));
  await delivery.offer([change(1)]);
  // The linger would hold this for a minute; flush does not wait for it.
  const start = ingest.requests.length;
  assert.deepEqual(await delivery.flush(5_000), { left: 0 });
  assert.deepEqual(names(ingest.requests.slice(start).flatMap((r) => r.changes)), ['cm-1']);
  assert.equal(await delivery.offer([change(2)]), false, 'closed after flush');

  const second = setup({}, fastRuntime(5), 1_000);
  ingest.hang(3);
  await second.delivery.offer([change(3), change(4)]);
  await eventually(() => ingest.requests.some((r) => r.status === 0), 5000, 'the hung post');
  assert.deepEqual(await second.delivery.flush(200), { left: 2 });
  assert.equal(second.metrics.changesDropped.total(), 2);
  assert.ok(second.log.records.some((r) => r.level === 'error' && r.left === 2));
  assert.equal(metrics.changesDropped.total(), 0);
  assert.equal(log.records.filter((r) => r.level === 'error').length, 0);
});

// A full batch ends the linger once, not once per change queued behind it. AbortController.abort()
// builds its default reason, a DOMException with a stack trace, before it checks whether the signal
// already aborted: calling it for every change offered while a batch was in flight cost ~7 % of the
// forwarder's CPU in bench/forwarder.ts's watch throughput.
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
