/**
 * The one place that turns errors into HTTP responses, for every HTTP function. SktraceError
 * codes map to statuses here; 4xx bodies expose the problem as
 * `{"error": {"code", "message", "field"?, "index"?}}`, 5xx and 429 bodies say only what the sender can
 * act on (retry or not) and the details go to the logs. middy's http-error-handler then writes
 * the response (see stack.ts for the order).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { SktraceError } from '../errors.ts';
import { BATCH_ERROR_CODES } from '../ingest/errors.ts';
import type { HttpMiddleware, HttpRequest } from './event.ts';

/** Status of each SktraceError code a request can end with; any other error is a 500. */
export const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  ...Object.fromEntries(BATCH_ERROR_CODES.map((code) => [code, 400])),
  too_many_changes: 413,
  too_many_names: 413,
  object_too_large: 413,
  invalid_json: 400,
  invalid_encoding: 400,
  invalid_cluster: 400,
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unsupported_encoding: 415,
  store_rejected: 422,
  store_throttled: 429,
  store_unavailable: 503,
  timeout: 503,
};

export interface ErrorBody {
  error: { code: string; message: string; field?: string; index?: number };
}

/** What the response of a failed request is. */
export interface Problem {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
}

export interface ErrorResponderOptions {
  logger: Logger;
  /** Retry-After for 429 (the store's own retries with backoff were exhausted). */
  throttledRetryAfterSec?: number;
  /** Retry-After for 503. */
  unavailableRetryAfterSec?: number;
  /** Extra code → status entries for a function's own errors. */
  statusByCode?: Readonly<Record<string, number>>;
}

/** The shape middy's http-error-handler renders: status, exposed message, headers. */
export class HttpErrorResponse extends Error {
  readonly statusCode: number;
  readonly expose = true;
  readonly headers: Record<string, string>;

  constructor(problem: Problem, cause: unknown) {
    super(JSON.stringify(problem.body), { cause });
    this.name = 'HttpErrorResponse';
    this.statusCode = problem.status;
    this.headers = problem.headers;
  }
}

const INTERNAL: ErrorBody = { error: { code: 'internal', message: 'internal error; see the server logs' } };
/** Body http-error-handler falls back to if an error ever reaches it unmapped. */
export const INTERNAL_ERROR_JSON = JSON.stringify(INTERNAL);

// Statuses of errors thrown by middy's own middlewares (@middy/util HttpError), by status.
const CODE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'invalid_request',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};

/** Maps any thrown value to the response a client gets. */
export function problemOf(err: unknown, opts: Omit<ErrorResponderOptions, 'logger'> = {}): Problem {
  const statuses = opts.statusByCode ? { ...STATUS_BY_CODE, ...opts.statusByCode } : STATUS_BY_CODE;
  if (err instanceof SktraceError && Object.hasOwn(statuses, err.code)) {
    const status = statuses[err.code]!;
    const headers = headersFor(status, err, opts);
    if (isHidden(status, err.code)) {
      return { status, headers, body: { error: { code: err.code, message: retryMessage(status) } } };
    }
    const body: ErrorBody = { error: { code: err.code, message: err.message } };
    const { field, index } = err.context;
    if (typeof field === 'string') body.error.field = field;
    if (typeof index === 'number') body.error.index = index;
    return { status, headers, body };
  }
  // middy core raises this name just before the Lambda's own timeout; a retry of the batch is
  // safe (writes are idempotent), so the sender is told to come back.
  if (err instanceof Error && err.name === 'TimeoutError') {
    const headers = { 'Retry-After': String(opts.unavailableRetryAfterSec ?? 5) };
    return { status: 503, headers, body: { error: { code: 'timeout', message: retryMessage(503) } } };
  }
  const status = httpStatusOf(err);
  if (status !== undefined && status >= 400 && status < 500) {
    const message = err instanceof Error ? err.message : 'bad request';
    return {
      status,
      headers: {},
      body: { error: { code: CODE_BY_STATUS[status] ?? 'invalid_request', message } },
    };
  }
  return { status: 500, headers: {}, body: INTERNAL };
}

/**
 * onError middleware: logs the error (4xx as a warning with what was wrong, 5xx and 429 as an
 * error with the stack) and replaces it with an HttpErrorResponse for http-error-handler to render.
 */
export function errorResponder(opts: ErrorResponderOptions): HttpMiddleware {
  const { logger, ...mapping } = opts;
  return {
    onError: (request: HttpRequest) => {
      if (request.response !== undefined || request.error === null) return;
      const err: unknown = request.error;
      const problem = problemOf(err, mapping);
      const { code, field, index } = problem.body.error;
      if (isHidden(problem.status, code)) {
        logger.error({ message: 'request failed', status: problem.status, code }, toLoggable(err));
      } else {
        logger.warn('request rejected', {
          status: problem.status,
          code,
          reason: problem.body.error.message,
          ...(field === undefined ? {} : { field }),
          ...(index === undefined ? {} : { index }),
        });
      }
      request.error = new HttpErrorResponse(problem, err);
    },
  };
}

function headersFor(
  status: number,
  err: SktraceError,
  opts: Omit<ErrorResponderOptions, 'logger'>,
): Record<string, string> {
  const { challenge, allow, retryAfterSec } = err.context;
  const headers: Record<string, string> = {};
  if ((status === 401 || status === 403) && typeof challenge === 'string')
    headers['WWW-Authenticate'] = challenge;
  if (status === 405 && typeof allow === 'string') headers.Allow = allow;
  if (status === 429 || status === 503 || (status === 409 && typeof retryAfterSec === 'number')) {
    const fallback =
      status === 429 ? (opts.throttledRetryAfterSec ?? 1) : (opts.unavailableRetryAfterSec ?? 5);
    const seconds =
      typeof retryAfterSec === 'number' && retryAfterSec > 0 ? Math.ceil(retryAfterSec) : fallback;
    headers['Retry-After'] = String(seconds);
  }
  return headers;
}

/**
 * 5xx, and 429 too: a 429 here is a store failure after the adapter's own retries, whose details
 * (table names, SDK messages) are for the logs, not the sender — except a limit the deployment
 * sets on purpose (too_many_exports), whose message says which limit and when to come back.
 */
const SHOWN_429_CODES: ReadonlySet<string> = new Set(['too_many_exports']);
function isHidden(status: number, code?: string): boolean {
  return status >= 500 || (status === 429 && !(code !== undefined && SHOWN_429_CODES.has(code)));
}

function retryMessage(status: number): string {
  return status === 429 || status === 503
    ? 'the store is busy or unavailable; retry the same request after Retry-After seconds'
    : 'internal error; see the server logs';
}

function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const status = (err as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' ? status : undefined;
}

function toLoggable(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
