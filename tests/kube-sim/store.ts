/**
 * The simulated cluster's storage: objects per resource, one global resourceVersion counter and a
 * bounded history of changes — the parts of etcd and the apiserver's watch cache a client can
 * observe.
 *
 * - resourceVersion is etcd's revision: one counter for the whole cluster, bumped by every write,
 *   written as a decimal string (api-concepts, "Resource versions": orderable as increasing integers).
 * - History holds one entry per revision, so entries are contiguous by resourceVersion. It keeps at
 *   most `compactionWindow` entries; anything older is compacted, and a watch or list that needs it
 *   gets 410 Gone, as etcd compaction (every 5 minutes by default) makes happen for real.
 * - Consistent pages: a list at resourceVersion R is the current state with every later change of
 *   that resource undone, which is what an etcd range read at revision R returns.
 */
import { randomUUID } from 'node:crypto';
import { SktraceError } from '../../lib/errors.ts';
import { formatGvk, parseGvk, parseNsName } from '../../lib/trace/gvk.ts';
import type { KubeObject } from '../../lib/trace/model.ts';

export interface SimResource {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** A misuse of the simulator's programmatic API (unknown kind, missing object, …). */
export class KubeSimError extends SktraceError {
  constructor(code: string, message: string, context: Record<string, unknown> = {}) {
    super(code, message, context);
    this.name = 'KubeSimError';
  }
}

/** One version of one object as stored: immutable; serialised at most once per shape. */
export class StoredVersion {
  /** Deep-frozen: stored objects are immutable and share unchanged subtrees. */
  readonly object: KubeObject;
  readonly rv: number;
  readonly resource: ResourceState;
  #json: string | undefined;
  #itemJson: string | undefined;
  #specJson: string | undefined;
  #statusJson: string | undefined;

  constructor(
    resource: ResourceState,
    object: KubeObject,
    rv: number,
    known: { json?: string; specJson?: string; statusJson?: string } = {},
  ) {
    this.resource = resource;
    this.object = deepFreeze(object);
    this.rv = rv;
    this.#json = known.json;
    this.#specJson = known.specJson;
    this.#statusJson = known.statusJson;
  }

  /** JSON of `spec`, to tell spec changes (generation) from others. */
  get specJson(): string | undefined {
    this.#specJson ??= JSON.stringify(this.object.spec);
    return this.#specJson;
  }

  /** JSON of `status`, to tell status updates that change nothing. */
  get statusJson(): string | undefined {
    this.#statusJson ??= JSON.stringify(this.object.status);
    return this.#statusJson;
  }

  /** A deep copy (mutable) for callers that want one. */
  copy(): KubeObject {
    return JSON.parse(this.json) as KubeObject;
  }

  /** The object with kind and apiVersion, as GET and watch events carry it. */
  get json(): string {
    this.#json ??= JSON.stringify(this.object);
    return this.#json;
  }

  /**
   * The object as a list item. Typed (built-in) lists are encoded from Go structs whose items have
   * an empty TypeMeta, so kind and apiVersion are omitted; custom resources are unstructured and
   * keep both (what `kubectl get --raw` shows for a CRD list).
   */
  get itemJson(): string {
    if (this.resource.custom) return this.json;
    if (this.#itemJson === undefined) {
      const json = this.json;
      // Stored objects are built with kind then apiVersion first, so the prefix is known.
      const prefix = this.resource.typePrefix;
      this.#itemJson = json.startsWith(prefix) ? `{${json.slice(prefix.length)}` : json;
    }
    return this.#itemJson;
  }
}

export class ResourceState {
  readonly res: SimResource;
  readonly gvk: string;
  readonly apiVersion: string;
  /** True for kinds added with addResource (CRDs): unstructured encoding. */
  readonly custom: boolean;
  /** `{"kind":…,"apiVersion":…,` — the start of every stored object's JSON. */
  readonly typePrefix: string;
  readonly objects = new Map<string, StoredVersion>();
  #sortedKeys: string[] | undefined;

  constructor(res: SimResource, custom: boolean) {
    this.res = { ...res };
    this.apiVersion = res.group ? `${res.group}/${res.version}` : res.version;
    this.gvk = formatGvk({ group: res.group, version: res.version, kind: res.kind });
    this.custom = custom;
    this.typePrefix = `{"kind":${JSON.stringify(res.kind)},"apiVersion":${JSON.stringify(this.apiVersion)},`;
  }

  /** Current keys in etcd key order (byte order of `ns/name`, the suffix of `/registry/<plural>/ns/name`). */
  sortedKeys(): string[] {
    this.#sortedKeys ??= [...this.objects.keys()].sort(compareKeys);
    return this.#sortedKeys;
  }

  invalidateKeys(): void {
    this.#sortedKeys = undefined;
  }
}

export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The first index in sorted `keys` whose key is >= `key`. */
export function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Freezes a stored object for good. Stored versions share unchanged subtrees, so nothing may
 * mutate them; freezing makes a mutation throw instead of silently rewriting history. Subtrees
 * already frozen (shared with an earlier version) are skipped, so this costs only the new parts.
 */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** A shallow copy with another metadata.resourceVersion (stored objects are immutable: sharing is safe). */
function withResourceVersion(obj: KubeObject, rv: number): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } };
}

/** One change: the revision it made, the version it wrote and the version it replaced. */
export class HistoryEntry {
  readonly rv: number;
  readonly type: WatchEventType;
  readonly key: string;
  /** The new version; for DELETED the last object carrying the deletion's resourceVersion. */
  readonly version: StoredVersion;
  /** The version before this change; undefined for ADDED. */
  readonly prev: StoredVersion | undefined;
  /** When it was committed (the store's clock): the watch cache keeps a time window of events. */
  readonly atMs: number;
  #lines: Partial<Record<WatchEventType, Buffer>> = {};
  #exit: Buffer | undefined;

  constructor(
    rv: number,
    type: WatchEventType,
    key: string,
    version: StoredVersion,
    atMs: number,
    prev?: StoredVersion,
  ) {
    this.rv = rv;
    this.atMs = atMs;
    this.type = type;
    this.key = key;
    this.version = version;
    this.prev = prev;
  }

  get resource(): ResourceState {
    return this.version.resource;
  }

  /**
   * The watch-stream line for this change as `type`: serialised once and shared by every watcher
   * (a watcher whose selector the object enters or leaves sees ADDED or DELETED instead).
   */
  line(type: WatchEventType = this.type): Buffer {
    let line = this.#lines[type];
    if (!line) {
      line = Buffer.from(`{"type":"${type}","object":${this.version.json}}\n`);
      this.#lines[type] = line;
    }
    return line;
  }

  /**
   * The DELETED line a watcher gets when the object leaves its selector: the previous content
   * stamped with this change's resourceVersion (cacheWatcher.convertToWatchEvent).
   */
  exitLine(): Buffer {
    if (this.type === 'DELETED' || !this.prev) return this.line('DELETED');
    if (!this.#exit) {
      const last = withResourceVersion(this.prev.object, this.rv);
      this.#exit = Buffer.from(`{"type":"DELETED","object":${JSON.stringify(last)}}\n`);
    }
    return this.#exit;
  }
}

/** Contiguous history by resourceVersion: entry i has rv `firstRv + i`. */
class History {
  #entries: HistoryEntry[] = [];
  #head = 0;

  get length(): number {
    return this.#entries.length - this.#head;
  }

  push(entry: HistoryEntry): void {
    this.#entries.push(entry);
  }

  at(i: number): HistoryEntry | undefined {
    return this.#entries[this.#head + i];
  }

  first(): HistoryEntry | undefined {
    return this.#entries[this.#head];
  }

  dropFirst(): void {
    this.#entries[this.#head] = undefined as unknown as HistoryEntry;
    this.#head++;
    // Amortised O(1): compact the backing array once half of it is dead.
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }

  clear(): void {
    this.#entries = [];
    this.#head = 0;
  }
}

export interface StoreOptions {
  compactionWindow: number;
  /** Wall clock, ms since the epoch; used for creationTimestamp only. */
  nowMs: () => number;
}

export type StoreListener = (entry: HistoryEntry) => void;

/** RFC 3339 at second precision, as metav1.Time marshals (`2024-01-02T03:04:05Z`). */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

const SYSTEM_META = new Set(['uid', 'resourceVersion', 'generation', 'creationTimestamp']);

export class SimStore {
  readonly #options: StoreOptions;
  readonly #byGvk = new Map<string, ResourceState>();
  readonly #byPath = new Map<string, ResourceState>();
  readonly #history = new History();
  readonly #listeners = new Set<StoreListener>();
  /** Kinds no longer served (a CRD version removed): their objects stay in storage, as in etcd. */
  readonly #removed = new Map<string, ResourceState>();
  #rv = 1;
  /** The oldest resourceVersion a watch or a consistent list can still start from. */
  #compactedRv = 1;

  constructor(options: StoreOptions) {
    this.#options = options;
  }

  get currentRv(): number {
    return this.#rv;
  }

  get compactedRv(): number {
    return this.#compactedRv;
  }

  addResource(res: SimResource, custom: boolean): ResourceState {
    const state = this.#removed.get(formatGvk(res)) ?? new ResourceState(res, custom);
    this.#removed.delete(state.gvk);
    const existing = this.#byGvk.get(state.gvk);
    if (existing) {
      if (existing.res.plural !== res.plural || existing.res.namespaced !== res.namespaced) {
        throw new KubeSimError('kube_sim_resource_conflict', `${state.gvk} is already served differently`, {
          gvk: state.gvk,
        });
      }
      return existing;
    }
    this.#byGvk.set(state.gvk, state);
    this.#byPath.set(`${state.apiVersion}/${res.plural}`, state);
    return state;
  }

  /** Stops serving a kind (discovery and its paths 404); its objects are kept for a later addResource. */
  removeResource(gvk: string): ResourceState {
    const state = this.resourceByGvk(gvk);
    this.#byGvk.delete(state.gvk);
    this.#byPath.delete(`${state.apiVersion}/${state.res.plural}`);
    this.#removed.set(state.gvk, state);
    return state;
  }

  resources(): ResourceState[] {
    return [...this.#byGvk.values()];
  }

  /** The resource served at `/api/v1/<plural>` or `/apis/<group>/<version>/<plural>`. */
  resourceByPath(apiVersion: string, plural: string): ResourceState | undefined {
    return this.#byPath.get(`${apiVersion}/${plural}`);
  }

  resourceByGvk(gvk: string): ResourceState {
    const res = this.#byGvk.get(gvk) ?? this.#byGvk.get(formatGvk(parseGvk(gvk)));
    if (!res) {
      throw new KubeSimError(
        'kube_sim_unknown_kind',
        `${gvk} is not served by the simulator: call addResource first`,
        {
          gvk,
        },
      );
    }
    return res;
  }

  subscribe(listener: StoreListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  keyOf(res: ResourceState, namespace: string | undefined, name: string): string {
    return res.res.namespaced ? `${namespace}/${name}` : name;
  }

  keyOfNsName(res: ResourceState, nsName: string): string {
    const { namespace, name } = parseNsName(nsName);
    if (res.res.namespaced && !namespace) {
      throw new KubeSimError(
        'kube_sim_bad_nsname',
        `${res.gvk} is namespaced: expected ns/name, got "${nsName}"`,
        {
          nsName,
        },
      );
    }
    return this.keyOf(res, namespace, name);
  }

  get(res: ResourceState, key: string): StoredVersion | undefined {
    return res.objects.get(key);
  }

  /** Create or replace, as a controller's POST/PUT: returns the stored version (or the unchanged current one). */
  apply(input: KubeObject): StoredVersion {
    if (!input || typeof input !== 'object' || !input.metadata || !input.metadata.name) {
      throw new KubeSimError(
        'kube_sim_bad_object',
        'apply needs an object with apiVersion, kind and metadata.name',
      );
    }
    const res = this.resourceByGvk(`${input.apiVersion}.${input.kind}`);
    const namespace = input.metadata.namespace;
    if (res.res.namespaced && !namespace) {
      throw new KubeSimError(
        'kube_sim_bad_object',
        `${res.gvk} ${input.metadata.name} has no metadata.namespace`,
        {
          name: input.metadata.name,
        },
      );
    }
    if (!res.res.namespaced && namespace) {
      throw new KubeSimError(
        'kube_sim_bad_object',
        `${res.gvk} is cluster-scoped but has namespace ${namespace}`,
        {
          name: input.metadata.name,
        },
      );
    }
    const key = this.keyOf(res, namespace, input.metadata.name);
    const cur = res.objects.get(key);
    // A private deep copy (objects are JSON data); stored versions are never mutated afterwards,
    // so later versions share unchanged subtrees with earlier ones.
    const { apiVersion: _a, kind: _k, metadata, ...body } = JSON.parse(JSON.stringify(input)) as KubeObject;
    const userMeta: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(metadata)) if (!SYSTEM_META.has(k)) userMeta[k] = v;

    const specJson = JSON.stringify(body.spec);
    const specChanged = cur !== undefined && specJson !== cur.specJson;
    const build = (rv: number): KubeObject => ({
      kind: res.res.kind,
      apiVersion: res.apiVersion,
      metadata: {
        name: metadata.name,
        ...(namespace ? { namespace } : {}),
        // uid and creationTimestamp belong to the object's lifetime; a recreated object gets new ones.
        uid: cur ? cur.object.metadata.uid : randomUUID(),
        resourceVersion: String(rv),
        // metadata.generation counts spec changes only (status and metadata updates leave it).
        generation: cur ? (cur.object.metadata.generation as number) + (specChanged ? 1 : 0) : 1,
        creationTimestamp: cur ? cur.object.metadata.creationTimestamp : rfc3339(this.#options.nowMs()),
        ...userMeta,
      },
      ...body,
    });
    const rv = this.#rv + 1;
    if (!cur)
      return this.#commit(res, key, 'ADDED', new StoredVersion(res, build(rv), rv, { specJson }), cur);
    // An update that changes nothing writes nothing: no new resourceVersion, no watch event
    // (the apiserver's GuaranteedUpdate short-circuits when the stored bytes are identical).
    const same = JSON.stringify(build(cur.rv));
    if (same === cur.json) return cur;
    // metadata.resourceVersion is the first such key in the JSON (after name, namespace and uid,
    // whose quotes would be escaped), so this rewrites exactly that field.
    const json = same.replace(`"resourceVersion":"${cur.rv}"`, `"resourceVersion":"${rv}"`);
    return this.#commit(res, key, 'MODIFIED', new StoredVersion(res, build(rv), rv, { json, specJson }), cur);
  }

  /** Replaces `status` only: a status-subresource update (new resourceVersion, generation unchanged). */
  patchStatus(res: ResourceState, key: string, status: unknown): StoredVersion {
    const cur = res.objects.get(key);
    if (!cur) {
      throw new KubeSimError('kube_sim_not_found', `${res.gvk} ${key} does not exist`, { gvk: res.gvk, key });
    }
    const statusJson = JSON.stringify(status);
    if (statusJson === cur.statusJson) return cur;
    const rv = this.#rv + 1;
    const next: KubeObject = {
      ...cur.object,
      metadata: { ...cur.object.metadata, resourceVersion: String(rv) },
      status: statusJson === undefined ? undefined : JSON.parse(statusJson),
    };
    const version = new StoredVersion(res, next, rv, { specJson: cur.specJson, statusJson });
    return this.#commit(res, key, 'MODIFIED', version, cur);
  }

  delete(res: ResourceState, key: string): StoredVersion {
    const cur = res.objects.get(key);
    if (!cur) {
      throw new KubeSimError('kube_sim_not_found', `${res.gvk} ${key} does not exist`, { gvk: res.gvk, key });
    }
    const rv = this.#rv + 1;
    // The DELETED event carries the last state with the deletion's revision as resourceVersion
    // (the etcd3 watcher stamps the delete revision on the previous value).
    const last = withResourceVersion(cur.object, rv);
    return this.#commit(res, key, 'DELETED', new StoredVersion(res, last, rv), cur);
  }

  #commit(
    res: ResourceState,
    key: string,
    type: WatchEventType,
    version: StoredVersion,
    prev: StoredVersion | undefined,
  ): StoredVersion {
    this.#rv = version.rv;
    if (type === 'DELETED') {
      res.objects.delete(key);
      res.invalidateKeys();
    } else {
      if (!prev) res.invalidateKeys();
      res.objects.set(key, version);
    }
    const entry = new HistoryEntry(version.rv, type, key, version, this.#options.nowMs(), prev);
    this.#history.push(entry);
    while (this.#history.length > this.#options.compactionWindow) {
      this.#compactedRv = this.#history.first()!.rv;
      this.#history.dropFirst();
    }
    for (const listener of this.#listeners) listener(entry);
    return version;
  }

  /**
   * The newest change of `res` after `afterRv` that the watch cache no longer holds because it is
   * older than `windowMs`, or undefined when every change of `res` after `afterRv` is still there.
   * A watch from `afterRv` cannot be served without it: 410 "too old resource version".
   */
  evictedFromWatchCache(
    res: ResourceState,
    afterRv: number,
    nowMs: number,
    windowMs: number,
  ): number | undefined {
    let evicted: number | undefined;
    for (let i = 0; i < this.#history.length; i++) {
      const entry = this.#history.at(i)!;
      if (entry.atMs >= nowMs - windowMs) break;
      if (entry.rv > afterRv && entry.resource === res) evicted = entry.rv;
    }
    return evicted;
  }

  /**
   * Forgets the history up to `rv` (inclusive), as an etcd compaction at that revision: watches
   * and consistent list pages from older revisions get 410 from now on.
   */
  compactTo(rv: number): void {
    const target = Math.min(rv, this.#rv);
    if (target <= this.#compactedRv) return;
    while (this.#history.first() !== undefined && this.#history.first()!.rv <= target)
      this.#history.dropFirst();
    this.#compactedRv = target;
  }

  /** Forgets all history, as an etcd compaction at the current revision. */
  compact(): void {
    this.#history.clear();
    this.#compactedRv = this.#rv;
  }

  /** Every retained change with resourceVersion > `rv`, oldest first (callers check compaction first). */
  *changesAfter(rv: number): Generator<HistoryEntry> {
    const first = this.#history.first();
    if (!first) return;
    for (let i = Math.max(0, rv + 1 - first.rv); i < this.#history.length; i++) yield this.#history.at(i)!;
  }

  /**
   * The state of `res` at revision `rv` for the keys changed since: key → version at `rv`
   * (undefined = absent then). Keys not in the map are as they are now. Caller checks compaction.
   */
  overlayAt(res: ResourceState, rv: number): Map<string, StoredVersion | undefined> {
    const overlay = new Map<string, StoredVersion | undefined>();
    const first = this.#history.first();
    if (!first) return overlay;
    // Walk back from the newest change: the last write per key is its oldest change after rv,
    // whose `prev` is the version at rv.
    for (let i = this.#history.length - 1; i >= 0; i--) {
      const entry = this.#history.at(i)!;
      if (entry.rv <= rv) break;
      if (entry.resource === res) overlay.set(entry.key, entry.prev);
    }
    return overlay;
  }
}
