/**
 * Errors of the trace store. The ingest handler maps `store_throttled` to 429 and
 * `store_unavailable` to 503 (both after the adapter's own retries are exhausted, so the sender
 * retries the whole batch, which is idempotent); every other code is a 500.
 */
import { SktraceError } from '../errors.ts';

/** The backend kept refusing for capacity (DynamoDB ProvisionedThroughputExceeded, S3 SlowDown…). */
export class StoreThrottledError extends SktraceError {
  constructor(message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('store_throttled', message, context, options);
    this.name = 'StoreThrottledError';
  }
}

/** The backend kept failing (5xx, connection errors, timeouts) through every retry. */
export class StoreUnavailableError extends SktraceError {
  constructor(message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('store_unavailable', message, context, options);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * Anything else from the backend (a missing table, a request it calls invalid) or a stored item
 * that cannot be decoded: a bug or a misconfiguration, never the sender's fault.
 */
export class StoreError extends SktraceError {
  constructor(
    code: string,
    message: string,
    context: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, context, options);
    this.name = 'StoreError';
  }
}

/**
 * The backend refused a request as invalid (DynamoDB ValidationException: a key past its size
 * limit, an item over 400 KB). Retrying the same change can never succeed, so this is a 4xx
 * (422) naming the change when the writer knows it (`field` `changes[i]`, `index`), never a
 * 5xx a sender would retry forever. Validation refuses every such input first; reaching this
 * means validation missed a limit.
 */
export class StoreRejectedError extends SktraceError {
  constructor(message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('store_rejected', message, context, options);
    this.name = 'StoreRejectedError';
  }
}

/** A cluster id that cannot scope storage keys (it could break out of its key prefix). */
export class InvalidClusterError extends SktraceError {
  constructor(cluster: unknown) {
    super(
      'invalid_cluster',
      `cluster id ${JSON.stringify(cluster)} is not valid: lowercase letters, digits and "-", 1 to 63, starting and ending with a letter or digit`,
      { cluster },
    );
    this.name = 'InvalidClusterError';
  }
}
