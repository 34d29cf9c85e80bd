/**
 * The HTTP server of `sktrace view`: the page's static assets and small JSON endpoints over one
 * TraceView (lib/view/model.ts), each answering one question the page asks when it needs it:
 *
 * | path | answer |
 * | --- | --- |
 * | `/api/summary` | source, counts per kind, window, index check totals, namespaces, findings counts |
 * | `/api/timeline` | per kind, `[ts, applied, deleted]` per second with changes |
 * | `/api/objects?gvk&ns&q&from&to&problems&offset&limit` | one page of the object list |
 * | `/api/object?gvk&nsName` | an object's versions and its index check |
 * | `/api/version?gvk&nsName&v` | version `v` (negative: from the last) and the one before, for the diff |
 * | `/api/changes?ts&gvk` | the changes of one event |
 * | `/api/lifecycles?gvk&ns&q&limit` | pod lifecycles per owner |
 * | `/api/findings` | validation findings, when a validator ran |
 *
 * It binds loopback only and answers only requests whose Host is the address it printed (a page
 * on another site cannot reach the trace through DNS rebinding). Bad parameters get a 400 naming
 * the parameter; an unknown object a 404.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ViewAssets } from './assets.ts';
import type { ObjectQuery, TraceView } from './model.ts';

export interface ViewServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

class BadParam extends Error {}

function intParam(params: URLSearchParams, name: string): number | undefined {
  const raw = params.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^-?\d+$/.test(raw)) throw new BadParam(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function strParam(params: URLSearchParams, name: string): string | undefined {
  const raw = params.get(name);
  return raw === null || raw === '' ? undefined : raw;
}

function required(params: URLSearchParams, name: string): string {
  const value = strParam(params, name);
  if (value === undefined) throw new BadParam(`${name} is required`);
  return value;
}

/** JSON with u64s (msgpack decodes integers past 2^53 as bigint) written exactly. */
function jsonBody(value: unknown): string {
  const raw = (JSON as unknown as { rawJSON?: (text: string) => unknown }).rawJSON;
  return JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'bigint' ? (raw ? raw(v.toString()) : v.toString()) : v,
  );
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, head = false): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, {
    'content-type': type,
    'content-length': bytes.length,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // Everything the page loads comes from this server: no CDN, no inline script.
    'content-security-policy':
      "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
  });
  res.end(head ? undefined : bytes);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', jsonBody(value));
}

export function answer(
  view: TraceView,
  path: string,
  params: URLSearchParams,
): { status: number; body: unknown } {
  const notFound = (what: string) => ({ status: 404, body: { error: { code: 'not_found', message: what } } });
  switch (path) {
    case '/api/summary':
      return { status: 200, body: view.summary() };
    case '/api/timeline':
      return { status: 200, body: view.timeline() };
    case '/api/objects': {
      const query: ObjectQuery = {};
      const gvk = strParam(params, 'gvk');
      const ns = strParam(params, 'ns');
      const q = strParam(params, 'q');
      const fromTs = intParam(params, 'from');
      const toTs = intParam(params, 'to');
      const offset = intParam(params, 'offset');
      const limit = intParam(params, 'limit');
      if (gvk !== undefined) query.gvk = gvk;
      if (ns !== undefined) query.namespace = ns;
      if (q !== undefined) query.q = q;
      if (fromTs !== undefined) query.fromTs = fromTs;
      if (toTs !== undefined) query.toTs = toTs;
      if (offset !== undefined) query.offset = offset;
      if (limit !== undefined) query.limit = limit;
      if (params.get('problems') === '1') query.indexProblems = true;
      return { status: 200, body: view.objects(query) };
    }
    case '/api/object': {
      const ref = { gvk: required(params, 'gvk'), nsName: required(params, 'nsName') };
      const doc = view.object(ref);
      return doc ? { status: 200, body: doc } : notFound(`no object ${ref.gvk} ${ref.nsName} in this trace`);
    }
    case '/api/version': {
      const ref = { gvk: required(params, 'gvk'), nsName: required(params, 'nsName') };
      const v = intParam(params, 'v') ?? -1;
      const doc = view.version(ref, v);
      return doc ? { status: 200, body: doc } : notFound(`no version ${v} of ${ref.gvk} ${ref.nsName}`);
    }
    case '/api/changes': {
      const ts = intParam(params, 'ts');
      if (ts === undefined) throw new BadParam('ts is required');
      return { status: 200, body: view.changesAt(ts, strParam(params, 'gvk')) };
    }
    case '/api/lifecycles': {
      const query: Parameters<TraceView['lifecycles']>[0] = {};
      const gvk = strParam(params, 'gvk');
      const ns = strParam(params, 'ns');
      const q = strParam(params, 'q');
      const limit = intParam(params, 'limit');
      if (gvk !== undefined) query.gvk = gvk;
      if (ns !== undefined) query.namespace = ns;
      if (q !== undefined) query.q = q;
      if (limit !== undefined) query.limit = limit;
      return { status: 200, body: view.lifecycles(query) };
    }
    case '/api/findings':
      return { status: 200, body: view.findings() };
    default:
      return notFound(`no endpoint ${path}`);
  }
}

export async function startViewServer(
  view: TraceView,
  assets: ViewAssets,
  options: { port?: number; host?: string } = {},
): Promise<ViewServer> {
  const host = options.host ?? '127.0.0.1';
  let allowedHosts = new Set<string>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    if (!allowedHosts.has(req.headers.host ?? '')) {
      sendJson(res, 421, {
        error: { code: 'misdirected', message: 'this viewer answers on its own address only' },
      });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: { code: 'method_not_allowed', message: 'GET only' } });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname.startsWith('/api/')) {
      try {
        const { status, body } = answer(view, url.pathname, url.searchParams);
        sendJson(res, status, body);
      } catch (err) {
        if (err instanceof BadParam)
          sendJson(res, 400, { error: { code: 'bad_request', message: err.message } });
        else sendJson(res, 500, { error: { code: 'internal', message: (err as Error).message } });
      }
      return;
    }
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    const file = assets.files.get(url.pathname);
    if (!file) {
      sendJson(res, 404, { error: { code: 'not_found', message: `no file ${url.pathname}` } });
      return;
    }
    send(res, 200, file.type, file.body, req.method === 'HEAD');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  allowedHosts = new Set([`${host}:${port}`, `localhost:${port}`]);
  return {
    url: `http://${host}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
