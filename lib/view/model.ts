/**
 * The viewer's data layer: what `sktrace view` shows of one trace, as small JSON documents the
 * page asks for one at a time (a summary first, then the timeline, then details on demand), so a
 * large trace shows its summary without shipping its objects to the browser.
 *
 * Rules:
 * - Every number comes from the functions `sktrace inspect` prints (`summarizeTrace`,
 *   `checkIndex`, `specHash`), so the page and the CLI never disagree.
 * - An object is its kind and name together (`objKey`), never its name alone.
 * - Its versions are its entries in the events, in event order: an applied version or a deletion
 *   (SimKube writes the deleted object's last body in `deleted_objs`).
 * - Index check per object, as SimKube's tracer writes the index (sk-tracer: the hash of the
 *   object's last applied spec): `match` when the stored hash equals `specHash` of the last applied
 *   version, `document-order` when it equals older SimKube's hash with keys in document order,
 *   `mismatch` otherwise; `missing` for an index entry without an applied version in the events,
 *   `unindexed` for an applied object without an index entry.
 * - u64 hashes travel as decimal strings (JSON numbers would round them).
 * - Times are unix seconds (`ts`), as in the trace; the page formats them.
 *
 * Pure: no I/O; the server (lib/view/server.ts) serves these documents.
 */
import { refOf } from '../trace/gvk.ts';
import { specHash, specHashDocumentOrder } from '../trace/hash.ts';
import { checkIndex, type IndexCheck, summarizeTrace, type TraceSummary } from '../trace/inspect.ts';
import type { Gvk, KubeObject, NsName, ObjectRef, Trace } from '../trace/model.ts';
import { objKey } from '../trace/model.ts';

/** Where the trace came from, shown in the header. */
export interface ViewSource {
  /** File path or the URL without its query (a signed URL's query is a credential). */
  label: string;
  format: string;
  bytes: number;
}

/**
 * A finding of a trace validator (`sktrace validate`, SimKube's `skctl validate` codes such as
 * W0000 or E0001). The viewer shows them when a validator is given; it does not validate itself.
 */
export interface ValidationFinding {
  code: string;
  severity: 'error' | 'warning' | 'info';
  message: string;
  gvk?: Gvk;
  nsName?: NsName;
  ts?: number;
}

export type Validator = (trace: Trace) => ValidationFinding[];

export type IndexStatus = 'match' | 'document-order' | 'mismatch' | 'missing' | 'unindexed';

export interface SummaryDoc {
  source: ViewSource;
  summary: Omit<TraceSummary, 'lifecycles'> & { lifecycles: { owners: number; lifecycles: number } };
  indexCheck: {
    entries: number;
    matched: number;
    matchedDocumentOrder: number;
    mismatched: number;
    missing: number;
    unindexed: number;
  };
  namespaces: string[];
  /** Null when no validator ran; else how many findings of each severity. */
  findings: { error: number; warning: number; info: number } | null;
}

/** Per kind, one point per second with changes: `[ts, applied, deleted]`. */
export interface TimelineDoc {
  window: { firstTs: number; lastTs: number } | null;
  kinds: { gvk: Gvk; points: [number, number, number][] }[];
}

export interface ObjectQuery {
  gvk?: string;
  namespace?: string;
  /** Substring of the namespaced name. */
  q?: string;
  /** Objects with a change in `[fromTs, toTs]`. */
  fromTs?: number;
  toTs?: number;
  /** Only objects whose index entry is not equal to SimKube's hash (mismatch, missing, unindexed). */
  indexProblems?: boolean;
  offset?: number;
  limit?: number;
}

export interface ObjectRow {
  gvk: Gvk;
  nsName: NsName;
  versions: number;
  firstTs: number;
  lastTs: number;
  deleted: boolean;
  index: IndexStatus;
}

export interface ObjectsDoc {
  total: number;
  offset: number;
  objects: ObjectRow[];
}

export interface VersionRow {
  ts: number;
  type: 'applied' | 'deleted';
  /** Spec hash of this version, decimal. */
  specHash: string;
}

export interface ObjectDoc {
  gvk: Gvk;
  nsName: NsName;
  versions: VersionRow[];
  index: {
    status: IndexStatus;
    /** The hash stored in the trace's index, decimal; absent when unindexed. */
    stored?: string;
    /** SimKube's hash of the last applied spec, recomputed; absent when never applied. */
    recomputed?: string;
    /** When the index holds an earlier version's hash: that version's ts. */
    earlierVersionTs?: number;
  };
}

export interface VersionDoc {
  gvk: Gvk;
  nsName: NsName;
  version: number;
  ts: number;
  type: 'applied' | 'deleted';
  object: KubeObject;
  /** The version before, to diff against; absent for the first. */
  previous?: { version: number; ts: number; type: 'applied' | 'deleted'; object: KubeObject };
}

export interface ChangesDoc {
  ts: number;
  changes: { gvk: Gvk; nsName: NsName; type: 'applied' | 'deleted'; version: number }[];
}

export interface LifecyclesDoc {
  window: { firstTs: number; lastTs: number } | null;
  total: number;
  owners: {
    gvk: Gvk;
    nsName: NsName;
    /** Per pod-spec hash (decimal), its lifecycles in launch order; `endTs` null while running. */
    specs: { hash: string; lifecycles: { startTs: number; endTs: number | null }[] }[];
  }[];
}

export interface FindingsDoc {
  available: boolean;
  findings: ValidationFinding[];
}

interface Version {
  ts: number;
  type: 'applied' | 'deleted';
  object: KubeObject;
}

interface ObjectEntry extends ObjectRef {
  versions: Version[];
}

export const DEFAULT_PAGE = 200;
export const MAX_PAGE = 1000;

export class TraceView {
  readonly #trace: Trace;
  readonly #source: ViewSource;
  readonly #validator: Validator | undefined;
  readonly #objects = new Map<string, ObjectEntry>();
  /** Objects in list order: by GVK, then nsName. */
  readonly #ordered: ObjectEntry[];
  readonly #byTs = new Map<number, ChangesDoc['changes']>();
  #summary: SummaryDoc | undefined;
  #indexCheck: IndexCheck | undefined;
  #findings: ValidationFinding[] | undefined;
  readonly #status = new Map<string, ObjectDoc['index']>();

  constructor(trace: Trace, source: ViewSource, options: { validator?: Validator } = {}) {
    this.#trace = trace;
    this.#source = source;
    this.#validator = options.validator;
    for (const event of trace.events) {
      const add = (obj: KubeObject, type: Version['type']) => {
        const ref = refOf(obj);
        const key = objKey(ref);
        let entry = this.#objects.get(key);
        if (!entry) {
          entry = { ...ref, versions: [] };
          this.#objects.set(key, entry);
        }
        entry.versions.push({ ts: event.ts, type, object: obj });
        let at = this.#byTs.get(event.ts);
        if (!at) {
          at = [];
          this.#byTs.set(event.ts, at);
        }
        at.push({ ...ref, type, version: entry.versions.length - 1 });
      };
      for (const obj of event.applied_objs) add(obj, 'applied');
      for (const obj of event.deleted_objs) add(obj, 'deleted');
    }
    // Index entries without any version still belong in the list (their status says `missing`).
    for (const [gvk, byName] of trace.index) {
      for (const nsName of byName.keys()) {
        const key = objKey({ gvk, nsName });
        if (!this.#objects.has(key)) this.#objects.set(key, { gvk, nsName, versions: [] });
      }
    }
    this.#ordered = [...this.#objects.values()].sort((a, b) => cmp(a.gvk, b.gvk) || cmp(a.nsName, b.nsName));
  }

  summary(): SummaryDoc {
    if (this.#summary) return this.#summary;
    const s = summarizeTrace(this.#trace);
    const check = this.#check();
    const namespaces = new Set<string>();
    for (const o of this.#ordered) {
      const at = o.nsName.indexOf('/');
      if (at > 0) namespaces.add(o.nsName.slice(0, at));
    }
    const findings = this.#runValidator();
    this.#summary = {
      source: this.#source,
      summary: { ...s, lifecycles: { owners: s.lifecycles.owners, lifecycles: s.lifecycles.lifecycles } },
      indexCheck: {
        entries: check.entries,
        matched: check.matched,
        matchedDocumentOrder: check.matchedDocumentOrder,
        mismatched: check.mismatched.length,
        missing: check.missing.length,
        unindexed: check.unindexed.length,
      },
      namespaces: [...namespaces].sort(cmp),
      findings: findings
        ? {
            error: findings.filter((f) => f.severity === 'error').length,
            warning: findings.filter((f) => f.severity === 'warning').length,
            info: findings.filter((f) => f.severity === 'info').length,
          }
        : null,
    };
    return this.#summary;
  }

  timeline(): TimelineDoc {
    const perKind = new Map<Gvk, Map<number, [number, number, number]>>();
    for (const [ts, changes] of this.#byTs) {
      for (const c of changes) {
        let byTs = perKind.get(c.gvk);
        if (!byTs) {
          byTs = new Map();
          perKind.set(c.gvk, byTs);
        }
        let point = byTs.get(ts);
        if (!point) {
          point = [ts, 0, 0];
          byTs.set(ts, point);
        }
        point[c.type === 'applied' ? 1 : 2]++;
      }
    }
    return {
      window: this.summary().summary.window,
      kinds: [...perKind.entries()]
        .sort(([a], [b]) => cmp(a, b))
        .map(([gvk, byTs]) => ({ gvk, points: [...byTs.values()].sort((a, b) => a[0] - b[0]) })),
    };
  }

  objects(query: ObjectQuery = {}): ObjectsDoc {
    const q = query.q?.toLowerCase();
    const from = query.fromTs ?? Number.NEGATIVE_INFINITY;
    const to = query.toTs ?? Number.POSITIVE_INFINITY;
    const windowed = query.fromTs !== undefined || query.toTs !== undefined;
    const matches = this.#ordered.filter((o) => {
      if (query.gvk && o.gvk !== query.gvk) return false;
      if (
        query.namespace !== undefined &&
        query.namespace !== '' &&
        !o.nsName.startsWith(`${query.namespace}/`)
      )
        return false;
      if (q && !o.nsName.toLowerCase().includes(q)) return false;
      if (windowed && !o.versions.some((v) => v.ts >= from && v.ts <= to)) return false;
      if (query.indexProblems) {
        const status = this.#indexOf(o).status;
        if (status === 'match' || status === 'document-order') return false;
      }
      return true;
    });
    const offset = Math.max(0, query.offset ?? 0);
    const limit = Math.min(MAX_PAGE, Math.max(1, query.limit ?? DEFAULT_PAGE));
    return {
      total: matches.length,
      offset,
      objects: matches.slice(offset, offset + limit).map((o) => {
        const last = o.versions[o.versions.length - 1];
        return {
          gvk: o.gvk,
          nsName: o.nsName,
          versions: o.versions.length,
          firstTs: o.versions[0]?.ts ?? 0,
          lastTs: last?.ts ?? 0,
          deleted: last?.type === 'deleted',
          index: this.#indexOf(o).status,
        };
      }),
    };
  }

  object(ref: ObjectRef): ObjectDoc | undefined {
    const o = this.#objects.get(objKey(ref));
    if (!o) return undefined;
    return {
      gvk: o.gvk,
      nsName: o.nsName,
      versions: o.versions.map((v) => ({
        ts: v.ts,
        type: v.type,
        specHash: specHash(v.object.spec).toString(),
      })),
      index: this.#indexOf(o),
    };
  }

  /** Version `version` of an object (0 = first; negative counts from the last) and the one before. */
  version(ref: ObjectRef, version: number): VersionDoc | undefined {
    const o = this.#objects.get(objKey(ref));
    if (!o || !Number.isInteger(version)) return undefined;
    const i = version < 0 ? o.versions.length + version : version;
    const v = o.versions[i];
    if (!v) return undefined;
    const p = o.versions[i - 1];
    return {
      gvk: o.gvk,
      nsName: o.nsName,
      version: i,
      ts: v.ts,
      type: v.type,
      object: v.object,
      ...(p ? { previous: { version: i - 1, ts: p.ts, type: p.type, object: p.object } } : {}),
    };
  }

  /** Changes of the event at `ts` (of one kind when given). */
  changesAt(ts: number, gvk?: Gvk): ChangesDoc {
    const all = this.#byTs.get(ts) ?? [];
    return { ts, changes: gvk ? all.filter((c) => c.gvk === gvk) : all };
  }

  /** Pod lifecycles per owner (filtered like the object list), at most `limit` owners. */
  lifecycles(query: Pick<ObjectQuery, 'gvk' | 'namespace' | 'q' | 'limit'> = {}): LifecyclesDoc {
    const q = query.q?.toLowerCase();
    const owners: LifecyclesDoc['owners'] = [];
    let total = 0;
    const limit = Math.min(MAX_PAGE, Math.max(1, query.limit ?? DEFAULT_PAGE));
    for (const { owner, bySpecHash } of this.#trace.podLifecycles.values()) {
      if (query.gvk && owner.gvk !== query.gvk) continue;
      if (query.namespace && !owner.nsName.startsWith(`${query.namespace}/`)) continue;
      if (q && !owner.nsName.toLowerCase().includes(q)) continue;
      total++;
      if (owners.length >= limit) continue;
      owners.push({
        ...owner,
        specs: [...bySpecHash].map(([hash, list]) => ({
          hash: hash.toString(),
          lifecycles: list.map((lc) => ({ startTs: lc.startTs, endTs: lc.endTs ?? null })),
        })),
      });
    }
    return { window: this.summary().summary.window, total, owners };
  }

  findings(): FindingsDoc {
    const findings = this.#runValidator();
    return { available: findings !== undefined, findings: findings ?? [] };
  }

  #runValidator(): ValidationFinding[] | undefined {
    if (!this.#validator) return undefined;
    this.#findings ??= this.#validator(this.#trace);
    return this.#findings;
  }

  #check(): IndexCheck {
    this.#indexCheck ??= checkIndex(this.#trace);
    return this.#indexCheck;
  }

  #indexOf(o: ObjectEntry): ObjectDoc['index'] {
    const key = objKey(o);
    const known = this.#status.get(key);
    if (known) return known;
    const stored = this.#trace.index.get(o.gvk)?.get(o.nsName);
    const applied = o.versions.filter((v) => v.type === 'applied');
    const last = applied[applied.length - 1];
    let status: ObjectDoc['index'];
    if (!last) {
      status =
        stored === undefined ? { status: 'unindexed' } : { status: 'missing', stored: stored.toString() };
    } else {
      const recomputed = specHash(last.object.spec);
      if (stored === undefined) {
        status = { status: 'unindexed', recomputed: recomputed.toString() };
      } else if (stored === recomputed) {
        status = { status: 'match', stored: stored.toString(), recomputed: recomputed.toString() };
      } else if (specHashDocumentOrder(last.object.spec) === stored) {
        status = { status: 'document-order', stored: stored.toString(), recomputed: recomputed.toString() };
      } else {
        status = { status: 'mismatch', stored: stored.toString(), recomputed: recomputed.toString() };
        for (let i = applied.length - 2; i >= 0; i--) {
          const v = applied[i]!;
          if (specHash(v.object.spec) === stored || specHashDocumentOrder(v.object.spec) === stored) {
            status.earlierVersionTs = v.ts;
            break;
          }
        }
      }
    }
    this.#status.set(key, status);
    return status;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
