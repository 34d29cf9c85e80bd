/**
 * The per-object state of one tracked kind, compact: the spec hash of the last applied change
 * queued for each object — or, for kinds whose API server bumps `metadata.generation` on every
 * spec change (changes.ts GENERATION_KINDS), that change's generation and a fingerprint of its
 * uid instead, no hash at all — and, while a list is under way, the resourceVersion each object
 * had when this list (or an expired pass before it) queued it.
 *
 * At 100,000 pods this is the forwarder's largest retained structure. As a `Map` from the built
 * `ns/name` string to a bigint it cost ~157 B per object (a cons string and a flat `ns/` copy
 * per key, a BigInt, the table), and the resourceVersion map as many again while a list lasted.
 * Here objects are found by namespace, then by the parsed `metadata.name` string itself (kept
 * anyway), to a slot number (a small integer, stored in the table without a heap object); the
 * hash (or generation and uid fingerprint) and the listed resourceVersion live in typed arrays
 * indexed by slot: ~85 B per object,
 * none of it per list (tests/forwarder/spec-hashes.test.ts; docs/benchmarks.md forwarder_memory).
 *
 * An nsName splits at its first `/` exactly: object names are path segments, which Kubernetes
 * forbids to contain `/` (apimachinery validation/path IsValidPathSegmentName); a namespaced
 * object's nsName is `namespace/name`, a cluster-scoped one's the bare name (lib/trace/gvk.ts).
 */
import type { NsName } from '../trace/model.ts';

const INITIAL_SLOTS = 256;

/** An object's `metadata` (namespace absent or '' for cluster-scoped objects). */
export interface ObjectKey {
  namespace?: string | undefined;
  name?: string | undefined;
}
/**
 * resourceVersions etcd hands out are decimal revisions: held as numbers. Any other spelling (a
 * leading zero, another storage backend's opaque string) is held as the string, aside.
 */
const DECIMAL_RV = /^(?:0|[1-9]\d{0,14})$/;

export class SpecHashes {
  /** namespace ('' for cluster-scoped objects) → name → slot. */
  #slots = new Map<string, Map<string, number>>();
  #hashes = new BigUint64Array(INITIAL_SLOTS);
  /**
   * The generation recorded for a slot (setGeneration), 0 when the slot holds a hash instead
   * (Kubernetes generations start at 1). With #uids: 8 B per slot.
   */
  #generations = new Uint32Array(INITIAL_SLOTS);
  /** FNV-1a of the uid recorded with the generation: a recreated object has a new uid. */
  #uids = new Uint32Array(INITIAL_SLOTS);
  /** The resourceVersion the current list generation queued, as a number; see #rvStrings. */
  #listedRvs = new Float64Array(INITIAL_SLOTS);
  /** The list generation a slot's listed resourceVersion belongs to; 0: none. */
  #listedGens = new Uint32Array(INITIAL_SLOTS);
  /** Listed resourceVersions that are not decimal revisions, by slot (normally empty). */
  #rvStrings = new Map<number, string>();
  #free: number[] = [];
  #next = 0;
  #size = 0;
  #gen = 1;

  /** Objects whose spec hash is held. */
  get size(): number {
    return this.#size;
  }

  /** The hash recorded by `set`; undefined when none is held (or the slot holds a generation). */
  get(key: ObjectKey): bigint | undefined {
    const slot = this.#slotOf(key);
    return slot === undefined || this.#generations[slot] !== 0 ? undefined : this.#hashes[slot];
  }

  set(key: ObjectKey, hash: bigint): void {
    const slot = this.#slotFor(key);
    this.#hashes[slot] = hash;
    this.#generations[slot] = 0;
  }

  /**
   * Records the object's `generation` (an integer in [1, 2^32)) and `uid` instead of a hash: the
   * object counts as held (size, has, relists) just as with `set`.
   */
  setGeneration(key: ObjectKey, generation: number, uid: string): void {
    const slot = this.#slotFor(key);
    this.#hashes[slot] = 0n;
    this.#generations[slot] = generation;
    this.#uids[slot] = fingerprint(uid);
  }

  /** Whether `setGeneration` recorded exactly this generation and uid for the object. */
  sameGeneration(key: ObjectKey, generation: number, uid: string): boolean {
    const slot = this.#slotOf(key);
    return (
      slot !== undefined && this.#generations[slot] === generation && this.#uids[slot] === fingerprint(uid)
    );
  }

  #slotFor(key: ObjectKey): number {
    const ns = key.namespace ?? '';
    const name = key.name ?? '';
    let names = this.#slots.get(ns);
    if (!names) {
      names = new Map();
      this.#slots.set(ns, names);
    }
    let slot = names.get(name);
    if (slot === undefined) {
      slot = this.#allocate();
      names.set(name, slot);
      this.#size++;
    }
    return slot;
  }

  delete(key: ObjectKey): void {
    const ns = key.namespace ?? '';
    const name = key.name ?? '';
    const names = this.#slots.get(ns);
    const slot = names?.get(name);
    if (names === undefined || slot === undefined) return;
    names.delete(name);
    if (names.size === 0) this.#slots.delete(ns);
    this.#release(slot);
    this.#shrinkIfSparse();
  }

  has(nsName: NsName): boolean {
    const [ns, name] = splitNsName(nsName);
    return this.#slots.get(ns)?.has(name) === true;
  }

  /**
   * Remembers that the current list generation queued this object at `resourceVersion` (only
   * for an object whose hash is held: one the list did queue).
   */
  markListed(key: ObjectKey, resourceVersion: string): void {
    const slot = this.#slotOf(key);
    if (slot === undefined) return;
    this.#listedGens[slot] = this.#gen;
    if (DECIMAL_RV.test(resourceVersion)) {
      this.#listedRvs[slot] = Number(resourceVersion);
      this.#rvStrings.delete(slot);
    } else {
      this.#listedRvs[slot] = Number.NaN;
      this.#rvStrings.set(slot, resourceVersion);
    }
  }

  /** Whether the current list generation queued this object at exactly `resourceVersion`. */
  listedAt(key: ObjectKey, resourceVersion: string): boolean {
    const slot = this.#slotOf(key);
    if (slot === undefined || this.#listedGens[slot] !== this.#gen) return false;
    return DECIMAL_RV.test(resourceVersion)
      ? this.#listedRvs[slot] === Number(resourceVersion)
      : this.#rvStrings.get(slot) === resourceVersion;
  }

  /** A list completed: what it queued is forgotten (the next list is a new generation). */
  endList(): void {
    this.#gen++;
    this.#rvStrings.clear();
  }

  /** Forgets every object whose nsName is not in `keep`. */
  retainOnly(keep: ReadonlySet<NsName>): void {
    for (const [ns, names] of this.#slots) {
      for (const [name, slot] of names) {
        if (keep.has(ns === '' ? name : `${ns}/${name}`)) continue;
        names.delete(name);
        this.#release(slot);
      }
      if (names.size === 0) this.#slots.delete(ns);
    }
    this.#shrinkIfSparse();
  }

  /** Slots the typed arrays hold (held objects plus free and never used ones). */
  get capacity(): number {
    return this.#hashes.length;
  }

  /** Bytes of the typed arrays (the per-slot state; the name tables come on top). */
  get bytes(): number {
    return (
      this.#hashes.byteLength +
      this.#listedRvs.byteLength +
      this.#listedGens.byteLength +
      this.#generations.byteLength +
      this.#uids.byteLength
    );
  }

  #slotOf(key: ObjectKey): number | undefined {
    return this.#slots.get(key.namespace ?? '')?.get(key.name ?? '');
  }

  #allocate(): number {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    if (this.#next === this.#hashes.length) this.#grow();
    return this.#next++;
  }

  #release(slot: number): void {
    this.#listedGens[slot] = 0;
    this.#generations[slot] = 0;
    this.#rvStrings.delete(slot);
    this.#free.push(slot);
    this.#size--;
  }

  /**
   * After a spike (a big Job's pods gone, a namespace deleted) the arrays would otherwise keep
   * their peak size for the life of the process: when fewer than a quarter of the slots are held,
   * the held ones are renumbered 0…size-1 into arrays of twice the size (at least INITIAL_SLOTS).
   * Amortised O(1): shrinking again takes deleting half of what is left.
   */
  #shrinkIfSparse(): void {
    const capacity = this.#hashes.length;
    if (capacity <= INITIAL_SLOTS || this.#size * 4 >= capacity) return;
    let n = INITIAL_SLOTS;
    while (n < this.#size * 2) n *= 2;
    const hashes = new BigUint64Array(n);
    const rvs = new Float64Array(n);
    const gens = new Uint32Array(n);
    const generations = new Uint32Array(n);
    const uids = new Uint32Array(n);
    const rvStrings = new Map<number, string>();
    let next = 0;
    for (const names of this.#slots.values()) {
      for (const [name, slot] of names) {
        const to = next++;
        hashes[to] = this.#hashes[slot]!;
        rvs[to] = this.#listedRvs[slot]!;
        gens[to] = this.#listedGens[slot]!;
        generations[to] = this.#generations[slot]!;
        uids[to] = this.#uids[slot]!;
        const rv = this.#rvStrings.get(slot);
        if (rv !== undefined) rvStrings.set(to, rv);
        names.set(name, to);
      }
    }
    this.#hashes = hashes;
    this.#listedRvs = rvs;
    this.#listedGens = gens;
    this.#generations = generations;
    this.#uids = uids;
    this.#rvStrings = rvStrings;
    this.#free = [];
    this.#next = next;
  }

  #grow(): void {
    const n = this.#hashes.length * 2;
    const hashes = new BigUint64Array(n);
    hashes.set(this.#hashes);
    const rvs = new Float64Array(n);
    rvs.set(this.#listedRvs);
    const gens = new Uint32Array(n);
    gens.set(this.#listedGens);
    const generations = new Uint32Array(n);
    generations.set(this.#generations);
    const uids = new Uint32Array(n);
    uids.set(this.#uids);
    this.#generations = generations;
    this.#uids = uids;
    this.#hashes = hashes;
    this.#listedRvs = rvs;
    this.#listedGens = gens;
  }
}

/** FNV-1a (32-bit) over the UTF-16 code units of a uid. */
function fingerprint(uid: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < uid.length; i++) h = Math.imul(h ^ uid.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** `namespace/name` → [namespace, name]; a cluster-scoped name → ['', name]. */
export function splitNsName(nsName: NsName): [string, string] {
  const slash = nsName.indexOf('/');
  return slash < 0 ? ['', nsName] : [nsName.slice(0, slash), nsName.slice(slash + 1)];
}
