/**
 * Errors of the export API and job. lib/http/errors.ts maps the codes to statuses: a bad request
 * is a 400 naming its field, an unknown job a 404, a window the store can no longer export
 * completely a 409 (the request is well formed; the data it asks for is gone).
 */
import { SktraceError } from '../errors.ts';

/** Codes the exports function adds to the shared status table (lib/http/errors.ts). */
export const EXPORT_STATUS_BY_CODE: Readonly<Record<string, number>> = {
  invalid_request: 400,
  window_too_large: 400,
  not_found: 404,
  window_expired: 409,
  idempotency_in_progress: 409,
  idempotency_key_reused: 422,
  too_many_exports: 429,
  launch_failed: 503,
};

/** An ExportRequest body that is not `{start_ts, end_ts, filters?}` as documented; `field` is its JSON path. */
export class ExportRequestError extends SktraceError {
  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super('invalid_request', message, { field }, options);
    this.name = 'ExportRequestError';
  }
}

/** No export job with that id under that cluster (also the answer for another cluster's job). */
export class ExportNotFoundError extends SktraceError {
  constructor(cluster: string, id: string) {
    super('not_found', `cluster ${cluster} has no export ${JSON.stringify(id)}`, {
      cluster,
      id,
      field: 'id',
    });
    this.name = 'ExportNotFoundError';
  }
}

/**
 * The window starts before the store's retention horizon (or its start state needs history that
 * expired): the trace would silently lack objects, so the export is refused instead.
 */
export class WindowExpiredError extends SktraceError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('window_expired', message, { field: 'start_ts', ...context });
    this.name = 'WindowExpiredError';
  }
}

/** The job could not be handed to its runner (Lambda async invoke refused); the job is marked failed. */
export class LaunchFailedError extends SktraceError {
  constructor(message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('launch_failed', message, { ...context, retryAfterSec: 5 }, options);
    this.name = 'LaunchFailedError';
  }
}

/** The cluster already has as many exports pending or running as the deployment allows at once. */
export class TooManyExportsError extends SktraceError {
  constructor(cluster: string, active: number, max: number, retryAfterSec: number) {
    super(
      'too_many_exports',
      `cluster ${cluster} has ${active} exports pending or running; this deployment runs at most ${max} at once per cluster (MaxActiveExportsPerCluster): retry after ${retryAfterSec} s`,
      { cluster, active, max, retryAfterSec },
    );
    this.name = 'TooManyExportsError';
  }
}

/** An Idempotency-Key header that is malformed, or reused with another request body. */
export class IdempotencyKeyError extends SktraceError {
  constructor(
    code: 'invalid_request' | 'idempotency_key_reused' | 'idempotency_in_progress',
    message: string,
    context: Record<string, unknown> = {},
  ) {
    super(code, message, { field: 'Idempotency-Key', ...context });
    this.name = 'IdempotencyKeyError';
  }
}
