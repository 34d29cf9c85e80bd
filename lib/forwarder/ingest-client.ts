/**
 * Posts batches to `POST {endpoint}/v1/clusters/{cluster}/events` (lib/ingest/wire.ts): gzipped
 * JSON with a bearer token. Status handling and retries belong to delivery.ts; this only
 * moves bytes and reports what came back.
 */
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
}

export function ingestUrl(endpoint: string, cluster: string): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/clusters/${encodeURIComponent(cluster)}/events`;
}

export function httpIngestPoster(options: HttpIngestOptions): IngestPoster {
  const url = ingestUrl(options.endpoint, options.cluster);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-encoding': 'gzip',
    'user-agent': 'sktrace-forwarder',
  };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  return {
    async post(gzippedBody, signal): Promise<IngestResponse> {
      const res = await fetch(url, {
        method: 'POST',
        headers,
        body: gzippedBody,
        signal: AbortSignal.any([signal, AbortSignal.timeout(options.requestTimeoutMs)]),
      });
      const text = await res.text();
      const out: IngestResponse = {
        status: res.status,
        bodyText: text.length > MAX_ERROR_BODY ? `${text.slice(0, MAX_ERROR_BODY)}…` : text,
      };
      const retryAfterMs = parseRetryAfterMs(res.headers.get('retry-after'), options.nowMs());
      if (retryAfterMs !== undefined) out.retryAfterMs = retryAfterMs;
      return out;
    },
  };
}
