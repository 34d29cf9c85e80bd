/**
 * SpecHashes (lib/forwarder/spec-hashes.ts) against a deliberately simple second implementation:
 * one Map from the nsName string to { hash, listed resourceVersion, list generation }, as
 * changes.ts kept it before. Random operations over few names, hashes and resourceVersions, so
 * that slots are freed and reused, tables grow, and equal values meet different objects.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpecHashes, splitNsName } from '../../lib/forwarder/spec-hashes.ts';

interface OracleEntry {
  /** The hash set, or undefined when a generation was recorded instead. */
  hash: bigint | undefined;
  generation?: { generation: number; uid: string };
  listedRv?: string;
}

class Oracle {
  readonly map = new Map<string, OracleEntry>();
  set(nsName: string, hash: bigint) {
    const e = this.map.get(nsName);
    if (e) {
      e.hash = hash;
      delete e.generation;
    } else this.map.set(nsName, { hash });
  }
  setGeneration(nsName: string, generation: number, uid: string) {
    const e = this.map.get(nsName);
    if (e) {
      e.hash = undefined;
      e.generation = { generation, uid };
    } else this.map.set(nsName, { hash: undefined, generation: { generation, uid } });
  }
  sameGeneration(nsName: string, generation: number, uid: string) {
    const g = this.map.get(nsName)?.generation;
    return g !== undefined && g.generation === generation && g.uid === uid;
  }
  markListed(nsName: string, rv: string) {
    const e = this.map.get(nsName);
    if (e) e.listedRv = rv;
  }
  listedAt(nsName: string, rv: string) {
    return this.map.get(nsName)?.listedRv === rv;
  }
  endList() {
    for (const e of this.map.values()) delete e.listedRv;
  }
  retainOnly(keep: Set<string>) {
    for (const n of [...this.map.keys()]) if (!keep.has(n)) this.map.delete(n);
  }
}

/** A small deterministic generator (mulberry32), so a failure replays. */
function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const keyOf = (nsName: string) => {
  const slash = nsName.indexOf('/');
  return slash < 0 ? { name: nsName } : { namespace: nsName.slice(0, slash), name: nsName.slice(slash + 1) };
};

test('SpecHashes agrees with a Map of nsName → {hash or generation, listed rv} over 20,000 random operations', () => {
  const random = rng(11);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  // 700 names over 3 namespaces and cluster scope: more than the 256 initial slots, so the
  // typed arrays grow; few enough that names are deleted and created again.
  const names: string[] = [];
  for (let i = 0; i < 700; i++) {
    const ns = pick(['', 'a', 'b', 'kube-system']);
    names.push(ns === '' ? `node-${i}` : `${ns}/obj-${i}`);
  }
  // Few hashes (0 and the top bit included) and resourceVersions (decimal revisions, one with a
  // leading zero that must not equal its number, an opaque one): equal values meet other objects.
  const hashes = [0n, 1n, 2n ** 63n, 2n ** 64n - 1n, 0x0123456789abcdefn];
  const rvs = ['1', '7', '07', '42', '999999999999999', 'opaque-rv'];
  const generations = [1, 2, 3, 2 ** 32 - 1];
  const uids = ['5f0c6c3e-1b2a-4c1d-9e8f-000000000001', '5f0c6c3e-1b2a-4c1d-9e8f-000000000002', 'u'];
  const s = new SpecHashes();
  const o = new Oracle();
  for (let i = 0; i < 20_000; i++) {
    const n = pick(names);
    const key = keyOf(n);
    const r = random();
    if (r < 0.25) {
      const h = pick(hashes);
      s.set(key, h);
      o.set(n, h);
    } else if (r < 0.35) {
      const g = pick(generations);
      const u = pick(uids);
      s.setGeneration(key, g, u);
      o.setGeneration(n, g, u);
    } else if (r < 0.5) {
      s.delete(key);
      o.map.delete(n);
    } else if (r < 0.75) {
      const rv = pick(rvs);
      s.markListed(key, rv);
      o.markListed(n, rv);
    } else if (r < 0.998) {
      const rv = pick(rvs);
      assert.equal(s.listedAt(key, rv), o.listedAt(n, rv), `op ${i}: listedAt(${n}, ${rv})`);
    } else if (r < 0.999) {
      s.endList();
      o.endList();
    } else {
      // Sometimes nearly everything goes: the arrays shrink (and grow again).
      const share = pick([0.05, 0.5, 0.9]);
      const keep = new Set(names.filter(() => random() < share));
      s.retainOnly(keep);
      o.retainOnly(keep);
    }
    assert.equal(s.get(key), o.map.get(n)?.hash, `op ${i}: get(${n})`);
    const g = pick(generations);
    const u = pick(uids);
    assert.equal(s.sameGeneration(key, g, u), o.sameGeneration(n, g, u), `op ${i}: sameGeneration(${n})`);
    assert.equal(s.has(n), o.map.has(n), `op ${i}: has(${n})`);
    assert.equal(s.size, o.map.size, `op ${i}: size`);
  }
  for (const n of names) {
    assert.equal(s.get(keyOf(n)), o.map.get(n)?.hash, n);
    for (const rv of rvs) assert.equal(s.listedAt(keyOf(n), rv), o.listedAt(n, rv), `${n} ${rv}`);
  }
});

test('SpecHashes: a slot freed and reused does not carry the old object’s hash or listed mark', () => {
  const s = new SpecHashes();
  s.set({ namespace: 'ns', name: 'old' }, 5n);
  s.markListed({ namespace: 'ns', name: 'old' }, '100');
  s.delete({ namespace: 'ns', name: 'old' });
  // Takes the freed slot.
  s.set({ namespace: 'ns', name: 'new' }, 6n);
  assert.equal(s.listedAt({ namespace: 'ns', name: 'new' }, '100'), false);
  assert.equal(s.get({ namespace: 'ns', name: 'old' }), undefined);
  assert.equal(s.get({ namespace: 'ns', name: 'new' }), 6n);
  // Marks only hold for objects whose hash is held, and end with the list.
  s.markListed({ namespace: 'ns', name: 'absent' }, '1');
  assert.equal(s.listedAt({ namespace: 'ns', name: 'absent' }, '1'), false);
  s.markListed({ namespace: 'ns', name: 'new' }, '101');
  assert.equal(s.listedAt({ namespace: 'ns', name: 'new' }, '101'), true);
  s.endList();
  assert.equal(s.listedAt({ namespace: 'ns', name: 'new' }, '101'), false);
});

test('SpecHashes shrink after a spike: capacity and bytes fall, what is left keeps its hash, generation and listed mark', () => {
  const s = new SpecHashes();
  const n = 10_000;
  const nsName = (i: number) => (i % 3 === 0 ? `node-${i}` : `ns-${i % 7}/obj-${i}`);
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) s.set(keyOf(nsName(i)), BigInt(i) * 0x9e3779b97f4a7c15n);
    else s.setGeneration(keyOf(nsName(i)), i + 1, `uid-${i}`);
    s.markListed(keyOf(nsName(i)), i % 5 === 0 ? `rv-${i}` : String(1000 + i));
  }
  const peakCapacity = s.capacity;
  const peakBytes = s.bytes;
  assert.equal(peakCapacity, 16_384);
  // Survivors: every 97th object; the others go by delete() (first half) and retainOnly (the rest).
  const kept = (i: number) => i % 97 === 0;
  for (let i = 0; i < n / 2; i++) if (!kept(i)) s.delete(keyOf(nsName(i)));
  const keep = new Set<string>();
  for (let i = 0; i < n; i++) if (kept(i)) keep.add(nsName(i));
  s.retainOnly(keep);
  assert.equal(s.size, keep.size);
  assert.ok(s.capacity <= 256, `capacity ${s.capacity} after keeping ${keep.size} of ${n}`);
  assert.ok(s.bytes * 32 <= peakBytes, `bytes ${s.bytes} against ${peakBytes} at the peak`);
  // Hand-written expectations of each survivor, from how it was set above.
  for (let i = 0; i < n; i++) {
    const key = keyOf(nsName(i));
    const rv = i % 5 === 0 ? `rv-${i}` : String(1000 + i);
    if (!kept(i)) {
      assert.equal(s.has(nsName(i)), false);
      continue;
    }
    assert.equal(
      s.get(key),
      i % 2 === 0 ? BigInt.asUintN(64, BigInt(i) * 0x9e3779b97f4a7c15n) : undefined,
      nsName(i),
    );
    assert.equal(s.sameGeneration(key, i + 1, `uid-${i}`), i % 2 === 1, nsName(i));
    assert.equal(s.listedAt(key, rv), true, nsName(i));
    assert.equal(s.listedAt(key, `${rv}0`), false, nsName(i));
  }
  // And it grows again as before.
  for (let i = 0; i < n; i++) if (!kept(i)) s.set(keyOf(nsName(i)), 1n);
  assert.equal(s.size, n);
  assert.equal(s.capacity, peakCapacity);
  assert.equal(s.get(keyOf(nsName(97))), undefined);
  assert.equal(s.get(keyOf(nsName(1))), 1n);
});

test('splitNsName: at the first slash; a cluster-scoped name has no namespace', () => {
  assert.deepEqual(splitNsName('ns/web'), ['ns', 'web']);
  assert.deepEqual(splitNsName('node-1'), ['', 'node-1']);
  assert.deepEqual(splitNsName('a/b:c'), ['a', 'b:c']);
});
