import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { decodeBody, encodeBody } from '../../lib/store/body-codec.ts';
import {
  assertCluster,
  eventSk,
  eventSkRange,
  lifecycleSk,
  parseEventSk,
  parseLifecycleSk,
  shardOf,
} from '../../lib/store/keys.ts';
import { forEachLimit, groupConsecutive, mergeSorted } from '../../lib/store/merge.ts';
import {
  decideApplied,
  decideDeleted,
  deletionBody,
  expiresAtSec,
  isReconcileCandidate,
  type ObjectStateView,
  reconcileOrder,
} from '../../lib/store/rules.ts';
import { collect, deployment, obj } from './support.ts';

describe('decideApplied', () => {
  const live: ObjectStateView = { live: true, hash: 7n, ts: 100, seq: 5 };
  const dead: ObjectStateView = { live: false, ts: 100, seq: 5 };
  const cases: [string, ObjectStateView | undefined, { ts: number; seq: number; hash: bigint }, string][] = [
    ['new object', undefined, { ts: 1, seq: 0, hash: 7n }, 'write'],
    ['same spec, later', live, { ts: 101, seq: 0, hash: 7n }, 'unchanged'],
    ['same spec, same order (a retry)', live, { ts: 100, seq: 5, hash: 7n }, 'unchanged'],
    ['new spec, later', live, { ts: 101, seq: 0, hash: 8n }, 'write'],
    ['new spec, same second, higher seq', live, { ts: 100, seq: 6, hash: 8n }, 'write'],
    ['new spec, same second and seq (last in the array wins)', live, { ts: 100, seq: 5, hash: 8n }, 'write'],
    ['new spec, same second, lower seq', live, { ts: 100, seq: 4, hash: 8n }, 'stale'],
    ['new spec, older second', live, { ts: 99, seq: 9, hash: 8n }, 'stale'],
    ['re-create after delete, same spec', dead, { ts: 101, seq: 0, hash: 7n }, 'write'],
    ['older than the delete', dead, { ts: 99, seq: 0, hash: 7n }, 'stale'],
  ];
  for (const [name, state, change, want] of cases) {
    test(name, () => assert.equal(decideApplied(state, change), want));
  }
});

describe('decideDeleted', () => {
  const live: ObjectStateView = { live: true, hash: 7n, ts: 100, seq: 5 };
  const cases: [string, ObjectStateView | undefined, { ts: number; seq: number }, string][] = [
    ['unknown object', undefined, { ts: 101, seq: 0 }, 'not_live'],
    ['already deleted', { live: false, ts: 100, seq: 0 }, { ts: 101, seq: 0 }, 'not_live'],
    ['live, later', live, { ts: 101, seq: 0 }, 'write'],
    ['live, same second, same seq', live, { ts: 100, seq: 5 }, 'write'],
    ['live, older', live, { ts: 100, seq: 4 }, 'stale'],
  ];
  for (const [name, state, change, want] of cases) {
    test(name, () => assert.equal(decideDeleted(state, change), want));
  }
});

test('reconcile candidates and their order', () => {
  assert.equal(isReconcileCandidate({ live: true, ts: 100, seq: 3 }, 100), true);
  assert.equal(isReconcileCandidate({ live: true, ts: 101, seq: 0 }, 100), false, 'created after the list');
  assert.equal(isReconcileCandidate({ live: false, ts: 90, seq: 0 }, 100), false);
  assert.deepEqual(reconcileOrder({ live: true, ts: 100, seq: 3 }, 100), { ts: 100, seq: 3 });
  assert.deepEqual(reconcileOrder({ live: true, ts: 90, seq: 3 }, 100), { ts: 100, seq: 0 });
});

test('expiry counts from the later of event and ingest time', () => {
  assert.equal(expiresAtSec(1_000, 5_000, 1), 5_000 + 86_400, 'imported old change');
  assert.equal(expiresAtSec(9_000, 5_000, 1), 9_000 + 86_400, 'sender clock ahead');
  assert.equal(expiresAtSec(1_000, 1_000, 2 / 86_400), 1_002);
});

test('a minimal deleted object takes the last applied body; a full one stays', () => {
  const last = obj('v1.ConfigMap', 'a/b', undefined, {
    data: { k: 'v' },
    metadata: { namespace: 'a', name: 'b', labels: { x: 'y' } },
  });
  const minimal = obj('v1.ConfigMap', 'a/b', undefined);
  delete minimal.spec;
  assert.equal(deletionBody(minimal, last), last);
  const full = obj('v1.ConfigMap', 'a/b', undefined, { data: { k: 'w' } });
  assert.equal(deletionBody(full, last), full);
  assert.equal(deletionBody(minimal, undefined), minimal);
});

describe('keys', () => {
  test('cluster ids that could escape their key prefix are refused', () => {
    for (const bad of ['', 'A', 'a#b', 'a/b', '..', 'a b', '-a', 'a'.repeat(64), 'prod\u0000']) {
      assert.throws(() => assertCluster(bad), { code: 'invalid_cluster' }, bad);
    }
    for (const good of ['a', 'prod-eu-1', '0', 'a'.repeat(63)]) assertCluster(good);
  });

  test('event sort keys round-trip and sort by ts first', () => {
    const sk = eventSk(1_700_000_000, 'apps/v1.Deployment', 'ns/web');
    assert.deepEqual(parseEventSk(sk), { ts: 1_700_000_000, gvk: 'apps/v1.Deployment', nsName: 'ns/web' });
    assert.ok(eventSk(99, 'v1.Pod', 'z') < eventSk(100, 'apps/v1.A', 'a'));
    const { lo, hi } = eventSkRange(100, 200);
    assert.ok(lo <= eventSk(100, 'a.B', 'x') && eventSk(100, 'a.B', 'x') <= hi);
    assert.ok(eventSk(199, 'z.Z', '\u{10ffff}') <= hi, 'last second in range');
    assert.ok(eventSk(200, 'a.A', 'a') > hi, 'end excluded');
    assert.ok(eventSk(99, 'z.Z', 'z') < lo);
  });

  test('lifecycle sort keys round-trip; one owner+hash stays contiguous', () => {
    const sk = lifecycleSk(
      'apps/v1.ReplicaSet',
      'ns/web-1',
      18446744073709551615n,
      'ns/web-1-abc',
      1700000000,
    );
    assert.deepEqual(parseLifecycleSk(sk), {
      gvk: 'apps/v1.ReplicaSet',
      nsName: 'ns/web-1',
      podSpecHash: 18446744073709551615n,
      pod: 'ns/web-1-abc',
      startTs: 1700000000,
    });
    // Two incarnations of one pod name are two keys.
    assert.notEqual(
      lifecycleSk('a.B', 'ns/db', 1n, 'ns/db-0', 100),
      lifecycleSk('a.B', 'ns/db', 1n, 'ns/db-0', 200),
    );
    assert.throws(
      () => parseLifecycleSk('a.B ns/web 00000000000000000001 p1'),
      /not "gvk nsName hash pod start"/,
    );
    const keys = [
      lifecycleSk('a.B', 'ns/web', 1n, 'p2', 5),
      lifecycleSk('a.B', 'ns/web-x', 1n, 'p1', 5),
      lifecycleSk('a.B', 'ns/web', 1n, 'p1', 5),
      lifecycleSk('a.B', 'ns/web', 2n, 'p0', 5),
    ].sort();
    assert.deepEqual(
      keys.map((k) => parseLifecycleSk(k).nsName),
      ['ns/web', 'ns/web', 'ns/web', 'ns/web-x'],
    );
  });

  test('shards are stable and spread', () => {
    assert.equal(shardOf('apps/v1.Deployment', 'a/b', 8), shardOf('apps/v1.Deployment', 'a/b', 8));
    const counts = new Array(4).fill(0);
    for (let i = 0; i < 4000; i++) counts[shardOf('v1.Pod', `ns/pod-${i}`, 4)]++;
    for (const c of counts) assert.ok(c > 800 && c < 1200, `uneven shards: ${counts}`);
  });
});

describe('body codec', () => {
  test('round-trips any JSON', () => {
    for (const v of [deployment('web'), { a: [1, 2.5, null, true, 'ü'] }, [], 'x']) {
      assert.deepEqual(decodeBody(encodeBody(v), 'd1'), v);
    }
  });

  test('unknown encodings and corrupt bytes are store errors', () => {
    assert.throws(() => decodeBody(encodeBody({}), 'zz'), { code: 'store_corrupt_item' });
    assert.throws(() => decodeBody(new Uint8Array([1, 2, 3]), 'd1'), { code: 'store_corrupt_item' });
  });

  test('a typical 3.4 KB Deployment compresses under one write unit, about half of gzip and brotli', () => {
    const json = Buffer.from(JSON.stringify({ o: deployment('checkout-service'), w: [] }));
    const d1 = encodeBody({ o: deployment('checkout-service'), w: [] }).byteLength;
    const gzip = gzipSync(json).byteLength;
    const brotli = brotliCompressSync(json, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 5,
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      },
    }).byteLength;
    console.log(
      `json ${json.byteLength} B, gzip ${gzip} B, brotli q5 ${brotli} B, deflate+dictionary ${d1} B`,
    );
    assert.ok(json.byteLength > 3000);
    // An item carries ~150 B of keys and attributes besides the body: the body must stay below ~870 B.
    assert.ok(d1 < 870, `d1 body ${d1} B`);
    assert.ok(d1 < gzip * 0.7 && d1 < brotli * 0.7, `d1 ${d1} vs gzip ${gzip} / brotli ${brotli}`);
  });
});

describe('merge helpers', () => {
  async function* from<T>(items: T[]): AsyncGenerator<T> {
    for (const i of items) yield i;
  }

  test('mergeSorted interleaves sorted sources, ties in source order', async () => {
    const out = await collect(
      mergeSorted([from([1, 4, 9]), from([]), from([2, 4, 10]), from([0])], (a, b) => a - b),
    );
    assert.deepEqual(out, [0, 1, 2, 4, 4, 9, 10]);
  });

  test('groupConsecutive groups runs', async () => {
    const out = await collect(groupConsecutive(from(['a1', 'a2', 'b1', 'a3']), (s) => s[0]!));
    assert.deepEqual(out, [['a1', 'a2'], ['b1'], ['a3']]);
  });

  test('forEachLimit bounds concurrency and reports the first failure after all settle', async () => {
    let inFlight = 0;
    let peak = 0;
    const done: number[] = [];
    await assert.rejects(
      forEachLimit([1, 2, 3, 4, 5, 6], 2, async (i) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 1));
        inFlight--;
        if (i === 3) throw new Error('three');
        done.push(i);
      }),
      /three/,
    );
    assert.equal(peak, 2);
    assert.equal(inFlight, 0);
  });
});
