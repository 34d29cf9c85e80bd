/**
 * Transport to the Kubernetes API: plain node:http(s) GETs over one keep-alive agent per API
 * server, signed with the credentials of lib/kube/kubeconfig.ts. List bodies stay the raw JSON the
 * API server sent and watch streams can be paused for back-pressure.
 *
 * Connections, as client-go's transport does it (transport/cache.go: one http.Transport per
 * distinct config, `MaxIdleConnsPerHost: 25`, TCP keep-alive 30 s from net.Dialer):
 * - one agent per API server with HTTP/1.1 keep-alive and a bounded pool (16), so owner GETs and
 *   list pages reuse connections instead of paying a TCP (and TLS) handshake each — before this
 *   the forwarder opened one connection per request (18,041 for 18,041 requests at 12,000 pods);
 *   watches get a second keep-alive agent without a bound, each holding its connection while it
 *   lasts, so however many kinds are watched a GET never waits behind them;
 * - TCP keep-alive probes on every socket (30 s), so a watch on a half-open connection (a NAT or
 *   load balancer that forgot it) is noticed by the kernel, not only by the idle watchdog;
 * - a timeout on every request's open (headers within `openTimeoutMs`, watches included: a
 *   watch whose headers never come is as stuck as a GET) and on reading a whole body;
 * - a connection reset (ECONNRESET, EPIPE, a response cut mid-body) is reported through
 *   `onConnectionReset`, for a log line and a metric.
 * A 401 invalidates the credential (token file re-read, exec plugin re-run) and the request is
 * tried once more with the fresh one.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import { parseRetryAfterMs } from '../forwarder/backoff.ts';
import { KubeApiError } from '../forwarder/ports.ts';
import type { KubeAccess } from './kubeconfig.ts';

export { type KubeAccess, type KubeConfigSource, loadKubeConfig } from './kubeconfig.ts';

const MAX_ERROR_BODY = 64 * 1024;
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

export interface KubeRequest {
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
  /** Deadline for reading a whole body (getJson); watches rely on their own idle watchdog. */
  timeoutMs?: number;
  /** Accept header; default application/json. */
  accept?: string;
  /** A watch: its own connection for as long as it lasts, outside the bounded request pool. */
  watch?: boolean;
}

export interface TransportOptions {
  /** Connections for requests (lists, gets, discovery) at most; default 16. Watches have their own. */
  maxSockets?: number;
  /** Idle connections kept for reuse; default 16 (client-go keeps 25). */
  maxFreeSockets?: number;
  /** Response headers must arrive within this; default 30 s. */
  openTimeoutMs?: number;
  /** Whole-body deadline of getJson; default 60 s (a 500-pod page of 20 KB pods is 10 MB). */
  readTimeoutMs?: number;
  /** TCP keep-alive initial delay; default 30 s (client-go's net.Dialer KeepAlive). */
  tcpKeepAliveMs?: number;
  onConnectionReset?: (info: { path: string; code: string; message: string }) => void;
  /** Each request sent and each TCP connection opened (metrics). */
  onRequest?: () => void;
  onConnection?: () => void;
}

export class KubeTransport {
  readonly #access: KubeAccess;
  readonly #nowMs: () => number;
  readonly #agent: http.Agent;
  /** Watches: one connection each while they last (a bounded pool would let watches starve gets). */
  readonly #watchAgent: http.Agent;
  readonly #lib: typeof http | typeof https;
  readonly #options: Required<Omit<TransportOptions, 'onConnectionReset' | 'onRequest' | 'onConnection'>>;
  readonly #hooks: Pick<TransportOptions, 'onConnectionReset' | 'onRequest' | 'onConnection'>;
  readonly server: string;
  /** Requests sent and connections opened, for tests and /metrics. */
  requests = 0;
  connections = 0;

  constructor(access: KubeAccess, nowMs: () => number, options: TransportOptions = {}) {
    this.#access = access;
    this.#nowMs = nowMs;
    this.server = access.server;
    this.#options = {
      maxSockets: options.maxSockets ?? 16,
      maxFreeSockets: options.maxFreeSockets ?? 16,
      openTimeoutMs: options.openTimeoutMs ?? 30_000,
      readTimeoutMs: options.readTimeoutMs ?? 60_000,
      tcpKeepAliveMs: options.tcpKeepAliveMs ?? 30_000,
    };
    this.#hooks = options;
    const isHttp = access.server.startsWith('http:');
    this.#lib = isHttp ? http : https;
    const agentOptions: https.AgentOptions = {
      keepAlive: true,
      keepAliveMsecs: this.#options.tcpKeepAliveMs,
      maxSockets: this.#options.maxSockets,
      maxFreeSockets: this.#options.maxFreeSockets,
      // LIFO: the most recently used socket is the least likely to have been closed by the server.
      scheduling: 'lifo',
    };
    this.#agent = isHttp ? new http.Agent(agentOptions) : new https.Agent(agentOptions);
    const watchOptions: https.AgentOptions = { ...agentOptions, maxSockets: Number.POSITIVE_INFINITY };
    this.#watchAgent = isHttp ? new http.Agent(watchOptions) : new https.Agent(watchOptions);
  }

  /** Closes idle connections (open watches end with their requests). */
  close(): void {
    this.#agent.destroy();
    this.#watchAgent.destroy();
  }

  /**
   * A GET whose 2xx response is returned unread (for streaming); any other status is read and
   * thrown as a KubeApiError carrying the Status message, reason and Retry-After.
   */
  async open(req: KubeRequest): Promise<IncomingMessage> {
    const res = await this.#send(req);
    if (res.statusCode === 401) {
      // Rotated service-account token or an expired exec credential: fetch a fresh one, once.
      res.resume();
      this.#access.credentials.invalidate();
      return this.#checked(req, await this.#send(req));
    }
    return this.#checked(req, res);
  }

  async #checked(req: KubeRequest, res: IncomingMessage): Promise<IncomingMessage> {
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    throw await errorOf(req.path, res, this.#nowMs());
  }

  async #send(req: KubeRequest): Promise<IncomingMessage> {
    const url = new URL(this.server + req.path);
    for (const [k, v] of Object.entries(req.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const credential = await this.#access.credentials.current(this.#nowMs());
    const headers: Record<string, string> = {
      accept: req.accept ?? 'application/json',
      'user-agent': 'sktrace-forwarder',
    };
    if (credential.authorization) headers.authorization = credential.authorization;
    const tls = this.#access.tls;
    const options: https.RequestOptions = {
      method: 'GET',
      headers,
      agent: req.watch ? this.#watchAgent : this.#agent,
      rejectUnauthorized: tls.rejectUnauthorized,
    };
    if (tls.ca) options.ca = tls.ca;
    const cert = credential.cert ?? tls.cert;
    const key = credential.key ?? tls.key;
    if (cert) options.cert = cert;
    if (key) options.key = key;
    if (tls.servername) options.servername = tls.servername;
    if (req.signal) options.signal = req.signal;
    this.requests++;
    this.#hooks.onRequest?.();
    return new Promise<IncomingMessage>((resolve, reject) => {
      const request = this.#lib.request(url, options, (res) => {
        clearTimeout(timer);
        resolve(res);
      });
      const timer = setTimeout(() => {
        request.destroy(
          Object.assign(new Error(`no response headers in ${this.#options.openTimeoutMs} ms`), {
            name: 'TimeoutError',
          }),
        );
      }, this.#options.openTimeoutMs);
      request.on('socket', (socket) => {
        // A fresh connection (not one reused from the pool): count it and arm TCP keep-alive.
        if (!(socket as { _sktraceSeen?: boolean })._sktraceSeen) {
          (socket as { _sktraceSeen?: boolean })._sktraceSeen = true;
          this.connections++;
          this.#hooks.onConnection?.();
          socket.setKeepAlive(true, this.#options.tcpKeepAliveMs);
          socket.setNoDelay(true);
        }
      });
      request.on('error', (err) => {
        clearTimeout(timer);
        this.noteError(req.path, err);
        reject(new KubeApiError(`GET ${req.path}: ${err.message}`, { path: req.path }, { cause: err }));
      });
      request.end();
    });
  }

  /** Reports a connection reset (request or response stream) to `onConnectionReset`. */
  noteError(path: string, err: unknown): void {
    const code = (err as { code?: unknown })?.code;
    if (typeof code === 'string' && RESET_CODES.has(code)) {
      this.#hooks.onConnectionReset?.({ path, code, message: (err as Error).message });
    }
  }

  /** A GET read whole and parsed as JSON; 404 gives undefined when `allow404`. */
  async getJson(
    req: KubeRequest & { allow404?: boolean; onBodyBytes?: (bytes: number) => void },
  ): Promise<unknown> {
    let res: IncomingMessage;
    try {
      res = await this.open(req);
    } catch (err) {
      if (req.allow404 && err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
    const readTimeoutMs = req.timeoutMs ?? this.#options.readTimeoutMs;
    const timer = setTimeout(
      () =>
        res.destroy(
          Object.assign(new Error(`response not read whole in ${readTimeoutMs} ms`), {
            name: 'TimeoutError',
          }),
        ),
      readTimeoutMs,
    );
    // Decoded chunk by chunk into a rope that JSON.parse flattens once: no Buffer.concat of the
    // whole body (for a list page of ~1 MB, a buffer above malloc's mmap threshold, i.e. fresh
    // zeroed pages on every page: 8 % of a 10,000-pod list's CPU in a profile, under load).
    const decoder = new StringDecoder('utf8');
    let text = '';
    let bytes = 0;
    try {
      for await (const c of res) {
        bytes += (c as Buffer).length;
        text += decoder.write(c as Buffer);
      }
      text += decoder.end();
    } catch (err) {
      this.noteError(req.path, err);
      throw new KubeApiError(
        `GET ${req.path}: response cut: ${(err as Error).message}`,
        { path: req.path },
        { cause: err },
      );
    } finally {
      clearTimeout(timer);
    }
    req.onBodyBytes?.(bytes);
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new KubeApiError(
        `GET ${req.path}: the response is not JSON`,
        { path: req.path, status: res.statusCode },
        { cause: err },
      );
    }
  }
}

async function errorOf(path: string, res: IncomingMessage, nowMs: number): Promise<KubeApiError> {
  const status = res.statusCode ?? 0;
  let text = '';
  try {
    for await (const c of res) {
      if (text.length < MAX_ERROR_BODY) text += (c as Buffer).toString('utf8');
    }
  } catch {
    // The status line says enough.
  }
  let message = text.slice(0, 500) || res.statusMessage || '';
  let reason: string | undefined;
  try {
    // A meta/v1 Status: {kind: Status, code, reason, message, details: {retryAfterSeconds}}.
    const s = JSON.parse(text) as { message?: unknown; reason?: unknown };
    if (typeof s.message === 'string') message = s.message;
    if (typeof s.reason === 'string') reason = s.reason;
  } catch {
    // Not a Status (a proxy's HTML page): keep the text.
  }
  const retryAfterMs = parseRetryAfterMs(headerOf(res, 'retry-after'), nowMs);
  const context: ConstructorParameters<typeof KubeApiError>[1] = { status, path };
  if (reason !== undefined) context.reason = reason;
  if (retryAfterMs !== undefined) context.retryAfterMs = retryAfterMs;
  return new KubeApiError(`GET ${path}: ${status}${reason ? ` ${reason}` : ''}: ${message}`, context);
}

function headerOf(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
