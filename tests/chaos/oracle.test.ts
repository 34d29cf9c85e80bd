import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Blind,
  blindUntil,
  DELETED,
  type Failure,
  failuresOf,
  judge,
  observable,
  type TraceEntry,
  type TruthEntry,
} from './oracle.ts';

const KEY = 'apps/v1.Deployment shop/web';
const OTHER = 'apps/v1.StatefulSet shop/web';
const t = (hash: string, atSec: number): TruthEntry => ({ hash, atMs: atSec * 1000 });
const e = (hash: string, ts: number): TraceEntry => ({ hash, ts });

const cases: Array<{
  name: string;
  truth: TruthEntry[];
  trace: TraceEntry[];
  blind?: Blind[];
  fails?: Failure[];
}> = [
  {
    name: 'every version and the deletion present',
    truth: [t('a', 10.2), t('b', 12.5), t(DELETED, 15.1)],
    trace: [e('a', 10), e('b', 12), e(DELETED, 15)],
  },
  {
    name: 'a watched middle version missing is lost',
    truth: [t('a', 10.2), t('b', 12.5), t('c', 14.7)],
    trace: [e('a', 10), e('c', 14)],
    fails: ['lost'],
  },
  {
    name: 'a version current only while blind may be missing',
    truth: [t('a', 10.2), t('b', 12.5), t('c', 14.7)],
    trace: [e('a', 10), e('c', 15)],
    blind: [{ fromMs: 12_000, toMs: 15_000, why: 'kill' }],
  },
  {
    name: 'a blind interval of another kind excuses nothing',
    truth: [t('a', 10.2), t('b', 12.5), t('c', 14.7)],
    trace: [e('a', 10), e('c', 15)],
    blind: [{ gvk: 'apps/v1.StatefulSet', fromMs: 12_000, toMs: 15_000, why: 'kill' }],
    fails: ['lost'],
  },
  {
    name: 'a version seen only within the next change second is coalesced (relist edge)',
    truth: [t('a', 10.2), t('b', 12.5), t('c', 14.7)],
    trace: [e('a', 10), e('c', 14)],
    blind: [{ fromMs: 12_000, toMs: 14_500, why: 'relist' }],
  },
  {
    name: 'a version seen for a second and more before the next change is not coalesced',
    truth: [t('a', 10.2), t('b', 12.5), t('c', 14.7)],
    trace: [e('a', 10), e('c', 14)],
    blind: [{ fromMs: 12_000, toMs: 13_200, why: 'relist' }],
    fails: ['lost'],
  },
  {
    name: 'the final state always required, even when blind',
    truth: [t('a', 10.2), t('b', 12.5)],
    trace: [e('a', 10)],
    blind: [{ fromMs: 12_000, toMs: 30_000, why: 'kill' }],
    fails: ['lost', 'finalMismatch'],
  },
  {
    name: 'created and deleted unseen: nothing required',
    truth: [t('a', 10.2), t(DELETED, 11.9)],
    trace: [],
    blind: [{ fromMs: 10_000, toMs: 11_950, why: 'start' }],
  },
  {
    name: 'a deletion of an object the trace showed alive is required',
    truth: [t('a', 10.2), t(DELETED, 12.5), t('b', 14.1)],
    trace: [e('a', 10), e('b', 14)],
    fails: ['lost'],
  },
  {
    name: 'two consecutive entries with one spec hash are duplicates',
    truth: [t('a', 10.2), t('b', 12.5)],
    trace: [e('a', 10), e('a', 11), e('b', 12)],
    fails: ['duplicated'],
  },
  {
    name: 'a deletion without a real one is spurious',
    truth: [t('a', 10.2), t('b', 12.5)],
    trace: [e('a', 10), e(DELETED, 11), e('b', 12)],
    fails: ['spuriousDeletions'],
  },
  {
    name: 'a deletion stamped before the real deletion is spurious',
    truth: [t('a', 10.2), t(DELETED, 14.5)],
    trace: [e('a', 10), e(DELETED, 12)],
    fails: ['spuriousDeletions', 'lost'],
  },
  {
    name: 'a relist deletes at its own time what vanished while blind',
    truth: [t('a', 10.2), t(DELETED, 12.5)],
    trace: [e('a', 10), e(DELETED, 16)],
    blind: [{ fromMs: 12_000, toMs: 16_300, why: '410 Gone' }],
  },
  {
    name: 'a stale version re-applied after a newer one is out of order',
    truth: [t('a', 10.2), t('b', 12.5)],
    trace: [e('a', 10), e('b', 12), e('a', 13)],
    fails: ['outOfOrder', 'finalMismatch'],
  },
  {
    name: 'time: a change at x.95 s stamped in second x+1 (within the slack) is on time',
    truth: [t('a', 10.95), t('b', 12.98), t(DELETED, 14.99)],
    trace: [e('a', 11), e('b', 13), e(DELETED, 15)],
  },
  {
    name: 'time: every change and deletion stamped 40 s late is mistimed (control)',
    truth: [t('a', 10.2), t('b', 12.5), t(DELETED, 15.1)],
    trace: [e('a', 50), e('b', 52), e(DELETED, 55)],
    fails: ['mistimed'],
  },
  {
    name: 'time: a watched version stamped 2 s late (at sending, after a retry) is mistimed',
    truth: [t('a', 10.2), t('b', 12.5)],
    trace: [e('a', 10), e('b', 14)],
    fails: ['mistimed'],
  },
  {
    name: 'time: a watched deletion stamped 2 s late is mistimed',
    truth: [t('a', 10.2), t(DELETED, 12.5)],
    trace: [e('a', 10), e(DELETED, 14)],
    fails: ['mistimed'],
  },
  {
    name: 'time: a version stamped in a second before it happened is mistimed',
    truth: [t('a', 10.2), t('b', 12.5)],
    trace: [e('a', 9), e('b', 12)],
    fails: ['mistimed'],
  },
  {
    name: 'time: the stamp may not precede the start of the apply (beforeMs)',
    truth: [{ hash: 'a', beforeMs: 11_000, atMs: 11_400 }],
    trace: [e('a', 10)],
    fails: ['mistimed'],
  },
  {
    name: 'time: a version made while blind may carry the time of the relist that read it',
    truth: [t('a', 10.2), t('b', 12.5), t('c', 20.1)],
    trace: [e('a', 10), e('b', 16), e('c', 20)],
    blind: [{ fromMs: 12_000, toMs: 16_300, why: '410 Gone' }],
  },
  {
    name: 'time: chained blind intervals: read at the end of the last one',
    truth: [t('a', 10.2), t('b', 12.5), t('c', 30.1)],
    trace: [e('a', 10), e('b', 18), e('c', 30)],
    blind: [
      { fromMs: 12_000, toMs: 15_000, why: 'kill' },
      { fromMs: 14_000, toMs: 18_500, why: 'kill' },
    ],
  },
  {
    name: 'time: a change made just before a drop (not read yet) may carry the time of the relist',
    truth: [t('a', 10.2), t('b', 12.5), t('c', 30.1)],
    trace: [e('a', 10), e('b', 16), e('c', 30)],
    blind: [{ fromMs: 12_900, toMs: 16_300, why: 'watch dropped' }],
  },
  {
    name: 'time: a change made over the slack before a drop was read before it: late is mistimed',
    truth: [t('a', 10.2), t('b', 12.5), t('c', 30.1)],
    trace: [e('a', 10), e('b', 16), e('c', 30)],
    blind: [{ fromMs: 14_000, toMs: 16_300, why: 'watch dropped' }],
    fails: ['mistimed'],
  },
  {
    name: 'time: a version made while blind stamped after the relist (+ slack) is mistimed',
    truth: [t('a', 10.2), t('b', 12.5), t('c', 30.1)],
    trace: [e('a', 10), e('b', 25), e('c', 30)],
    blind: [{ fromMs: 12_000, toMs: 16_300, why: '410 Gone' }],
    fails: ['mistimed'],
  },
  {
    name: 'a version the cluster never had is unknown',
    truth: [t('a', 10.2)],
    trace: [e('a', 10), e('zzz', 11)],
    fails: ['unknown', 'finalMismatch'],
  },
];

for (const c of cases) {
  test(`oracle: ${c.name}`, () => {
    const v = judge({
      truth: new Map([[KEY, c.truth]]),
      trace: new Map([[KEY, c.trace]]),
      blind: c.blind ?? [],
    });
    const failed = failuresOf(v).sort();
    assert.deepEqual(failed, [...(c.fails ?? [])].sort(), JSON.stringify(v));
    assert.equal(v.ok, failed.length === 0);
  });
}

test('oracle: objects are kind + name; another kind with the same name is not a match', () => {
  const v = judge({
    truth: new Map([[KEY, [t('a', 10.2)]]]),
    trace: new Map([[OTHER, [e('a', 10)]]]),
    blind: [],
  });
  assert.deepEqual(v.unknown, [OTHER]);
  assert.equal(v.lost.length, 1);
});

test('blindUntil: the end of the run of overlapping blind intervals around a time, or none', () => {
  const b = (fromMs: number, toMs: number): Blind => ({ fromMs, toMs, why: 'x' });
  assert.equal(blindUntil(5, []), undefined);
  assert.equal(blindUntil(5, [b(10, 20)]), undefined);
  assert.equal(blindUntil(20, [b(10, 20)]), undefined, 'the end is watched again');
  assert.equal(blindUntil(10, [b(10, 20)]), 20);
  assert.equal(blindUntil(12, [b(10, 20), b(15, 30), b(30, 40), b(41, 50)]), 40);
});

test('observable: removes blind intervals, overlapping or not', () => {
  const b = (fromMs: number, toMs: number): Blind => ({ fromMs, toMs, why: 'x' });
  assert.deepEqual(observable(0, 100, []), [[0, 100]]);
  assert.deepEqual(observable(0, 100, [b(20, 40), b(30, 50), b(90, 200)]), [
    [0, 20],
    [50, 90],
  ]);
  assert.deepEqual(observable(0, 100, [b(-5, 150)]), []);
});
