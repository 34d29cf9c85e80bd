/**
 * A tiny HTTP proxy in front of dynalite that answers chosen requests with DynamoDB's real error
 * bodies instead of forwarding them (status 400 ProvisionedThroughputExceededException, 500
 * InternalServerError), or with a response of its own. The SDK and the store see exactly what
 * DynamoDB would send; nothing in the store is mocked.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  /** `PutItem`, `Query`, … from `X-Amz-Target`. */
  operation: string;
  /** 1 for the first attempt of an SDK call, 2 for its first retry, … (`amz-sdk-request`). */
  attempt: number;
  /** Same for every attempt of one SDK call (`amz-sdk-invocation-id`). */
  invocationId: string;
  body: Record<string, unknown>;
}

export type FaultAnswer = 'pass' | 'throttle' | 'server-error' | { status: number; body: unknown };
export type FaultPolicy = (req: ProxiedRequest) => FaultAnswer;

const THROTTLE_BODY = {
  __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
  message:
    'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
};
const SERVER_ERROR_BODY = {
  __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
  message: 'Internal server error',
};

export interface FaultProxy {
  endpoint: string;
  policy: FaultPolicy;
  /** Requests seen, by operation and answer. */
  counts: Map<string, number>;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const proxy: FaultProxy = { endpoint: '', policy: () => 'pass', counts: new Map(), close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
      const attempt = Number(/attempt=(\d+)/.exec(String(req.headers['amz-sdk-request'] ?? ''))?.[1] ?? 1);
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw.toString('utf8') || '{}');
      } catch {}
      const answer = proxy.policy({
        operation,
        attempt,
        invocationId: String(req.headers['amz-sdk-invocation-id'] ?? ''),
        body,
      });
      const label = `${operation} ${typeof answer === 'string' ? answer : answer.status}`;
      proxy.counts.set(label, (proxy.counts.get(label) ?? 0) + 1);
      if (answer === 'pass') {
        forward(upstream, req.method ?? 'POST', req.url ?? '/', req.headers, raw, res);
        return;
      }
      const [status, payload] =
        answer === 'throttle'
          ? [400, THROTTLE_BODY]
          : answer === 'server-error'
            ? [500, SERVER_ERROR_BODY]
            : [answer.status, answer.body];
      res.writeHead(status, {
        'content-type': 'application/x-amz-json-1.0',
        'x-amzn-requestid': 'fault-proxy',
      });
      res.end(JSON.stringify(payload));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}

function forward(
  upstream: URL,
  method: string,
  path: string,
  headers: IncomingHttpHeaders,
  body: Buffer,
  res: import('node:http').ServerResponse,
): void {
  const out = httpRequest(
    {
      host: upstream.hostname,
      port: upstream.port,
      method,
      path,
      headers: { ...headers, host: upstream.host },
    },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  out.on('error', (err) => {
    res.writeHead(502);
    res.end(String(err));
  });
  out.end(body);
}
