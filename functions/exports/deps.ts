/**
 * The exports function's dependencies in Lambda, from its environment (template.yaml sets it;
 * functions/env.ts has the variables every function shares: TABLE_NAME, BUCKET_NAME, AUTH_MODE…):
 * - `EXPORT_JOB_FUNCTION`: name or ARN of the export-job function, invoked asynchronously;
 * - `EXPORT_URL_TTL_SEC`: lifetime of presigned URLs (default 3600). A URL signed with this
 *   function's role credentials stops working when the role session ends, whatever this says;
 * - `EXPORT_MAX_WINDOW_CHANGES`: windows estimated above this are refused with 400
 *   `window_too_large` (default lib/export/limits.ts, from the export benchmark);
 * - `EXPORT_RETENTION_DAYS`: how long job records live (default 7). The template sets it from the
 *   same parameter as the bucket's `exports/` expiry, and a record is created before its trace is
 *   uploaded, so a succeeded job never outlives the object it points at.
 * - `MAX_EXPORT_WINDOW_HOURS`: longest window one export may cover (default 24; template
 *   MaxExportWindowHours); longer is a 400 naming the limit;
 * - `MAX_ACTIVE_EXPORTS_PER_CLUSTER`: exports pending or running at once per cluster (default 3;
 *   template MaxActiveExportsPerCluster); one more is a 429 with Retry-After.
 * Region and credentials come from the Lambda environment through the SDK's provider chain.
 */

import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoExportJobStore } from '../../lib/aws/dynamo-export-jobs.ts';
import { DynamoTokenStore } from '../../lib/aws/dynamo-token-store.ts';
import { LambdaJobLauncher, makeLambdaClient } from '../../lib/aws/lambda-launcher.ts';
import { S3ExportObjects } from '../../lib/aws/s3-exports.ts';
import { DEFAULT_MAX_WINDOW_CHANGES } from '../../lib/export/limits.ts';
import { DEFAULT_MAX_WINDOW_SEC } from '../../lib/export/request.ts';
import {
  authModeEnv,
  awsClientsFromEnv,
  type FunctionEnv,
  positiveIntEnv,
  requiredEnv,
  traceStoreFromEnv,
} from '../env.ts';
import { DEFAULT_JOB_RETENTION_SEC, DEFAULT_MAX_ACTIVE_EXPORTS, type ExportsDeps } from './handler.ts';

const DAY_SEC = 86_400;

export function exportsDepsFromEnv(env: FunctionEnv): ExportsDeps {
  const clients = awsClientsFromEnv(env);
  const tableName = requiredEnv(env, 'TABLE_NAME');
  const store = traceStoreFromEnv(env, clients);
  return {
    jobs: new DynamoExportJobStore({ client: clients.dynamo, tableName }),
    objects: new S3ExportObjects({ s3: clients.s3, bucket: requiredEnv(env, 'BUCKET_NAME') }),
    launcher: new LambdaJobLauncher({
      lambda: makeLambdaClient(),
      functionName: requiredEnv(env, 'EXPORT_JOB_FUNCTION'),
    }),
    tokens: new DynamoTokenStore({ client: clients.dynamo, tableName }),
    reader: store,
    feed: store,
    logger: new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'sktrace-exports' }),
    clock: Date.now,
    randomBytes,
    urlTtlSec: positiveIntEnv(env, 'EXPORT_URL_TTL_SEC', 3600),
    maxWindowChanges: positiveIntEnv(env, 'EXPORT_MAX_WINDOW_CHANGES', DEFAULT_MAX_WINDOW_CHANGES),
    jobRetentionSec:
      positiveIntEnv(env, 'EXPORT_RETENTION_DAYS', DEFAULT_JOB_RETENTION_SEC / DAY_SEC) * DAY_SEC,
    maxWindowSec: positiveIntEnv(env, 'MAX_EXPORT_WINDOW_HOURS', DEFAULT_MAX_WINDOW_SEC / 3600) * 3600,
    maxActiveExports: positiveIntEnv(env, 'MAX_ACTIVE_EXPORTS_PER_CLUSTER', DEFAULT_MAX_ACTIVE_EXPORTS),
    auth: { mode: authModeEnv(env) },
  };
}
