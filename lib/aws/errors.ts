/**
 * SDK exception → domain error. The SDK has already retried (lib/aws/clients.ts); what reaches
 * here is exhausted or not retryable. Throttling and unavailability become the codes the ingest
 * handler maps to 429 and 503, so the sender retries the (idempotent) batch; anything else is a
 * bug or a misconfiguration (500).
 */

import { SktraceError } from '../errors.ts';
import {
  StoreError,
  StoreRejectedError,
  StoreThrottledError,
  StoreUnavailableError,
} from '../store/errors.ts';

// DynamoDB: ProvisionedThroughputExceededException, ThrottlingException, RequestLimitExceeded;
// S3: SlowDown (503), RequestLimitExceeded.
const THROTTLING_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'Throttling',
  'RequestLimitExceeded',
  'SlowDown',
  'TooManyRequestsException',
]);
// Network-level failures the SDK surfaces with these names/codes.
const UNAVAILABLE_NAMES = new Set([
  'InternalServerError',
  'InternalFailure',
  'ServiceUnavailable',
  'InternalError',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

interface SdkLikeError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number; totalRetryDelay?: number };
}

/** The exception's name, or undefined for non-errors. */
export function errorName(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as SdkLikeError).name : undefined;
}

export function isConditionalCheckFailed(err: unknown): boolean {
  return errorName(err) === 'ConditionalCheckFailedException';
}

/** Wraps any failure of an SDK call as a store error naming the operation. */
export function toStoreError(err: unknown, context: Record<string, unknown>): SktraceError {
  if (err instanceof SktraceError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkLikeError;
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const full = {
    ...context,
    awsError: name,
    httpStatus: status,
    attempts: e.$metadata?.attempts,
    totalRetryDelayMs: e.$metadata?.totalRetryDelay,
  };
  const what = `${String(context.operation ?? 'request')} failed`;
  if (THROTTLING_NAMES.has(name) || status === 429) {
    return new StoreThrottledError(`${what}: throttled (${name}) after retries`, full, { cause: err });
  }
  if (
    UNAVAILABLE_NAMES.has(name) ||
    (e.code !== undefined && UNAVAILABLE_NAMES.has(e.code)) ||
    (status ?? 0) >= 500
  ) {
    return new StoreUnavailableError(`${what}: backend unavailable (${name}) after retries`, full, {
      cause: err,
    });
  }
  if (name === 'ValidationException' || name === 'KeyTooLongError') {
    // The request itself is refused (DynamoDB key or item size, S3 key length): no retry helps.
    return new StoreRejectedError(`the store refused the request (${name}: ${e.message ?? ''})`, full, {
      cause: err,
    });
  }
  return new StoreError('store_error', `${what}: ${name}: ${e.message ?? String(err)}`, full, { cause: err });
}
