/**
 * What the forwarder needs from the outside world, as ports: the Kubernetes API (implemented
 * over @kubernetes/client-node's transport in `lib/kube/`), the ingest endpoint, and the
 * process's clock, sleep and randomness. Tests drive the loops through fakes of these.
 */
import { SktraceError } from '../errors.ts';
import type { Gvk, KubeObject } from '../trace/model.ts';

/** A kind as the API server serves it (from discovery). */
export interface ApiResource {
  gvk: Gvk;
  group: string;
  version: string;
  kind: string;
  /** The resource name in URLs: `deployments`. */
  plural: string;
  namespaced: boolean;
}

export interface ListPageRequest {
  limit: number;
  continueToken?: string;
  /** Only metadata is needed (owner indexes): PartialObjectMetadataList where the server offers it. */
  metadataOnly?: boolean;
}

/**
 * One page of a list, items in the raw JSON the server sent (timestamps stay strings; items of
 * built-in kinds carry no apiVersion/kind). The watcher checks their shape.
 */
export interface ListPage {
  items: unknown[];
  resourceVersion: string;
  /** Set when more pages follow. */
  continueToken?: string;
  /** Size of the response body, when known: the next page's limit aims at a size in bytes. */
  bytes?: number;
}

export interface WatchRequest {
  resourceVersion: string;
  timeoutSeconds: number;
  allowWatchBookmarks: boolean;
  metadataOnly?: boolean;
}

/**
 * An open watch: the raw newline-delimited JSON lines of the response. The iterator ends when
 * the server ends the response cleanly and throws when the connection breaks or `signal` aborts.
 * Not reading it stops reading the socket (TCP back-pressure on the API server).
 */
export interface WatchLines extends AsyncIterable<string> {
  /**
   * Where offered (lib/kube/lines.ts): every line that has arrived and not been read yet — at
   * least one, waiting if none is there — or undefined when the lines end; the runner handles a
   * watch event per line without a promise of its own (one per chunk). Each line is read once,
   * by this or by the iterator.
   */
  nextBatch?(): Promise<readonly string[] | undefined>;
}

export interface KubeApi {
  /** The resource serving `group/version` `kind`, or undefined when the server does not serve it (yet). */
  resolve(
    group: string,
    version: string,
    kind: string,
    signal?: AbortSignal,
  ): Promise<ApiResource | undefined>;
  list(resource: ApiResource, request: ListPageRequest, signal?: AbortSignal): Promise<ListPage>;
  watch(resource: ApiResource, request: WatchRequest, signal: AbortSignal): Promise<WatchLines>;
  /** Drops what discovery said about a kind (it answered 404: removed), so the next resolve asks again. */
  forget?(gvk: Gvk): void;
  /** One object, or undefined on 404. */
  get(
    resource: ApiResource,
    namespace: string | undefined,
    name: string,
    signal?: AbortSignal,
  ): Promise<KubeObject | undefined>;
}

/**
 * A Kubernetes API request that failed: an HTTP status with its `Status` body, or no status at
 * all when the connection failed. 410 Gone means "resourceVersion or continue token too old".
 */
export class KubeApiError extends SktraceError {
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    context: { status?: number; retryAfterMs?: number; path?: string; reason?: string; body?: string },
    options?: { cause?: unknown },
  ) {
    super('kube_api', message, context, options);
    this.status = context.status;
    this.retryAfterMs = context.retryAfterMs;
  }
}

/** What a post to the ingest endpoint came back with. */
export interface IngestResponse {
  status: number;
  retryAfterMs?: number;
  /** The response body, cut to a few KB, for logs. */
  bodyText: string;
}

/** Posts one gzipped batch body; throws on connection errors and timeouts. */
export interface IngestPoster {
  post(gzippedBody: Uint8Array, signal: AbortSignal): Promise<IngestResponse>;
}

/** Time and randomness, injected so every loop can be driven by tests. */
export interface Runtime {
  nowMs(): number;
  /** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  random(): number;
  /**
   * A full garbage collection, where the process allows one (node --expose-gc, as the image
   * runs it); absent otherwise. The runner asks for one after a big list pass (runner.ts
   * `gcAfterListObjects`).
   */
  collectGarbage?: () => void;
}
