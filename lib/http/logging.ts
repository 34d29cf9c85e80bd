/**
 * Request-scoped logging: Powertools' own middleware adds the Lambda context (request id, cold
 * start, function) to every line and resets per-request keys afterwards; this adds what API
 * Gateway knows of the request, so each log line of a request can be found by its API request id.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { HttpMiddleware, HttpRequest } from './event.ts';

export function requestLogging(logger: Logger): HttpMiddleware {
  const lambdaContext = injectLambdaContext(logger, { resetKeys: true });
  return {
    before: (request: HttpRequest) => {
      lambdaContext.before!(request);
      const ctx = request.event.requestContext;
      logger.appendKeys({
        apiRequestId: ctx?.requestId,
        method: ctx?.http?.method,
        path: request.event.rawPath,
      });
    },
    after: (request: HttpRequest) => lambdaContext.after!(request),
    onError: (request: HttpRequest) => lambdaContext.onError!(request),
  };
}
