/**
 * A second, deliberately simple implementation of an export — the oracle the export tests judge
 * lib/trace/assemble.ts and the store-backed pipeline by. Written from SimKube's rules, not from
 * lib/trace: sk-tracer/src/store.rs (acrlabs/simkube 4ff5124) `create_or_update_obj`,
 * `delete_obj` (what its store keeps), `collect_events` and `object_matches_filter` (what an
 * export holds), sk-core trace/pod_owners_map.rs `filter` and k8s/pod_lifecycle.rs `overlaps` /
 * `bound_start_ts` (the lifecycles). SimKube's walk, in short: an empty event at `start`; every
 * stored event before `end`, in order; an applied object that a filter matches or whose owner is in
 * the index being built is skipped; otherwise it goes into the start state (before `start`) or the
 * event, and into the index; a deletion likewise leaves the start state or joins the event; the
 * start state becomes the first event.
 *
 * sktrace's documented differences (DESIGN.md, docs/export-api.md, lib/trace/assemble.ts header),
 * applied on top and numbered where they act:
 *  D1 objects are keyed by kind + name everywhere (SimKube keys its start state by name alone);
 *  D2 the store keeps one item per object per second: of an object's changes in one second only
 *     the last counts, at its own position; a deletion of an object not alive is no change;
 *  D3 the start state is sorted by GVK, then nsName (SimKube: hash-map order);
 *  D4 ownership follows the whole owner chain the sender resolved (else the one-level
 *     ownerReferences), and an owner counts when the replay creates it — exported, or itself
 *     created by such an owner; only objects alive at `start` or applied inside the window are
 *     known (SimKube also knows objects deleted before the window); the start state is decided
 *     on its last versions, owners first, whatever their order in history;
 *  D5 a kind tracked with `skipOwned` drops objects with owner references (SimKube does so when
 *     storing);
 *  D6 a deletion is exported only for an object the replay holds (exported and not deleted since);
 *  D7 bare pods whose lifecycles all ended before `start` leave the start state (current SimKube's
 *     `obj_is_finished_pod`), and so does their later deletion;
 *  D8 a lifecycle that runs through the whole window overlaps it (SimKube's `overlaps` misses it).
 * The spec hash of the index is lib/trace/hash.ts, checked on its own against the hashes SimKube
 * wrote into the real traces (tests/simkube-files).
 */
import { specHash } from '../../../lib/trace/hash.ts';
import type {
  ExportFilters,
  KubeObject,
  LabelSelector,
  Lifecycle,
  ObjectChange,
  ObjectRef,
  TraceConfigDoc,
  TraceWindow,
} from '../../../lib/trace/model.ts';

export interface OracleLifecycles {
  owner: ObjectRef;
  podSpecHash: bigint;
  lifecycles: Lifecycle[];
}

export interface OracleTrace {
  events: Array<{ ts: number; applied_objs: KubeObject[]; deleted_objs: KubeObject[] }>;
  /** `gvk nsName` → spec hash of the last exported version. */
  index: Map<string, bigint>;
  /** `gvk nsName` of the owner → pod-spec hash → lifecycles. */
  lifecycles: Map<string, Map<bigint, Lifecycle[]>>;
}

const gvkOf = (o: KubeObject) => `${o.apiVersion}.${o.kind}`;
const nsNameOf = (o: KubeObject) =>
  (o.metadata.namespace ? `${o.metadata.namespace}/` : '') + o.metadata.name;
const keyOf = (o: KubeObject) => `${gvkOf(o)} ${nsNameOf(o)}`; // D1

function ownerKeys(c: ObjectChange): string[] {
  if (c.owners.length > 0) return c.owners.map((o) => `${o.gvk} ${o.nsName}`); // D4
  const ns = c.object.metadata.namespace ? `${c.object.metadata.namespace}/` : '';
  return (c.object.metadata.ownerReferences ?? []).map((r) => `${r.apiVersion}.${r.kind} ${ns}${r.name}`);
}

/** Kubernetes label selector semantics (requirements ANDed; NotIn and DoesNotExist match an absent key). */
function selects(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const r of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, r.key);
    const among = has && (r.values ?? []).includes(labels[r.key]!);
    const ok = { In: among, NotIn: !among, Exists: has, DoesNotExist: !has }[r.operator];
    if (!ok) return false;
  }
  return true;
}

/** SimKube's `object_matches_filter`, plus D5 (skipOwned) and owners up the chain of kind DaemonSet. */
function filteredOut(c: ObjectChange, f: ExportFilters, config: TraceConfigDoc): boolean {
  const o = c.object;
  const refs = o.metadata.ownerReferences ?? [];
  return (
    (o.metadata.namespace !== undefined && f.excluded_namespaces.includes(o.metadata.namespace)) ||
    refs.some((r) => r.kind === 'DaemonSet') ||
    ownerKeys(c).some((k) => k.split(' ')[0]!.endsWith('.DaemonSet')) ||
    (config.trackedObjects[gvkOf(o)]?.skipOwned === true && refs.length > 0) ||
    f.excluded_labels.some((sel) => selects(sel, o.metadata.labels ?? {}))
  );
}

export function oracleExport(
  history: readonly ObjectChange[],
  window: TraceWindow,
  filters: ExportFilters,
  config: TraceConfigDoc,
  lifecycles: readonly OracleLifecycles[] = [],
): OracleTrace {
  // What the store keeps (create_or_update_obj / delete_obj, with D2).
  const liveHash = new Map<string, bigint>();
  let kept: ObjectChange[] = [];
  for (const c of history) {
    if (c.ts >= window.endTs) break;
    const key = keyOf(c.object);
    if (c.type === 'applied') {
      const hash = specHash(c.object.spec ?? null);
      if (liveHash.get(key) === hash) continue;
      liveHash.set(key, hash);
    } else if (!liveHash.delete(key)) continue;
    kept.push(c);
  }
  kept = kept.filter(
    (c, i) => !kept.slice(i + 1).some((d) => d.ts === c.ts && keyOf(d.object) === keyOf(c.object)),
  );

  // The start state: each object's last version before `start`, unless deleted since.
  const atStart = new Map<string, ObjectChange>();
  for (const c of kept.filter((c) => c.ts < window.startTs)) {
    if (c.type === 'applied') atStart.set(keyOf(c.object), c);
    else atStart.delete(keyOf(c.object));
  }
  const created = new Set<string>(); // created on replay (D4)
  const live = new Map<string, KubeObject>(); // held by the replay, last exported version
  const index = new Map<string, bigint>();
  const decide = (key: string, seen: Set<string>): 'kept' | 'owned' | 'filtered' | undefined => {
    const c = atStart.get(key);
    if (!c || seen.has(key)) return undefined; // an ownership cycle is cut where found
    const owned = ownerKeys(c).some((o) =>
      ['kept', 'owned'].includes(decide(o, new Set([...seen, key])) ?? ''),
    );
    if (owned) return 'owned';
    return filteredOut(c, filters, config) ? 'filtered' : 'kept';
  };
  const bareFinished = (key: string) => {
    const mine = lifecycles
      .filter((l) => `${l.owner.gvk} ${l.owner.nsName}` === key)
      .flatMap((l) => l.lifecycles);
    return mine.length > 0 && mine.every((l) => l.endTs !== undefined && l.endTs < window.startTs); // D7
  };
  const first: KubeObject[] = [];
  for (const key of [...atStart.keys()].sort()) {
    const verdict = decide(key, new Set());
    if (verdict !== 'filtered') created.add(key);
    const o = atStart.get(key)!.object;
    const bare = gvkOf(o) === 'v1.Pod' && (o.metadata.ownerReferences ?? []).length === 0;
    if (verdict !== 'kept' || (bare && bareFinished(key))) continue;
    first.push(o); // D3: sorted keys
    live.set(key, o);
    index.set(key, specHash(o.spec ?? null));
  }

  // The window, in order.
  const events: OracleTrace['events'] = [{ ts: window.startTs, applied_objs: first, deleted_objs: [] }];
  const eventAt = (ts: number) => {
    if (events.length === 1 || events.at(-1)!.ts !== ts)
      events.push({ ts, applied_objs: [], deleted_objs: [] });
    return events.at(-1)!;
  };
  for (const c of kept.filter((c) => c.ts >= window.startTs)) {
    const key = keyOf(c.object);
    if (c.type === 'deleted') {
      if (live.delete(key)) eventAt(c.ts).deleted_objs.push(c.object); // D6
      continue;
    }
    if (ownerKeys(c).some((o) => created.has(o))) {
      created.add(key);
      continue;
    }
    if (filteredOut(c, filters, config)) continue;
    created.add(key);
    live.set(key, c.object);
    index.set(key, specHash(c.object.spec ?? null));
    eventAt(c.ts).applied_objs.push(c.object);
  }

  // pod_lifecycles: owners in the index; lifecycles overlapping the window, starts bounded.
  const out: OracleTrace['lifecycles'] = new Map();
  for (const { owner, podSpecHash, lifecycles: lcs } of lifecycles) {
    const key = `${owner.gvk} ${owner.nsName}`;
    if (!index.has(key)) continue;
    const overlapping = lcs.filter(
      (l) =>
        l.endTs === undefined
          ? l.startTs < window.endTs
          : (window.startTs <= l.startTs && l.startTs < window.endTs) ||
            (window.startTs <= l.endTs && l.endTs < window.endTs) ||
            (l.startTs < window.startTs && l.endTs >= window.endTs), // D8
    );
    if (overlapping.length === 0) continue;
    const byHash = out.get(key) ?? new Map<bigint, Lifecycle[]>();
    out.set(key, byHash);
    byHash.set(podSpecHash, [
      ...(byHash.get(podSpecHash) ?? []),
      ...overlapping.map((l) => ({ ...l, startTs: Math.max(l.startTs, window.startTs) })),
    ]);
  }
  return {
    events: events.filter((e, i) => i === 0 || e.applied_objs.length + e.deleted_objs.length > 0),
    index,
    lifecycles: out,
  };
}
