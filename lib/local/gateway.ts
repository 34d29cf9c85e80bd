/**
 * A small HTTP gateway that turns requests into API Gateway HTTP API (payload format 2.0)
 * events for the very same handlers Lambda runs, with API Gateway's limits and behaviours,
 * so `sktrace serve` exercises exactly the production code path.
 *
 * Facts followed (AWS docs, "Working with AWS Lambda proxy integrations for HTTP APIs" and
 * "Quotas"): header names are lower-cased and repeated headers joined with commas; the body
 * is base64-encoded (`isBase64Encoded: true`) unless it is text; the payload limit is 10 MB;
 * the integration times out after 30 s (503); an unmatched route is a 404 `{"message":"Not Found"}`;
 * a handler result without `statusCode` is sent as a 200 JSON body. Lambda's own 6 MB
 * synchronous payload limit applies to the event after base64 encoding (413 here, as Lambda
 * rejecting the invocation surfaces as an error to the client).
 */
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';

export type HttpHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyResultV2>;

export interface Route {
  /** `POST /v1/clusters/{cluster}/events`: API Gateway's route key syntax. */
  routeKey: string;
  handler: HttpHandler;
  /** Function name reported in the Lambda context (logs). */
  functionName?: string;
}

export interface GatewayOptions {
  routes: Route[];
  /** Extra plain handlers tried before routing (e.g. `/healthz`); return true when handled. */
  intercept?: (req: IncomingMessage, res: ServerResponse) => boolean;
  maxPayloadBytes?: number;
  maxLambdaPayloadBytes?: number;
  integrationTimeoutMs?: number;
}

export const API_GATEWAY_MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;
export const LAMBDA_MAX_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024;
export const API_GATEWAY_TIMEOUT_MS = 30_000;

interface CompiledRoute extends Route {
  method: string;
  pattern: RegExp;
  params: string[];
}

function compile(route: Route): CompiledRoute {
  const [method, path] = route.routeKey.split(' ') as [string, string];
  const params: string[] = [];
  const source = path
    .split('/')
    .map((segment) => {
      const m = /^\{(\w+)\}$/.exec(segment);
      if (!m) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      params.push(m[1]!);
      return '([^/]+)';
    })
    .join('/');
  return { ...route, method, pattern: new RegExp(`^${source}$`), params };
}

// Content types API Gateway passes through as text; anything else arrives base64-encoded.
function isTextBody(headers: Record<string, string>): boolean {
  if (headers['content-encoding']) return false;
  const type = headers['content-type'] ?? '';
  return type === '' || /^(text\/|application\/(json|xml|x-www-form-urlencoded|[\w.+-]+\+json))/.test(type);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function lambdaContext(functionName: string, deadlineMs: number): Context {
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadlineMs - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

export function buildEvent(
  req: IncomingMessage,
  route: CompiledRoute,
  pathParameters: Record<string, string>,
  body: Buffer,
): APIGatewayProxyEventV2 {
  const url = new URL(req.url ?? '/', 'http://localhost');
  // headersDistinct, not headers: Node keeps only the first of a repeated Authorization or
  // Content-Type, while API Gateway joins every repeat with commas (so a request with two tokens
  // must not pass with the first one).
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (values !== undefined) headers[name.toLowerCase()] = values.join(',');
  }
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  // A text body that is not UTF-8 goes base64-encoded, bytes intact: decoding it here would turn
  // the bad bytes into U+FFFD and hide from the handler that the body is not UTF-8 (a 400 there).
  const text = isTextBody(headers) && isUtf8(body);
  const now = new Date();
  return {
    version: '2.0',
    routeKey: route.routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(route.params.length ? { pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: route.method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: route.routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length ? { body: text ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !text,
  };
}

function send(res: ServerResponse, result: APIGatewayProxyResultV2): void {
  if (typeof result !== 'object' || result === null || !('statusCode' in result)) {
    // API Gateway infers a 200 JSON response from a result that is not a structured response.
    json(res, 200, result);
    return;
  }
  const headers: Record<string, string | string[]> = { ...(result.headers as Record<string, string>) };
  if (result.cookies?.length) headers['set-cookie'] = result.cookies;
  const body = result.body ?? '';
  const bytes = result.isBase64Encoded ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
  headers['content-length'] = String(bytes.length);
  res.writeHead(result.statusCode ?? 200, headers);
  res.end(bytes);
}

export function createGateway(options: GatewayOptions): Server {
  const routes = options.routes.map(compile);
  const maxPayload = options.maxPayloadBytes ?? API_GATEWAY_MAX_PAYLOAD_BYTES;
  const maxLambdaPayload = options.maxLambdaPayloadBytes ?? LAMBDA_MAX_SYNC_PAYLOAD_BYTES;
  const timeoutMs = options.integrationTimeoutMs ?? API_GATEWAY_TIMEOUT_MS;

  const server = createServer((req, res) => {
    void (async () => {
      if (options.intercept?.(req, res)) return;
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      let matched: { route: CompiledRoute; params: Record<string, string> } | undefined;
      for (const route of routes) {
        const m = route.method === req.method ? route.pattern.exec(path) : null;
        if (!m) continue;
        const params = decodeParams(route.params, m);
        if (!params) {
          // Malformed percent-encoding (`%zz`, a cut UTF-8 sequence) names no resource.
          req.resume();
          json(res, 400, { message: 'Bad Request' });
          return;
        }
        matched = { route, params };
        break;
      }
      if (!matched) {
        req.resume();
        json(res, 404, { message: 'Not Found' });
        return;
      }
      let body: Buffer | undefined;
      try {
        body = await readBody(req, maxPayload);
      } catch {
        // The client went away mid-body (aborted, bad chunked framing): nobody to answer.
        req.destroy();
        return;
      }
      if (!body) {
        json(res, 413, { message: 'Request Entity Too Large' });
        req.destroy();
        return;
      }
      const event = buildEvent(req, matched.route, matched.params, body);
      if (Buffer.byteLength(JSON.stringify(event)) > maxLambdaPayload) {
        json(res, 413, { message: 'Request Entity Too Large' });
        return;
      }
      const deadline = Date.now() + timeoutMs;
      const context = lambdaContext(matched.route.functionName ?? 'sktrace', deadline);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      try {
        const result = await Promise.race([matched.route.handler(event, context), timeout]);
        if (result === 'timeout') json(res, 503, { message: 'Service Unavailable' });
        else send(res, result);
      } catch {
        // An unhandled Lambda error reaches API Gateway clients as a bare 500.
        json(res, 500, { message: 'Internal Server Error' });
      } finally {
        clearTimeout(timer);
      }
    })().catch(() => {
      // Never let one request take the server down with an unhandled rejection.
      if (!res.headersSent) json(res, 500, { message: 'Internal Server Error' });
      else res.destroy();
    });
  });
  // Requests Node's HTTP parser refuses (bad request line or header, header section too large)
  // get a JSON body like every other gateway error, instead of Node's bare 400.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, message] =
      err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : [400, 'Bad Request'];
    const text = JSON.stringify({ message });
    socket.end(
      `HTTP/1.1 ${status} ${message}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
    );
  });
  return server;
}

/** Path parameters percent-decoded, or undefined when one is not valid percent-encoded UTF-8. */
function decodeParams(names: readonly string[], match: RegExpExecArray): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (const [i, name] of names.entries()) {
    try {
      params[name] = decodeURIComponent(match[i + 1]!);
    } catch {
      return undefined;
    }
  }
  return params;
}
