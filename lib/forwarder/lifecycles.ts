/**
 * Pod lifecycles from the pod watch, after SimKube's `PodHandler` (sk-store watchers/pod_watcher.rs):
 *
 * - a pod counts when its owner chain reaches an owner that is in the trace and whose kind tracks
 *   lifecycles; the first such owner up the chain is the lifecycle's owner (SimKube sk-tracer
 *   store.rs `record_pod_lifecycle`: it walks the owners-cache chain and skips owners not in its
 *   index or whose kind does not track lifecycles). "In the trace" is: the kind is tracked and,
 *   for a `skipOwned` kind, the owner has no owner itself (`lifecycleOwnerOf`). A bare pod counts
 *   when `v1.Pod` is tracked with `trackLifecycle` (it is its own owner);
 * - only transitions are sent: Running, then Finished with the same start (lib/trace/lifecycle.ts
 *   `isAdvance`). The state is `{pod → last lifecycle sent}` for live pods, dropped on delete;
 * - a pod deleted while running is Finished at the deletion time; a pod that vanished while the
 *   watch was down (missing from a relist) is Finished at the relist time (SimKube's
 *   `initialized` does the same). After a relist, pages of the listed pods (wire.ts `RelistChange`
 *   with `lifecycles`) let the store finish the running lifecycles this process never saw: those
 *   of pods that vanished while the forwarder itself was down (a restart starts with no state);
 * - `pod_spec_hash` is SimKube's hash of the stable pod spec, as a decimal string; `pod` is the
 *   pod's nsName.
 */
import type { LifecycleChange, RelistChange, WireOwner } from '../ingest/wire.ts';
import type { TracerConfig } from '../trace/config.ts';
import { nsNameOf } from '../trace/gvk.ts';
import { isAdvance, lifecycleOfPod, lifecycleOnDelete } from '../trace/lifecycle.ts';
import type { Gvk, KubeObject, Lifecycle, NsName } from '../trace/model.ts';
import { ownerRefsOf } from '../trace/owners.ts';
import { podSpecHash } from '../trace/podspec.ts';
import { type ChangeContext, hasOwners } from './changes.ts';
import { relistPages, sortNsNames } from './relist.ts';
import type { WatcherOutput } from './watcher.ts';

export const POD_GVK: Gvk = 'v1.Pod';

interface LivePod {
  owner: WireOwner;
  podSpecHash: string;
  lifecycle: Lifecycle;
}

/** Kinds whose pods' lifecycles are tracked; empty when no kind asks for it. */
export function lifecycleKinds(config: TracerConfig): Set<Gvk> {
  const kinds = new Set<Gvk>();
  for (const [gvk, k] of config.trackedObjects) if (k.trackLifecycle) kinds.add(gvk);
  return kinds;
}

/**
 * The lifecycle owner among a pod's owner chain (nearest first, as OwnerChains resolves it): the
 * first owner that is in the trace and whose kind tracks lifecycles. An owner is in the trace when
 * its kind is tracked and not skipped: a `skipOwned` kind's object is skipped when it has an owner
 * of its own, which the chain shows as an entry after it (exact for the one-controller chains
 * Kubernetes workloads build; with several direct owners, a later sibling counts as its owner too,
 * so such an owner is treated as skipped).
 */
export function lifecycleOwnerOf(chain: readonly WireOwner[], config: TracerConfig): WireOwner | undefined {
  for (let i = 0; i < chain.length; i++) {
    const owner = chain[i]!;
    const kind = config.trackedObjects.get(owner.gvk);
    if (!kind) continue;
    if (kind.skipOwned && i < chain.length - 1) continue;
    if (kind.trackLifecycle) return owner;
  }
  return undefined;
}

export class PodLifecycles {
  readonly #config: TracerConfig;
  readonly #kinds: Set<Gvk>;
  readonly #ctx: ChangeContext;
  readonly #live = new Map<NsName, LivePod>();

  constructor(config: TracerConfig, ctx: ChangeContext) {
    this.#config = config;
    this.#kinds = lifecycleKinds(config);
    this.#ctx = ctx;
  }

  /** Pods whose last lifecycle sent is held. */
  get size(): number {
    return this.#live.size;
  }

  /** Handles one output of the pod watch; false when delivery gave up (the pods relist). */
  async handle(output: WatcherOutput): Promise<boolean> {
    switch (output.type) {
      case 'applied':
        return this.#applied(output.object);
      case 'deleted':
        return this.#deleted(output.object);
      case 'relisted':
        return this.#relisted(output.nsNames);
      default:
        return true;
    }
  }

  async #applied(pod: KubeObject): Promise<boolean> {
    const lifecycle = lifecycleOfPod(pod);
    if (lifecycle === undefined) return true;
    const nsName = nsNameOf(pod);
    const prev = this.#live.get(nsName);
    if (prev) {
      if (!isAdvance(prev.lifecycle, lifecycle)) return true;
      return this.#send(nsName, { ...prev, lifecycle });
    }
    const owner = await this.#ownerOf(pod);
    if (!owner) return true;
    return this.#send(nsName, { owner, podSpecHash: podSpecHash(pod.spec).toString(), lifecycle });
  }

  async #deleted(pod: KubeObject): Promise<boolean> {
    const nsName = nsNameOf(pod);
    const prev = this.#live.get(nsName);
    if (prev?.lifecycle.endTs !== undefined) {
      this.#live.delete(nsName);
      return true;
    }
    const { ts } = this.#ctx.stamper.next();
    const lifecycle = lifecycleOnDelete(prev?.lifecycle, pod, ts);
    if (lifecycle === undefined) return true;
    let live = prev;
    if (!live) {
      const owner = await this.#ownerOf(pod);
      if (!owner) return true;
      live = { owner, podSpecHash: podSpecHash(pod.spec).toString(), lifecycle };
    }
    if (!(await this.#send(nsName, { ...live, lifecycle }))) return false;
    this.#live.delete(nsName);
    return true;
  }

  async #relisted(nsNames: NsName[]): Promise<boolean> {
    const listed = new Set(nsNames);
    const { ts } = this.#ctx.stamper.next();
    for (const [nsName, prev] of [...this.#live]) {
      if (listed.has(nsName)) continue;
      if (prev.lifecycle.endTs === undefined) {
        // Deleted while nobody watched: finished when we noticed, as SimKube does.
        const lifecycle = lifecycleOnDelete(prev.lifecycle, undefined, ts)!;
        if (!(await this.#send(nsName, { ...prev, lifecycle }, ts))) return false;
      }
      this.#live.delete(nsName);
    }
    // The store may hold running lifecycles of a previous forwarder process's pods: those of pods
    // not listed now are finished at this relist's time, by the store (one Query per page).
    const pages: RelistChange[] = relistPages(POD_GVK, sortNsNames(nsNames), this.#ctx.relistPageSize).map(
      (p) => ({
        type: 'relist',
        ts,
        gvk: POD_GVK,
        after: p.after,
        through: p.through,
        ns_names: p.nsNames,
        lifecycles: true,
      }),
    );
    if (!(await this.#ctx.sink(pages))) return false;
    this.#ctx.metrics.changesQueued.inc({ gvk: POD_GVK, type: 'relist' }, pages.length);
    return true;
  }

  async #send(nsName: NsName, live: LivePod, tsSec?: number): Promise<boolean> {
    const ts = tsSec ?? this.#ctx.stamper.next().ts;
    const change: LifecycleChange = {
      type: 'lifecycle',
      ts,
      owner: live.owner,
      pod: nsName,
      pod_spec_hash: live.podSpecHash,
      start_ts: live.lifecycle.startTs,
    };
    if (live.lifecycle.endTs !== undefined) change.end_ts = live.lifecycle.endTs;
    if (!(await this.#ctx.sink([change]))) return false;
    this.#live.set(nsName, live);
    const state = live.lifecycle.endTs === undefined ? 'running' : 'finished';
    this.#ctx.metrics.lifecycles.inc({ state });
    this.#ctx.metrics.changesQueued.inc({ gvk: POD_GVK, type: 'lifecycle' });
    return true;
  }

  /** The first owner in the trace tracking lifecycles, the pod itself when bare and Pods track them, else none. */
  async #ownerOf(pod: KubeObject): Promise<WireOwner | undefined> {
    if (!hasOwners(pod)) {
      return this.#kinds.has(POD_GVK) ? { gvk: POD_GVK, ns_name: nsNameOf(pod) } : undefined;
    }
    let chain: WireOwner[];
    try {
      chain = await this.#ctx.owners.chainOf(pod);
    } catch (err) {
      // Without the API, the direct owners are all we know; a deeper tracked owner is missed.
      chain = ownerRefsOf(pod).map((r) => ({ gvk: r.gvk, ns_name: r.nsName }));
      this.#ctx.log.warn('could not resolve the owner chain of a pod; using its direct owners', {
        pod: nsNameOf(pod),
        error: err,
      });
    }
    return lifecycleOwnerOf(chain, this.#config);
  }
}
