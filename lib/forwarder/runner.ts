/**
 * The forwarder process: one list/watch loop per tracked kind (plus the pod watch for
 * lifecycles), each driving the pure state machine of watcher.ts with real requests, feeding its
 * outputs to the change pipeline (changes.ts, lifecycles.ts) and from there to delivery.
 *
 * - Kinds are resolved through discovery; a kind the API server does not serve (yet: a CRD not
 *   installed) is retried with backoff and reported in logs, metrics and /readyz, never fatal.
 * - Failures wait as the kind's backoff policy says; a clean watch end re-watches at once.
 * - A watch that stays silent past its timeoutSeconds plus a margin is treated as ended (a
 *   half-open connection never ends by itself); time spent waiting on delivery does not count.
 * - Back-pressure: while delivery's queue is full, a loop awaits its offer and stops reading its
 *   stream. If delivery gives up, the kind stops watching, waits for room, and relists.
 * - Stop: loops end their watches, delivery flushes within the grace period.
 */
import type { Change } from '../ingest/wire.ts';
import type { TracerConfig } from '../trace/config.ts';
import { exportableConfigDoc } from '../trace/config.ts';
import { gvkOf, parseGvk } from '../trace/gvk.ts';
import type { Gvk, NsName, OwnerReference } from '../trace/model.ts';
import { isKnownClusterScoped } from '../trace/owners.ts';
import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from './backoff.ts';
import { type ChangeContext, type Handled, KindChanges, Stamper } from './changes.ts';
import type { Delivery, FlushResult } from './delivery.ts';
import { lifecycleKinds, POD_GVK, PodLifecycles } from './lifecycles.ts';
import type { Logger } from './log.ts';
import type { ForwarderMetrics } from './metrics.ts';
import { OwnerIndex, type OwnerIndexState } from './owner-index.ts';
import { OwnerChains, type OwnerLookupResult } from './owners.ts';
import {
  type ApiResource,
  type KubeApi,
  KubeApiError,
  type ListPage,
  type Runtime,
  type WatchLines,
} from './ports.ts';
import {
  type Failure,
  INITIAL_STATE,
  nextRequest,
  type StepResult,
  step,
  type WatcherInput,
  type WatcherOptions,
  type WatcherOutput,
  type WatcherState,
} from './watcher.ts';

export interface ForwarderTuning {
  /** Most items per list page. */
  pageLimit: number;
  /**
   * Size a list page aims at: after the first page (at most `firstPageLimit` items), each page's
   * limit is what fits these many bytes at the previous page's bytes per item, within
   * [1, pageLimit]. A 500-pod page of 9 KB pods is 4.5 MB of JSON and ~15 MB parsed, held twice
   * (one page fetched ahead): the largest transient allocation of a big list. 256 KiB (~28 such
   * pods) mostly dies in V8's young generation (2 MiB semi-spaces): against 1 MiB pages, a
   * 10,000-pod list took ~10 % less CPU and ~4 MiB less RSS, for 4x the requests (~3,500 for
   * 100,000 pods, on the same keep-alive connection).
   */
  listPageBytes: number;
  /** Items of a list's first page, before the objects' size is known. */
  firstPageLimit: number;
  /** Asked of the server per watch; kube-rs uses 290 s, under the usual 300 s proxy limits. */
  watchTimeoutSec: number;
  /** Silence tolerated past watchTimeoutSec before a watch counts as dead. */
  watchIdleMarginSec: number;
  /** Names per relist page (ingest accepts up to 5,000). */
  relistPageSize: number;
  /** Retries of lists and watches. */
  kubeBackoff: BackoffOptions;
  /** Retries of discovery for kinds not served yet. */
  discoveryBackoff: BackoffOptions;
  ownerCacheEntries: number;
  ownerCacheTtlMs: number;
  /** Attempts per owner GET before sending a change without its chain. */
  ownerLookupAttempts: number;
  /**
   * List pages fetched ahead of the page being processed (bounded: each holds `pageLimit`
   * objects), so a slow endpoint does not leave the list's continue token idle until it expires.
   */
  listPagesAhead: number;
  /**
   * Resolve owners through a list/watch index of each owner kind (owner-index.ts) instead of a
   * GET per owner. Off only for tests of the GET path.
   */
  ownerIndexes: boolean;
  /** Longest a lookup waits for an owner index's first list before a GET answers instead. */
  ownerIndexWaitMs: number;
  /**
   * A list pass of at least this many objects ends with one full GC (where the runtime offers
   * one: `Runtime.collectGarbage`). A pass leaves tens of MB of garbage that V8 would otherwise
   * keep committed until its next major GC, which an idle watch may not reach for a long time:
   * at 100,000 pods VmRSS 140 → ~95 MiB, for one ~50 ms pause per pass (docs/benchmarks.md
   * forwarder_memory). Never on the watch path.
   */
  gcAfterListObjects: number;
}

export const DEFAULT_TUNING: ForwarderTuning = {
  pageLimit: 500,
  listPageBytes: 256 * 1024,
  firstPageLimit: 100,
  watchTimeoutSec: 290,
  watchIdleMarginSec: 30,
  relistPageSize: 500,
  kubeBackoff: DEFAULT_BACKOFF,
  discoveryBackoff: { ...DEFAULT_BACKOFF, initialMs: 1_000, maxMs: 60_000 },
  ownerCacheEntries: 10_000,
  ownerCacheTtlMs: 10 * 60_000,
  ownerLookupAttempts: 3,
  listPagesAhead: 1,
  ownerIndexes: true,
  ownerIndexWaitMs: 60_000,
  gcAfterListObjects: 5_000,
};

export interface ForwarderDeps {
  config: TracerConfig;
  kube: KubeApi;
  delivery: Delivery;
  runtime: Runtime;
  log: Logger;
  metrics: ForwarderMetrics;
  tuning?: Partial<ForwarderTuning>;
}

type Handler = (output: WatcherOutput) => Handled;

interface KindStatus {
  gvk: Gvk;
  /** Discovery answered that the API server does not serve this kind (yet). */
  notFound: boolean;
  found: boolean;
  listed: boolean;
  phase: WatcherState['phase'] | 'resolving';
}

export interface Readiness {
  ready: boolean;
  kinds: KindStatus[];
  /** Owner kinds indexed for owner chains (not part of readiness: lookups fall back to GETs). */
  ownerIndexes: Array<{ gvk: Gvk; state: OwnerIndexState; owners: number; reason?: string }>;
}

export class Forwarder {
  readonly #deps: ForwarderDeps;
  readonly #tuning: ForwarderTuning;
  readonly #stop = new AbortController();
  readonly #ctx: ChangeContext;
  readonly #loops: KindLoop[] = [];
  readonly #forbiddenOwnerKinds = new Set<Gvk>();
  readonly #indexes = new Map<Gvk, OwnerIndex>();
  #started = false;
  #running: Promise<void>[] = [];

  constructor(deps: ForwarderDeps) {
    this.#deps = deps;
    this.#tuning = { ...DEFAULT_TUNING, ...deps.tuning };
    const { runtime, metrics, log, delivery } = deps;
    const owners = new OwnerChains((ref, ns) => this.#lookupOwner(ref, ns), {
      maxEntries: this.#tuning.ownerCacheEntries,
      ttlMs: this.#tuning.ownerCacheTtlMs,
      nowMs: runtime.nowMs,
      onLookup: (result) => metrics.ownerLookups.inc({ result }),
    });
    this.#ctx = {
      stamper: new Stamper(runtime.nowMs),
      sink: (changes: Change[]) => delivery.offerNow(changes),
      owners,
      metrics,
      log,
      relistPageSize: this.#tuning.relistPageSize,
    };
    const config = deps.config;
    const lifecycles = lifecycleKinds(config).size > 0 ? new PodLifecycles(config, this.#ctx) : undefined;
    let podsWatched = false;
    for (const kind of config.trackedObjects.values()) {
      const changes = new KindChanges(kind, this.#ctx);
      const handlers: Handler[] = [(o) => changes.handle(o)];
      if (kind.gvk === POD_GVK && lifecycles) {
        handlers.push((o) => lifecycles.handle(o));
        podsWatched = true;
      }
      this.#loops.push(new KindLoop(kind.gvk, handlers, this, () => changes.size));
    }
    if (lifecycles && !podsWatched) {
      // Lifecycles need the pods even when Pods themselves are not traced.
      this.#loops.push(new KindLoop(POD_GVK, [(o) => lifecycles.handle(o)], this, () => lifecycles.size));
    }
  }

  get deps(): ForwarderDeps {
    return this.#deps;
  }

  get tuning(): ForwarderTuning {
    return this.#tuning;
  }

  get stopSignal(): AbortSignal {
    return this.#stop.signal;
  }

  /** Sends the tracer config and starts every loop. */
  async start(): Promise<void> {
    const { delivery, runtime, config, log } = this.#deps;
    delivery.start();
    const ts = Math.floor(runtime.nowMs() / 1000);
    await delivery.offer([{ type: 'config', ts, config: exportableConfigDoc(config) }]);
    log.info('forwarder started', { kinds: this.#loops.map((l) => l.gvk) });
    this.#started = true;
    this.#running.push(...this.#loops.map((l) => l.run()));
  }

  readiness(): Readiness {
    const kinds = this.#loops.map((l) => l.status());
    const ownerIndexes = [...this.#indexes.values()].map((i) => {
      const status: Readiness['ownerIndexes'][number] = { gvk: i.gvk, state: i.state, owners: i.size };
      if (i.reason !== undefined) status.reason = i.reason;
      return status;
    });
    return { ready: kinds.every((k) => k.listed), kinds, ownerIndexes };
  }

  /** The index of an owner kind, its list/watch loop started on first use. */
  #indexFor(gvk: Gvk): OwnerIndex | undefined {
    if (!this.#tuning.ownerIndexes || !this.#started) return undefined;
    let index = this.#indexes.get(gvk);
    if (!index) {
      const created = new OwnerIndex(gvk);
      index = created;
      this.#indexes.set(gvk, created);
      const loop = new KindLoop(gvk, [(o) => created.handle(o)], this, () => created.size, created);
      this.#running.push(loop.run());
    }
    return index;
  }

  /**
   * Waits for an owner index's first list, at most `ownerIndexWaitMs`: an index stuck retrying
   * (5xx, throttling) must not hold every dependent's change; GETs answer meanwhile.
   */
  async #indexReady(index: OwnerIndex): Promise<boolean> {
    if (index.state !== 'starting') return index.state === 'ready';
    const waited = new AbortController();
    const onStop = () => waited.abort();
    this.#stop.signal.addEventListener('abort', onStop, { once: true });
    try {
      return await Promise.race([
        index.whenReady(waited.signal),
        this.#deps.runtime.sleep(this.#tuning.ownerIndexWaitMs, waited.signal).then(() => false),
      ]);
    } finally {
      waited.abort();
      this.#stop.signal.removeEventListener('abort', onStop);
    }
  }

  /** Recounts the kinds discovery did not find, for the metric. */
  refreshNotFound(): void {
    this.#deps.metrics.kindsNotFound.set({}, this.#loops.filter((l) => l.status().notFound).length);
  }

  /**
   * Stops watching, then flushes what delivery holds within `graceMs` (SIGTERM: Kubernetes
   * waits terminationGracePeriodSeconds, 30 s by default, before SIGKILL).
   */
  async stop(graceMs: number): Promise<FlushResult> {
    const { delivery, log } = this.#deps;
    log.info('stopping: watches end, held changes are flushed', { graceMs });
    this.#stop.abort();
    // Flushing closes delivery, which also releases loops waiting for queue room.
    const flushed = await delivery.flush(graceMs);
    await Promise.allSettled(this.#running);
    return flushed;
  }

  /** Resolves the kind of an owner reference and GETs it, with a few retries. */
  async #lookupOwner(ref: OwnerReference, namespace: string | undefined): Promise<OwnerLookupResult> {
    const { kube, runtime, log } = this.#deps;
    const gvk = gvkOf(ref);
    // Without discovery (kind not served), the scope comes from the list of built-in kinds.
    let nsName: NsName = namespace && !isKnownClusterScoped(gvk) ? `${namespace}/${ref.name}` : ref.name;
    const backoff = new Backoff(this.#tuning.kubeBackoff, runtime.random);
    for (let attempt = 1; ; attempt++) {
      try {
        const { group, version, kind } = parseGvk(gvk);
        const resource = await kube.resolve(group, version, kind, this.#stop.signal);
        if (!resource) return { nsName };
        const ns = resource.namespaced ? namespace : undefined;
        nsName = ns ? `${ns}/${ref.name}` : ref.name;
        const index = this.#indexFor(resource.gvk);
        if (index && (await this.#indexReady(index))) {
          const indexed = index.objectOf(nsName, ref.apiVersion, ref.kind);
          if (indexed) return { nsName, object: indexed };
          // Not indexed: created a moment ago (its event not read yet) or gone. One GET tells;
          // the chain cache keeps the answer, so this is per owner, not per dependent.
        }
        this.#deps.metrics.ownerGets.inc();
        const object = await kube.get(resource, ns, ref.name, this.#stop.signal);
        return object ? { nsName, object } : { nsName };
      } catch (err) {
        const status = err instanceof KubeApiError ? err.status : undefined;
        if (status === 401 || status === 403) {
          // No permission to read this owner kind: the chain stops at it (cached like a missing
          // owner), said once per kind rather than once per object.
          if (!this.#forbiddenOwnerKinds.has(gvk)) {
            this.#forbiddenOwnerKinds.add(gvk);
            log.warn('no permission to get owners of this kind; owner chains stop at it (grant get on it)', {
              gvk,
              status,
            });
          }
          return { nsName };
        }
        if (attempt >= this.#tuning.ownerLookupAttempts || this.#stop.signal.aborted) throw err;
        const retryAfterMs = err instanceof KubeApiError ? err.retryAfterMs : undefined;
        await runtime.sleep(backoff.next(runtime.nowMs(), retryAfterMs), this.#stop.signal);
      }
    }
  }
}

/** The list/watch loop of one kind. */
class KindLoop {
  /** The kind, or `<gvk> owners` for an owner index's loop (logs and metrics). */
  readonly gvk: Gvk;
  readonly #kindGvk: Gvk;
  /** Set for the loop of an owner index: metadata only, and it gives up on 401/403/not served. */
  readonly #index: OwnerIndex | undefined;
  readonly #handlers: Handler[];
  readonly #fw: Forwarder;
  readonly #size: () => number;
  #state: WatcherState = INITIAL_STATE;
  #found = false;
  #listed = false;
  /** Lists done and watch events read: progress that resets the backoff. */
  #progress = 0;
  /** Objects of the list pass that just completed, until the GC after it (gcAfterListObjects). */
  #justListed = 0;
  #resolving = true;
  #notFound = false;
  #notFoundLogged = false;

  constructor(gvk: Gvk, handlers: Handler[], fw: Forwarder, size: () => number, index?: OwnerIndex) {
    this.gvk = index ? `${gvk} owners` : gvk;
    this.#kindGvk = gvk;
    this.#index = index;
    this.#handlers = handlers;
    this.#fw = fw;
    this.#size = size;
  }

  status(): KindStatus {
    return {
      gvk: this.gvk,
      notFound: this.#notFound,
      found: this.#found,
      listed: this.#listed,
      phase: this.#resolving ? 'resolving' : this.#state.phase,
    };
  }

  async run(): Promise<void> {
    const { log } = this.#fw.deps;
    try {
      for (;;) {
        const resource = await this.#resolve();
        if (!resource) return;
        // Returns when the kind stops being served (404): resolve it again.
        if (!(await this.#loop(resource))) return;
      }
    } catch (err) {
      // A bug, not an API failure (those are steps of the machine). The rejection is left
      // unhandled so the process dies and its restart relists, rather than run on without the kind.
      log.error('the loop of a kind crashed', { gvk: this.gvk, error: err });
      throw err;
    }
  }

  async #resolve(): Promise<ApiResource | undefined> {
    const { kube, runtime, log, metrics } = this.#fw.deps;
    const signal = this.#fw.stopSignal;
    const { group, version, kind } = parseGvk(this.#kindGvk);
    const backoff = new Backoff(this.#fw.tuning.discoveryBackoff, runtime.random);
    metrics.kindFound.set({ gvk: this.gvk }, 0);
    metrics.kindListed.set({ gvk: this.gvk }, 0);
    while (!signal.aborted) {
      let resource: ApiResource | undefined;
      let error: unknown;
      try {
        resource = await kube.resolve(group, version, kind, signal);
      } catch (err) {
        error = err;
      }
      if (resource) {
        this.#found = true;
        this.#notFound = false;
        this.#resolving = false;
        metrics.kindFound.set({ gvk: this.gvk }, 1);
        this.#fw.refreshNotFound();
        if (this.#notFoundLogged) log.info('tracked kind is now served; watching it', { gvk: this.gvk });
        return resource;
      }
      if (this.#index && error === undefined) {
        this.#index.markUnavailable('not served');
        log.info('owner kind is not served; its owners are looked up one GET each', { gvk: this.#kindGvk });
        return undefined;
      }
      const delayMs = backoff.next(
        runtime.nowMs(),
        error instanceof KubeApiError ? error.retryAfterMs : undefined,
      );
      if (error !== undefined) {
        log.warn('discovery failed; retrying', { gvk: this.gvk, error, retryInMs: delayMs });
      } else {
        this.#notFound = true;
        this.#fw.refreshNotFound();
        if (!this.#notFoundLogged) {
          log.warn(
            'tracked kind is not served by the API server (CRD not installed?); retrying until it is',
            {
              gvk: this.gvk,
              retryInMs: delayMs,
            },
          );
          this.#notFoundLogged = true;
        }
      }
      await runtime.sleep(delayMs, signal);
    }
    return undefined;
  }

  #options(resource: ApiResource): WatcherOptions {
    const apiVersion = resource.group ? `${resource.group}/${resource.version}` : resource.version;
    const t = this.#fw.tuning;
    return { apiVersion, kind: resource.kind, pageLimit: t.pageLimit, watchTimeoutSec: t.watchTimeoutSec };
  }

  /** Lists and watches until stopped (false) or until the kind is no longer served (true). */
  async #loop(resource: ApiResource): Promise<boolean> {
    const { kube, runtime } = this.#fw.deps;
    const signal = this.#fw.stopSignal;
    const options = this.#options(resource);
    const backoff = new Backoff(this.#fw.tuning.kubeBackoff, runtime.random);
    const metadata: { metadataOnly?: true } = this.#index ? { metadataOnly: true } : {};
    const t = this.#fw.tuning;
    const sizes = new PageSizes(t.pageLimit, t.firstPageLimit, t.listPageBytes);
    const pages = new PagesAhead(
      (continueToken) =>
        kube.list(
          resource,
          continueToken
            ? { limit: sizes.next(), continueToken, ...metadata }
            : { limit: sizes.first(), ...metadata },
          signal,
        ),
      t.listPagesAhead,
      (page) => sizes.observe(page),
    );
    while (!signal.aborted) {
      const request = nextRequest(this.#state, options);
      const progress = this.#progress;
      let failure: Failure | undefined;
      if (request.type === 'list') {
        const listed = await this.#listPage(pages, request.continueToken, options);
        if (listed === 'stopped') return false;
        failure = listed;
        // Here, not in #listPage: that frame holds the last page's objects.
        if (this.#justListed >= t.gcAfterListObjects) runtime.collectGarbage?.();
        this.#justListed = 0;
      } else {
        pages.clear();
        failure = await this.#watch(resource, request, options);
      }
      if (this.#index && (failure?.status === 401 || failure?.status === 403)) {
        // No RBAC permission to list/watch this owner kind: GETs (if allowed) resolve its owners.
        this.#index.markUnavailable(`forbidden (${failure.status})`);
        this.#fw.deps.log.warn(
          'no permission to list/watch an owner kind; its owners are looked up one GET each (grant list and watch on it)',
          { gvk: this.#kindGvk, status: failure.status },
        );
        return false;
      }
      if (failure?.status === 404 && !signal.aborted) {
        pages.clear();
        this.#removed(resource, failure);
        return true;
      }
      // As kube-rs's StreamBackoff: a request that made progress (a list done, a watch event)
      // resets the backoff, so one failure after a success waits the first step. Otherwise
      // repeated 410s or dropped watches, each after a good relist, climbed to the 30 s ceiling
      // within seconds (the chaos harness's 410 storm: relists 47 s late by the fourth).
      if (this.#progress !== progress) backoff.reset();
      if (failure && !signal.aborted) await this.#wait(backoff, failure);
    }
    return false;
  }

  /**
   * One list page: fetched (or taken from those fetched ahead), stepped and handed on. Its own
   * frame: #loop's stays suspended for the whole of each watch (minutes), and a suspended async
   * frame keeps its dead locals — the last page's 500 parsed objects (~10 MB of heap at 20 KB
   * pods) were retained until the next list (heap snapshot at 10,000 pods: 82,000 empty
   * managedFields objects still referenced).
   */
  async #listPage(
    pages: PagesAhead,
    continueToken: string | undefined,
    options: WatcherOptions,
  ): Promise<Failure | undefined | 'stopped'> {
    const { metrics } = this.#fw.deps;
    let result: StepResult;
    try {
      const page = await pages.get(continueToken);
      const input: WatcherInput = {
        type: 'listPage',
        items: page.items,
        resourceVersion: page.resourceVersion,
      };
      if (page.continueToken) input.continueToken = page.continueToken;
      result = step(this.#state, input, options);
    } catch (err) {
      if (this.#fw.stopSignal.aborted) return 'stopped';
      pages.clear();
      result = step(this.#state, failedInput('listFailed', err), options);
      metrics.kubeErrors.inc({ gvk: this.gvk, op: 'list', status: statusLabel(err) });
    }
    await this.#apply(result, options);
    return result.failure;
  }

  /**
   * A list or watch answered 404: the kind's CRD or API version was removed (discovery changes
   * with it). The kind goes back to discovery, reported as not found (log, metrics, /readyz)
   * until it is served again; then it is listed afresh (its objects may have changed meanwhile).
   */
  #removed(resource: ApiResource, failure: Failure): void {
    const { kube, log, metrics } = this.#fw.deps;
    kube.forget?.(resource.gvk);
    this.#found = false;
    this.#listed = false;
    this.#resolving = true;
    this.#notFoundLogged = true;
    this.#state = { phase: 'empty', cause: 'removed' };
    metrics.kindFound.set({ gvk: this.gvk }, 0);
    metrics.kindListed.set({ gvk: this.gvk }, 0);
    log.warn(
      'tracked kind is no longer served (CRD or API version removed?); resolving it again until it is',
      {
        gvk: this.gvk,
        reason: failure.reason,
      },
    );
  }

  /** One watch connection; returns the failure that ended it, if any. */
  async #watch(
    resource: ApiResource,
    request: Extract<ReturnType<typeof nextRequest>, { type: 'watch' }>,
    options: WatcherOptions,
  ): Promise<Failure | undefined> {
    const { kube, runtime, metrics } = this.#fw.deps;
    const stop = this.#fw.stopSignal;
    const connection = new AbortController();
    const onStop = () => connection.abort();
    stop.addEventListener('abort', onStop, { once: true });
    const cleanup = () => {
      connection.abort();
      stop.removeEventListener('abort', onStop);
    };
    let lines: WatchLines;
    try {
      lines = await kube.watch(
        resource,
        this.#index ? { ...request, metadataOnly: true } : request,
        connection.signal,
      );
    } catch (err) {
      cleanup();
      if (stop.aborted) return undefined;
      metrics.kubeErrors.inc({ gvk: this.gvk, op: 'watch', status: statusLabel(err) });
      const result = step(this.#state, failedInput('watchFailed', err), options);
      await this.#apply(result, options);
      return result.failure;
    }
    await this.#apply(step(this.#state, { type: 'watchOpened' }, options), options);
    const openedAtMs = runtime.nowMs();
    let linesRead = 0;

    // The idle watchdog: silence from the server past timeoutSeconds + margin ends the watch.
    const idleMs = (options.watchTimeoutSec + this.#fw.tuning.watchIdleMarginSec) * 1000;
    let lastHeardMs = runtime.nowMs();
    let busy = false;
    let idle = false;
    const watchdog = (async () => {
      while (!connection.signal.aborted) {
        await runtime.sleep(Math.min(idleMs / 4, 5_000), connection.signal);
        if (!busy && !connection.signal.aborted && runtime.nowMs() - lastHeardMs > idleMs) {
          idle = true;
          connection.abort();
        }
      }
    })();

    let failure: Failure | undefined;
    let end: WatcherInput | undefined;
    // The lines that arrived together are handled in one synchronous loop: a watch event awaits
    // nothing unless delivery must wait for queue room (or owners must be looked up), so a burst
    // costs one promise per chunk, not a chain of them per line (for await … of, then #apply's,
    // then the handler's: ~1.5 KB of garbage and ~8 microtask turns per event).
    const iterator = lines[Symbol.asyncIterator]();
    const nextBatch = lines.nextBatch
      ? () => lines.nextBatch!()
      : async () => {
          const r = await iterator.next();
          return r.done ? undefined : [r.value];
        };
    /** The lines ended (or failed): nothing to close. As for await … of, which this loop was. */
    let ended = false;
    try {
      reading: for (;;) {
        let batch: readonly string[] | undefined;
        try {
          batch = await nextBatch();
        } catch (err) {
          ended = true;
          throw err;
        }
        if (batch === undefined) {
          ended = true;
          break;
        }
        busy = true;
        for (let i = 0; i < batch.length; i++) {
          linesRead++;
          const result = step(this.#state, { type: 'watchLine', line: batch[i]! }, options);
          failure ??= result.failure;
          const applying = this.#apply(result, options);
          if (applying !== undefined) await applying;
          if (this.#state.phase !== 'watching') break reading;
        }
        busy = false;
        lastHeardMs = runtime.nowMs();
      }
      if (!ended) {
        ended = true;
        await iterator.return?.();
      }
      if (this.#state.phase === 'watching') {
        // client-go reflector: "watch lasted less than a second and no items received" is an error.
        const short = linesRead === 0 && runtime.nowMs() - openedAtMs < 1000;
        end = { type: 'watchEnded', reason: short ? 'short' : 'clean' };
      }
    } catch (err) {
      // As for await … of leaving on a throw: the stream is closed, and an error closing it does
      // not replace the one that ended the loop.
      if (!ended) await Promise.resolve(iterator.return?.()).catch(() => {});
      if (!stop.aborted) {
        end = { type: 'watchEnded', reason: idle ? 'idle' : 'dropped', message: (err as Error).message };
      }
    } finally {
      busy = false;
      cleanup();
      await watchdog;
    }
    if (end && end.type === 'watchEnded') {
      metrics.watchRestarts.inc({ gvk: this.gvk, reason: end.reason });
      const result = step(this.#state, end, options);
      failure ??= result.failure;
      await this.#apply(result, options);
    }
    return failure;
  }

  /**
   * Takes a step's new state and feeds its outputs to the handlers; a stall relists later.
   * Synchronous (undefined) while every handler answers at once; a promise from the first one that
   * has to wait, the rest of the outputs handled after it.
   */
  #apply(result: StepResult, options: WatcherOptions): Promise<void> | undefined {
    this.#state = result.state;
    const outputs = result.outputs;
    for (let i = 0; i < outputs.length; i++) {
      const out = outputs[i]!;
      if (!this.#noted(out)) continue;
      for (let h = 0; h < this.#handlers.length; h++) {
        const handled = this.#handlers[h]!(out);
        if (handled === true) continue;
        return this.#applyRest(handled, outputs, i, h, options);
      }
      this.#handled(out);
    }
    return undefined;
  }

  /** #apply from handler `h` of output `i` on, whose answer `handled` was not true. */
  async #applyRest(
    handled: false | Promise<boolean>,
    outputs: readonly WatcherOutput[],
    i: number,
    h: number,
    options: WatcherOptions,
  ): Promise<void> {
    if (!(await handled)) return this.#stalled(options);
    for (let k = h + 1; k < this.#handlers.length; k++) {
      if (!(await this.#handlers[k]!(outputs[i]!))) return this.#stalled(options);
    }
    this.#handled(outputs[i]!);
    for (let j = i + 1; j < outputs.length; j++) {
      const out = outputs[j]!;
      if (!this.#noted(out)) continue;
      for (const handle of this.#handlers) {
        if (!(await handle(out))) return this.#stalled(options);
      }
      this.#handled(out);
    }
  }

  /** The metrics and logs of an output; false when that is all there is to it (no handler sees it). */
  #noted(out: WatcherOutput): boolean {
    const { metrics, log } = this.#fw.deps;
    const gvk = this.gvk;
    switch (out.type) {
      case 'listStarted':
        metrics.relists.inc({ gvk, cause: out.cause });
        if (out.cause !== 'initial') log.info('relisting a kind', { gvk, cause: out.cause });
        return false;
      case 'event':
        if (out.eventType !== 'ERROR') this.#progress++;
        metrics.watchEvents.inc({ gvk, type: out.eventType });
        return false;
      case 'unparsable':
        metrics.unparsableLines.inc({ gvk });
        log.error('unparsable watch data; the kind is relisted so that no change is missed', {
          gvk,
          reason: out.reason,
          line: out.line,
        });
        return false;
      case 'applied':
        if (out.listed) metrics.listedObjects.inc({ gvk });
        return true;
      default:
        return true;
    }
  }

  /** After every handler took `out`. */
  #handled(out: WatcherOutput): void {
    if (out.type !== 'relisted') return;
    const { metrics, log } = this.#fw.deps;
    const gvk = this.gvk;
    this.#progress++;
    this.#justListed = out.nsNames.length;
    if (!this.#listed)
      log.info('listed a kind; watching it', { gvk, objects: out.nsNames.length, tracked: this.#size() });
    this.#listed = true;
    metrics.kindListed.set({ gvk }, 1);
  }

  async #stalled(options: WatcherOptions): Promise<void> {
    const { delivery, metrics, log } = this.#fw.deps;
    const signal = this.#fw.stopSignal;
    this.#state = step(this.#state, { type: 'stalled' }, options).state;
    if (signal.aborted) return;
    metrics.changesDropped.inc({ gvk: this.gvk, reason: 'stalled' });
    log.warn(
      'delivery queue full for too long: stopped watching this kind; it relists once the endpoint takes changes again',
      { gvk: this.gvk, queueBytes: delivery.bytes, queueChanges: delivery.depth },
    );
    await delivery.waitForRoom(signal);
  }

  async #wait(backoff: Backoff, failure: Failure): Promise<void> {
    const { runtime, log } = this.#fw.deps;
    const delayMs = backoff.next(runtime.nowMs(), failure.retryAfterMs);
    const fields = { gvk: this.gvk, reason: failure.reason, status: failure.status, retryInMs: delayMs };
    // 410 is routine (compaction); everything else is worth a warning.
    if (failure.status === 410) log.info('resourceVersion expired; relisting', fields);
    else log.warn('Kubernetes API request failed; retrying', fields);
    await runtime.sleep(delayMs, this.#fw.stopSignal);
  }
}

/**
 * The pages of one paged list, fetched up to `ahead` pages before the page being processed: the
 * next page is requested as soon as a page with a continue token arrives. Bounded, and reset
 * whenever the list pass ends or fails.
 */
class PagesAhead {
  readonly #fetch: (continueToken: string | undefined) => Promise<ListPage>;
  readonly #ahead: number;
  #pending = new Map<string, Promise<ListPage>>();

  /** `fetched` sees every page as it arrives, before the next one is requested. */
  constructor(
    fetch: (continueToken: string | undefined) => Promise<ListPage>,
    ahead: number,
    fetched: (page: ListPage) => void,
  ) {
    this.#fetch = (continueToken) =>
      fetch(continueToken).then((page) => {
        fetched(page);
        return page;
      });
    this.#ahead = ahead;
  }

  /** The page at `continueToken` (the first page when undefined), prefetching what follows. */
  async get(continueToken: string | undefined): Promise<ListPage> {
    const key = continueToken ?? '';
    const pending = this.#pending.get(key);
    this.#pending.delete(key);
    // Not the page prefetched: a new pass (or a retry) — what was fetched ahead is stale.
    if (pending === undefined) this.clear();
    const page = await (pending ?? this.#fetch(continueToken));
    if (page.continueToken) this.#prefetch(page.continueToken, this.#ahead);
    return page;
  }

  #prefetch(continueToken: string, left: number): void {
    if (left <= 0 || this.#pending.has(continueToken)) return;
    const generation = this.#pending;
    const promise = this.#fetch(continueToken).then((page) => {
      // Deeper pages only while this pass is still the current one.
      if (page.continueToken && generation === this.#pending) this.#prefetch(page.continueToken, left - 1);
      return page;
    });
    // A failed prefetch is reported when its page is asked for; unasked, it is dropped.
    promise.catch(() => {});
    this.#pending.set(continueToken, promise);
  }

  clear(): void {
    this.#pending = new Map();
  }
}

/**
 * The limit of each list page, aiming at `targetBytes` per page: the first page asks for
 * `firstLimit` items, each later one for as many as fit `targetBytes` at the bytes per item seen
 * so far, within [1, maxLimit]. Kubernetes takes any limit with a continue token (the token
 * carries the position, not the page size).
 */
export class PageSizes {
  readonly #maxLimit: number;
  readonly #firstLimit: number;
  readonly #targetBytes: number;
  #bytesPerItem: number | undefined;

  constructor(maxLimit: number, firstLimit: number, targetBytes: number) {
    this.#maxLimit = maxLimit;
    this.#firstLimit = Math.max(1, Math.min(firstLimit, maxLimit));
    this.#targetBytes = targetBytes;
  }

  first(): number {
    return this.#firstLimit;
  }

  next(): number {
    if (this.#bytesPerItem === undefined) return this.#firstLimit;
    return Math.max(1, Math.min(this.#maxLimit, Math.floor(this.#targetBytes / this.#bytesPerItem)));
  }

  observe(page: Pick<ListPage, 'items' | 'bytes'>): void {
    if (page.bytes === undefined || page.items.length === 0) return;
    this.#bytesPerItem = page.bytes / page.items.length;
  }
}

function failedInput(type: 'listFailed' | 'watchFailed', err: unknown): WatcherInput {
  const input: { type: typeof type; status?: number; retryAfterMs?: number; message: string } = {
    type,
    message: err instanceof Error ? err.message : String(err),
  };
  if (err instanceof KubeApiError) {
    if (err.status !== undefined) input.status = err.status;
    if (err.retryAfterMs !== undefined) input.retryAfterMs = err.retryAfterMs;
  }
  return input;
}

function statusLabel(err: unknown): string {
  return err instanceof KubeApiError && err.status !== undefined ? String(err.status) : 'connection';
}
