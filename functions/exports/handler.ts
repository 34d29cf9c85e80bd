/**
 * The exports function, behind two API Gateway HTTP API routes (payload format 2.0):
 * - `POST /v1/clusters/{cluster}/exports` validates an ExportRequest, stores a `pending` job,
 *   launches the job runner asynchronously and answers `202` with the job at once;
 * - `GET /v1/clusters/{cluster}/exports/{id}` answers the job's status; once it succeeded, with a
 *   URL presigned on this request (valid `urlTtlSec`) and the counts.
 * It only wires: lib/http's middlewares authenticate (a cluster's token only reaches that cluster's
 * jobs), decode and parse; lib/export validates and models; the ports store, sign and launch.
 */
import { createHash, randomBytes as cryptoRandomBytes } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import type { AuthPolicy } from '../../lib/auth/decide.ts';
import {
  EXPORT_STATUS_BY_CODE,
  ExportNotFoundError,
  IdempotencyKeyError,
  LaunchFailedError,
  TooManyExportsError,
} from '../../lib/export/errors.ts';
import {
  DEFAULT_MAX_RUN_SEC,
  type ExportJob,
  effectiveJob,
  failed,
  isFinal,
  isJobId,
  jobView,
  newJob,
  newJobId,
} from '../../lib/export/job.ts';
import { checkWindowSize, DEFAULT_MAX_WINDOW_CHANGES } from '../../lib/export/limits.ts';
import { checkWindowRetained } from '../../lib/export/pipeline.ts';
import type {
  ExportJobStore,
  ExportObjectStore,
  IdempotencyRecord,
  JobLauncher,
} from '../../lib/export/ports.ts';
import {
  DEFAULT_MAX_FUTURE_SEC,
  DEFAULT_MAX_WINDOW_SEC,
  type ExportRequest,
  validateExportRequest,
} from '../../lib/export/request.ts';
import { authenticate } from '../../lib/http/auth.ts';
import { decodeBody } from '../../lib/http/body.ts';
import { clusterOf } from '../../lib/http/cluster.ts';
import { type HttpEvent, type HttpResult, jsonResponse } from '../../lib/http/event.ts';
import { parseJsonBody } from '../../lib/http/json.ts';
import { allowMethods } from '../../lib/http/method.ts';
import { httpStack } from '../../lib/http/stack.ts';
import type { ChangeFeed, TokenStore, TraceReader } from '../../lib/store/ports.ts';
import { CHANGES_ROUTE, makeChangesHandler } from './changes.ts';
import { exportsDepsFromEnv } from './deps.ts';

export interface ExportsDeps {
  jobs: ExportJobStore;
  objects: ExportObjectStore;
  launcher: JobLauncher;
  tokens: TokenStore;
  /** For the early retention check (409 before a job is even created); optional. */
  reader?: Pick<TraceReader, 'retentionHorizon' | 'estimateChanges'>;
  /** Windows estimated above this many changes are refused (lib/export/limits.ts); default DEFAULT_MAX_WINDOW_CHANGES. */
  maxWindowChanges?: number;
  logger: Logger;
  /** Wall clock, epoch milliseconds. */
  clock: () => number;
  randomBytes?: (size: number) => Uint8Array;
  /** Lifetime of presigned URLs (EXPORT_URL_TTL_SEC; default 3600). */
  urlTtlSec?: number;
  /** How long job records (and so their exports) stay reachable (default 7 days). */
  jobRetentionSec?: number;
  /** A job running longer than this has a dead runner (default: Lambda's 900 s maximum + a minute). */
  maxRunSec?: number;
  maxFutureSec?: number;
  /** Longest window per export (MAX_EXPORT_WINDOW_SEC; default one day). */
  maxWindowSec?: number;
  /** Exports pending or running at once per cluster (MAX_ACTIVE_EXPORTS_PER_CLUSTER; default 3). */
  maxActiveExports?: number;
  /** Default: bearer tokens per cluster. */
  auth?: AuthPolicy;
  /** Waits between looks for the job of a concurrent request with the same Idempotency-Key. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * The change feed behind `GET /v1/clusters/{cluster}/changes` (functions/changes/handler.ts),
   * which this function also serves in AWS: it already reads the table, so the route costs no new
   * function, role or cold start.
   */
  feed?: ChangeFeed;
}

export const DEFAULT_URL_TTL_SEC = 3600;
export const DEFAULT_JOB_RETENTION_SEC = 7 * 86_400;
export { DEFAULT_MAX_RUN_SEC };
export const DEFAULT_MAX_ACTIVE_EXPORTS = 3;
/** How long the same Idempotency-Key returns the same job. */
export const IDEMPOTENCY_TTL_SEC = 86_400;
/** Retry-After of a 429 too_many_exports: a typical export finishes within a minute or two. */
export const TOO_MANY_EXPORTS_RETRY_AFTER_SEC = 30;
/**
 * A key whose record names a job that still does not exist this long after the record was
 * written belongs to a request that died between the two writes: a new request may take it over.
 */
const ABANDONED_KEY_SEC = 30;
// RFC 9110 field-value characters a key may hold (visible ASCII), and a bound on its length.
const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
/** An ExportRequest is a few hundred bytes; selectors make it a few KB at most. */
const MAX_REQUEST_BYTES = 64 * 1024;

export type ExportsHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyResultV2>;

export function makeCreateHandler(deps: ExportsDeps): ExportsHandler {
  const randomBytes = deps.randomBytes ?? cryptoRandomBytes;
  const retentionSec = deps.jobRetentionSec ?? DEFAULT_JOB_RETENTION_SEC;
  const maxFutureSec = deps.maxFutureSec ?? DEFAULT_MAX_FUTURE_SEC;
  const { logger } = deps;

  const maxRunSec = deps.maxRunSec ?? DEFAULT_MAX_RUN_SEC;
  const maxWindowSec = deps.maxWindowSec ?? DEFAULT_MAX_WINDOW_SEC;
  const maxActive = deps.maxActiveExports ?? DEFAULT_MAX_ACTIVE_EXPORTS;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));

  /** The answer to a request whose Idempotency-Key was seen: the same job, as it is now. */
  const replay = async (cluster: string, job: ExportJob, nowSec: number): Promise<HttpResult> => {
    logger.info('export request replayed by Idempotency-Key', { cluster, id: job.id });
    return jsonResponse(202, jobView(effectiveJob(job, nowSec, maxRunSec)), {
      Location: `/v1/clusters/${cluster}/exports/${job.id}`,
      'Idempotent-Replayed': 'true',
    });
  };

  /** The job a live key record names: waits briefly for a concurrent request still creating it. */
  const jobOfRecord = async (cluster: string, jobId: string): Promise<ExportJob | undefined> => {
    for (let look = 0; look < 5; look++) {
      const job = await deps.jobs.get(cluster, jobId);
      if (job) return job;
      await sleep(200);
    }
    return undefined;
  };

  const create = async (event: HttpEvent): Promise<HttpResult> => {
    const cluster = clusterOf(event);
    const nowSec = Math.floor(deps.clock() / 1000);
    const request = validateExportRequest(event.jsonBody, { nowSec, maxFutureSec, maxWindowSec });
    const key = idempotencyKeyOf(event);
    const keyHash = key === undefined ? undefined : sha256Hex(key);
    const requestHash = sha256Hex(canonicalJson(request));
    let takeOver: string | undefined;

    // A key seen before answers with its job, before any limit is judged: the retry of a request
    // that was accepted (its response lost) must not be refused by the cap its own job fills.
    if (keyHash !== undefined) {
      const seen = await deps.jobs.getIdempotency(cluster, keyHash, nowSec);
      if (seen) {
        const outcome = await settleSeenKey(cluster, seen, requestHash, nowSec);
        if (outcome.job) return replay(cluster, outcome.job, nowSec);
        takeOver = seen.jobId;
      }
    }

    if (deps.reader) checkWindowRetained(await deps.reader.retentionHorizon(cluster), request.window);
    if (deps.reader?.estimateChanges) {
      const estimate = await deps.reader.estimateChanges(cluster, request.window);
      checkWindowSize(request.window, estimate, deps.maxWindowChanges ?? DEFAULT_MAX_WINDOW_CHANGES);
    }
    const active = (await deps.jobs.unfinished(cluster)).filter(
      (j) => !isFinal(effectiveJob(j, nowSec, maxRunSec).status),
    );
    if (active.length >= maxActive) {
      throw new TooManyExportsError(cluster, active.length, maxActive, TOO_MANY_EXPORTS_RETRY_AFTER_SEC);
    }

    const id = newJobId(randomBytes);
    if (keyHash !== undefined) {
      const record = {
        keyHash,
        requestHash,
        jobId: id,
        createdAtSec: nowSec,
        expiresAtSec: nowSec + IDEMPOTENCY_TTL_SEC,
      };
      const winner = await deps.jobs.putIdempotency(cluster, record, nowSec, takeOver);
      if (winner) {
        // A concurrent request with this key got there first: its job is the answer.
        const outcome = await settleSeenKey(cluster, winner, requestHash, nowSec);
        if (outcome.job) return replay(cluster, outcome.job, nowSec);
        throw inProgress(cluster);
      }
    }
    const release = async () => {
      // Frees the key (an expired record), so a retry with it starts afresh.
      if (keyHash === undefined) return;
      await deps.jobs
        .putIdempotency(
          cluster,
          { keyHash, requestHash, jobId: id, createdAtSec: nowSec, expiresAtSec: nowSec },
          nowSec,
          id,
        )
        .catch(() => undefined);
    };
    const job = newJob({ cluster, id }, request, nowSec, { retentionSec });
    try {
      await deps.jobs.create(job);
    } catch (err) {
      await release();
      throw err;
    }
    try {
      await deps.launcher.launch({ cluster, id });
    } catch (err) {
      // The job would stay pending forever: record why, then tell the client to retry.
      await deps.jobs
        .replace(failed(job, 'the export job could not be started; request the export again', nowSec), [
          'pending',
        ])
        .catch(() => false);
      await release();
      throw new LaunchFailedError('the export job could not be started', { cluster, id }, { cause: err });
    }
    logger.info('export requested', { cluster, id, window: request.window, filters: request.filters });
    return jsonResponse(202, jobView(job), { Location: `/v1/clusters/${cluster}/exports/${id}` });
  };

  /**
   * A live record of the request's key: the same body gets the record's job; another body is a
   * 422. A record whose job never appeared (its request died between the two writes) may be
   * taken over once ABANDONED_KEY_SEC has passed; before that the request is still in progress.
   */
  const settleSeenKey = async (
    cluster: string,
    seen: IdempotencyRecord,
    requestHash: string,
    nowSec: number,
  ): Promise<{ job?: ExportJob }> => {
    if (seen.requestHash !== requestHash) {
      throw new IdempotencyKeyError(
        'idempotency_key_reused',
        `this Idempotency-Key was used within the last ${IDEMPOTENCY_TTL_SEC / 3600} h for a different export request (job ${seen.jobId}); send a new key for a new request`,
        { cluster, id: seen.jobId },
      );
    }
    const job = await jobOfRecord(cluster, seen.jobId);
    if (job) return { job };
    if (nowSec - seen.createdAtSec < ABANDONED_KEY_SEC) throw inProgress(cluster);
    return {};
  };

  const handler = middy<HttpEvent, HttpResult, Error, Context>()
    .use(httpStack({ logger, statusByCode: EXPORT_STATUS_BY_CODE }))
    .use(allowMethods(['POST']))
    .use(authenticate({ tokens: deps.tokens, policy: deps.auth ?? { mode: 'bearer' } }))
    .use(decodeBody({ maxBodyBytes: MAX_REQUEST_BYTES, maxDecodedBytes: MAX_REQUEST_BYTES }))
    .use(parseJsonBody())
    .handler(create);
  return handler as ExportsHandler;
}

function inProgress(cluster: string): IdempotencyKeyError {
  return new IdempotencyKeyError(
    'idempotency_in_progress',
    'a request with this Idempotency-Key is still being processed; retry it after Retry-After seconds',
    { cluster, retryAfterSec: 1 },
  );
}

/** The request's Idempotency-Key header, or undefined; a malformed one is a 400. */
function idempotencyKeyOf(event: HttpEvent): string | undefined {
  const raw = event.headers?.['idempotency-key'];
  if (raw === undefined) return undefined;
  if (!IDEMPOTENCY_KEY_PATTERN.test(raw)) {
    throw new IdempotencyKeyError(
      'invalid_request',
      'the Idempotency-Key header must hold 1 to 255 visible ASCII characters (a UUID is a good key)',
    );
  }
  return raw;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** JSON with object keys sorted: equal requests hash equal whatever order their fields came in. */
function canonicalJson(value: ExportRequest): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

export function makeStatusHandler(deps: ExportsDeps): ExportsHandler {
  const urlTtlSec = deps.urlTtlSec ?? DEFAULT_URL_TTL_SEC;
  const maxRunSec = deps.maxRunSec ?? DEFAULT_MAX_RUN_SEC;

  const status = async (event: HttpEvent): Promise<HttpResult> => {
    const cluster = clusterOf(event);
    const id = event.pathParameters?.id ?? '';
    const nowSec = Math.floor(deps.clock() / 1000);
    // A malformed id names no job; the lookup is under this cluster's partition only.
    const stored = isJobId(id) ? await deps.jobs.get(cluster, id) : undefined;
    if (!stored || stored.expiresAtSec <= nowSec) throw new ExportNotFoundError(cluster, id);
    const job = effectiveJob(stored, nowSec, maxRunSec);
    const signed =
      job.status === 'succeeded' && job.key !== undefined
        ? { url: await deps.objects.presign(job.key, urlTtlSec), expiresAtSec: nowSec + urlTtlSec }
        : undefined;
    // The URL is a bearer credential for the trace: no shared cache may keep it.
    return jsonResponse(200, jobView(job, signed), { 'Cache-Control': 'no-store' });
  };

  const handler = middy<HttpEvent, HttpResult, Error, Context>()
    .use(httpStack({ logger: deps.logger, statusByCode: EXPORT_STATUS_BY_CODE }))
    .use(allowMethods(['GET']))
    .use(authenticate({ tokens: deps.tokens, policy: deps.auth ?? { mode: 'bearer' } }))
    .handler(status);
  return handler as ExportsHandler;
}

/**
 * One function for the export routes and the changes route (template.yaml maps them to it): the
 * changes route by its route key, then the export routes by the `{id}` parameter.
 */
export function makeHandler(deps: ExportsDeps): ExportsHandler {
  const create = makeCreateHandler(deps);
  const status = makeStatusHandler(deps);
  const { feed } = deps;
  const changes = feed
    ? makeChangesHandler({
        feed,
        tokens: deps.tokens,
        logger: deps.logger,
        ...(deps.auth ? { auth: deps.auth } : {}),
      })
    : undefined;
  return (event, context) => {
    if (changes && event.routeKey === CHANGES_ROUTE) return changes(event, context);
    return (event.pathParameters?.id === undefined ? create : status)(event, context);
  };
}

/** Route keys of this function, as API Gateway and the local gateway name them. */
export const EXPORT_ROUTES = {
  create: 'POST /v1/clusters/{cluster}/exports',
  status: 'GET /v1/clusters/{cluster}/exports/{id}',
} as const;

let coldStart: ExportsHandler | undefined;

/**
 * The Lambda entry point: dependencies built from the environment on the first invocation of
 * each execution environment (functions/exports/deps.ts), so importing this module opens nothing.
 */
export const handler: ExportsHandler = async (event, context) => {
  if (!coldStart) {
    coldStart = makeHandler(exportsDepsFromEnv(process.env));
  }
  return coldStart(event, context);
};
