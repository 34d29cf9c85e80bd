/**
 * The export benchmark's changes as data: `count` changes of Deployments of a fixed JSON size,
 * evenly over `[fromTs, fromTs + spanSec)`, round-robin over `liveObjects` objects, each object's
 * version counting up from `firstVersion`. A plain, serialisable spec, so the seeding can be
 * generated where it is written (inside the dynalite process, bench/support/aws-child.ts).
 */
import type { KubeObject } from '../../lib/trace/model.ts';
import { objectName, sizedDeployment } from './objects.ts';

export interface ChangeSpread {
  count: number;
  fromTs: number;
  spanSec: number;
  firstVersion: number;
  liveObjects: number;
  objectBytes: number;
  /** Only changes `k` with `fromK <= k < toK` (default: all `count`); their ts stay those of the whole spread. */
  fromK?: number;
  toK?: number;
}

export interface SpreadChange {
  ts: number;
  object: KubeObject;
}

/** `digests`: the objects' padding digests, memoised across calls (bench/support/objects.ts). */
export function* spread(spec: ChangeSpread, digests = new Map<string, string>()): Generator<SpreadChange> {
  const { count, fromTs, spanSec, firstVersion, liveObjects, objectBytes } = spec;
  for (let k = spec.fromK ?? 0; k < (spec.toK ?? count); k++) {
    const i = k % liveObjects;
    const version = firstVersion + Math.floor(k / liveObjects);
    yield {
      ts: fromTs + Math.floor((k * spanSec) / count),
      object: sizedDeployment(objectName(i), objectBytes, version, digests),
    };
  }
}

/** How many changes a spec yields. */
export function spreadSize(spec: ChangeSpread): number {
  return Math.max(0, (spec.toK ?? spec.count) - (spec.fromK ?? 0));
}
