/**
 * A simulated kube-apiserver for tests and benchmarks: the real REST, list and watch protocol over
 * plain `node:http`, so that `@kubernetes/client-node` (and kubectl) cannot tell it from a real
 * one, plus a programmatic side to change the cluster and inject faults.
 *
 * What it serves (GET only; the read side a tracer uses):
 * - discovery: /api, /apis, /apis/<g>, /api/v1, /apis/<g>/<v>, aggregated discovery v2/v2beta1, /version;
 * - lists with paging, resourceVersion / resourceVersionMatch, label and field selectors (list.ts);
 * - single objects and their /status subresource;
 * - watches (?watch=true or the legacy /watch/ path) with bookmarks, timeouts, 410 Gone (watch.ts);
 * - Status errors: 401 without the bearer token, 404, 400/422 for bad parameters, injected 429/5xx.
 * Behaviour and its source is documented where it is implemented (status.ts, list.ts, watch.ts).
 *
 * sendInitialEvents (streaming lists, KEP-3157) is supported: initial ADDED events, then a bookmark
 * annotated `k8s.io/initial-events-end` when bookmarks are allowed, as a 1.32 server does.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { KubeObject } from '../../lib/trace/model.ts';
import {
  aggregatedDiscovery,
  apiGroupDoc,
  apiGroupList,
  apiResourceList,
  apiVersions,
  BUILTIN_RESOURCES,
  versionInfo,
} from './discovery.ts';
import { ContinueTokenError, decodeContinue, encodeContinue, listPage } from './list.ts';
import { type ObjectMatcher, parseFieldSelector, parseLabelSelector, SelectorError } from './selectors.ts';
import {
  badRequest,
  expired,
  forbidden,
  injectedFault,
  internalError,
  invalidListOptions,
  type KubeStatus,
  methodNotAllowed,
  notAcceptable,
  notFound,
  pathNotFound,
  tooLargeResourceVersion,
  unauthorized,
} from './status.ts';
import { type ResourceState, type SimResource, SimStore } from './store.ts';
import { Watcher, type WatchSpec } from './watch.ts';

export type { SimResource } from './store.ts';
export { KubeSimError } from './store.ts';

export interface SimOptions {
  /** Default 0: a random free port on 127.0.0.1. */
  port?: number;
  /**
   * Watch duration when the client gives no timeoutSeconds. Real servers pick 30–60 min
   * (--min-request-timeout=1800, randomised ×[1,2)); default 1800.
   */
  watchTimeoutSec?: number;
  /** Past revisions kept for watches and consistent pages before 410 Gone; default 10,000. */
  compactionWindow?: number;
  /** How often watches with allowWatchBookmarks=true get a BOOKMARK; default 60 s ("roughly every minute"). */
  bookmarkIntervalMs?: number;
  /** Items per list page when the client gives no limit (real servers return all; unset by default). */
  defaultPageLimit?: number;
  /** Bearer token clients must send; random by default. */
  token?: string;
  /** Wall clock in ms, for creationTimestamp; default Date.now. */
  nowMs?: () => number;
  /**
   * Bytes a watch may queue on its socket before it waits for the client to read; default 1 MiB.
   * A watch whose unread changes fall out of the compaction window is closed as too slow.
   */
  watchBufferBytes?: number;
  /** Entries kept in `requests` (the oldest are dropped in batches past it); default 100,000. */
  requestLogLimit?: number;
  /**
   * etcd compaction on a clock, as kube-apiserver runs it (apiserver pkg/storage/etcd3/compact.go:
   * every `--etcd-compaction-interval`, 5 min by default, it compacts to the revision it saw at the
   * previous tick, so history lives between one and two intervals). After it, continue tokens and
   * resourceVersions older than that revision get 410. Default 300,000 ms; 0 turns it off.
   */
  compactionIntervalMs?: number;
  /**
   * The watch cache's history window (apiserver pkg/storage/cacher/cacher.go
   * `DefaultEventFreshDuration` = bookmark frequency 60 s + 15 s = 75 s): a busy kind's cache
   * drops events older than this, and a watch from a resourceVersion before a dropped event gets
   * "too old resource version" (410) even though etcd has not compacted yet. Default 75,000; 0 off.
   */
  watchCacheWindowMs?: number;
  /**
   * How long a watcher that does not read may hold back events before the cacher closes it
   * (cache_watcher.go "Forcing watcher close due to unresponsiveness" once its buffers are full
   * and the dispatch time budget, time_budget.go at most 100 ms, is spent). Measured from when
   * the watcher's socket buffer (`watchBufferBytes`) is full, checked when an event for it
   * arrives. Default 100 ms.
   */
  slowWatcherBudgetMs?: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
}

export interface Fault {
  method?: string;
  /** Matches when it matches the path (`/api/v1/pods`) or the whole target with the query (`/api/v1/pods?watch=true`). */
  path?: RegExp;
  status: 429 | 500 | 503 | 504;
  times: number;
  retryAfterSec?: number;
}

/** How long a request naming a future resourceVersion waits for it (the cacher's 3 s block). */
const TOO_LARGE_RV_WAIT_MS = 3000;
const AGGREGATED_DISCOVERY_TYPE = (v: string) =>
  `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`;

export class KubeSim {
  readonly url: string;
  readonly requests: RequestRecord[] = [];
  readonly #server: Server;
  readonly #store: SimStore;
  readonly #options: Required<Omit<SimOptions, 'defaultPageLimit' | 'port' | 'token'>> & {
    defaultPageLimit?: number;
  };
  readonly #watchers = new Map<ResourceState, Set<Watcher>>();
  readonly #faults: Fault[] = [];
  readonly #bookmarkTimer: NodeJS.Timeout;
  #paused = false;
  /** Accepted bearer tokens and when each stops being accepted (ms on the sim's clock). */
  readonly #tokens = new Map<string, number>();
  #token: string;
  /** Verbs RBAC refuses per kind (forbid). */
  readonly #forbidden = new Map<string, Set<'get' | 'list' | 'watch'>>();
  /** Watches still to end at once, without an event (endWatchesAtOnce). */
  readonly #endAtOnce: Array<{ gvk?: string; times: number }> = [];
  readonly #compactionTimer: NodeJS.Timeout | undefined;
  #connections = 0;
  #requestCount = 0;

  private constructor(server: Server, options: SimOptions) {
    this.#server = server;
    this.#token = options.token ?? randomBytes(16).toString('hex');
    this.#tokens.set(this.#token, Number.POSITIVE_INFINITY);
    this.#options = {
      watchTimeoutSec: options.watchTimeoutSec ?? 1800,
      compactionWindow: options.compactionWindow ?? 10_000,
      bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000,
      nowMs: options.nowMs ?? Date.now,
      watchBufferBytes: options.watchBufferBytes ?? 1024 * 1024,
      requestLogLimit: options.requestLogLimit ?? 100_000,
      compactionIntervalMs: options.compactionIntervalMs ?? 300_000,
      watchCacheWindowMs: options.watchCacheWindowMs ?? 75_000,
      slowWatcherBudgetMs: options.slowWatcherBudgetMs ?? 100,
      ...(options.defaultPageLimit !== undefined ? { defaultPageLimit: options.defaultPageLimit } : {}),
    };
    this.#store = new SimStore({
      compactionWindow: this.#options.compactionWindow,
      nowMs: this.#options.nowMs,
    });
    for (const r of BUILTIN_RESOURCES) {
      this.#store.addResource(
        { group: r.group, version: r.version, kind: r.kind, plural: r.plural, namespaced: r.namespaced },
        false,
      );
    }
    this.#store.subscribe((entry) => {
      const watchers = this.#watchers.get(entry.resource);
      if (watchers) for (const w of watchers) w.offer(entry);
    });
    this.#bookmarkTimer = setInterval(() => {
      for (const set of this.#watchers.values()) for (const w of set) w.bookmark();
    }, this.#options.bookmarkIntervalMs);
    this.#bookmarkTimer.unref();
    if (this.#options.compactionIntervalMs > 0) {
      let seenRv = this.#store.currentRv;
      this.#compactionTimer = setInterval(() => {
        this.#store.compactTo(seenRv);
        seenRv = this.#store.currentRv;
      }, this.#options.compactionIntervalMs);
      this.#compactionTimer.unref();
    }
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    server.on('request', (req, res) => this.#handle(req, res));
    // Every TCP connection a client opens (a keep-alive client reuses one for many requests).
    server.on('connection', () => {
      this.#connections++;
    });
  }

  /** The bearer token the kubeconfig carries. */
  get token(): string {
    return this.#token;
  }

  /**
   * A new token replaces the current one, which is refused from now on (a projected
   * service-account token the kubelet rotated, after the old one expired). Returns the new one.
   */
  rotateToken(next = randomBytes(16).toString('hex')): string {
    this.#tokens.delete(this.#token);
    this.#token = next;
    this.#tokens.set(next, Number.POSITIVE_INFINITY);
    return next;
  }

  /** Stops accepting `token` (a revoked or deleted service-account token). */
  revokeToken(token: string): void {
    this.#tokens.delete(token);
  }

  /** An extra token accepted for `ttlMs` (what an exec credential plugin hands out). */
  issueToken(ttlMs: number): string {
    const token = randomBytes(16).toString('hex');
    this.#tokens.set(token, this.#options.nowMs() + ttlMs);
    return token;
  }

  /** TCP connections accepted since start: with keep-alive, far fewer than requests. */
  get connectionCount(): number {
    return this.#connections;
  }

  /** Requests received since start (`requests` keeps only the latest). */
  get requestCount(): number {
    return this.#requestCount;
  }

  static async start(options: SimOptions = {}): Promise<KubeSim> {
    // requestTimeout 0: watches are long-lived responses; Node's 5-minute default is for slow uploads.
    const server = createServer({ keepAliveTimeout: 60_000, requestTimeout: 0 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new KubeSim(server, options);
  }

  /** A kubeconfig for this server: token auth; `insecure-skip-tls-verify` because client-node 2.x refuses plain http without it. */
  kubeconfig(): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: kube-sim',
      '  cluster:',
      `    server: ${this.url}`,
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: kube-sim',
      '  user:',
      `    token: ${this.token}`,
      'contexts:',
      '- name: kube-sim',
      '  context:',
      '    cluster: kube-sim',
      '    user: kube-sim',
      '    namespace: default',
      'current-context: kube-sim',
      '',
    ].join('\n');
  }

  async writeKubeconfig(dir: string): Promise<string> {
    const path = join(dir, 'kubeconfig');
    await writeFile(path, this.kubeconfig(), { mode: 0o600 });
    return path;
  }

  /** Serves a new kind from now on (a CRD being established); its lists keep kind/apiVersion on items, as CRD lists do. */
  addResource(r: SimResource): void {
    this.#store.addResource(r, true);
  }

  /**
   * Stops serving a kind, as when a CRD (or one of its versions) is deleted or an API version is
   * turned off: discovery no longer lists it, its paths answer 404, and its open watches end
   * (the apiextensions server tears down the storage of a removed version, which closes them).
   * Its objects stay in storage; addResource serves them again.
   */
  removeResource(gvk: string): void {
    const res = this.#store.resourceByGvk(gvk);
    for (const w of this.#watchers.get(res) ?? []) w.end('ended');
    this.#watchers.delete(res);
    this.#store.removeResource(gvk);
  }

  /** RBAC without these verbs on `gvk`: 403 Forbidden, as the authorizer answers. */
  forbid(gvk: string, verbs: Array<'get' | 'list' | 'watch'>): void {
    const res = this.#store.resourceByGvk(gvk);
    this.#forbidden.set(res.gvk, new Set(verbs));
  }

  /**
   * The next `times` watches (of `gvk`, or any) end cleanly right after they start, without an
   * event: what a client sees behind a proxy with a tiny timeout or from a server shutting down
   * (client-go's reflector calls it a "very short watch" and backs off).
   */
  endWatchesAtOnce(opts: { gvk?: string; times: number }): void {
    this.#endAtOnce.push({ ...opts });
  }

  /**
   * Create or replace, like a controller's POST/PUT: assigns uid and creationTimestamp (kept while
   * the object lives), generation (bumped on spec change) and the next resourceVersion, and emits
   * ADDED or MODIFIED. An identical object is a no-op (no new resourceVersion, no event).
   * Returns the stored object, deep-frozen: copy it (`structuredClone`) before changing it.
   */
  apply(obj: KubeObject): KubeObject {
    return this.#store.apply(obj).object;
  }

  /** Replaces `status` (a status-subresource update): MODIFIED, new resourceVersion, spec and generation kept. Returns the frozen stored object. */
  patchStatus(gvk: string, nsName: string, status: unknown): KubeObject {
    const res = this.#store.resourceByGvk(gvk);
    return this.#store.patchStatus(res, this.#store.keyOfNsName(res, nsName), status).object;
  }

  /** Deletes at once (no finalizers, no grace period): DELETED with the last object and a new resourceVersion. */
  delete(gvk: string, nsName: string): void {
    const res = this.#store.resourceByGvk(gvk);
    this.#store.delete(res, this.#store.keyOfNsName(res, nsName));
  }

  /** The current object (frozen), or undefined. `gvk` as `apps/v1.Deployment`, `nsName` as `ns/name`. */
  get(gvk: string, nsName: string): KubeObject | undefined {
    const res = this.#store.resourceByGvk(gvk);
    const v = this.#store.get(res, this.#store.keyOfNsName(res, nsName));
    return v?.object;
  }

  /** Ground truth: every current object of a kind (frozen), in key order. */
  list(gvk: string): KubeObject[] {
    const res = this.#store.resourceByGvk(gvk);
    return res.sortedKeys().map((k) => res.objects.get(k)!.object);
  }

  compact(): void {
    this.#store.compact();
  }

  get currentResourceVersion(): string {
    return String(this.#store.currentRv);
  }

  /** Open watch connections, optionally of one kind. */
  watchCount(opts: { gvk?: string } = {}): number {
    let n = 0;
    for (const w of this.#openWatchers(opts.gvk)) if (!w.done) n++;
    return n;
  }

  dropWatches(opts: { gvk?: string } = {}): void {
    for (const w of this.#openWatchers(opts.gvk)) w.drop();
  }

  endWatches(opts: { gvk?: string } = {}): void {
    for (const w of this.#openWatchers(opts.gvk)) w.end('ended');
  }

  inject(fault: Fault): void {
    if (![429, 500, 503, 504].includes(fault.status) || !(fault.times >= 1)) {
      throw new RangeError(
        `inject needs status 429, 500, 503 or 504 and times >= 1, got ${fault.status} × ${fault.times}`,
      );
    }
    this.#faults.push({ ...fault });
  }

  pauseWatches(): void {
    for (const w of this.#openWatchers()) w.pause();
    this.#paused = true;
  }

  resumeWatches(): void {
    this.#paused = false;
    for (const w of this.#openWatchers()) w.resume();
  }

  async close(): Promise<void> {
    clearInterval(this.#bookmarkTimer);
    if (this.#compactionTimer) clearInterval(this.#compactionTimer);
    for (const w of this.#openWatchers()) w.drop();
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #openWatchers(gvk?: string): Watcher[] {
    const res = gvk === undefined ? undefined : this.#store.resourceByGvk(gvk);
    const out: Watcher[] = [];
    for (const [r, set] of this.#watchers) if (res === undefined || r === res) out.push(...set);
    return out;
  }

  // ---- HTTP ----

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://kube-sim');
    const record: RequestRecord = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      status: 0,
    };
    this.requests.push(record);
    this.#requestCount++;
    const limit = this.#options.requestLogLimit;
    // Trim in batches so a long run does not pay an O(n) shift per request.
    if (this.requests.length > limit + Math.ceil(limit / 10))
      this.requests.splice(0, this.requests.length - limit);
    // The request body (none for GETs) must be consumed for keep-alive to work.
    req.resume();
    const reply = new Reply(res, record);
    try {
      this.#route(req, url, reply);
    } catch (err) {
      if (res.headersSent) {
        res.destroy(err as Error);
      } else if (err instanceof SelectorError) {
        reply.status(badRequest(err.message));
      } else {
        // A simulator bug: answer like an apiserver panic would, and say so in the test output.
        console.error('kube-sim: request failed', err);
        reply.status(internalError(String(err)));
      }
    }
  }

  #route(req: IncomingMessage, url: URL, reply: Reply): Replied {
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (path === '/healthz' || path === '/livez' || path === '/readyz') return reply.text(200, 'ok');
    if (!this.#authorized(req.headers.authorization)) return reply.status(unauthorized());
    const faultIndex = this.#faults.findIndex(
      (f) =>
        (f.method === undefined || f.method.toUpperCase() === req.method) &&
        (f.path === undefined || f.path.test(url.pathname) || f.path.test(req.url ?? '')),
    );
    if (faultIndex >= 0) {
      const fault = this.#faults[faultIndex]!;
      if (--fault.times <= 0) this.#faults.splice(faultIndex, 1);
      return reply.status(injectedFault(fault.status, fault.retryAfterSec));
    }
    if (req.method !== 'GET') return reply.status(methodNotAllowed(req.method ?? ''));
    const seg = path.split('/').slice(1).map(decodeURIComponent);
    const accept = req.headers.accept;
    const resources = this.#store.resources();
    if (path === '/version') return reply.json(versionInfo());
    if (path === '/api' || path === '/apis') {
      const aggregated = negotiate(accept, true);
      if (aggregated === undefined) return reply.status(notAcceptable(accept ?? ''));
      if (aggregated !== 'json') {
        const body = aggregatedDiscovery(resources, path === '/api', `apidiscovery.k8s.io/${aggregated}`);
        return reply.raw(200, JSON.stringify(body), AGGREGATED_DISCOVERY_TYPE(aggregated));
      }
      return reply.json(path === '/api' ? apiVersions(new URL(this.url).host) : apiGroupList(resources));
    }
    let group: string;
    let version: string;
    let rest: string[];
    if (seg[0] === 'api' && seg.length >= 2) {
      [group, version, rest] = ['', seg[1]!, seg.slice(2)];
    } else if (seg[0] === 'apis' && seg.length === 2) {
      const doc = apiGroupDoc(resources, seg[1]!);
      return doc ? reply.json(doc) : reply.status(pathNotFound());
    } else if (seg[0] === 'apis' && seg.length >= 3) {
      [group, version, rest] = [seg[1]!, seg[2]!, seg.slice(3)];
    } else {
      return reply.status(pathNotFound());
    }
    if (rest.length === 0) {
      const doc = apiResourceList(resources, group, version);
      return doc ? reply.json(doc) : reply.status(pathNotFound());
    }
    const apiVersion = group ? `${group}/${version}` : version;
    let legacyWatch = false;
    if (rest[0] === 'watch') {
      // The deprecated /watch/ path prefix, still served: same as ?watch=true.
      legacyWatch = true;
      rest = rest.slice(1);
    }
    const target = this.#resolve(apiVersion, rest);
    if (!target) return reply.status(pathNotFound());
    if (negotiate(accept, false) === undefined) return reply.status(notAcceptable(accept ?? ''));
    const { res, namespace, name } = target;
    const q = url.searchParams;
    const watch = legacyWatch || parseBool(q.get('watch')) === true;
    const verb = watch ? 'watch' : name !== undefined ? 'get' : 'list';
    if (this.#forbidden.get(res.gvk)?.has(verb)) {
      return reply.status(forbidden(verb, res.res.group, res.res.plural, name));
    }
    // A watch on one object is a collection watch narrowed to its name (as the apiserver does).
    if (watch) return this.#watch(res, namespace, name, q, reply);
    if (name !== undefined) {
      const key = this.#store.keyOf(res, namespace, name);
      const v = this.#store.get(res, key);
      if (!v) return reply.status(notFound(res.res.group, res.res.plural, name));
      return reply.raw(200, v.json);
    }
    return this.#list(res, namespace, q, reply);
  }

  #authorized(header: string | undefined): boolean {
    if (!header?.startsWith('Bearer ')) return false;
    const token = header.slice('Bearer '.length);
    const expiresAtMs = this.#tokens.get(token);
    if (expiresAtMs === undefined) return false;
    if (this.#options.nowMs() < expiresAtMs) return true;
    this.#tokens.delete(token);
    return false;
  }

  /** Maps the path after the group version to a collection or an object. */
  #resolve(
    apiVersion: string,
    rest: string[],
  ): { res: ResourceState; namespace?: string; name?: string } | undefined {
    const [a, b, c, d, e] = rest;
    if (a === 'namespaces' && b !== undefined && c !== undefined && c !== 'status') {
      // /namespaces/<ns>/<plural>[/<name>[/status]]
      const res = this.#store.resourceByPath(apiVersion, c);
      if (!res?.res.namespaced || rest.length > 5 || (e !== undefined && e !== 'status')) return undefined;
      return d === undefined ? { res, namespace: b } : { res, namespace: b, name: d };
    }
    // /<plural>[/<name>[/status]]: an all-namespaces collection, or a cluster-scoped object.
    const res = a === undefined ? undefined : this.#store.resourceByPath(apiVersion, a);
    if (!res || rest.length > 3 || (c !== undefined && c !== 'status')) return undefined;
    if (b === undefined) return { res };
    return res.res.namespaced ? undefined : { res, name: b };
  }

  #selectors(res: ResourceState, q: URLSearchParams): { match: ObjectMatcher; filtered: boolean } {
    const labels = q.get('labelSelector') ?? '';
    const fields = q.get('fieldSelector') ?? '';
    const byLabel = parseLabelSelector(labels);
    const byField = parseFieldSelector(fields, res.res.kind);
    return { match: (o) => byLabel(o) && byField(o), filtered: labels.trim() !== '' || fields.trim() !== '' };
  }

  #list(res: ResourceState, namespace: string | undefined, q: URLSearchParams, reply: Reply): Replied {
    const rvParam = q.get('resourceVersion') ?? '';
    const rvMatch = q.get('resourceVersionMatch') ?? '';
    const cont = q.get('continue') ?? '';
    // Request validation (apimachinery ValidateListOptions), a 422 before anything is read.
    const invalid: string[] = [];
    if (rvMatch) {
      if (!rvParam)
        invalid.push(
          'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided',
        );
      if (cont)
        invalid.push(
          'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided',
        );
      if (rvMatch !== 'Exact' && rvMatch !== 'NotOlderThan') {
        invalid.push(
          `resourceVersionMatch: Unsupported value: "${rvMatch}": supported values: "Exact", "NotOlderThan", ""`,
        );
      }
      if (rvMatch === 'Exact' && rvParam === '0') {
        invalid.push(
          'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
        );
      }
    }
    if (q.has('sendInitialEvents'))
      invalid.push('sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list');
    if (invalid.length) return reply.status(invalidListOptions(invalid));

    const limitParam = q.get('limit');
    let limit: number | undefined = this.#options.defaultPageLimit;
    if (limitParam !== null && limitParam !== '') {
      if (!/^-?\d+$/.test(limitParam)) return reply.status(badRequest(`invalid limit: "${limitParam}"`));
      const n = Number(limitParam);
      if (n > 0) limit = n;
    }
    const { match, filtered } = this.#selectors(res, q);
    const keyPrefix = namespace !== undefined ? `${namespace}/` : '';
    const store = this.#store;
    let atRv: number | undefined;
    let startKey: string | undefined;
    if (cont) {
      if (rvParam)
        return reply.status(badRequest('specifying resource version is not allowed when using continue'));
      let token: { rv: number; startKey: string };
      try {
        token = decodeContinue(cont, keyPrefix);
      } catch (err) {
        if (err instanceof ContinueTokenError)
          return reply.status(badRequest(`invalid continue token: ${err.message}`));
        throw err;
      }
      startKey = token.startKey;
      if (token.rv === -1) {
        atRv = undefined; // the inconsistent continuation a 410 handed out: latest state from the key on
      } else if (token.rv < store.compactedRv) {
        // etcd3 store handleCompactedErrorForPaging: 410 Expired with a token (rv -1) to continue inconsistently.
        return reply.status(expired(INCONSISTENT_CONTINUE, encodeContinue(-1, startKey, keyPrefix)));
      } else if (token.rv > store.currentRv) {
        return reply.status(tooLargeResourceVersion(token.rv, store.currentRv));
      } else {
        atRv = token.rv;
      }
    } else if (rvParam !== '' && rvParam !== '0') {
      if (!/^\d+$/.test(rvParam)) return reply.status(badRequest(`invalid resource version: ${rvParam}`));
      const rv = Number(rvParam);
      if (rv > store.currentRv) return reply.status(tooLargeResourceVersion(rv, store.currentRv));
      // api-concepts "Semantics for get and list": resourceVersionMatch=Exact, or a limit without
      // resourceVersionMatch, reads exactly at rv; otherwise "not older than" serves the latest.
      const exact = rvMatch === 'Exact' || (rvMatch === '' && limit !== undefined);
      if (exact) {
        if (rv < store.compactedRv)
          return reply.status(expired('The resourceVersion for the provided list is too old.'));
        atRv = rv;
      }
    }
    const listRv = atRv ?? store.currentRv;
    const page = listPage(store, {
      res,
      keyPrefix,
      match,
      filtered,
      ...(atRv !== undefined ? { atRv } : {}),
      ...(startKey !== undefined ? { startKey } : {}),
      ...(limit !== undefined ? { limit } : {}),
    });
    const metadata: Record<string, unknown> = { resourceVersion: String(listRv) };
    if (page.nextKey !== undefined) {
      metadata.continue = encodeContinue(listRv, page.nextKey, keyPrefix);
      if (page.remainingItemCount !== undefined) metadata.remainingItemCount = page.remainingItemCount;
    }
    const body =
      `{"kind":${JSON.stringify(`${res.res.kind}List`)},"apiVersion":${JSON.stringify(res.apiVersion)},` +
      `"metadata":${JSON.stringify(metadata)},"items":[${page.items.map((v) => v.itemJson).join(',')}]}`;
    return reply.raw(200, body);
  }

  #watch(
    res: ResourceState,
    namespace: string | undefined,
    name: string | undefined,
    q: URLSearchParams,
    reply: Reply,
  ): Replied {
    const rvParam = q.get('resourceVersion') ?? '';
    const rvMatch = q.get('resourceVersionMatch') ?? '';
    const sendInitialEvents = parseBool(q.get('sendInitialEvents'));
    const bookmarks = parseBool(q.get('allowWatchBookmarks')) === true;
    // apimachinery validateWatchOptions.
    const invalid: string[] = [];
    if (sendInitialEvents !== undefined && rvMatch !== 'NotOlderThan') {
      invalid.push(
        'resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan',
      );
    }
    if (rvMatch) {
      if (sendInitialEvents === undefined) {
        invalid.push(
          'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided',
        );
      }
      if (rvMatch !== 'NotOlderThan') {
        invalid.push(
          `resourceVersionMatch: Unsupported value: "${rvMatch}": supported values: "NotOlderThan"`,
        );
      }
    }
    if (invalid.length) return reply.status(invalidListOptions(invalid));
    if (rvParam !== '' && !/^\d+$/.test(rvParam))
      return reply.status(badRequest(`invalid resource version: ${rvParam}`));
    const selected = this.#selectors(res, q).match;
    const match: ObjectMatcher =
      name === undefined ? selected : (o) => o.metadata.name === name && selected(o);
    const store = this.#store;
    const rv = rvParam === '' ? undefined : Number(rvParam);
    // api-concepts "Semantics for watch": unset → get state and start at most recent; "0" → get
    // state and start at any; other → start exactly there, without initial state.
    const initialEvents = sendInitialEvents ?? (rv === undefined || rv === 0);
    const startRv = rv === undefined || rv === 0 || initialEvents ? store.currentRv : rv;
    const timeoutParam = Number(q.get('timeoutSeconds') ?? '0');
    const timeoutSec =
      Number.isFinite(timeoutParam) && timeoutParam > 0 ? timeoutParam : this.#options.watchTimeoutSec;
    const spec: WatchSpec = {
      res,
      keyPrefix: namespace !== undefined ? `${namespace}/` : '',
      match,
      bookmarks,
      startRv,
      initialEvents,
      initialEventsEndBookmark: sendInitialEvents === true && bookmarks,
      timeoutMs: timeoutSec * 1000,
      maxBufferedBytes: this.#options.watchBufferBytes,
      slowBudgetMs: this.#options.slowWatcherBudgetMs,
      nowMs: this.#options.nowMs,
    };
    const response = reply.startStream();
    const watchers = this.#watchers.get(res) ?? new Set<Watcher>();
    this.#watchers.set(res, watchers);
    const watcher = new Watcher(
      response,
      store,
      spec,
      () => !this.#paused,
      (w) => {
        watchers.delete(w);
      },
    );
    watchers.add(watcher);
    if (!initialEvents && rv !== undefined && rv < store.compactedRv) {
      // Once the resourceVersion parsed, the watch cache reports errors as an ERROR event on a 200
      // stream and ends it: "too old resource version: <requested> (<oldest available>)".
      watcher.error(expired(`too old resource version: ${rv} (${store.compactedRv})`));
      return REPLIED;
    }
    if (!initialEvents && rv !== undefined && this.#options.watchCacheWindowMs > 0) {
      const evicted = store.evictedFromWatchCache(
        res,
        rv,
        this.#options.nowMs(),
        this.#options.watchCacheWindowMs,
      );
      if (evicted !== undefined) {
        // watchCache.getAllEventsSinceLocked: a resourceVersion below the oldest event held is "too old".
        watcher.error(expired(`too old resource version: ${rv} (${evicted + 1})`));
        return REPLIED;
      }
    }
    const atOnce = this.#endAtOnce.findIndex((e) => e.gvk === undefined || e.gvk === res.gvk);
    if (atOnce >= 0) {
      if (--this.#endAtOnce[atOnce]!.times <= 0) this.#endAtOnce.splice(atOnce, 1);
      watcher.end('at-once');
      return REPLIED;
    }
    watcher.start();
    if (startRv > store.currentRv) {
      setTimeout(() => {
        if (store.currentRv < startRv) watcher.error(tooLargeResourceVersion(startRv, store.currentRv));
      }, TOO_LARGE_RV_WAIT_MS).unref();
    }
    return REPLIED;
  }
}

const INCONSISTENT_CONTINUE =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list ' +
  'without the continue parameter, or use the continue token in this response to retrieve the remainder of the ' +
  'results. Continuing with the provided token results in an inconsistent list - objects that were created, ' +
  'modified, or deleted between the time the first chunk was returned and now may show up in the list.';

/** strconv.ParseBool, which query parameters go through. */
function parseBool(v: string | null): boolean | undefined {
  if (v === null) return undefined;
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  return undefined;
}

/**
 * Content negotiation over the Accept header, in the client's order of preference: 'json', an
 * aggregated discovery version ('v2' / 'v2beta1', only where `aggregated` is allowed), or undefined
 * when nothing acceptable is offered (406). Other `as=` representations (Table, PartialObjectMetadata)
 * are not served, so they fall through to a plain JSON alternative if the client lists one.
 */
function negotiate(accept: string | undefined, aggregated: boolean): 'json' | 'v2' | 'v2beta1' | undefined {
  if (!accept || accept.trim() === '') return 'json';
  const ranges = accept.split(',').map((part, index) => {
    const [type = '', ...params] = part.split(';').map((s) => s.trim());
    const p: Record<string, string> = {};
    for (const kv of params) {
      const at = kv.indexOf('=');
      if (at > 0) p[kv.slice(0, at).trim()] = kv.slice(at + 1).trim();
    }
    const q = p.q === undefined ? 1 : Number(p.q);
    return { type: type.toLowerCase(), p, q: Number.isFinite(q) ? q : 0, index };
  });
  ranges.sort((a, b) => b.q - a.q || a.index - b.index);
  for (const r of ranges) {
    if (r.q <= 0) continue;
    if (r.p.as !== undefined) {
      if (
        aggregated &&
        r.type === 'application/json' &&
        r.p.as === 'APIGroupDiscoveryList' &&
        r.p.g === 'apidiscovery.k8s.io' &&
        (r.p.v === 'v2' || r.p.v === 'v2beta1')
      ) {
        return r.p.v;
      }
      continue;
    }
    if (r.type === 'application/json' || r.type === 'application/*' || r.type === '*/*') return 'json';
  }
  return undefined;
}

/** Proof that a request was answered: every route returns one. */
interface Replied {
  readonly replied: true;
}
const REPLIED: Replied = { replied: true };

/** One response: JSON bodies, Status errors (with Retry-After), or the start of a watch stream. */
class Reply {
  readonly #res: ServerResponse;
  readonly #record: RequestRecord;

  constructor(res: ServerResponse, record: RequestRecord) {
    this.#res = res;
    this.#record = record;
  }

  #headers(contentType: string): Record<string, string> {
    return {
      'Content-Type': contentType,
      'Cache-Control': 'no-cache, private',
      'Audit-Id': randomUUID(),
    };
  }

  raw(
    code: number,
    body: string,
    contentType = 'application/json',
    extra: Record<string, string> = {},
  ): Replied {
    this.#record.status = code;
    this.#res.writeHead(code, {
      ...this.#headers(contentType),
      ...extra,
      'Content-Length': Buffer.byteLength(body),
    });
    this.#res.end(body);
    return REPLIED;
  }

  json(body: unknown): Replied {
    return this.raw(200, JSON.stringify(body));
  }

  text(code: number, body: string): Replied {
    return this.raw(code, body, 'text/plain; charset=utf-8');
  }

  /** A Status error; `Retry-After` mirrors details.retryAfterSeconds, as the apiserver's ErrorNegotiated does. */
  status(status: KubeStatus): Replied {
    const retry = status.details?.retryAfterSeconds;
    return this.raw(
      status.code,
      JSON.stringify(status),
      'application/json',
      retry ? { 'Retry-After': String(retry) } : {},
    );
  }

  /** 200 with chunked transfer encoding, headers flushed at once so the client's request completes. */
  startStream(): ServerResponse {
    this.#record.status = 200;
    this.#res.writeHead(200, this.#headers('application/json'));
    this.#res.flushHeaders();
    return this.#res;
  }
}
