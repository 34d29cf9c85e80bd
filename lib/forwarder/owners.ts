/**
 * Owner chains, resolved through the API as SimKube's `OwnersCache::compute_owner_chain` does:
 * the object's direct owners (ownerReferences, in order), then each owner's own chain, so the
 * nearest owners come first and the roots last (Pod → ReplicaSet → Deployment gives
 * [ReplicaSet, Deployment]). The forwarder sends the chain with every applied change (wire.ts
 * `owners`), so the export can drop objects owned by other traced objects without cluster access.
 *
 * Each owner's chain above it is cached (bounded LRU with a TTL): the pods of one ReplicaSet
 * cost one GET of the ReplicaSet and one of its Deployment per TTL, not per pod.
 */

import type { WireOwner } from '../ingest/wire.ts';
import { gvkOf } from '../trace/gvk.ts';
import type { KubeObject, NsName, OwnerReference } from '../trace/model.ts';

/** What looking up an owner found: its nsName, and the object unless it is gone (404). */
export interface OwnerLookupResult {
  nsName: NsName;
  object?: KubeObject;
}

/** GET of the object an ownerReference names; throws when the API cannot answer. */
export type OwnerLookup = (
  ref: OwnerReference,
  dependentNamespace: string | undefined,
) => Promise<OwnerLookupResult>;

export interface OwnerChainsOptions {
  maxEntries: number;
  ttlMs: number;
  nowMs: () => number;
  /** Called with the outcome of each owner lookup, for metrics. */
  onLookup?: (result: 'hit' | 'fetched' | 'not_found' | 'error') => void;
}

/** Chains deeper than this are cut (owner cycles are invalid, but must not hang the forwarder). */
const MAX_DEPTH = 16;

interface Entry {
  owner: WireOwner;
  /** The owner's own chain. */
  above: WireOwner[];
  expiresAtMs: number;
}

export class OwnerChains {
  readonly #lookup: OwnerLookup;
  readonly #options: OwnerChainsOptions;
  /** Insertion order is recency order: a hit is moved to the end, eviction takes the front. */
  readonly #cache = new Map<string, Entry>();

  constructor(lookup: OwnerLookup, options: OwnerChainsOptions) {
    this.#lookup = lookup;
    this.#options = options;
  }

  get size(): number {
    return this.#cache.size;
  }

  /** The owner chain of `obj`, nearest first; [] for an object without owners. Throws on API errors. */
  chainOf(obj: KubeObject): Promise<WireOwner[]> {
    return this.#chain(obj, []);
  }

  /** `path`: the owners being resolved above this object, to cut cycles (and not wait on ourselves). */
  async #chain(obj: KubeObject, path: readonly string[]): Promise<WireOwner[]> {
    const refs = validRefs(obj);
    if (refs.length === 0 || path.length >= MAX_DEPTH) return [];
    const entries = await Promise.all(refs.map((ref) => this.#owner(ref, obj.metadata.namespace, path)));
    const out: WireOwner[] = [];
    const seen = new Set<string>();
    const add = (o: WireOwner) => {
      const key = `${o.gvk} ${o.ns_name}`;
      if (seen.has(key)) return;
      seen.add(key);
      out.push(o);
    };
    for (const e of entries) add(e.owner);
    for (const e of entries) for (const o of e.above) add(o);
    return out;
  }

  async #owner(ref: OwnerReference, namespace: string | undefined, path: readonly string[]): Promise<Entry> {
    const key = `${ref.apiVersion} ${ref.kind} ${namespace ?? ''} ${ref.name} ${ref.uid ?? ''}`;
    if (path.includes(key)) {
      // An ownership cycle (invalid, but possible in a broken cluster): stop here, uncached.
      return {
        owner: { gvk: gvkOf(ref), ns_name: namespace ? `${namespace}/${ref.name}` : ref.name },
        above: [],
        expiresAtMs: 0,
      };
    }
    const nowMs = this.#options.nowMs();
    const cached = this.#cache.get(key);
    if (cached && cached.expiresAtMs > nowMs) {
      this.#cache.delete(key);
      this.#cache.set(key, cached);
      this.#options.onLookup?.('hit');
      return cached;
    }
    // No sharing of in-flight lookups: with an ownership cycle, two of them could wait on each
    // other forever; the price is an occasional duplicate GET across kinds.
    return this.#fetch(ref, namespace, [...path, key], key);
  }

  async #fetch(
    ref: OwnerReference,
    namespace: string | undefined,
    path: readonly string[],
    key: string,
  ): Promise<Entry> {
    let found: OwnerLookupResult;
    try {
      found = await this.#lookup(ref, namespace);
    } catch (err) {
      this.#options.onLookup?.('error');
      throw err;
    }
    // An owner recreated under the same name is another object (uid differs): the chain of the
    // real owner ended with its deletion.
    const same =
      found.object !== undefined &&
      (ref.uid === undefined ||
        found.object.metadata.uid === undefined ||
        found.object.metadata.uid === ref.uid);
    this.#options.onLookup?.(same ? 'fetched' : 'not_found');
    const above = same ? await this.#chain(found.object!, path) : [];
    const entry: Entry = {
      owner: { gvk: gvkOf(ref), ns_name: found.nsName },
      above,
      expiresAtMs: this.#options.nowMs() + this.#options.ttlMs,
    };
    this.#cache.set(key, entry);
    while (this.#cache.size > this.#options.maxEntries) {
      const oldest = this.#cache.keys().next().value as string;
      this.#cache.delete(oldest);
    }
    return entry;
  }
}

/** ownerReferences that name an object (the API server refuses others; be defensive anyway). */
export function validRefs(obj: KubeObject): OwnerReference[] {
  const refs = obj.metadata.ownerReferences;
  if (!Array.isArray(refs)) return [];
  return refs.filter(
    (r): r is OwnerReference =>
      typeof r === 'object' &&
      r !== null &&
      typeof r.apiVersion === 'string' &&
      r.apiVersion !== '' &&
      typeof r.kind === 'string' &&
      r.kind !== '' &&
      typeof r.name === 'string' &&
      r.name !== '',
  );
}
