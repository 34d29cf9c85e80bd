/**
 * The local stack (`sktrace serve`): one process running dynalite and s3rver (lib/local/aws-servers.ts),
 * the very handlers Lambda runs (ingest, exports) with their real dependencies pointed at those
 * servers, behind the API Gateway emulation of lib/local/gateway.ts, and export jobs run in-process
 * (lib/local/job-runner.ts) instead of through Lambda's asynchronous invocation. The checkpoint
 * function runs in-process too, on a timer (hourly, as the template's schedule), so a long-lived
 * local stack keeps exports reading one checkpoint plus the window rather than all history, and
 * stays exportable once retention expires its oldest changes.
 *
 * Auth: a local token valid for every cluster (AuthPolicy.globalTokenHashes) — given with
 * `token`, else the one kept in `<dataDir>/token` (mode 0600) from an earlier run, else a new one;
 * tokens made with `sktrace token create --endpoint-url <dynamodb endpoint> --table sktrace` work
 * too, per cluster. The gateway binds 127.0.0.1 unless told otherwise; dynalite and s3rver always
 * bind loopback (lib/local/aws-servers.ts LOCAL_AWS_HOST), and presigned export URLs name the
 * gateway, which passes GET/HEAD of `/<bucket>/exports/…` to s3rver (s3rver checks the signature,
 * Host included, so only a valid URL for an export reads anything).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { makeHandler as makeCheckpointHandler } from '../../functions/checkpoint/handler.ts';
import { CHANGES_ROUTE } from '../../functions/exports/changes.ts';
import {
  EXPORT_ROUTES,
  makeCreateHandler,
  makeHandler as makeExportsHandler,
  makeStatusHandler,
} from '../../functions/exports/handler.ts';
import { makeHandler as makeIngestHandler } from '../../functions/ingest/handler.ts';
import { generateToken, hashToken, isWellFormedToken } from '../auth/token.ts';
import { makeDynamoClient, makeS3Client } from '../aws/clients.ts';
import { DynamoExportJobStore } from '../aws/dynamo-export-jobs.ts';
import { DynamoTokenStore } from '../aws/dynamo-token-store.ts';
import { DynamoTraceStore } from '../aws/dynamo-trace-store.ts';
import { isValidPresignedGet } from '../aws/presigned-check.ts';
import { S3BlobStore } from '../aws/s3-blob-store.ts';
import { S3ExportObjects } from '../aws/s3-exports.ts';
import { SktraceError } from '../errors.ts';
import type { ExportJobDeps } from '../export/pipeline.ts';
import type { ExportObjectStore } from '../export/ports.ts';
import { connectHost, type LocalAwsServers, startLocalAwsServers } from './aws-servers.ts';
import { createGateway } from './gateway.ts';
import { InProcessJobLauncher } from './job-runner.ts';

export const LOCAL_TABLE = 'sktrace';
export const LOCAL_BUCKET = 'sktrace';
export const DEFAULT_PORT = 7777;
export const DEFAULT_HOST = '127.0.0.1';

export type LocalLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';

export interface LocalStackOptions {
  /** Default 7777; 0 picks a free port (see `LocalStack.port`). */
  port?: number;
  host?: string;
  /** Where data persists across restarts; in memory when absent. */
  dataDir?: string;
  /** The local token (valid for every cluster); see the module comment for the default. */
  token?: string;
  /** Lifetime of presigned export URLs (default 3600 s). */
  urlTtlSec?: number;
  /** History retention of the store (default 14 days). */
  retentionDays?: number;
  logLevel?: LocalLogLevel;
  /**
   * Puts something between the stack's DynamoDB client and dynalite (the fault-injecting proxy of
   * the chaos tests): given dynalite's endpoint, returns the one the stack's client uses instead.
   */
  dynamoVia?: (dynaliteEndpoint: string) => Promise<string>;
  /** Change-feed readers follow records stamped at least this long ago (default 1,000 ms locally). */
  feedSettleMs?: number;
  /** Period of the in-process checkpoint run over every cluster (default 3,600 s, as in AWS); 0 turns it off. */
  checkpointEverySec?: number;
}

export interface LocalStack {
  url: string;
  host: string;
  port: number;
  dataDir?: string;
  token: string;
  /** Where the token came from. */
  tokenSource: 'option' | 'data-dir' | 'generated';
  endpoints: { dynamo: string; s3: string };
  tableName: string;
  bucket: string;
  /** The store behind the API (tests read it directly). */
  store: DynamoTraceStore;
  /** Waits for export jobs in flight. */
  drainJobs(): Promise<void>;
  /** Stops accepting requests, lets running jobs finish, closes the servers. */
  close(): Promise<void>;
}

async function resolveToken(
  options: LocalStackOptions,
): Promise<{ token: string; source: LocalStack['tokenSource'] }> {
  if (options.token !== undefined) {
    if (!isWellFormedToken(options.token)) {
      throw new SktraceError(
        'usage',
        '--token must look like skt_ followed by 43 base64url characters (e.g. from `sktrace serve` or `sktrace token create`)',
      );
    }
    return { token: options.token, source: 'option' };
  }
  if (options.dataDir !== undefined) {
    const path = join(options.dataDir, 'token');
    try {
      const kept = (await readFile(path, 'utf8')).trim();
      if (isWellFormedToken(kept)) return { token: kept, source: 'data-dir' };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const { token } = generateToken(randomBytes);
    await writeFile(path, `${token}\n`, { mode: 0o600 });
    return { token, source: 'generated' };
  }
  return { token: generateToken(randomBytes).token, source: 'generated' };
}

function healthz(req: IncomingMessage, res: ServerResponse): boolean {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (path !== '/healthz') return false;
  req.resume();
  const body = JSON.stringify({ status: 'ok' });
  res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 200 : 405, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? DEFAULT_PORT;
  const { dataDir } = options;
  if (dataDir !== undefined) await mkdir(dataDir, { recursive: true });
  const { token, source } = await resolveToken(options);

  const aws: LocalAwsServers = await startLocalAwsServers({
    tableName: LOCAL_TABLE,
    bucket: LOCAL_BUCKET,
    ...(dataDir !== undefined ? { dataDir } : {}),
  });
  try {
    const dynamo = options.dynamoVia
      ? makeDynamoClient({ endpoint: await options.dynamoVia(aws.endpoints.dynamo) })
      : aws.dynamo;
    const logger = new Logger({ serviceName: 'sktrace-serve', logLevel: options.logLevel ?? 'WARN' });
    const blobs = new S3BlobStore(aws.s3, LOCAL_BUCKET);
    const store = new DynamoTraceStore({
      dynamo,
      tableName: LOCAL_TABLE,
      blobs,
      countChanges: true,
      ...(options.retentionDays !== undefined ? { retentionDays: options.retentionDays } : {}),
      // One process writes every feed record here: a second covers a PutItem to dynalite.
      settleMs: options.feedSettleMs ?? 1000,
    });
    const tokens = new DynamoTokenStore({ client: dynamo, tableName: LOCAL_TABLE });
    const jobs = new DynamoExportJobStore({ client: dynamo, tableName: LOCAL_TABLE });
    // Uploads go to s3rver on loopback; URLs are signed for the gateway's address (known once it
    // listens), which passes their GETs on to s3rver.
    let signing: S3ExportObjects | undefined;
    let presignS3: ReturnType<typeof makeS3Client> | undefined;
    const uploads = new S3ExportObjects({ s3: aws.s3, bucket: LOCAL_BUCKET });
    const objects: ExportObjectStore = {
      put: (key, bytes) => uploads.put(key, bytes),
      startUpload: (key) => uploads.startUpload(key),
      presign: (key, ttlSec) => (signing ?? uploads).presign(key, ttlSec),
    };
    const auth = { mode: 'bearer' as const, globalTokenHashes: [hashToken(token)] };
    const jobDeps: ExportJobDeps = {
      jobs,
      reader: store,
      checkpointer: store,
      objects,
      nowSec: () => Math.floor(Date.now() / 1000),
      log: logger,
    };
    const launcher = new InProcessJobLauncher(jobDeps);
    const exportsDeps = {
      jobs,
      objects,
      launcher,
      tokens,
      reader: store,
      logger,
      clock: Date.now,
      auth,
      ...(options.urlTtlSec !== undefined ? { urlTtlSec: options.urlTtlSec } : {}),
    };
    const gateway: Server = createGateway({
      routes: [
        {
          routeKey: 'POST /v1/clusters/{cluster}/events',
          handler: makeIngestHandler({ writer: store, tokens, logger, clock: Date.now, auth }),
          functionName: 'sktrace-ingest',
        },
        {
          routeKey: EXPORT_ROUTES.create,
          handler: makeCreateHandler(exportsDeps),
          functionName: 'sktrace-exports',
        },
        {
          routeKey: EXPORT_ROUTES.status,
          handler: makeStatusHandler(exportsDeps),
          functionName: 'sktrace-exports',
        },
        {
          routeKey: CHANGES_ROUTE,
          // Through the exports function's dispatch, as API Gateway reaches it in AWS.
          handler: makeExportsHandler({ ...exportsDeps, feed: store }),
          functionName: 'sktrace-exports',
        },
      ],
      intercept: (req, res) =>
        healthz(req, res) ||
        proxyExportDownload(req, res, aws.endpoints.s3, (url) =>
          presignS3 ? isValidPresignedGet(presignS3, LOCAL_BUCKET, url, Date.now()) : Promise.resolve(false),
        ),
    });
    await new Promise<void>((resolve, reject) => {
      gateway.once('error', reject);
      gateway.listen(port, host, () => resolve());
    });
    const actualPort = (gateway.address() as AddressInfo).port;
    const publicUrl = `http://${connectHost(host)}:${actualPort}`;
    presignS3 = makeS3Client({ endpoint: publicUrl });
    signing = new S3ExportObjects({ s3: aws.s3, presignS3, bucket: LOCAL_BUCKET });
    const checkpoints = startCheckpointTimer(options.checkpointEverySec ?? 3600, store, logger);

    let closing: Promise<void> | undefined;
    return {
      url: publicUrl,
      host,
      port: actualPort,
      ...(dataDir !== undefined ? { dataDir } : {}),
      token,
      tokenSource: source,
      endpoints: aws.endpoints,
      tableName: LOCAL_TABLE,
      bucket: LOCAL_BUCKET,
      store,
      drainJobs: () => launcher.idle(),
      close() {
        closing ??= (async () => {
          await checkpoints.stop();
          const stopped = new Promise<void>((resolve) => gateway.close(() => resolve()));
          gateway.closeIdleConnections();
          await launcher.drain();
          gateway.closeAllConnections();
          await stopped;
          if (dynamo !== aws.dynamo) dynamo.destroy();
          presignS3?.destroy();
          await aws.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    await aws.close();
    throw err;
  }
}

/**
 * GET/HEAD of an exported trace through the gateway: `/<bucket>/exports/…` (path-style, as the
 * URLs are signed) with a valid, unexpired signature is passed to s3rver on loopback; s3rver
 * itself serves anyone, so the signature is checked here (403 otherwise, as S3 answers). Nothing
 * else of s3rver is reachable through the gateway.
 */
function proxyExportDownload(
  req: IncomingMessage,
  res: ServerResponse,
  s3Endpoint: string,
  verify: (url: URL) => Promise<boolean>,
): boolean {
  const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
  if (
    !url.pathname.startsWith(`/${LOCAL_BUCKET}/exports/`) ||
    (req.method !== 'GET' && req.method !== 'HEAD')
  ) {
    return false;
  }
  verify(url).then(
    (ok) => {
      if (ok) forward(req, res, s3Endpoint);
      else {
        req.resume();
        res.writeHead(403, { 'content-type': 'application/xml' });
        res.end('<Error><Code>AccessDenied</Code><Message>invalid or expired signature</Message></Error>');
      }
    },
    () => {
      req.resume();
      res.writeHead(500);
      res.end();
    },
  );
  return true;
}

function forward(req: IncomingMessage, res: ServerResponse, s3Endpoint: string): void {
  const upstream = request(`${s3Endpoint}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  });
  upstream.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(upstream);
}

/**
 * Runs the checkpoint function's handler every `everySec` (never two runs at once). A failed run is
 * logged by the handler and retried at the next tick, as a failed scheduled invocation is in AWS.
 */
function startCheckpointTimer(
  everySec: number,
  store: DynamoTraceStore,
  logger: Logger,
): { stop(): Promise<void> } {
  if (!(everySec > 0)) return { stop: async () => {} };
  const run = makeCheckpointHandler({
    checkpointer: store,
    directory: store,
    nowSec: () => Math.floor(Date.now() / 1000),
    // Skip a cluster checkpointed within the last half period, as the deployed function does.
    minIntervalSec: Math.max(1, Math.floor(everySec / 2)),
    log: logger,
  });
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    running ??= run({})
      .catch(() => {}) // already logged per cluster by the handler
      .finally(() => {
        running = undefined;
      });
  }, everySec * 1000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
