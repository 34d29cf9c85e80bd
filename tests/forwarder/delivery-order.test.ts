/**
 * Several batches in flight (DeliveryOptions.maxBatchesInFlight): independent batches overlap,
 * batches whose order matters land one after the other, a batch being retried holds back the
 * next ones, and nothing is lost. Against a real HTTP endpoint (support/ingest-recorder.ts) that
 * can hold a batch's answer or fail it, chosen by the changes it carries.
 *
 * The oracle of the unit tests below is written by hand from wire.ts's rules (which changes a
 * store applies in order), not derived from delivery.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type BatchOrder, batchesConflict, batchOrderOf } from '../../lib/forwarder/delivery.ts';
import { JsonArena, type Queued } from '../../lib/forwarder/queued-bytes.ts';
import type { Change, DeletedChange, LifecycleChange, RelistChange } from '../../lib/ingest/wire.ts';
import { configMapChange, deliveryOptions, names, startDelivery } from './support/delivery.ts';
import { IngestRecorder } from './support/ingest-recorder.ts';
import { eventually, fastRuntime } from './support/runtime.ts';

let ingest: IngestRecorder;
before(async () => {
  ingest = await IngestRecorder.start();
});
after(async () => {
  await ingest.close();
});

const cm = (i: number, v = 'a') => configMapChange(i, { v });
const named = (name: string) => (c: Change) => c.type === 'applied' && c.object.metadata.name === name;

/** `sleepCapMs`: backoffs (100, 200, 400… ms) really last up to this long. */
function setup(maxBatchesInFlight: number, maxBatchChanges = 2, sleepCapMs = 5) {
  return startDelivery({
    endpoint: ingest.url,
    cluster: 'order',
    options: deliveryOptions({ maxBatchesInFlight, maxBatchChanges }),
    runtime: fastRuntime(sleepCapMs),
  });
}

/** Posts (arrivals) from `start` on, as the names of their changes. */
const arrived = (start: number) => ingest.arrivals.slice(start).map(names);
/** Accepted posts from `start` on, in the order they were answered. */
const acceptedFrom = (start: number) =>
  ingest.requests
    .slice(start)
    .filter((r) => r.status === 200)
    .map((r) => names(r.changes));

test('two in flight: the first fails and is retried while the second is accepted; no third starts meanwhile; nothing lost', async (t) => {
  const start = ingest.requests.length;
  const arrivalsAt = ingest.arrivals.length;
  // Backoffs of 100 and 200 ms really wait 100 and 200 ms: the second batch lands meanwhile.
  const { delivery, metrics } = setup(2, 2, 200);
  t.after(() => delivery.flush(1000));
  // Neither is answered until both arrived (two in flight); then the first fails three times,
  // and the second is answered only once delivery has seen the first fail, so that the third
  // batch is cut while the first is known to be retrying.
  const first = ingest.hold(named('cm-1'));
  const second = ingest.hold(named('cm-3'));
  ingest.failWhen(named('cm-1'), 3, 503);
  assert.equal(await delivery.offer([1, 2, 3, 4, 5, 6].map((i) => cm(i))), true);
  await eventually(() => ingest.arrivals.length - arrivalsAt >= 2, 5000, 'two posts');
  assert.deepEqual(arrived(arrivalsAt), [
    ['cm-1', 'cm-2'],
    ['cm-3', 'cm-4'],
  ]);
  first.release();
  await eventually(() => metrics.deliveryRetries.get({ reason: '503' }) >= 1, 5000, 'the first failure');
  second.release();
  await eventually(() => delivery.depth === 0, 10_000, 'the queue to drain');
  // The second landed while the first was retried; the third started only once the first was in.
  assert.deepEqual(acceptedFrom(start), [
    ['cm-3', 'cm-4'],
    ['cm-1', 'cm-2'],
    ['cm-5', 'cm-6'],
  ]);
  const firstPosts = ingest.requests.slice(start).filter((r) => names(r.changes)[0] === 'cm-1');
  assert.deepEqual(
    firstPosts.map((r) => r.status),
    [503, 503, 503, 200],
  );
  for (const r of firstPosts) assert.ok(r.raw.equals(firstPosts[0]!.raw), 'a retry is the very same bytes');
  assert.equal(metrics.changesSent.get({ type: 'applied' }), 6);
  // Nothing posted twice but the retried batch.
  assert.equal(ingest.requests.length - start, 6);
});

test('a batch changing an object of a batch in flight waits for it to land; an independent one does not', async (t) => {
  const arrivalsAt = ingest.arrivals.length;
  const start = ingest.requests.length;
  const { delivery } = setup(3);
  t.after(() => delivery.flush(1000));
  const first = ingest.hold(named('cm-11'));
  ingest.failWhen(named('cm-11'), 1, 500);
  // Batches: [cm-11, cm-12] (held, then failed once), [cm-13, cm-14] (independent),
  // [cm-11 v=b, cm-15] (the same object as the first).
  assert.equal(await delivery.offer([cm(11), cm(12), cm(13), cm(14), cm(11, 'b'), cm(15)]), true);
  await eventually(() => arrived(arrivalsAt).length >= 2, 5000, 'two posts');
  // Time for the third to be posted if delivery let it (it must not).
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(arrived(arrivalsAt), [
    ['cm-11', 'cm-12'],
    ['cm-13', 'cm-14'],
  ]);
  first.release();
  await eventually(() => delivery.depth === 0, 10_000, 'the queue to drain');
  const accepted = acceptedFrom(start);
  assert.deepEqual(accepted, [
    ['cm-13', 'cm-14'],
    ['cm-11', 'cm-12'],
    ['cm-11', 'cm-15'],
  ]);
  // The object's two versions reached the store in the order the watch saw them.
  const versions = ingest.requests
    .slice(start)
    .filter((r) => r.status === 200)
    .flatMap((r) => r.changes)
    .filter(named('cm-11'))
    .map((c) => (c.type === 'applied' ? c.object.data : undefined));
  assert.deepEqual(versions, [{ v: 'a' }, { v: 'b' }]);
});

test("a relist page waits for the batch in flight holding its kind's applied changes; another kind's page does not", async (t) => {
  const arrivalsAt = ingest.arrivals.length;
  const start = ingest.requests.length;
  const { delivery } = setup(3, 3);
  t.after(() => delivery.flush(1000));
  const applies = ingest.hold(named('cm-21'));
  ingest.failWhen(named('cm-21'), 2, 503);
  const page = (gvk: string, nsNames: string[]): RelistChange => ({
    type: 'relist',
    ts: 1_700_000_100,
    seq: 100,
    gvk,
    after: null,
    through: null,
    ns_names: nsNames,
  });
  const secret = (name: string): DeletedChange => ({
    type: 'deleted',
    ts: 1_700_000_100,
    seq: 101,
    object: { apiVersion: 'v1', kind: 'Secret', metadata: { namespace: 'ns', name } },
  });
  // Full batches of 3 (a batch that is not full waits for the one in flight anyway: see below).
  // [cm-21, cm-22, cm-23] (held, then failed twice); a Secret page and deletions of Secrets, one
  // with cm-21's nsName (independent: posted meanwhile); then the ConfigMap pass's three pages
  // (must wait for the ConfigMaps).
  assert.equal(await delivery.offer([cm(21), cm(22), cm(23)]), true);
  await eventually(() => arrived(arrivalsAt).length >= 1, 5000, 'the applied changes');
  assert.equal(await delivery.offer([page('v1.Secret', ['ns/other']), secret('cm-21'), secret('x')]), true);
  await eventually(() => arrived(arrivalsAt).length >= 2, 5000, 'the Secret batch');
  const pass = (after: string | null, through: string | null, nsNames: string[]): RelistChange => ({
    ...page('v1.ConfigMap', nsNames),
    after,
    through,
  });
  assert.equal(
    await delivery.offer([
      pass(null, 'ns/cm-21', ['ns/cm-21']),
      pass('ns/cm-21', 'ns/cm-22', ['ns/cm-22']),
      pass('ns/cm-22', null, ['ns/cm-23']),
    ]),
    true,
  );
  // Time for the pages to be posted if delivery let them (it must not).
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(arrived(arrivalsAt), [
    ['cm-21', 'cm-22', 'cm-23'],
    ['relist', 'deleted', 'deleted'],
  ]);
  applies.release();
  await eventually(() => delivery.depth === 0, 10_000, 'the queue to drain');
  const accepted = ingest.requests
    .slice(start)
    .filter((r) => r.status === 200)
    .map((r) => r.changes.map((c) => (c.type === 'relist' ? `relist ${c.gvk}` : names([c])[0])));
  // The ConfigMap page after the ConfigMaps, though their batch failed twice.
  const pageAt = accepted.findIndex((b) => b.includes('relist v1.ConfigMap'));
  const appliesAt = accepted.findIndex((b) => b.includes('cm-21'));
  assert.ok(appliesAt >= 0 && pageAt > appliesAt, JSON.stringify(accepted));
  assert.equal(accepted.flat().length, 9);
});

test('a batch that is not full does not start while another is in flight: at a low rate, as few requests as with one', async (t) => {
  const arrivalsAt = ingest.arrivals.length;
  const { delivery } = setup(2, 10);
  t.after(() => delivery.flush(1000));
  const first = ingest.hold(named('cm-31'));
  assert.equal(await delivery.offer([cm(31)]), true);
  await eventually(() => arrived(arrivalsAt).length >= 1, 5000, 'the first post');
  assert.equal(await delivery.offer([cm(32)]), true);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(await delivery.offer([cm(33)]), true);
  // Well past the linger (20 ms, here at most 5): still one post.
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(arrived(arrivalsAt), [['cm-31']]);
  first.release();
  await eventually(() => delivery.depth === 0, 10_000, 'the queue to drain');
  assert.deepEqual(arrived(arrivalsAt), [['cm-31'], ['cm-32', 'cm-33']]);
});

// --- The ordering rule itself: batchOrderOf + batchesConflict, against hand-written cases. ---

const arena = new JsonArena();
let offer = 0;
/** A batch's ordering keys, its changes queued as delivery queues them (one offer per array). */
function order(...offers: Change[][]): BatchOrder {
  const batch: Queued[] = [];
  for (const changes of offers) {
    offer++;
    for (const c of changes) {
      const q = arena.add(c, 0);
      if (c.type === 'relist') q.key = offer;
      batch.push(q);
    }
  }
  return batchOrderOf(batch);
}

const applied = (apiVersion: string, kind: string, ns: string | undefined, name: string): Change => ({
  type: 'applied',
  ts: 1,
  object: { apiVersion, kind, metadata: ns === undefined ? { name } : { namespace: ns, name } },
});
const relist = (
  gvk: string,
  after: string | null,
  through: string | null,
  lifecycles = false,
): RelistChange => ({
  type: 'relist',
  ts: 1,
  seq: 7,
  gvk,
  after,
  through,
  ns_names: [],
  ...(lifecycles ? { lifecycles: true } : {}),
});
const lifecycle = (pod: string): LifecycleChange => ({
  type: 'lifecycle',
  ts: 1,
  owner: { gvk: 'apps/v1.Deployment', ns_name: 'ns/web' },
  pod,
  pod_spec_hash: '1',
  start_ts: 1,
});
const dep = (name: string, ns = 'ns') => applied('apps/v1', 'Deployment', ns, name);

test('batchesConflict: which pairs of batches must land in order (hand-written cases)', () => {
  const onePass = [relist('apps/v1.Deployment', null, 'ns/m'), relist('apps/v1.Deployment', 'ns/m', null)];
  const firstHalf = order([onePass[0]!]);
  // The two halves of one pass (one offer), cut into two batches.
  offer--;
  const secondHalf = order([onePass[1]!]);
  const cases: Array<[string, BatchOrder, BatchOrder, boolean]> = [
    ['different objects of one kind', order([dep('a'), dep('b')]), order([dep('c')]), false],
    ['the same object', order([dep('a'), dep('b')]), order([dep('c'), dep('b')]), true],
    [
      'the same object, applied then deleted',
      order([dep('a')]),
      order([
        {
          type: 'deleted',
          ts: 2,
          object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { namespace: 'ns', name: 'a' } },
        },
      ]),
      true,
    ],
    ['the same name in another namespace', order([dep('a', 'x')]), order([dep('a', 'y')]), false],
    [
      'the same nsName of another kind',
      order([dep('a')]),
      order([applied('apps/v1', 'StatefulSet', 'ns', 'a')]),
      false,
    ],
    [
      'the same kind name in another group',
      order([dep('a')]),
      order([applied('example.com/v1', 'Deployment', 'ns', 'a')]),
      false,
    ],
    [
      'a cluster-scoped object and a namespaced one',
      order([applied('v1', 'Namespace', undefined, 'ns')]),
      order([applied('v1', 'Namespace', undefined, 'kube')]),
      false,
    ],
    [
      "a relist page and its kind's objects",
      order([dep('a')]),
      order([relist('apps/v1.Deployment', null, null)]),
      true,
    ],
    [
      "its kind's objects and a relist page (either way round)",
      order([relist('apps/v1.Deployment', 'ns/x', null)]),
      order([dep('zz')]),
      true,
    ],
    [
      "a relist page and another kind's objects",
      order([dep('a')]),
      order([relist('apps/v1.StatefulSet', null, null)]),
      false,
    ],
    [
      'a relist page of a dotted group and its objects',
      order([applied('a.example.com/v1', 'Widget', 'ns', 'w')]),
      order([relist('a.example.com/v1.Widget', null, null)]),
      true,
    ],
    ['two pages of one pass', firstHalf, secondHalf, false],
    [
      'pages of two passes of one kind',
      order([relist('apps/v1.Deployment', null, null)]),
      order([relist('apps/v1.Deployment', null, null)]),
      true,
    ],
    [
      'pages of two passes of different kinds',
      order([relist('apps/v1.Deployment', null, null)]),
      order([relist('v1.Pod', null, null)]),
      false,
    ],
    ['lifecycles of one pod', order([lifecycle('ns/p-1')]), order([lifecycle('ns/p-1')]), true],
    ['lifecycles of two pods', order([lifecycle('ns/p-1')]), order([lifecycle('ns/p-2')]), false],
    [
      'a lifecycle relist page and a lifecycle',
      order([lifecycle('ns/p-1')]),
      order([relist('v1.Pod', null, null, true)]),
      true,
    ],
    [
      'a lifecycle relist page and Pod objects',
      order([applied('v1', 'Pod', 'ns', 'p-1')]),
      order([relist('v1.Pod', null, null, true)]),
      false,
    ],
    [
      'a Pod relist page and lifecycles',
      order([lifecycle('ns/p-1')]),
      order([relist('v1.Pod', null, null)]),
      false,
    ],
    [
      'a config change and anything',
      order([{ type: 'config', ts: 1, config: { trackedObjects: {} } } as Change]),
      order([dep('a')]),
      true,
    ],
  ];
  for (const [what, a, b, conflict] of cases) {
    assert.equal(batchesConflict(a, b), conflict, what);
    assert.equal(batchesConflict(b, a), conflict, `${what} (the other way round)`);
  }
});
