/**
 * A workload on the simulated cluster that keeps the ground truth: every creation, spec change
 * and deletion of every object, with the wall-clock times just before and right after the sim
 * applied it (the watch event is written in between, so the forwarder cannot see it earlier). Each version's spec is unique per object (a generation counter in
 * the pod template), so a spec hash names one version. An object changes at most once per
 * `minGapMs`: the store keeps one item per object per second ("the last change in that second
 * wins", DESIGN.md), so two versions within a second are legitimately coalesced, and the oracle
 * must not have to guess which of those the forwarder saw.
 */
import { specHash } from '../../lib/trace/hash.ts';
import type { KubeObject } from '../../lib/trace/model.ts';
import { sanitizeObject } from '../../lib/trace/sanitize.ts';
import type { KubeSim } from '../kube-sim/server.ts';
import { deployment, statefulSet } from '../kube-sim/workload.ts';
import { seededRandom } from './ingest-proxy.ts';
import { DELETED, type TruthEntry, truthKey } from './oracle.ts';

export const CHAOS_KINDS = ['apps/v1.Deployment', 'apps/v1.StatefulSet'] as const;
export type ChaosKind = (typeof CHAOS_KINDS)[number];

const RESOURCE_PATHS: Record<string, ChaosKind> = {
  '/apis/apps/v1/deployments': 'apps/v1.Deployment',
  '/apis/apps/v1/statefulsets': 'apps/v1.StatefulSet',
};

/** The kind a list or watch request of the whole cluster is for, if it is one of ours. */
export function gvkOfPath(path: string): ChaosKind | undefined {
  return RESOURCE_PATHS[path];
}

export interface WorkloadOptions {
  seed: number;
  /** Names per kind (the same names in every kind: kind and name together identify an object). */
  namesPerKind: number;
  minGapMs: number;
  namespace?: string;
}

export interface WorkloadCounts {
  created: number;
  updated: number;
  deleted: number;
}

function build(gvk: ChaosKind, ns: string, name: string, gen: number): KubeObject {
  const obj = gvk === 'apps/v1.Deployment' ? deployment(ns, name) : statefulSet(ns, name);
  const spec = obj.spec as { template: { metadata: { annotations?: Record<string, string> } } };
  spec.template.metadata.annotations = { 'chaos.sktrace.dev/gen': String(gen) };
  return obj;
}

export class ChaosWorkload {
  readonly sim: KubeSim;
  /** `gvk nsName` → every version and deletion, in order. */
  readonly truth = new Map<string, TruthEntry[]>();
  readonly counts: WorkloadCounts = { created: 0, updated: 0, deleted: 0 };
  readonly #options: Required<WorkloadOptions>;
  readonly #random: () => number;
  readonly #lastChangeMs = new Map<string, number>();
  #gen = 0;
  #running: Promise<void> | undefined;
  #stop = false;

  constructor(sim: KubeSim, options: WorkloadOptions) {
    this.sim = sim;
    this.#options = { namespace: 'chaos', ...options };
    this.#random = seededRandom(options.seed);
  }

  /** Changes recorded so far: creations + spec changes + deletions. */
  get changes(): number {
    return this.counts.created + this.counts.updated + this.counts.deleted;
  }

  /** Creates `perKind` objects of every kind at once (before the forwarder starts, say). */
  populate(perKind: number): void {
    for (const gvk of CHAOS_KINDS)
      for (let i = 0; i < perKind; i++) this.#create(gvk, this.#name(i), Date.now());
  }

  /** Runs `opsPerSec` random changes per second on `kinds` until stop(). */
  start(opsPerSec: number, kinds: readonly ChaosKind[] = CHAOS_KINDS): void {
    this.#stop = false;
    const tickMs = 50;
    this.#running = (async () => {
      let owed = 0;
      while (!this.#stop) {
        owed += (opsPerSec * tickMs) / 1000;
        while (owed >= 1) {
          owed--;
          this.step(kinds);
        }
        await new Promise((r) => setTimeout(r, tickMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#running;
    this.#running = undefined;
  }

  /** One random change: mostly spec changes, some creations and deletions; objects keep `minGapMs` apart. */
  step(kinds: readonly ChaosKind[] = CHAOS_KINDS): boolean {
    const nowMs = Date.now();
    for (let attempt = 0; attempt < 8; attempt++) {
      const gvk = kinds[Math.floor(this.#random() * kinds.length)]!;
      const name = this.#name(Math.floor(this.#random() * this.#options.namesPerKind));
      const key = truthKey(gvk, `${this.#options.namespace}/${name}`);
      if (nowMs - (this.#lastChangeMs.get(key) ?? 0) < this.#options.minGapMs) continue;
      const alive = this.sim.get(gvk, `${this.#options.namespace}/${name}`) !== undefined;
      const r = this.#random();
      if (!alive) this.#create(gvk, name, nowMs);
      else if (r < 0.85) this.#update(gvk, name, nowMs);
      else this.#delete(gvk, name, nowMs);
      return true;
    }
    return false;
  }

  /** Ground truth at the end: `gvk nsName` → spec hash of every live object. */
  live(): Map<string, string> {
    const out = new Map<string, string>();
    for (const gvk of CHAOS_KINDS)
      for (const o of this.sim.list(gvk))
        out.set(truthKey(gvk, `${o.metadata.namespace}/${o.metadata.name}`), hashOf(o));
    return out;
  }

  #name(i: number): string {
    return `app-${i}`;
  }

  #record(key: string, hash: string, beforeMs: number, atMs: number): void {
    let list = this.truth.get(key);
    if (!list) {
      list = [];
      this.truth.set(key, list);
    }
    list.push({ hash, beforeMs, atMs });
    this.#lastChangeMs.set(key, atMs);
  }

  #create(gvk: ChaosKind, name: string, _atMs: number): void {
    const object = build(gvk, this.#options.namespace, name, ++this.#gen);
    const beforeMs = Date.now();
    const stored = this.sim.apply(object);
    this.counts.created++;
    this.#record(truthKey(gvk, `${this.#options.namespace}/${name}`), hashOf(stored), beforeMs, Date.now());
  }

  #update(gvk: ChaosKind, name: string, _atMs: number): void {
    const object = build(gvk, this.#options.namespace, name, ++this.#gen);
    const beforeMs = Date.now();
    const stored = this.sim.apply(object);
    this.counts.updated++;
    this.#record(truthKey(gvk, `${this.#options.namespace}/${name}`), hashOf(stored), beforeMs, Date.now());
  }

  #delete(gvk: ChaosKind, name: string, _atMs: number): void {
    const beforeMs = Date.now();
    this.sim.delete(gvk, `${this.#options.namespace}/${name}`);
    this.counts.deleted++;
    this.#record(truthKey(gvk, `${this.#options.namespace}/${name}`), DELETED, beforeMs, Date.now());
  }
}

export function hashOf(obj: KubeObject): string {
  return specHash(sanitizeObject(obj).spec ?? null).toString();
}
