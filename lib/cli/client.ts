/**
 * HTTP client of the sktrace API for the CLI (`import`, `export`): bearer token, gzip request
 * bodies, and retries with exponential backoff and full jitter on what a retry can fix —
 * connection failures, timeouts, 429 and 5xx — honouring `Retry-After` (RFC 9110 §10.2.3: seconds
 * or an HTTP date). Other 4xx are final and raised as ApiError with the server's message, code and
 * field (docs/ingest-api.md: `{"error": {code, message, field?, index?}}`).
 *
 * Retrying a POST of events is safe (batches are idempotent); the POST of an export carries an
 * `Idempotency-Key` (one random UUID per export, the same on every retry), so a retry after a
 * lost response gets the job the first attempt created instead of starting a second one.
 */
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Command } from 'commander';
import { SktraceError } from '../errors.ts';
import type { ExportJobView } from '../export/job.ts';
import { CLUSTER_ID_PATTERN, isValidClusterId } from '../ingest/names.ts';
import type { Batch, BatchResult } from '../ingest/wire.ts';
import type { FeedChange } from '../store/ports.ts';
import type { ExportFilters } from '../trace/model.ts';
import type { Progress } from './progress.ts';

const gzipAsync = promisify(gzip);

export interface RetryPolicy {
  /** Attempts per request, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After longer than this is cut to it (a misbehaving proxy must not park the CLI for hours). */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 250,
  maxDelayMs: 15_000,
  maxRetryAfterMs: 120_000,
};

export interface ApiClientOptions {
  endpoint: string;
  token?: string;
  retry?: Partial<RetryPolicy>;
  requestTimeoutMs?: number;
  /** Injectable for tests. */
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  nowMs?: () => number;
  /** Told about every retry (the CLI prints it). */
  onRetry?: (info: { what: string; attempt: number; delayMs: number; reason: string }) => void;
  userAgent?: string;
}

/** A request the server answered with an error that retrying does not fix (or retries ran out). */
export class ApiError extends SktraceError {
  readonly status: number | undefined;

  constructor(
    what: string,
    status: number | undefined,
    detail: { code?: string; message: string; field?: string },
    options?: { cause?: unknown },
  ) {
    const where = detail.field ? ` (field ${detail.field})` : '';
    const head = status === undefined ? what : `${what}: ${status}${detail.code ? ` ${detail.code}` : ''}`;
    super(detail.code ?? 'api_error', `${head}: ${detail.message}${where}`, { status, ...detail }, options);
    this.name = 'ApiError';
    this.status = status;
  }
}

export interface ExportRequestBody {
  start_ts: number;
  end_ts: number;
  filters: ExportFilters;
  /** SKEL text (sk-api ExportRequest `transform`). */
  transform?: string;
}

export interface ChangesQuery {
  /** A cursor from an earlier page, or `now` (the default: changes from now on). */
  after?: string;
  kind?: string;
  namespace?: string;
  limit?: number;
}

export interface ChangesPage {
  changes: FeedChange[];
  cursor: string;
  caught_up: boolean;
}

interface Sent {
  method: 'GET' | 'POST';
  url: string;
  what: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Send the token (never to a presigned URL: it carries its own authorisation). */
  auth: boolean;
}

/** Parses Retry-After: delta seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, nowMs: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

export class ApiClient {
  readonly endpoint: string;
  readonly #token: string | undefined;
  readonly #retry: RetryPolicy;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #nowMs: () => number;
  readonly #onRetry: ApiClientOptions['onRetry'];
  readonly #userAgent: string;

  constructor(options: ApiClientOptions) {
    this.endpoint = options.endpoint.replace(/\/+$/, '');
    this.#token = options.token;
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#timeoutMs = options.requestTimeoutMs ?? 60_000;
    this.#fetch = options.fetch ?? fetch;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#random = options.random ?? Math.random;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#onRetry = options.onRetry;
    this.#userAgent = options.userAgent ?? 'sktrace-cli';
  }

  clusterUrl(cluster: string, rest: string): string {
    return `${this.endpoint}/v1/clusters/${encodeURIComponent(cluster)}/${rest}`;
  }

  async postEvents(cluster: string, batch: Batch): Promise<BatchResult> {
    const body = await gzipAsync(Buffer.from(jsonText(batch)));
    const res = await this.#send({
      method: 'POST',
      url: this.clusterUrl(cluster, 'events'),
      what: `POST /v1/clusters/${cluster}/events`,
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body,
      auth: true,
    });
    return (await res.json()) as BatchResult;
  }

  async createExport(
    cluster: string,
    request: ExportRequestBody,
    idempotencyKey: string = randomUUID(),
  ): Promise<ExportJobView> {
    const res = await this.#send({
      method: 'POST',
      url: this.clusterUrl(cluster, 'exports'),
      what: `POST /v1/clusters/${cluster}/exports`,
      headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
      body: Buffer.from(JSON.stringify(request)),
      auth: true,
    });
    return (await res.json()) as ExportJobView;
  }

  async getExport(cluster: string, id: string): Promise<ExportJobView> {
    const res = await this.#send({
      method: 'GET',
      url: this.clusterUrl(cluster, `exports/${encodeURIComponent(id)}`),
      what: `GET /v1/clusters/${cluster}/exports/${id}`,
      auth: true,
    });
    return (await res.json()) as ExportJobView;
  }

  /** One page of the changes that landed after `after` (docs/ingest-api.md, "Following changes"). */
  async getChanges(cluster: string, query: ChangesQuery = {}): Promise<ChangesPage> {
    const params = new URLSearchParams();
    if (query.after !== undefined) params.set('after', query.after);
    if (query.kind !== undefined) params.set('kind', query.kind);
    if (query.namespace !== undefined) params.set('namespace', query.namespace);
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    const res = await this.#send({
      method: 'GET',
      url: this.clusterUrl(cluster, `changes${params.size ? `?${params}` : ''}`),
      what: `GET /v1/clusters/${cluster}/changes`,
      auth: true,
    });
    return (await res.json()) as ChangesPage;
  }

  /** Downloads through a presigned URL (no token: the URL is the authorisation). */
  async download(url: string): Promise<Uint8Array> {
    const res = await this.#send({ method: 'GET', url, what: 'download of the export', auth: false });
    return new Uint8Array(await res.arrayBuffer());
  }

  async #send(req: Sent): Promise<Response> {
    const headers: Record<string, string> = { 'user-agent': this.#userAgent, ...req.headers };
    if (req.auth && this.#token) headers.authorization = `Bearer ${this.#token}`;
    for (let attempt = 1; ; attempt++) {
      let res: Response | undefined;
      let failure: unknown;
      try {
        res = await this.#fetch(req.url, {
          method: req.method,
          headers,
          ...(req.body ? { body: req.body } : {}),
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
      } catch (err) {
        failure = err;
      }
      if (res?.ok) return res;
      // A 409 with Retry-After is an Idempotency-Key whose first request is still creating its job.
      const retryable =
        res === undefined ||
        res.status === 429 ||
        res.status >= 500 ||
        (res.status === 409 && res.headers.has('retry-after'));
      if (!retryable || attempt >= this.#retry.maxAttempts) {
        if (res === undefined) {
          const message = failure instanceof Error ? causeMessage(failure) : String(failure);
          throw new ApiError(
            req.what,
            undefined,
            { code: 'unreachable', message: `${message} (${this.#origin(req.url)})` },
            {
              cause: failure,
            },
          );
        }
        throw new ApiError(req.what, res.status, await errorDetail(res, req.auth));
      }
      const hinted = res ? retryAfterMs(res.headers.get('retry-after'), this.#nowMs()) : undefined;
      const ceiling = Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** (attempt - 1));
      const delayMs =
        hinted !== undefined
          ? Math.min(hinted, this.#retry.maxRetryAfterMs)
          : Math.floor(this.#random() * ceiling);
      const reason = res
        ? `HTTP ${res.status}`
        : failure instanceof Error
          ? causeMessage(failure)
          : String(failure);
      await res?.body?.cancel().catch(() => undefined);
      this.#onRetry?.({ what: req.what, attempt, delayMs, reason });
      await this.#sleep(delayMs);
    }
  }

  #origin(url: string): string {
    try {
      return new URL(url).origin;
    } catch {
      return url;
    }
  }
}

/** fetch's TypeError("fetch failed") hides the reason (ECONNREFUSED…) in its cause. */
function causeMessage(err: Error): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (err.name === 'TimeoutError') return 'the request timed out';
  return cause?.code ?? cause?.message ?? err.message;
}

async function errorDetail(
  res: Response,
  api: boolean,
): Promise<{ code?: string; message: string; field?: string }> {
  const text = await res.text().catch(() => '');
  if (api) {
    try {
      const doc = JSON.parse(text) as {
        error?: { code?: unknown; message?: unknown; field?: unknown };
        message?: unknown;
      };
      const e = doc.error;
      if (e && typeof e.message === 'string') {
        return {
          ...(typeof e.code === 'string' ? { code: e.code } : {}),
          message: e.message,
          ...(typeof e.field === 'string' ? { field: e.field } : {}),
        };
      }
      // API Gateway's own errors: {"message": "Not Found"}.
      if (typeof doc.message === 'string') return { message: doc.message };
    } catch {
      // not JSON: fall through
    }
  } else {
    // S3 errors are XML: <Error><Code>AccessDenied</Code><Message>Request has expired</Message>…
    const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
    const message =
      /<Message>([^<]+)<\/Message>/.exec(text)?.[1] ?? (text.trim().slice(0, 200) || res.statusText);
    const hint =
      res.status === 403
        ? ': the signed URL expired or is not valid; run the export again for a fresh one'
        : res.status === 404
          ? ': the export is gone (exports expire); run the export again'
          : '';
    return { ...(code ? { code } : {}), message: `${message}${hint}` };
  }
  return { message: text.trim().slice(0, 500) || res.statusText || 'no details' };
}

/**
 * JSON of a batch. Objects decoded from msgpack may hold integers beyond 2^53 as bigint; they are
 * written as exact JSON integers (JSON.rawJSON, Node 21+) rather than failing or losing digits.
 */
export function jsonText(value: unknown): string {
  const raw = (JSON as unknown as { rawJSON?: (text: string) => unknown }).rawJSON;
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'bigint' ? (raw ? raw(v.toString()) : v.toString()) : v,
  );
}

// ---------------------------------------------------------------------------------------------
// What `sktrace import` and `sktrace export` share: connection flags and terminal progress.

export interface ClientFlags {
  endpoint: string;
  cluster: string;
  token?: string;
}

/** Adds --endpoint, --cluster and --token to a command. */
export function clientFlags(command: Command): Command {
  return command
    .requiredOption('--endpoint <url>', 'sktrace API base URL (e.g. http://127.0.0.1:7777)')
    .requiredOption('--cluster <id>', 'cluster id')
    .option('--token <token>', 'bearer token (default: $SKTRACE_TOKEN)');
}

/** Checks the flags and builds a client; retries are reported through `progress`. */
export function makeClient(
  flags: ClientFlags,
  progress: Progress,
  env: NodeJS.ProcessEnv = process.env,
): { client: ApiClient; cluster: string } {
  try {
    const url = new URL(flags.endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new SktraceError('usage', `--endpoint ${JSON.stringify(flags.endpoint)} is not an http(s) URL`);
  }
  if (!isValidClusterId(flags.cluster)) {
    throw new SktraceError(
      'usage',
      `--cluster ${JSON.stringify(flags.cluster)} must match ${CLUSTER_ID_PATTERN.source}`,
    );
  }
  const token = flags.token ?? env.SKTRACE_TOKEN;
  if (token === undefined || token === '') {
    throw new SktraceError('usage', 'no token: pass --token or set SKTRACE_TOKEN (sktrace serve prints one)');
  }
  const client = new ApiClient({
    endpoint: flags.endpoint,
    token,
    onRetry: ({ what, attempt, delayMs, reason }) =>
      progress.note(`${what}: ${reason}; retry ${attempt} in ${(delayMs / 1000).toFixed(1)} s`),
  });
  return { client, cluster: flags.cluster };
}

export { Progress } from './progress.ts';
