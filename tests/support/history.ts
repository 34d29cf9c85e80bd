/**
 * Random store-consistent object histories for property tests (tests/trace/assemble.test.ts,
 * tests/export/stream.test.ts): no spec-unchanged re-apply, no deletion of a dead object, one
 * change per object per second.
 */
import fc from 'fast-check';
import { refOf } from '../../lib/trace/gvk.ts';
import type { KubeObject, ObjectChange } from '../../lib/trace/model.ts';

/**
 * Histories over `universe`, up to `maxLength` steps from ts 60. Each applied version is its
 * universe object with `spec: { rev }` (rev 0–2) and maybe a `team` label; with `padUnit`, the
 * spec also carries a pad of 0–3 × padUnit characters (bodies of different sizes).
 */
export function storeConsistentHistory(
  universe: KubeObject[],
  opts: { maxLength: number; padUnit?: number },
): fc.Arbitrary<ObjectChange[]> {
  const keyOf = (o: KubeObject) => `${refOf(o).gvk} ${refOf(o).nsName}`;
  const step = fc.record({
    which: fc.nat(universe.length - 1),
    del: fc.boolean(),
    rev: fc.nat(2),
    label: fc.constantFrom(undefined, 'x', 'y'),
    // Only drawn with padUnit, so histories without it draw exactly as before the pad existed.
    ...(opts.padUnit === undefined ? {} : { pad: fc.nat(3) }),
    dt: fc.constantFrom(0, 0, 1, 7, 30),
  });
  return fc.array(step, { maxLength: opts.maxLength }).map((steps) => {
    const live = new Map<string, number>();
    const lastTsOf = new Map<string, number>();
    const out: ObjectChange[] = [];
    let ts = 60;
    for (const s of steps) {
      ts += s.dt;
      const base = universe[s.which]!;
      const key = keyOf(base);
      if (lastTsOf.get(key) === ts) continue;
      if (s.del) {
        if (!live.has(key)) continue;
        live.delete(key);
        out.push({ ts, type: 'deleted', object: base, owners: [] });
      } else {
        if (live.get(key) === s.rev) continue;
        live.set(key, s.rev);
        const pad =
          s.pad !== undefined && opts.padUnit !== undefined ? { pad: 'p'.repeat(s.pad * opts.padUnit) } : {};
        const version: KubeObject = {
          ...base,
          metadata: { ...base.metadata, ...(s.label ? { labels: { team: s.label } } : {}) },
          spec: { rev: s.rev, ...pad },
        };
        out.push({ ts, type: 'applied', object: version, owners: [] });
      }
      lastTsOf.set(key, ts);
    }
    return out;
  });
}
