/**
 * The API Gateway HTTP API payload v2 event as sktrace's HTTP functions see it after the
 * middlewares of this folder ran. API Gateway's own fields are never rewritten (`body` stays the
 * string it sent); what the middlewares derive goes into new, typed fields.
 */
import type { MiddlewareObj, Request } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { Principal } from '../auth/decide.ts';

export interface HttpEvent extends APIGatewayProxyEventV2 {
  /** The request body as bytes: base64 undone, Content-Encoding undone (decodeBody). */
  bodyBytes?: Buffer;
  /** The body parsed as JSON (parseJsonBody); unvalidated. */
  jsonBody?: unknown;
  /** Who is calling (authenticate). */
  principal?: Principal;
}

export type HttpResult = APIGatewayProxyStructuredResultV2;
export type HttpRequest = Request<HttpEvent, HttpResult, Error, Context>;
export type HttpMiddleware = MiddlewareObj<HttpEvent, HttpResult, Error, Context>;

/** A JSON response with the content type set. */
export function jsonResponse(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpResult {
  return {
    statusCode,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/** A header value by its name; API Gateway v2 sends lowercase names and httpHeaderNormalizer keeps them so. */
export function header(event: HttpEvent, name: string): string | undefined {
  return event.headers?.[name.toLowerCase()];
}
