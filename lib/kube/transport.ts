/**
 * Transport to the Kubernetes API: @kubernetes/client-node loads the kubeconfig (in-cluster
 * service account, KUBECONFIG or --kubeconfig) and turns it into TLS options, an agent and auth
 * headers (`applyToHTTPSOptions`, re-applied per request so rotated service-account tokens and
 * exec credentials are picked up); the requests themselves are plain node:http(s) GETs, so list
 * bodies stay the raw JSON the API server sent (client-node's typed models turn timestamps into
 * Dates and drop kind/apiVersion) and watch streams can be paused for back-pressure.
 *
 * This directory is the only place that imports @kubernetes/client-node.
 */
import { existsSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { delimiter } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { SktraceError } from '../errors.ts';
import { parseRetryAfterMs } from '../forwarder/backoff.ts';
import { KubeApiError } from '../forwarder/ports.ts';

/** Where kubelet mounts the service account (client-node's loadFromCluster reads the same files). */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';
const MAX_ERROR_BODY = 64 * 1024;

export interface KubeConfigSource {
  /** --kubeconfig: wins over everything. */
  kubeconfigPath?: string;
  /** The process environment (KUBERNETES_SERVICE_HOST, KUBECONFIG). */
  env: Record<string, string | undefined>;
  /** Prefix of the service account mount (`<root>/var/run/secrets/…`); tests point it elsewhere. */
  serviceAccountRoot?: string;
}

/**
 * The kubeconfig to use: `--kubeconfig` if given; else the in-cluster service account when running
 * in a pod (KUBERNETES_SERVICE_HOST set and the token mounted); else KUBECONFIG or ~/.kube/config.
 */
export function loadKubeConfig(source: KubeConfigSource): { config: KubeConfig; origin: string } {
  const kc = new KubeConfig();
  try {
    if (source.kubeconfigPath) {
      kc.loadFromFile(source.kubeconfigPath);
      return { config: checked(kc, `--kubeconfig ${source.kubeconfigPath}`), origin: source.kubeconfigPath };
    }
    const root = source.serviceAccountRoot ?? '';
    if (source.env.KUBERNETES_SERVICE_HOST && existsSync(root + SERVICE_ACCOUNT_TOKEN)) {
      kc.loadFromCluster(root);
      return { config: checked(kc, 'the in-cluster service account'), origin: 'in-cluster service account' };
    }
    const files = (source.env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
    if (files.length > 0) {
      // As kubectl: the first file sets the current context, later ones add to it.
      kc.loadFromFile(files[0]!);
      for (const file of files.slice(1)) {
        const more = new KubeConfig();
        more.loadFromFile(file);
        kc.mergeConfig(more, true);
      }
      return { config: checked(kc, `KUBECONFIG ${source.env.KUBECONFIG}`), origin: source.env.KUBECONFIG! };
    }
    kc.loadFromDefault();
  } catch (err) {
    if (err instanceof SktraceError) throw err;
    throw new SktraceError(
      'kubeconfig',
      `cannot load the kubeconfig: ${(err as Error).message}`,
      {},
      { cause: err },
    );
  }
  return { config: checked(kc, '~/.kube/config'), origin: 'default kubeconfig' };
}

function checked(kc: KubeConfig, where: string): KubeConfig {
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) {
    throw new SktraceError('kubeconfig', `no current cluster with a server URL in ${where}`, { where });
  }
  return kc;
}

export interface KubeRequest {
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
  /** Socket inactivity limit; watches rely on their own idle watchdog instead. */
  timeoutMs?: number;
}

export class KubeTransport {
  readonly #kc: KubeConfig;
  readonly #nowMs: () => number;
  readonly server: string;

  constructor(kc: KubeConfig, nowMs: () => number) {
    this.#kc = kc;
    this.#nowMs = nowMs;
    this.server = kc.getCurrentCluster()!.server.replace(/\/+$/, '');
  }

  /**
   * A GET whose 2xx response is returned unread (for streaming); any other status is read and
   * thrown as a KubeApiError carrying the Status message, reason and Retry-After.
   */
  async open(req: KubeRequest): Promise<IncomingMessage> {
    const url = new URL(this.server + req.path);
    for (const [k, v] of Object.entries(req.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const options: https.RequestOptions = { method: 'GET', headers: { accept: 'application/json' } };
    await this.#kc.applyToHTTPSOptions(options);
    if (req.signal) options.signal = req.signal;
    const lib = url.protocol === 'http:' ? http : https;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const request = lib.request(url, options, resolve);
      request.on('error', (err) =>
        reject(new KubeApiError(`GET ${req.path}: ${err.message}`, { path: req.path }, { cause: err })),
      );
      if (req.timeoutMs !== undefined) {
        request.setTimeout(req.timeoutMs, () =>
          request.destroy(
            Object.assign(new Error(`no response in ${req.timeoutMs} ms`), { name: 'TimeoutError' }),
          ),
        );
      }
      request.end();
    });
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    throw await errorOf(req.path, res, this.#nowMs());
  }

  /** A GET read whole and parsed as JSON; 404 gives undefined when `allow404`. */
  async getJson(req: KubeRequest & { allow404?: boolean }): Promise<unknown> {
    let res: IncomingMessage;
    try {
      res = await this.open({ timeoutMs: 30_000, ...req });
    } catch (err) {
      if (req.allow404 && err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
    const chunks: Buffer[] = [];
    try {
      for await (const c of res) chunks.push(c as Buffer);
    } catch (err) {
      throw new KubeApiError(
        `GET ${req.path}: response cut: ${(err as Error).message}`,
        { path: req.path },
        { cause: err },
      );
    }
    const text = Buffer.concat(chunks).toString('utf8');
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new KubeApiError(
        `GET ${req.path}: the response is not JSON`,
        { path: req.path, status: res.statusCode },
        { cause: err },
      );
    }
  }
}

async function errorOf(path: string, res: IncomingMessage, nowMs: number): Promise<KubeApiError> {
  const status = res.statusCode ?? 0;
  let text = '';
  try {
    for await (const c of res) {
      if (text.length < MAX_ERROR_BODY) text += (c as Buffer).toString('utf8');
    }
  } catch {
    // The status line says enough.
  }
  let message = text.slice(0, 500) || res.statusMessage || '';
  let reason: string | undefined;
  try {
    // A meta/v1 Status: {kind: Status, code, reason, message, details: {retryAfterSeconds}}.
    const s = JSON.parse(text) as { message?: unknown; reason?: unknown };
    if (typeof s.message === 'string') message = s.message;
    if (typeof s.reason === 'string') reason = s.reason;
  } catch {
    // Not a Status (a proxy's HTML page): keep the text.
  }
  const retryAfterMs = parseRetryAfterMs(headerOf(res, 'retry-after'), nowMs);
  const context: ConstructorParameters<typeof KubeApiError>[1] = { status, path };
  if (reason !== undefined) context.reason = reason;
  if (retryAfterMs !== undefined) context.retryAfterMs = retryAfterMs;
  return new KubeApiError(`GET ${path}: ${status}${reason ? ` ${reason}` : ''}: ${message}`, context);
}

function headerOf(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
