/**
 * What the store would hold after the accepted batches, for forwarder tests without DynamoDB. It
 * judges by the store's own rules, not a copy of them: every decision goes through lib/store/rules.ts
 * (`decideApplied`, `decideDeleted`, `isReconcileCandidate`, `reconcileOrder` — the functions the
 * DynamoDB writer calls) with the store's spec hash, so `ts`/`seq` order changes within a second,
 * a late or duplicated relist page does not delete what a newer change created, a spec-unchanged
 * re-apply writes nothing and keeps the stored body. Lifecycles are kept per pod incarnation (start
 * in the key), as lib/aws/trace-store/writer.ts `#applyLifecycle` documents: a later start finishes
 * the running incarnation at that start, an earlier one is kept only if it finished by then, a
 * Finished lifecycle never goes back to Running, and a pods-lifecycle relist page finishes the
 * running incarnations of pods it does not list. Keyed by kind and name together, never by name alone.
 *
 * The exported interface is the one the forwarder tests use: `live`, `kind()`, `names()`,
 * `deletions`, `lifecycles` (the latest incarnation of each pod), `configs`; plus `incarnations`.
 */
import type { Change } from '../../../lib/ingest/wire.ts';
import {
  type ChangeOrder,
  decideApplied,
  decideDeleted,
  isReconcileCandidate,
  type ObjectStateView,
  reconcileOrder,
} from '../../../lib/store/rules.ts';
import { nsNameOf } from '../../../lib/trace/gvk.ts';
import { compareUtf8, specHash } from '../../../lib/trace/hash.ts';
import type { KubeObject } from '../../../lib/trace/model.ts';

export interface LiveObject {
  object: KubeObject;
  ts: number;
  owners: Array<{ gvk: string; ns_name: string }> | undefined;
  /** Applied changes that changed the spec (event items the store wrote: one per second at most). */
  events: number;
}

export interface PodLifecycle {
  hash: string;
  start: number;
  end?: number;
}

interface State extends ObjectStateView {
  object?: LiveObject;
  /** Seconds in which an applied event item was written (one item per object per second). */
  eventSeconds: Set<number>;
}

export class StoreReducer {
  /** gvk → nsName → live object. */
  readonly live = new Map<string, Map<string, LiveObject>>();
  readonly deletions: Array<{ gvk: string; nsName: string; ts: number; via: 'deleted' | 'relist' }> = [];
  /** `ownerGvk ownerNsName` → pod → its latest incarnation (by start). */
  readonly lifecycles = new Map<string, Map<string, PodLifecycle>>();
  /** `ownerGvk ownerNsName` → pod → every incarnation, by start. */
  readonly incarnations = new Map<string, Map<string, PodLifecycle[]>>();
  configs = 0;
  readonly #states = new Map<string, State>();
  /** `pod owner hash` → start of its running incarnation (the store's running-lifecycle index). */
  readonly #running = new Map<string, { owner: string; pod: string; hash: string; start: number }>();

  apply(changes: readonly Change[]): this {
    for (const c of changes) this.#one(c);
    return this;
  }

  kind(gvk: string): Map<string, LiveObject> {
    let m = this.live.get(gvk);
    if (!m) {
      m = new Map();
      this.live.set(gvk, m);
    }
    return m;
  }

  names(gvk: string): string[] {
    return [...this.kind(gvk).keys()].sort(compareUtf8);
  }

  #one(c: Change): void {
    switch (c.type) {
      case 'config':
        this.configs++;
        return;
      case 'applied': {
        const gvk = `${c.object.apiVersion}.${c.object.kind}`;
        const nsName = nsNameOf(c.object);
        const state = this.#states.get(`${gvk} ${nsName}`);
        const order: ChangeOrder = { ts: c.ts, seq: c.seq ?? 0 };
        const hash = specHash(c.object.spec ?? null);
        if (decideApplied(state, { ...order, hash }) !== 'write') return;
        const eventSeconds = state?.eventSeconds ?? new Set<number>();
        eventSeconds.add(c.ts);
        const object: LiveObject = {
          object: c.object,
          ts: c.ts,
          owners: c.owners,
          events: eventSeconds.size,
        };
        this.#states.set(`${gvk} ${nsName}`, { live: true, hash, ...order, object, eventSeconds });
        this.kind(gvk).set(nsName, object);
        return;
      }
      case 'deleted': {
        const gvk = `${c.object.apiVersion}.${c.object.kind}`;
        const nsName = nsNameOf(c.object);
        const state = this.#states.get(`${gvk} ${nsName}`);
        if (decideDeleted(state, { ts: c.ts, seq: c.seq ?? 0 }) !== 'write') return;
        this.#delete(gvk, nsName, { ts: c.ts, seq: c.seq ?? 0 }, 'deleted');
        return;
      }
      case 'relist': {
        const inRange = (nsName: string) =>
          (c.after === null || compareUtf8(nsName, c.after) > 0) &&
          (c.through === null || compareUtf8(nsName, c.through) <= 0);
        const listed = new Set(c.ns_names);
        if (c.lifecycles) {
          // Pods that vanished unseen: their running incarnations end at the page's time.
          for (const r of [...this.#running.values()])
            if (inRange(r.pod) && !listed.has(r.pod))
              this.#lifecycle(r.owner, r.pod, { hash: r.hash, start: r.start, end: c.ts });
          return;
        }
        for (const nsName of [...this.kind(c.gvk).keys()]) {
          const state = this.#states.get(`${c.gvk} ${nsName}`)!;
          if (!inRange(nsName) || listed.has(nsName) || !isReconcileCandidate(state, c.ts, c.seq)) continue;
          this.#delete(c.gvk, nsName, reconcileOrder(state, c.ts, c.seq), 'relist', c.ts);
        }
        return;
      }
      case 'lifecycle':
        this.#lifecycle(`${c.owner.gvk} ${c.owner.ns_name}`, c.pod, {
          hash: c.pod_spec_hash,
          start: c.start_ts,
          ...(c.end_ts === undefined ? {} : { end: c.end_ts }),
        });
        return;
    }
  }

  #delete(gvk: string, nsName: string, order: ChangeOrder, via: 'deleted' | 'relist', atTs = order.ts): void {
    const state = this.#states.get(`${gvk} ${nsName}`)!;
    this.#states.set(`${gvk} ${nsName}`, { live: false, ...order, eventSeconds: state.eventSeconds });
    this.kind(gvk).delete(nsName);
    this.deletions.push({ gvk, nsName, ts: atTs, via });
  }

  /** The writer's per-incarnation rules (lib/aws/trace-store/writer.ts `#applyLifecycle`). */
  #lifecycle(owner: string, pod: string, lc: PodLifecycle): void {
    const runKey = `${pod} ${owner} ${lc.hash}`;
    const running = this.#running.get(runKey)?.start;
    if (running !== undefined && running !== lc.start) {
      if (lc.start < running) {
        // An older incarnation delivered late: kept only if it had finished by the running one's start.
        if (lc.end !== undefined && lc.end <= running) this.#putIncarnation(owner, pod, lc);
        return;
      }
      // A new incarnation: the running one ended by this start at the latest.
      this.#putIncarnation(owner, pod, { hash: lc.hash, start: running, end: lc.start });
      this.#running.delete(runKey);
    }
    const stored = this.#putIncarnation(owner, pod, lc);
    if (stored.end !== undefined) {
      if (this.#running.get(runKey)?.start === stored.start) this.#running.delete(runKey);
    } else if (stored.start === lc.start)
      this.#running.set(runKey, { owner, pod, hash: lc.hash, start: lc.start });
  }

  /** Writes the incarnation if absent or moving forward (Running → Finished); returns it as stored. */
  #putIncarnation(owner: string, pod: string, lc: PodLifecycle): PodLifecycle {
    let pods = this.incarnations.get(owner);
    if (!pods) {
      pods = new Map();
      this.incarnations.set(owner, pods);
    }
    const list = pods.get(pod) ?? [];
    pods.set(pod, list);
    let stored = list.find((l) => l.start === lc.start && l.hash === lc.hash);
    if (!stored) {
      stored = { ...lc };
      list.push(stored);
      list.sort((a, b) => a.start - b.start);
    } else if (stored.end === undefined && lc.end !== undefined) stored.end = lc.end;
    let latest = this.lifecycles.get(owner);
    if (!latest) {
      latest = new Map();
      this.lifecycles.set(owner, latest);
    }
    latest.set(pod, list.at(-1)!);
    return stored;
  }
}
