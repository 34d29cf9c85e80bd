/**
 * A compact index of the objects of one owner kind (ReplicaSets, Jobs, Deployments, CronJobs…):
 * nsName → uid and ownerReferences, kept current by a list/watch of that kind (metadata only),
 * so resolving the owner chains of 100,000 pods costs no GET per pod or per owner — only a list
 * and a watch per owner kind. ~150 bytes per owner: 20,000 ReplicaSets hold ~3 MB.
 *
 * The runner feeds it the watcher outputs of the owner kind's loop; lookups wait for its first
 * list. It becomes `unavailable` when the kind cannot be listed (not served, or no RBAC
 * permission to list/watch it): lookups then fall back to GETs, cached per owner.
 */
import { nsNameOf } from '../trace/gvk.ts';
import type { Gvk, KubeObject, NsName, OwnerReference } from '../trace/model.ts';
import { validRefs } from './owners.ts';
import type { WatcherOutput } from './watcher.ts';

export interface IndexedOwner {
  uid: string | undefined;
  refs: OwnerReference[];
}

export type OwnerIndexState = 'starting' | 'ready' | 'unavailable';

export class OwnerIndex {
  readonly gvk: Gvk;
  readonly #entries = new Map<NsName, IndexedOwner>();
  #state: OwnerIndexState = 'starting';
  #reason: string | undefined;
  #waiters: Array<() => void> = [];

  constructor(gvk: Gvk) {
    this.gvk = gvk;
  }

  get state(): OwnerIndexState {
    return this.#state;
  }

  get reason(): string | undefined {
    return this.#reason;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(nsName: NsName): IndexedOwner | undefined {
    return this.#entries.get(nsName);
  }

  /** The object as a lookup returns it: only what owner chains read (uid, ownerReferences). */
  objectOf(nsName: NsName, apiVersion: string, kind: string): KubeObject | undefined {
    const entry = this.#entries.get(nsName);
    if (!entry) return undefined;
    const slash = nsName.indexOf('/');
    const metadata: KubeObject['metadata'] =
      slash >= 0 ? { namespace: nsName.slice(0, slash), name: nsName.slice(slash + 1) } : { name: nsName };
    if (entry.uid !== undefined) metadata.uid = entry.uid;
    if (entry.refs.length > 0) metadata.ownerReferences = entry.refs;
    return { apiVersion, kind, metadata };
  }

  /** Handles one output of the owner kind's list/watch loop; never refuses (no delivery here). */
  async handle(output: WatcherOutput): Promise<boolean> {
    switch (output.type) {
      case 'applied': {
        const { metadata } = output.object;
        const uid = typeof metadata.uid === 'string' ? metadata.uid : undefined;
        // Copies of the four fields chains need: nothing else of the object stays referenced.
        const refs = validRefs(output.object).map((r) => {
          const ref: OwnerReference = { apiVersion: r.apiVersion, kind: r.kind, name: r.name };
          if (typeof r.uid === 'string') ref.uid = r.uid;
          return ref;
        });
        this.#entries.set(nsNameOf(output.object), { uid, refs });
        return true;
      }
      case 'deleted':
        this.#entries.delete(nsNameOf(output.object));
        return true;
      case 'relisted': {
        const live = new Set(output.nsNames);
        for (const n of this.#entries.keys()) if (!live.has(n)) this.#entries.delete(n);
        this.#settle('ready');
        return true;
      }
      default:
        return true;
    }
  }

  /** The kind cannot be indexed: lookups use GETs from now on. */
  markUnavailable(reason: string): void {
    this.#reason = reason;
    this.#entries.clear();
    this.#settle('unavailable');
  }

  /** Resolves once the first list is in (true) or the index is unavailable or `signal` aborts (false). */
  whenReady(signal: AbortSignal): Promise<boolean> {
    if (this.#state !== 'starting' || signal.aborted) return Promise.resolve(this.#state === 'ready');
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve(this.#state === 'ready');
      };
      signal.addEventListener('abort', done, { once: true });
      this.#waiters.push(done);
    });
  }

  #settle(state: 'ready' | 'unavailable'): void {
    this.#state = state;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
