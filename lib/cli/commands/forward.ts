/**
 * `sktrace forward`: the in-cluster forwarder. Watches the kinds of a tracer config (and pods,
 * for lifecycles) and posts every change to an sktrace endpoint; stateless, so a restart just
 * relists. docs/forwarder.md describes its behaviour, metrics and deployment.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { SktraceError } from '../../errors.ts';
import { DEFAULT_DELIVERY, Delivery } from '../../forwarder/delivery.ts';
import { httpIngestPoster } from '../../forwarder/ingest-client.ts';
import { jsonLogger, type LogLevel } from '../../forwarder/log.ts';
import { ForwarderMetrics } from '../../forwarder/metrics.ts';
import { parseListen, startOpsServer } from '../../forwarder/ops-server.ts';
import { DEFAULT_TUNING, Forwarder } from '../../forwarder/runner.ts';
import { systemRuntime } from '../../forwarder/system.ts';
import { HttpKubeApi } from '../../kube/api.ts';
import { KubeTransport, loadKubeConfig } from '../../kube/transport.ts';
import { parseTracerConfig, type TracerConfig } from '../../trace/config.ts';

interface ForwardOptions {
  config: string;
  endpoint: string;
  cluster: string;
  token?: string;
  kubeconfig?: string;
  listen: string;
  gracePeriod: string;
  logLevel: string;
  watchTimeout: string;
  pageLimit: string;
  maxQueueBytes: string;
  maxBatchesInFlight: string;
}

export function registerForward(program: Command): void {
  program
    .command('forward')
    .description('Watch the tracked kinds of a cluster and post every change to an sktrace endpoint')
    .requiredOption('--config <file>', 'tracer config (SimKube trackedObjects YAML)')
    .requiredOption('--endpoint <url>', 'sktrace endpoint base URL')
    .requiredOption('--cluster <id>', 'cluster id the changes are stored under')
    .option('--token <token>', 'bearer token for the endpoint (default: $SKTRACE_TOKEN)')
    .option(
      '--kubeconfig <path>',
      'kubeconfig (default: in-cluster service account, else $KUBECONFIG or ~/.kube/config)',
    )
    .option('--listen <addr>', 'address of /healthz, /readyz and /metrics', ':8080')
    .option('--grace-period <seconds>', 'how long SIGTERM may spend flushing held changes', '25')
    .option('--log-level <level>', 'debug, info, warn or error', 'info')
    .option(
      '--watch-timeout <seconds>',
      'timeoutSeconds asked of each watch',
      String(DEFAULT_TUNING.watchTimeoutSec),
    )
    .option('--page-limit <n>', 'objects per list page', String(DEFAULT_TUNING.pageLimit))
    .option(
      '--max-queue-bytes <n>',
      'bound of the delivery queue (JSON bytes)',
      String(DEFAULT_DELIVERY.maxQueueBytes),
    )
    .option(
      '--max-batches-in-flight <n>',
      'batches posted at once (only batches whose changes do not depend on each other)',
      String(DEFAULT_DELIVERY.maxBatchesInFlight),
    )
    .action((opts: ForwardOptions) => runForward(opts));
}

function positiveNumber(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new SktraceError('usage', `${flag} must be a positive number, got ${JSON.stringify(value)}`);
  return n;
}

function positiveInteger(value: string, flag: string): number {
  const n = positiveNumber(value, flag);
  if (!Number.isInteger(n))
    throw new SktraceError('usage', `${flag} must be a whole number, got ${JSON.stringify(value)}`);
  return n;
}

function loadConfig(path: string): TracerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SktraceError('usage', `--config ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
  try {
    return parseTracerConfig(text);
  } catch (err) {
    // The config's own errors name the kind and the field; exit 2 like every usage error.
    const e = err as SktraceError;
    throw new SktraceError(
      'usage',
      `--config ${path}: ${e.message}`,
      { path, ...(e.context ?? {}) },
      { cause: err },
    );
  }
}

async function runForward(opts: ForwardOptions): Promise<void> {
  const runtime = systemRuntime;
  const level = opts.logLevel as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(level)) {
    throw new SktraceError(
      'usage',
      `--log-level must be debug, info, warn or error, got ${JSON.stringify(opts.logLevel)}`,
    );
  }
  try {
    const url = new URL(opts.endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new SktraceError('usage', `--endpoint ${JSON.stringify(opts.endpoint)} is not an http(s) URL`);
  }
  const listen = parseListen(opts.listen);
  const graceMs = positiveNumber(opts.gracePeriod, '--grace-period') * 1000;
  const maxBatchesInFlight = positiveInteger(opts.maxBatchesInFlight, '--max-batches-in-flight');
  const config = loadConfig(opts.config);
  let kube: ReturnType<typeof loadKubeConfig>;
  try {
    kube = loadKubeConfig(
      opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig, env: process.env } : { env: process.env },
    );
  } catch (err) {
    throw new SktraceError('usage', (err as Error).message, {}, { cause: err });
  }

  const log = jsonLogger({ write: (line) => process.stdout.write(line), nowMs: runtime.nowMs, level });
  const metrics = new ForwarderMetrics();
  const token = opts.token ?? process.env.SKTRACE_TOKEN;
  const poster = httpIngestPoster({
    endpoint: opts.endpoint,
    cluster: opts.cluster,
    ...(token ? { token } : {}),
    requestTimeoutMs: 30_000,
    nowMs: runtime.nowMs,
    maxSockets: maxBatchesInFlight,
  });
  const delivery = new Delivery(
    {
      ...DEFAULT_DELIVERY,
      maxQueueBytes: positiveNumber(opts.maxQueueBytes, '--max-queue-bytes'),
      maxBatchesInFlight,
    },
    { poster, runtime, metrics, log },
  );
  const forwarder = new Forwarder({
    config,
    kube: new HttpKubeApi(
      new KubeTransport(kube.config, runtime.nowMs, {
        onRequest: () => metrics.kubeRequests.inc(),
        onConnection: () => metrics.kubeConnections.inc(),
        onConnectionReset: ({ path, code, message }) => {
          metrics.kubeConnectionResets.inc();
          log.warn('connection to the Kubernetes API server reset; the request is retried', {
            path,
            code,
            error: message,
          });
        },
      }),
    ),
    delivery,
    runtime,
    log,
    metrics,
    tuning: {
      // timeoutSeconds is an integer query parameter.
      watchTimeoutSec: Math.max(1, Math.floor(positiveNumber(opts.watchTimeout, '--watch-timeout'))),
      pageLimit: Math.floor(positiveNumber(opts.pageLimit, '--page-limit')),
    },
  });
  const ops = await startOpsServer({ listen, metrics, readiness: () => forwarder.readiness() });
  log.info('forwarder configured', {
    endpoint: opts.endpoint,
    cluster: opts.cluster,
    kubernetes: kube.config.server,
    credentials: kube.config.credentials.describe,
    kubeconfig: kube.origin,
    ops: ops.url,
    kinds: [...config.trackedObjects.keys()],
  });

  const signalled = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  await forwarder.start();
  const signal = await signalled;
  log.info('signal received', { signal });
  const { left } = await forwarder.stop(graceMs);
  await ops.close();
  log.info('forwarder stopped', { unsent: left });
  // Idle keep-alive sockets must not hold the process past its shutdown.
  setTimeout(() => process.exit(0), 1000).unref();
}
