/**
 * What a trace holds, in numbers: its window, events, objects per kind, index and lifecycles
 * (`summarizeTrace`); and whether its index agrees with its events (`checkIndex`): SimKube's
 * index maps each object to the spec hash of its last applied version.
 */
import { refOf } from './gvk.ts';
import { specHash, specHashDocumentOrder } from './hash.ts';
import type { Gvk, KubeObject, NsName, Trace } from './model.ts';
import { objKey } from './model.ts';

export interface KindSummary {
  /** Distinct objects (by nsName) of this kind in the events. */
  objects: number;
  /** Applied versions in the events. */
  applied: number;
  /** Deletions in the events. */
  deleted: number;
}

export interface OwnerLifecyclesSummary {
  gvk: Gvk;
  nsName: NsName;
  /** Distinct pod-spec hashes. */
  podSpecs: number;
  lifecycles: number;
  running: number;
  finished: number;
}

export interface TraceSummary {
  version: number;
  trackedKinds: Gvk[];
  /** ts of the first and last event, unix seconds; null for a trace without events. */
  window: { firstTs: number; lastTs: number } | null;
  events: number;
  /** Events with neither applied nor deleted objects (SimKube starts traces with one). */
  emptyEvents: number;
  kinds: Record<Gvk, KindSummary>;
  /** Index entries per kind. */
  index: Record<Gvk, number>;
  indexEntries: number;
  lifecycles: { owners: number; lifecycles: number; perOwner: OwnerLifecyclesSummary[] };
}

export function summarizeTrace(trace: Trace): TraceSummary {
  const kinds: Record<Gvk, KindSummary & { names: Set<NsName> }> = {};
  const kindOf = (gvk: Gvk) => {
    kinds[gvk] ??= { objects: 0, applied: 0, deleted: 0, names: new Set() };
    return kinds[gvk];
  };
  let emptyEvents = 0;
  for (const event of trace.events) {
    if (event.applied_objs.length === 0 && event.deleted_objs.length === 0) emptyEvents++;
    for (const obj of event.applied_objs) {
      const ref = refOf(obj);
      const k = kindOf(ref.gvk);
      k.applied++;
      k.names.add(ref.nsName);
    }
    for (const obj of event.deleted_objs) {
      const ref = refOf(obj);
      const k = kindOf(ref.gvk);
      k.deleted++;
      k.names.add(ref.nsName);
    }
  }
  const index: Record<Gvk, number> = {};
  let indexEntries = 0;
  for (const [gvk, byName] of trace.index) {
    index[gvk] = byName.size;
    indexEntries += byName.size;
  }
  const perOwner: OwnerLifecyclesSummary[] = [];
  let lifecycles = 0;
  for (const { owner, bySpecHash } of trace.podLifecycles.values()) {
    const s: OwnerLifecyclesSummary = {
      ...owner,
      podSpecs: bySpecHash.size,
      lifecycles: 0,
      running: 0,
      finished: 0,
    };
    for (const list of bySpecHash.values()) {
      for (const lc of list) {
        s.lifecycles++;
        if (lc.endTs === undefined) s.running++;
        else s.finished++;
      }
    }
    lifecycles += s.lifecycles;
    perOwner.push(s);
  }
  const first = trace.events[0];
  const last = trace.events[trace.events.length - 1];
  return {
    version: trace.version,
    trackedKinds: Object.keys(trace.config.trackedObjects),
    window: first && last ? { firstTs: first.ts, lastTs: last.ts } : null,
    events: trace.events.length,
    emptyEvents,
    kinds: Object.fromEntries(
      Object.entries(kinds)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([gvk, { names, ...k }]) => [gvk, { ...k, objects: names.size }]),
    ),
    index,
    indexEntries,
    lifecycles: { owners: perOwner.length, lifecycles, perOwner },
  };
}

export interface IndexMismatch {
  gvk: Gvk;
  nsName: NsName;
  indexHash: bigint;
  /** Spec hash of the object's last applied version in the events. */
  specHash: bigint;
  /**
   * When the index equals the hash (by either key order) of an earlier applied version instead:
   * the ts of the latest such version. Says the index was not updated for the later versions.
   */
  earlierVersionTs?: number;
}

export interface IndexCheck {
  entries: number;
  /** Entries equal to the spec hash of their object's last applied version. */
  matched: number;
  /**
   * Entries equal instead to the hash with object keys in document order, which older SimKube
   * wrote (see `specHashDocumentOrder`); not counted in `matched`.
   */
  matchedDocumentOrder: number;
  /** Entries equal to neither. */
  mismatched: IndexMismatch[];
  /** Entries whose object has no applied version in the events. */
  missing: { gvk: Gvk; nsName: NsName; indexHash: bigint }[];
  /** Objects applied in the events that the index lacks. */
  unindexed: { gvk: Gvk; nsName: NsName }[];
}

/** Compares every index entry with the spec hash of its object's last applied version. */
export function checkIndex(trace: Trace): IndexCheck {
  const versions = new Map<string, { ts: number; obj: KubeObject }[]>();
  for (const event of trace.events) {
    for (const obj of event.applied_objs) {
      const key = objKey(refOf(obj));
      const list = versions.get(key);
      if (list) list.push({ ts: event.ts, obj });
      else versions.set(key, [{ ts: event.ts, obj }]);
    }
  }
  const check: IndexCheck = {
    entries: 0,
    matched: 0,
    matchedDocumentOrder: 0,
    mismatched: [],
    missing: [],
    unindexed: [],
  };
  const indexed = new Set<string>();
  for (const [gvk, byName] of trace.index) {
    for (const [nsName, indexHash] of byName) {
      check.entries++;
      const key = objKey({ gvk, nsName });
      indexed.add(key);
      const list = versions.get(key);
      const last = list?.[list.length - 1];
      if (!list || !last) {
        check.missing.push({ gvk, nsName, indexHash });
        continue;
      }
      const hash = specHash(last.obj.spec);
      if (hash === indexHash) {
        check.matched++;
      } else if (specHashDocumentOrder(last.obj.spec) === indexHash) {
        check.matchedDocumentOrder++;
      } else {
        const mismatch: IndexMismatch = { gvk, nsName, indexHash, specHash: hash };
        for (let i = list.length - 2; i >= 0; i--) {
          const { ts, obj } = list[i]!;
          if (specHash(obj.spec) === indexHash || specHashDocumentOrder(obj.spec) === indexHash) {
            mismatch.earlierVersionTs = ts;
            break;
          }
        }
        check.mismatched.push(mismatch);
      }
    }
  }
  for (const [key, list] of versions) {
    if (!indexed.has(key)) check.unindexed.push(refOf(list[0]!.obj));
  }
  return check;
}
