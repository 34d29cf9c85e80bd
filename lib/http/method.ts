import { SktraceError } from '../errors.ts';
import type { HttpMiddleware, HttpRequest } from './event.ts';

/**
 * Refuses methods a route does not serve with 405 and an `Allow` header (RFC 9110 §15.5.6).
 * API Gateway routes by method already; this keeps local gateways and misrouted events honest.
 */
export function allowMethods(methods: readonly string[]): HttpMiddleware {
  const allowed = new Set(methods.map((m) => m.toUpperCase()));
  const allow = [...allowed].join(', ');
  return {
    before: (request: HttpRequest) => {
      const method = request.event.requestContext?.http?.method?.toUpperCase() ?? '';
      if (!allowed.has(method)) {
        throw new SktraceError(
          'method_not_allowed',
          `method ${method || '(none)'} is not allowed here; use ${allow}`,
          {
            allow,
          },
        );
      }
    },
  };
}
