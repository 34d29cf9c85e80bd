/**
 * The forwarder's operations listener, for kubelet probes and Prometheus:
 * - `/healthz`: the process is alive (liveness);
 * - `/readyz`: every tracked kind has completed a list at least once (readiness); the body lists
 *   each kind's state, so a kind that is not served (a CRD not installed) is visible there;
 * - `/metrics`: Prometheus text format 0.0.4.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SktraceError } from '../errors.ts';
import type { ForwarderMetrics } from './metrics.ts';
import type { Readiness } from './runner.ts';

export interface ListenAddress {
  host: string;
  port: number;
}

/** `:8080` (all interfaces), `8080`, `127.0.0.1:0` or `[::1]:9090`. */
export function parseListen(value: string): ListenAddress {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:]*):)?(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535) {
    throw new SktraceError('usage', `--listen ${JSON.stringify(value)} is not [host]:port (e.g. :8080)`, {
      value,
    });
  }
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
  return { host: host === '' ? '0.0.0.0' : host, port };
}

export interface OpsServer {
  url: string;
  close(): Promise<void>;
}

export async function startOpsServer(options: {
  listen: ListenAddress;
  metrics: ForwarderMetrics;
  readiness: () => Readiness;
}): Promise<OpsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (path) {
      case '/healthz':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      case '/readyz': {
        const r = options.readiness();
        res
          .writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' })
          .end(`${JSON.stringify(r)}\n`);
        return;
      }
      case '/metrics': {
        const mem = process.memoryUsage();
        options.metrics.residentMemory.set({}, mem.rss);
        options.metrics.heapUsed.set({}, mem.heapUsed);
        res
          .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
          .end(options.metrics.render());
        return;
      }
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  server.listen(options.listen.port, options.listen.host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([err]) => {
      throw new SktraceError(
        'listen',
        `cannot listen on ${options.listen.host}:${options.listen.port}: ${(err as Error).message}`,
        {
          ...options.listen,
        },
      );
    }),
  ]);
  const { port } = server.address() as AddressInfo;
  const host = options.listen.host.includes(':') ? `[${options.listen.host}]` : options.listen.host;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
