/**
 * The middlewares every HTTP function starts with, in order. middy runs `before` in the order
 * given and `onError` in reverse, so on an error: errorResponder maps and logs it first, then
 * http-error-handler writes the response, then requestLogging resets the per-request log keys.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { MiddlewareObj } from '@middy/core';
import httpErrorHandler from '@middy/http-error-handler';
import httpEventNormalizer from '@middy/http-event-normalizer';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import { type ErrorResponderOptions, errorResponder, INTERNAL_ERROR_JSON } from './errors.ts';
import type { HttpMiddleware } from './event.ts';
import { requestLogging } from './logging.ts';

export function httpStack(opts: ErrorResponderOptions & { logger: Logger }): HttpMiddleware[] {
  return [
    requestLogging(opts.logger),
    // errorResponder already logged the error with its context.
    forHttpEvents(httpErrorHandler({ logger: false, fallbackMessage: INTERNAL_ERROR_JSON })),
    errorResponder(opts),
    forHttpEvents(httpEventNormalizer()),
    // Lowercase names (API Gateway v2 already sends them so; local gateways may not).
    forHttpEvents(httpHeaderNormalizer()),
  ];
}

/** middy's http middlewares are typed for every API Gateway event version at once; they handle payload v2. */
function forHttpEvents<T>(middleware: MiddlewareObj<T>): HttpMiddleware {
  return middleware as unknown as HttpMiddleware;
}
