/**
 * From watcher outputs of one tracked kind to wire changes (lib/ingest/wire.ts):
 *
 * - every change is stamped on receipt: `ts` in unix seconds and a `seq` that only grows within
 *   the process (the store keeps the highest seq of a second);
 * - objects are sanitised (lib/trace/sanitize.ts) and their spec hashed; an update whose spec
 *   hash equals the last one sent for that kind+name never leaves the cluster (status churn,
 *   label edits): the hashes are the only per-object state kept, no bodies;
 * - a list sends every listed object (the store dedupes) and then relist pages covering the
 *   whole nsName space of the kind, built from the listed names: the store deletes exactly the
 *   objects of this kind that vanished while it was not watched;
 * - objects with owners are left out for `skipOwned` kinds (SimKube's tracer does the same), in
 *   applied changes, deletions and relist pages alike;
 * - applied changes carry the owner chain resolved through the API (owners.ts). When the API
 *   cannot answer, the change goes without it: the store then falls back to the object's own
 *   ownerReferences (one level), which is what `owners` omitted means.
 *
 * State is updated only once delivery took the change: when delivery gives up (queue full for
 * too long) the handler returns false, and the kind relists later.
 */
import type { AppliedChange, Change, DeletedChange, RelistChange, WireOwner } from '../ingest/wire.ts';
import type { TrackedKind } from '../trace/config.ts';
import { nsNameOf } from '../trace/gvk.ts';
import { specHash } from '../trace/hash.ts';
import type { KubeObject, NsName } from '../trace/model.ts';
import { sanitizeObject } from '../trace/sanitize.ts';
import type { Logger } from './log.ts';
import type { ForwarderMetrics, Series } from './metrics.ts';
import type { OwnerChains } from './owners.ts';
import { validRefs } from './owners.ts';
import { relistPages } from './relist.ts';
import { SpecHashes } from './spec-hashes.ts';
import type { WatcherOutput } from './watcher.ts';

/**
 * Queues changes together; false when delivery gave up (nothing of them was queued). A plain
 * boolean when it need not wait (delivery.ts offerNow), so a watch event is handled without a
 * promise.
 */
export type ChangeSink = (changes: Change[]) => boolean | Promise<boolean>;

/** What a handler answers: true or false at once, or a promise of it when it had to wait. */
export type Handled = boolean | Promise<boolean>;

export interface Stamp {
  ts: number;
  seq: number;
}

/**
 * `ts` and `seq` on receipt. `seq` starts from the clock in microseconds and then only grows, so
 * a restarted forwarder's changes still order after the previous process's within one second
 * (unless that one ran more than 1000 changes per millisecond ahead of the clock).
 */
export class Stamper {
  readonly #nowMs: () => number;
  #lastSeq = 0;

  constructor(nowMs: () => number) {
    this.#nowMs = nowMs;
  }

  next(): Stamp {
    const nowMs = this.#nowMs();
    const seq = Math.max(this.#lastSeq + 1, Math.floor(nowMs) * 1000);
    this.#lastSeq = seq;
    return { ts: Math.floor(nowMs / 1000), seq };
  }
}

export interface ChangeContext {
  stamper: Stamper;
  sink: ChangeSink;
  owners: OwnerChains;
  metrics: ForwarderMetrics;
  log: Logger;
  /** Names per relist page. */
  relistPageSize: number;
}

export function hasOwners(obj: KubeObject): boolean {
  const refs = obj.metadata.ownerReferences;
  // Most objects have none: answered without validRefs' filtered copy.
  return Array.isArray(refs) && refs.length > 0 && validRefs(obj).length > 0;
}

/**
 * The owner chain of `obj` for its applied change: undefined when it has no owners (nothing to
 * say) or when the API could not resolve it (logged; the store falls back to ownerReferences).
 */
export async function ownersForChange(obj: KubeObject, ctx: ChangeContext): Promise<WireOwner[] | undefined> {
  if (!hasOwners(obj)) return undefined;
  try {
    return await ctx.owners.chainOf(obj);
  } catch (err) {
    ctx.log.warn('could not resolve an owner chain; sending the change with its ownerReferences only', {
      gvk: `${obj.apiVersion}.${obj.kind}`,
      nsName: nsNameOf(obj),
      error: err,
    });
    return undefined;
  }
}

/**
 * Kinds whose API server bumps `metadata.generation` on every change to `spec`, and only the API
 * server sets it: an update with the uid and generation of the change last queued for the object
 * has the same spec, hence the same spec hash, and need not be hashed to be deduplicated.
 * - apiserver `rest.BeforeUpdate` (pkg/registry/rest/update.go) copies the old generation into
 *   every update ("Ensure requests cannot update generation"), then the kind's strategy
 *   `PrepareForUpdate` bumps it when `!apiequality.Semantic.DeepEqual(old.Spec, new.Spec)`;
 *   `PrepareForCreate` sets it to 1. kubernetes/kubernetes pkg/registry: apps/deployment (also
 *   on annotation changes), apps/replicaset, apps/statefulset, apps/daemonset, batch/job,
 *   batch/cronjob. Their status strategies keep the old spec. Other bumps — a Deployment's
 *   annotation edit, the start of a deletion held by finalizers (`rest.BeforeDelete`) — only
 *   send an unchanged spec, which the store deduplicates by hash.
 * - Not Pods (generation only since 1.33, and `spec.nodeName`, which sanitising drops, is set
 *   through the binding subresource), nor kinds whose strategy leaves generation alone: there a
 *   client may set any generation on create and keep it while the spec changes
 *   (`rest.BeforeCreate` does not reset it).
 * "Semantic" equality treats a nil and an empty list or map alike and compares quantities by
 * value: a spec that differs from the last only so is not sent, where the hash would have sent
 * it — Kubernetes itself does not count that as a change of desired state.
 */
export const GENERATION_KINDS: ReadonlySet<string> = new Set([
  'apps/v1.Deployment',
  'apps/v1.ReplicaSet',
  'apps/v1.StatefulSet',
  'apps/v1.DaemonSet',
  'batch/v1.Job',
  'batch/v1.CronJob',
]);

/**
 * `metadata.generation` when usable to deduplicate: an integer in [1, 2^32) with a uid beside
 * it; otherwise 0 (the spec hash decides).
 */
function generationOf(meta: KubeObject['metadata']): number {
  const g = meta.generation;
  return typeof g === 'number' &&
    Number.isInteger(g) &&
    g >= 1 &&
    g <= 0xffffffff &&
    typeof meta.uid === 'string'
    ? g
    : 0;
}

/** The change pipeline of one tracked kind. */
export class KindChanges {
  readonly kind: TrackedKind;
  readonly #ctx: ChangeContext;
  /**
   * Per object: the spec hash of the last applied change queued (the only per-object state),
   * and while a list is under way the resourceVersion this list pass (or an expired one before
   * it) queued. A pass resumed after an expired continue token skips those objects without
   * sanitising or hashing them, so it costs little more than fetching and parsing pages —
   * otherwise, on a busy node, re-reading 100,000 pods could itself outlast the next compaction
   * and never finish. Compact (spec-hashes.ts): ~85 B per object.
   */
  readonly #specs = new SpecHashes();
  /** Updates are deduplicated by generation rather than by spec hash (GENERATION_KINDS). */
  readonly #byGeneration: boolean;

  /** This kind's series of the metrics updated per change (metrics.ts `series`). */
  readonly #series: {
    queued: Record<'applied' | 'deleted' | 'relist', Series>;
    deduplicated: Series;
    skippedOwned: Series;
    tracked: Series;
  };

  constructor(kind: TrackedKind, ctx: ChangeContext) {
    this.kind = kind;
    this.#ctx = ctx;
    const gvk = kind.gvk;
    this.#byGeneration = GENERATION_KINDS.has(gvk);
    const m = ctx.metrics;
    this.#series = {
      queued: {
        applied: m.changesQueued.series({ gvk, type: 'applied' }),
        deleted: m.changesQueued.series({ gvk, type: 'deleted' }),
        relist: m.changesQueued.series({ gvk, type: 'relist' }),
      },
      deduplicated: m.deduplicated.series({ gvk }),
      skippedOwned: m.skippedOwned.series({ gvk }),
      tracked: m.trackedObjects.series({ gvk }),
    };
  }

  /** Objects whose spec hash is held. */
  get size(): number {
    return this.#specs.size;
  }

  /**
   * Handles one watcher output; false when delivery gave up (the kind must relist). Answers at
   * once (no promise) for a watch event whose change was queued or deduplicated without waiting,
   * the common case: a promise per event was ~1.5 KB of garbage and a few microtask turns.
   */
  handle(output: WatcherOutput): Handled {
    switch (output.type) {
      case 'applied':
        return output.listed
          ? this.#listed(output.object, output.resumed === true)
          : this.#applied(output.object, false);
      case 'deleted':
        return this.#deleted(output.object);
      case 'relisted':
        return this.#relisted(output.nsNames);
      default:
        return true;
    }
  }

  async #listed(object: KubeObject, resumed: boolean): Promise<boolean> {
    const rv = object.metadata.resourceVersion;
    if (resumed && typeof rv === 'string' && this.#specs.listedAt(object.metadata, rv)) {
      this.#series.deduplicated.inc();
      return true;
    }
    const ok = await this.#applied(object, !resumed);
    if (ok && typeof rv === 'string') this.#specs.markListed(object.metadata, rv);
    return ok;
  }

  #applied(obj: KubeObject, listed: boolean): Handled {
    const owned = hasOwners(obj);
    if (this.kind.skipOwned && owned) {
      this.#ctx.stamper.next();
      this.#series.skippedOwned.inc();
      return true;
    }
    const meta = obj.metadata;
    const generation = this.#byGeneration ? generationOf(meta) : 0;
    let record: bigint | number;
    let object: KubeObject | undefined;
    if (generation !== 0) {
      // Same uid and generation as the change last queued: the same spec (see GENERATION_KINDS),
      // so the same hash — deduplicated without sanitising or hashing. Any other generation is a
      // spec change (or an annotation edit of a Deployment, which the store dedupes): sent, and
      // not hashed here either (the store hashes what it receives).
      if (!listed && this.#specs.sameGeneration(meta, generation, meta.uid as string)) {
        this.#ctx.stamper.next();
        this.#series.deduplicated.inc();
        return true;
      }
      record = generation;
    } else {
      object = sanitizeObject(obj);
      record = specHash(object.spec);
      // A list sends every object: the store dedupes, and it may have missed the last change (a
      // change dropped in a stall). A list resumed after an expired continue token (`listed`
      // false here) skips objects the expired pass queued unchanged: they reached delivery.
      if (!listed && this.#specs.get(meta) === record) {
        this.#ctx.stamper.next();
        this.#series.deduplicated.inc();
        return true;
      }
    }
    const { ts, seq } = this.#ctx.stamper.next();
    const change: AppliedChange = { type: 'applied', ts, seq, object: object ?? sanitizeObject(obj) };
    if (owned) return this.#appliedWithOwners(obj, change, record);
    return this.#afterSink(this.#ctx.sink([change]), obj, record);
  }

  async #appliedWithOwners(
    obj: KubeObject,
    change: AppliedChange,
    record: bigint | number,
  ): Promise<boolean> {
    const owners = await ownersForChange(obj, this.#ctx);
    if (owners !== undefined && owners.length > 0) change.owners = owners;
    return this.#afterSink(this.#ctx.sink([change]), obj, record);
  }

  /**
   * Records an applied change once the sink took it — its spec hash (a bigint) or its generation
   * (a number) — or a deletion (undefined).
   */
  #afterSink(queued: Handled, obj: KubeObject, record: bigint | number | undefined): Handled {
    if (queued === true) {
      this.#taken(obj, record);
      return true;
    }
    if (queued === false) return false;
    return queued.then((ok) => {
      if (ok) this.#taken(obj, record);
      return ok;
    });
  }

  #taken(obj: KubeObject, record: bigint | number | undefined): void {
    if (record === undefined) {
      this.#specs.delete(obj.metadata);
      this.#series.queued.deleted.inc();
    } else {
      if (typeof record === 'number')
        this.#specs.setGeneration(obj.metadata, record, obj.metadata.uid as string);
      else this.#specs.set(obj.metadata, record);
      this.#series.queued.applied.inc();
    }
    this.#series.tracked.set(this.#specs.size);
  }

  #deleted(obj: KubeObject): Handled {
    const { ts, seq } = this.#ctx.stamper.next();
    if (this.kind.skipOwned && hasOwners(obj)) {
      this.#series.skippedOwned.inc();
      return true;
    }
    const change: DeletedChange = { type: 'deleted', ts, seq, object: sanitizeObject(obj) };
    return this.#afterSink(this.#ctx.sink([change]), obj, undefined);
  }

  async #relisted(nsNames: NsName[]): Promise<boolean> {
    const gvk = this.kind.gvk;
    this.#specs.endList();
    // Stamped once the list is done: after its objects' applied changes, before any watch event
    // from its resourceVersion, so the store can tell a later change in the same second apart.
    const { ts, seq } = this.#ctx.stamper.next();
    // Every listed object that was queued has its hash: skipped (owned) objects are not live in
    // the store, so they stay out of the pages too.
    const live = nsNames.filter((n) => this.#specs.has(n));
    const pages: RelistChange[] = relistPages(gvk, live, this.#ctx.relistPageSize).map((p) => ({
      type: 'relist',
      ts,
      seq,
      gvk,
      after: p.after,
      through: p.through,
      ns_names: p.nsNames,
    }));
    if (!(await this.#ctx.sink(pages))) return false;
    this.#specs.retainOnly(new Set(live));
    this.#series.queued.relist.inc(pages.length);
    this.#series.tracked.set(this.#specs.size);
    return true;
  }
}
