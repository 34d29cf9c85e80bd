/**
 * The exports function, behind two API Gateway HTTP API routes (payload format 2.0):
 * - `POST /v1/clusters/{cluster}/exports` validates an ExportRequest, stores a `pending` job,
 *   launches the job runner asynchronously and answers `202` with the job at once;
 * - `GET /v1/clusters/{cluster}/exports/{id}` answers the job's status; once it succeeded, with a
 *   URL presigned on this request (valid `urlTtlSec`) and the counts.
 * It only wires: lib/http's middlewares authenticate (a cluster's token only reaches that cluster's
 * jobs), decode and parse; lib/export validates and models; the ports store, sign and launch.
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import type { AuthPolicy } from '../../lib/auth/decide.ts';
import { EXPORT_STATUS_BY_CODE, ExportNotFoundError, LaunchFailedError } from '../../lib/export/errors.ts';
import { effectiveJob, failed, isJobId, jobView, newJob, newJobId } from '../../lib/export/job.ts';
import { checkWindowSize, DEFAULT_MAX_WINDOW_CHANGES } from '../../lib/export/limits.ts';
import { checkWindowRetained } from '../../lib/export/pipeline.ts';
import type { ExportJobStore, ExportObjectStore, JobLauncher } from '../../lib/export/ports.ts';
import { DEFAULT_MAX_FUTURE_SEC, validateExportRequest } from '../../lib/export/request.ts';
import { authenticate } from '../../lib/http/auth.ts';
import { decodeBody } from '../../lib/http/body.ts';
import { clusterOf } from '../../lib/http/cluster.ts';
import { type HttpEvent, type HttpResult, jsonResponse } from '../../lib/http/event.ts';
import { parseJsonBody } from '../../lib/http/json.ts';
import { allowMethods } from '../../lib/http/method.ts';
import { httpStack } from '../../lib/http/stack.ts';
import type { TokenStore, TraceReader } from '../../lib/store/ports.ts';
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
  /** Default: bearer tokens per cluster. */
  auth?: AuthPolicy;
}

export const DEFAULT_URL_TTL_SEC = 3600;
export const DEFAULT_JOB_RETENTION_SEC = 7 * 86_400;
export const DEFAULT_MAX_RUN_SEC = 960;
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

  const create = async (event: HttpEvent): Promise<HttpResult> => {
    const cluster = clusterOf(event);
    const nowSec = Math.floor(deps.clock() / 1000);
    const request = validateExportRequest(event.jsonBody, { nowSec, maxFutureSec });
    if (deps.reader) checkWindowRetained(await deps.reader.retentionHorizon(cluster), request.window);
    if (deps.reader?.estimateChanges) {
      const estimate = await deps.reader.estimateChanges(cluster, request.window);
      checkWindowSize(request.window, estimate, deps.maxWindowChanges ?? DEFAULT_MAX_WINDOW_CHANGES);
    }
    const id = newJobId(randomBytes);
    const job = newJob({ cluster, id }, request, nowSec, { retentionSec });
    await deps.jobs.create(job);
    try {
      await deps.launcher.launch({ cluster, id });
    } catch (err) {
      // The job would stay pending forever: record why, then tell the client to retry.
      await deps.jobs
        .replace(failed(job, 'the export job could not be started; request the export again', nowSec), [
          'pending',
        ])
        .catch(() => false);
      throw new LaunchFailedError('the export job could not be started', { cluster, id }, { cause: err });
    }
    logger.info('export requested', { cluster, id, window: request.window, filters: request.filters });
    return jsonResponse(202, jobView(job), { Location: `/v1/clusters/${cluster}/exports/${id}` });
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

/** One function for both routes (template.yaml maps both to it): chosen by the `{id}` parameter. */
export function makeHandler(deps: ExportsDeps): ExportsHandler {
  const create = makeCreateHandler(deps);
  const status = makeStatusHandler(deps);
  return (event, context) => (event.pathParameters?.id === undefined ? create : status)(event, context);
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
