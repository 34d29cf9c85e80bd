/**
 * The forwarder tests' StoreReducer (support/store-reducer.ts) judged against the real store: the
 * same changes posted to the ingest API of a local stack (the production handler and writer on
 * dynalite) must leave the same live objects (kind, name, spec hash), the same deletions and the
 * same lifecycle incarnations. Plus the case the old reducer could not see (it ignored ts/seq): a
 * relist page delivered again after a watch event of its own second created an object.
 *
 * Mutations caught: relist pages ordered by second only (the `seq` of `isReconcileCandidate`
 * ignored) — the duplicated-page case fails in the reducer and in the store alike; the reducer's
 * old internals (JSON.stringify spec comparison, relist ignoring ts/seq, one lifecycle per pod) —
 * the random sequences disagree with the store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { ApiClient } from '../../lib/cli/client.ts';
import type { Change } from '../../lib/ingest/wire.ts';
import type { LocalStack } from '../../lib/local/serve.ts';
import { nsNameOf } from '../../lib/trace/gvk.ts';
import { specHash } from '../../lib/trace/hash.ts';
import type { KubeObject } from '../../lib/trace/model.ts';
import { startTestStack } from '../support/local-stack.ts';
import { StoreReducer } from './support/store-reducer.ts';

const T = 1_700_000_000;
const cm = (name: string, v: number): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'ns' },
  spec: { ports: [{ port: v }] },
});
const applied = (ts: number, seq: number, o: KubeObject): Change => ({
  type: 'applied',
  ts: T + ts,
  seq,
  object: o,
});
const deleted = (ts: number, seq: number, o: KubeObject): Change => ({
  type: 'deleted',
  ts: T + ts,
  seq,
  object: o,
});
const page = (ts: number, seq: number | undefined, names: string[]): Change => ({
  type: 'relist',
  ts: T + ts,
  ...(seq === undefined ? {} : { seq }),
  gvk: 'v1.Service',
  after: null,
  through: null,
  ns_names: names.map((n) => `ns/${n}`).sort(),
});
const lifecycle = (pod: string, start: number, end?: number): Change => ({
  type: 'lifecycle',
  ts: T + (end ?? start),
  owner: { gvk: 'v1.Pod', ns_name: `ns/${pod}` },
  pod: `ns/${pod}`,
  pod_spec_hash: '7',
  start_ts: T + start,
  ...(end === undefined ? {} : { end_ts: T + end }),
});

describe('StoreReducer judged by the real store', () => {
  let stack: LocalStack;
  let client: ApiClient;
  let n = 0;
  before(async () => {
    ({ stack, client } = await startTestStack());
  });
  after(async () => {
    await stack?.close();
  });

  /** Both views of one sequence: live objects → spec hash, and lifecycle incarnations. */
  async function both(batches: Change[][]) {
    const cluster = `reducer-${n++}`;
    for (const b of batches) await client.postEvents(cluster, { changes: b });
    const live = await stack.store.liveAt(cluster, T + 1_000);
    const store = new Map(
      live.objects.map((c) => [
        `${c.object.apiVersion}.${c.object.kind} ${nsNameOf(c.object)}`,
        specHash(c.object.spec),
      ]),
    );
    const storeLcs: string[] = [];
    for await (const l of stack.store.lifecycles(cluster))
      for (const lc of l.lifecycles)
        storeLcs.push(`${l.owner.nsName} ${lc.startTs - T}-${lc.endTs === undefined ? '' : lc.endTs - T}`);
    const reducer = new StoreReducer().apply(batches.flat());
    const mine = new Map<string, bigint>();
    for (const [gvk, byName] of reducer.live)
      for (const [nsName, o] of byName) mine.set(`${gvk} ${nsName}`, specHash(o.object.spec));
    const mineLcs: string[] = [];
    for (const [owner, pods] of reducer.incarnations)
      for (const lcs of pods.values())
        for (const lc of lcs)
          mineLcs.push(`${owner.split(' ')[1]} ${lc.start - T}-${lc.end === undefined ? '' : lc.end - T}`);
    return { store, mine, storeLcs: storeLcs.sort(), mineLcs: mineLcs.sort(), reducer };
  }

  test('a relist page delivered again after a watch event of its second created an object: the object stays', async () => {
    const list = [applied(10, 1, cm('a', 1)), page(10, 2, ['a'])];
    const watch = [applied(10, 3, cm('b', 1))];
    const r = await both([list, watch, list]);
    assert.deepEqual([...r.mine.keys()].sort(), ['v1.Service ns/a', 'v1.Service ns/b']);
    assert.deepEqual(r.mine, r.store);
    assert.deepEqual(r.reducer.deletions, []);
  });

  test('pod incarnations: a later start finishes the running one; a late older one is kept only if it ended by then', async () => {
    const r = await both([
      [lifecycle('p', 10), lifecycle('p', 20), lifecycle('p', 5, 9), lifecycle('p', 6, 25)],
    ]);
    assert.deepEqual(r.mineLcs, ['ns/p 10-20', 'ns/p 20-', 'ns/p 5-9']);
    assert.deepEqual(r.mineLcs, r.storeLcs);
    assert.deepEqual(r.reducer.lifecycles.get('v1.Pod ns/p')?.get('ns/p'), { hash: '7', start: T + 20 });
  });

  const changeArb: fc.Arbitrary<Change> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .tuple(fc.nat({ max: 6 }), fc.nat({ max: 9 }), fc.constantFrom('a', 'b', 'c'), fc.nat({ max: 2 }))
        .map(([ts, seq, name, v]) => applied(ts, seq, cm(name, v))),
    },
    fc
      .tuple(fc.nat({ max: 6 }), fc.nat({ max: 9 }), fc.constantFrom('a', 'b', 'c'))
      .map(([ts, seq, name]) => deleted(ts, seq, cm(name, 0))),
    fc
      .tuple(fc.nat({ max: 6 }), fc.option(fc.nat({ max: 9 })), fc.subarray(['a', 'b', 'c']))
      .map(([ts, seq, names]) => page(ts, seq ?? undefined, names)),
    fc
      .tuple(fc.constantFrom('p', 'q'), fc.nat({ max: 6 }), fc.option(fc.nat({ max: 6 })))
      .map(([pod, start, len]) => lifecycle(pod, start, len === null ? undefined : start + len)),
  );

  test('random sequences of changes (out of order, duplicated, same-second): the reducer holds what the store holds', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(changeArb, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 4 }),
        async (batches) => {
          const r = await both(batches);
          assert.deepEqual(r.mine, r.store);
          assert.deepEqual(r.mineLcs, r.storeLcs);
        },
      ),
      { seed: 16, numRuns: 20, endOnFailure: true },
    );
  });
});
