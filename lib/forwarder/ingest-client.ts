/**
 * Posts batches to `POST {endpoint}/v1/clusters/{cluster}/events` (lib/ingest/wire.ts): gzipped
 * JSON with a bearer token. Status handling and retries belong to delivery.ts; this only
 * moves bytes and reports what came back.
 *
 * node:http(s) with one keep-alive agent rather than fetch: fetch loads undici (~4 MiB of RSS in
 * a process whose idle target is 60 MiB). Its pool holds one kept-alive connection per batch in
 * flight (DeliveryOptions.maxBatchesInFlight), so posts reuse them (a TLS handshake per batch
 * otherwise).
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { parseRetryAfterMs } from './backoff.ts';
import type { IngestPoster, IngestResponse } from './ports.ts';

const MAX_ERROR_BODY = 4096;

export interface HttpIngestOptions {
  endpoint: string;
  cluster: string;
  token?: string;
  /** A post that has not completed after this long is abandoned and retried. */
  requestTimeoutMs: number;
  nowMs: () => number;
  /** Connections to the endpoint: the batches delivery keeps in flight (default 2). */
  maxSockets?: number;
}

export function ingestUrl(endpoint: string, cluster: string): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/clusters/${encodeURIComponent(cluster)}/events`;
}

export function httpIngestPoster(options: HttpIngestOptions): IngestPoster {
  const url = new URL(ingestUrl(options.endpoint, options.cluster));
  const lib = url.protocol === 'http:' ? http : https;
  const maxSockets = Math.max(1, options.maxSockets ?? 2);
  const agent = new lib.Agent({
    keepAlive: true,
    keepAliveMsecs: 30_000,
    maxSockets,
    maxFreeSockets: maxSockets,
  });
  const baseHeaders: Record<string, string> = {
    'content-type': 'application/json',
    'content-encoding': 'gzip',
    'user-agent': 'sktrace-forwarder',
  };
  if (options.token) baseHeaders.authorization = `Bearer ${options.token}`;
  return {
    post(gzippedBody, signal): Promise<IngestResponse> {
      return new Promise<IngestResponse>((resolve, reject) => {
        const headers = { ...baseHeaders, 'content-length': String(gzippedBody.byteLength) };
        const req = lib.request(url, { method: 'POST', headers, agent, signal }, (res: IncomingMessage) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (text.length <= MAX_ERROR_BODY) text += chunk;
          });
          res.on('error', fail);
          res.on('end', () => {
            clearTimeout(timer);
            const out: IngestResponse = {
              status: res.statusCode ?? 0,
              bodyText: text.length > MAX_ERROR_BODY ? `${text.slice(0, MAX_ERROR_BODY)}…` : text,
            };
            const header = res.headers['retry-after'];
            const retryAfterMs = parseRetryAfterMs(
              Array.isArray(header) ? header[0] : header,
              options.nowMs(),
            );
            if (retryAfterMs !== undefined) out.retryAfterMs = retryAfterMs;
            resolve(out);
          });
        });
        function fail(err: Error): void {
          clearTimeout(timer);
          reject(err);
        }
        // The whole post, response included, within requestTimeoutMs (as AbortSignal.timeout did).
        const timer = setTimeout(() => {
          req.destroy(
            Object.assign(new Error(`no complete response in ${options.requestTimeoutMs} ms`), {
              name: 'TimeoutError',
            }),
          );
        }, options.requestTimeoutMs);
        req.on('error', fail);
        req.end(gzippedBody);
      });
    },
  };
}
