/**
 * A compact index of the objects of one owner kind (ReplicaSets, Jobs, Deployments, CronJobs…):
 * nsName → uid and ownerReferences, kept current by a list/watch of that kind (metadata only),
 * so resolving the owner chains of 100,000 pods costs no GET per pod or per owner — only a list
 * and a watch per owner kind. ~150 bytes per owner (one string each, encodeOwner).
 *
 * The runner feeds it the watcher outputs of the owner kind's loop; lookups wait for its first
 * list. It becomes `unavailable` when the kind cannot be listed (not served, or no RBAC
 * permission to list/watch it): lookups then fall back to GETs, cached per owner.
 */
import type { Gvk, KubeObject, NsName, OwnerReference } from '../trace/model.ts';
import { validRefs } from './owners.ts';
import type { WatcherOutput } from './watcher.ts';

export interface IndexedOwner {
  uid: string | undefined;
  refs: OwnerReference[];
}

export type OwnerIndexState = 'starting' | 'ready' | 'unavailable';

/**
 * One owner as one flat string, `JSON.stringify([uid, apiVersion₁, kind₁, name₁, uid₁, …])` (null
 * for a missing uid): a string per entry instead of an object, an array and an object per
 * reference, each with its own strings — 20,000 ReplicaSets and 20,000 Deployments went from
 * ~300 B to ~150 B each (bench/forwarder/scale.ts, heap snapshot). Decoded only on a lookup, i.e.
 * once per owner per chain-cache TTL, not per dependent.
 */
export function encodeOwner(owner: IndexedOwner): string {
  const fields: Array<string | null> = [owner.uid ?? null];
  for (const r of owner.refs)
    fields.push(r.apiVersion, r.kind, r.name, typeof r.uid === 'string' ? r.uid : null);
  return JSON.stringify(fields);
}

export function decodeOwner(encoded: string): IndexedOwner {
  const fields = JSON.parse(encoded) as Array<string | null>;
  const refs: OwnerReference[] = [];
  for (let i = 1; i + 3 < fields.length; i += 4) {
    const ref: OwnerReference = { apiVersion: fields[i]!, kind: fields[i + 1]!, name: fields[i + 2]! };
    const uid = fields[i + 3];
    if (typeof uid === 'string') ref.uid = uid;
    refs.push(ref);
  }
  const uid = fields[0];
  return { uid: typeof uid === 'string' ? uid : undefined, refs };
}

export class OwnerIndex {
  readonly gvk: Gvk;
  /**
   * namespace ('' for cluster-scoped) → name → encodeOwner(…). Keyed by the object's own name
   * string under one shared namespace string, rather than by a built `namespace/name` (a
   * concatenation and a namespace copy per entry, ~56 B).
   */
  readonly #entries = new Map<string, Map<string, string>>();
  #size = 0;
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
    return this.#size;
  }

  get(nsName: NsName): IndexedOwner | undefined {
    const slash = nsName.indexOf('/');
    const encoded =
      slash >= 0
        ? this.#entries.get(nsName.slice(0, slash))?.get(nsName.slice(slash + 1))
        : this.#entries.get('')?.get(nsName);
    return encoded === undefined ? undefined : decodeOwner(encoded);
  }

  #set(namespace: string, name: string, encoded: string): void {
    let names = this.#entries.get(namespace);
    if (!names) {
      names = new Map();
      this.#entries.set(namespace, names);
    }
    const size = names.size;
    names.set(name, encoded);
    this.#size += names.size - size;
  }

  #delete(namespace: string, name: string): void {
    const names = this.#entries.get(namespace);
    if (!names?.delete(name)) return;
    this.#size--;
    if (names.size === 0) this.#entries.delete(namespace);
  }

  /** The object as a lookup returns it: only what owner chains read (uid, ownerReferences). */
  objectOf(nsName: NsName, apiVersion: string, kind: string): KubeObject | undefined {
    const entry = this.get(nsName);
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
        // The four fields chains need, copied into one string: nothing of the object stays referenced.
        const refs = validRefs(output.object);
        this.#set(metadata.namespace ?? '', metadata.name ?? '', encodeOwner({ uid, refs }));
        return true;
      }
      case 'deleted':
        this.#delete(output.object.metadata.namespace ?? '', output.object.metadata.name ?? '');
        return true;
      case 'relisted': {
        const live = new Set(output.nsNames);
        for (const [namespace, names] of [...this.#entries]) {
          for (const name of [...names.keys()]) {
            if (!live.has(namespace ? `${namespace}/${name}` : name)) this.#delete(namespace, name);
          }
        }
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
    this.#size = 0;
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
