import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  advanceLifecycle,
  clampToWindow,
  isAdvance,
  lifecycleOfPod,
  lifecycleOnDelete,
  overlapsWindow,
} from '../../lib/trace/lifecycle.ts';
import type { KubeObject, Lifecycle } from '../../lib/trace/model.ts';

// 2024-03-19T23:48:58Z
const T0 = 1710892138;
const at = (offsetSec: number): string =>
  new Date((T0 + offsetSec) * 1000).toISOString().replace('.000Z', 'Z');

const running = (startedAtSec: number) => ({ running: { startedAt: at(startedAtSec) } });
const terminated = (startedAtSec: number | undefined, finishedAtSec: number | undefined, exitCode = 0) => ({
  terminated: {
    exitCode,
    reason: exitCode === 0 ? 'Completed' : 'Error',
    ...(startedAtSec === undefined ? {} : { startedAt: at(startedAtSec) }),
    ...(finishedAtSec === undefined ? {} : { finishedAt: at(finishedAtSec) }),
  },
});
const waiting = (reason = 'ContainerCreating') => ({ waiting: { reason } });

function pod(
  containers: string[],
  containerStatuses: unknown[] | undefined,
  initContainerStatuses?: unknown[],
  phase = 'Running',
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'n' },
    spec: { containers: containers.map((name) => ({ name, image: 'busybox' })) },
    status: {
      phase,
      ...(containerStatuses ? { containerStatuses } : {}),
      ...(initContainerStatuses ? { initContainerStatuses } : {}),
    },
  };
}

const cs = (name: string, state: unknown, lastState: unknown = {}, restartCount = 0) => ({
  name,
  state,
  lastState,
  restartCount,
  ready: false,
  image: 'busybox',
  imageID: '',
});

describe('lifecycleOfPod', () => {
  const cases: [string, KubeObject, Lifecycle | undefined][] = [
    ['pending pod without statuses is Empty', pod(['a'], undefined, undefined, 'Pending'), undefined],
    ['containers still creating is Empty', pod(['a'], [cs('a', waiting())], undefined, 'Pending'), undefined],
    ['one running container', pod(['a'], [cs('a', running(5))]), { startTs: T0 + 5 }],
    [
      'earliest start across containers',
      pod(['a', 'b'], [cs('a', running(9)), cs('b', running(4))]),
      { startTs: T0 + 4 },
    ],
    [
      'init containers count for the start',
      pod(['a'], [cs('a', running(20))], [cs('init', terminated(2, 15))]),
      { startTs: T0 + 2 },
    ],
    [
      'init container still running, regular waiting: Running from the init start',
      pod(['a'], [cs('a', waiting('PodInitializing'))], [cs('init', running(3))], 'Pending'),
      { startTs: T0 + 3 },
    ],
    [
      'all regular containers terminated: Finished at the latest end',
      pod(['a', 'b'], [cs('a', terminated(5, 40)), cs('b', terminated(6, 35))], undefined, 'Succeeded'),
      { startTs: T0 + 5, endTs: T0 + 40 },
    ],
    [
      'partial termination is still Running',
      pod(['a', 'b'], [cs('a', terminated(5, 40)), cs('b', running(6))]),
      { startTs: T0 + 5 },
    ],
    [
      'a status missing for one container is not finished',
      pod(['a', 'b'], [cs('a', terminated(5, 40))]),
      { startTs: T0 + 5 },
    ],
    [
      'init container ends count for the end',
      pod(['a'], [cs('a', terminated(20, 30))], [cs('sidecar', terminated(2, 31))], 'Succeeded'),
      { startTs: T0 + 2, endTs: T0 + 31 },
    ],
    [
      'terminated without startedAt gives an end but no start',
      pod(
        ['a', 'b'],
        [cs('a', terminated(undefined, 12, 128)), cs('b', terminated(4, 10))],
        undefined,
        'Failed',
      ),
      { startTs: T0 + 4, endTs: T0 + 12 },
    ],
    [
      'no container ever started (ContainerCannotRun) is Empty',
      pod(['a'], [cs('a', terminated(undefined, 12, 128))], undefined, 'Failed'),
      undefined,
    ],
    [
      'terminated without finishedAt does not count as terminated',
      pod(['a'], [cs('a', terminated(4, undefined))]),
      { startTs: T0 + 4 },
    ],
    [
      'a restarted container: the start of its earlier run (lastState) counts',
      pod(['a'], [cs('a', running(60), terminated(5, 50, 1), 1)]),
      { startTs: T0 + 5 },
    ],
    [
      'CrashLoopBackOff: waiting now, earlier run in lastState',
      pod(['a'], [cs('a', waiting('CrashLoopBackOff'), terminated(5, 50, 1), 3)]),
      { startTs: T0 + 5 },
    ],
    [
      'a malformed state (running and terminated at once) is ignored',
      pod(['a', 'b'], [cs('a', { ...running(1), ...terminated(1, 2) }), cs('b', running(7))]),
      { startTs: T0 + 7 },
    ],
    [
      'unparsable timestamps are ignored',
      pod(['a', 'b'], [cs('a', { running: { startedAt: 'yesterday' } }), cs('b', running(8))]),
      { startTs: T0 + 8 },
    ],
    [
      'fractional seconds are floored',
      pod(['a'], [cs('a', { running: { startedAt: `${at(3).slice(0, -1)}.999999Z` } })]),
      { startTs: T0 + 3 },
    ],
  ];
  for (const [name, p, expected] of cases) {
    it(name, () => {
      assert.deepEqual(lifecycleOfPod(p), expected);
    });
  }

  it('a pod deleted while running is Finished at the deletion time', () => {
    const p = pod(['a', 'b'], [cs('a', terminated(5, 40)), cs('b', running(6))]);
    assert.deepEqual(lifecycleOfPod(p, { deletedAtTs: T0 + 90 }), { startTs: T0 + 5, endTs: T0 + 90 });
  });
  it('a finished pod keeps its own end when deleted later', () => {
    const p = pod(['a'], [cs('a', terminated(5, 40))], undefined, 'Succeeded');
    assert.deepEqual(lifecycleOfPod(p, { deletedAtTs: T0 + 90 }), { startTs: T0 + 5, endTs: T0 + 40 });
  });
  it('a deletion time before the start (clock skew) ends at the start', () => {
    const p = pod(['a'], [cs('a', running(50))]);
    assert.deepEqual(lifecycleOfPod(p, { deletedAtTs: T0 + 49 }), { startTs: T0 + 50, endTs: T0 + 50 });
  });
  it('a pod deleted before it started stays Empty', () => {
    assert.equal(lifecycleOfPod(pod(['a'], [cs('a', waiting())]), { deletedAtTs: T0 }), undefined);
  });
});

describe('lifecycleOnDelete', () => {
  const runningPod = pod(['a'], [cs('a', running(6))]);
  const donePod = pod(['a'], [cs('a', terminated(6, 30))], undefined, 'Succeeded');
  const cases: [string, Lifecycle | undefined, KubeObject | undefined, Lifecycle | undefined][] = [
    ['unknown before, running pod', undefined, runningPod, { startTs: T0 + 6, endTs: T0 + 100 }],
    ['unknown before, finished pod', undefined, donePod, { startTs: T0 + 6, endTs: T0 + 30 }],
    ['unknown before, no body', undefined, undefined, undefined],
    [
      'Running before, no body (relist)',
      { startTs: T0 + 1 },
      undefined,
      { startTs: T0 + 1, endTs: T0 + 100 },
    ],
    ['Running before keeps its start', { startTs: T0 + 1 }, runningPod, { startTs: T0 + 1, endTs: T0 + 100 }],
    ['Running before, pod shows its end', { startTs: T0 + 1 }, donePod, { startTs: T0 + 1, endTs: T0 + 30 }],
    [
      'Finished before stays',
      { startTs: T0 + 1, endTs: T0 + 20 },
      runningPod,
      { startTs: T0 + 1, endTs: T0 + 20 },
    ],
  ];
  for (const [name, prev, p, expected] of cases) {
    it(name, () => {
      assert.deepEqual(lifecycleOnDelete(prev, p, T0 + 100), expected);
    });
  }
});

describe('ordering rule', () => {
  const R = (s: number): Lifecycle => ({ startTs: s });
  const F = (s: number, e: number): Lifecycle => ({ startTs: s, endTs: e });
  const cases: [string, Lifecycle | undefined, Lifecycle | undefined, boolean][] = [
    ['Empty → Running', undefined, R(1), true],
    ['Empty → Finished', undefined, F(1, 2), true],
    ['Empty → Empty', undefined, undefined, false],
    ['Running → same Running', R(1), R(1), false],
    ['Running → Finished, same start', R(1), F(1, 5), true],
    ['Running → Finished, other start', R(1), F(2, 5), false],
    ['Running → Running, other start (restart)', R(1), R(3), false],
    ['Running → Empty', R(1), undefined, false],
    ['Finished → Running (going back)', F(1, 5), R(1), false],
    ['Finished → same Finished', F(1, 5), F(1, 5), false],
    ['Finished → other end', F(1, 5), F(1, 6), false],
    ['Finished → Empty', F(1, 5), undefined, false],
  ];
  for (const [name, prev, next, advances] of cases) {
    it(name, () => {
      assert.equal(isAdvance(prev, next), advances);
      assert.deepEqual(advanceLifecycle(prev, next), advances ? next : prev);
    });
  }
});

describe('window helpers', () => {
  const w = { startTs: 100, endTs: 200 };
  const cases: [Lifecycle, boolean, Lifecycle | undefined][] = [
    [{ startTs: 50 }, true, { startTs: 100 }],
    [{ startTs: 150 }, true, { startTs: 150 }],
    [{ startTs: 200 }, false, undefined],
    [{ startTs: 50, endTs: 99 }, false, undefined],
    [{ startTs: 50, endTs: 100 }, true, { startTs: 100, endTs: 100 }],
    [{ startTs: 120, endTs: 150 }, true, { startTs: 120, endTs: 150 }],
    // ends after the window are not clamped
    [{ startTs: 120, endTs: 500 }, true, { startTs: 120, endTs: 500 }],
    // ran through the whole window (SimKube's overlaps misses this one)
    [{ startTs: 50, endTs: 500 }, true, { startTs: 100, endTs: 500 }],
    [{ startTs: 200, endTs: 300 }, false, undefined],
  ];
  for (const [lc, overlaps, clamped] of cases) {
    it(`${JSON.stringify(lc)} overlaps [100, 200): ${overlaps}`, () => {
      assert.equal(overlapsWindow(lc, w), overlaps);
      if (clamped) assert.deepEqual(clampToWindow(lc, w), clamped);
    });
  }
});
