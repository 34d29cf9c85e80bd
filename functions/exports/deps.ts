/**
 * The exports function's dependencies in Lambda, from its environment (template.yaml sets it; the
 * names are the ones every sktrace function uses for the same things):
 * - `TABLE_NAME`, `BUCKET_NAME`: the trace table and bucket;
 * - `EXPORT_JOB_FUNCTION`: name or ARN of the export-job function, invoked asynchronously;
 * - `EXPORT_URL_TTL_SEC`: lifetime of presigned URLs (default 3600). A URL signed with this
 *   function's role credentials stops working when the role session ends, whatever this says;
 * - `EXPORT_RETENTION_DAYS`: how long job records live (default 7). The template sets it from the
 *   same parameter as the bucket's `exports/` expiry, and a record is created before its trace is
 *   uploaded, so a succeeded job never outlives the object it points at;
 * - `AUTH_MODE`: `bearer` (default) or `iam`.
 * Region and credentials come from the Lambda environment through the SDK's provider chain.
 */
import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import type { AuthMode } from '../../lib/auth/decide.ts';
import { makeDynamoClient, makeS3Client } from '../../lib/aws/clients.ts';
import { DynamoExportJobStore } from '../../lib/aws/dynamo-export-jobs.ts';
import { DynamoTokenStore } from '../../lib/aws/dynamo-token-store.ts';
import { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { LambdaJobLauncher, makeLambdaClient } from '../../lib/aws/lambda-launcher.ts';
import { S3BlobStore } from '../../lib/aws/s3-blob-store.ts';
import { S3ExportObjects } from '../../lib/aws/s3-exports.ts';
import { SktraceError } from '../../lib/errors.ts';
import { DEFAULT_JOB_RETENTION_SEC, type ExportsDeps } from './handler.ts';

const DAY_SEC = 86_400;

export function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new SktraceError('config', `environment variable ${name} is not set`, { name });
  }
  return value;
}

export function positiveIntEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new SktraceError(
      'config',
      `environment variable ${name} must be a positive integer, got ${JSON.stringify(raw)}`,
      {
        name,
      },
    );
  }
  return n;
}

export function authModeEnv(env: NodeJS.ProcessEnv): AuthMode {
  const mode = env.AUTH_MODE ?? 'bearer';
  if (mode !== 'bearer' && mode !== 'iam') {
    throw new SktraceError('config', `AUTH_MODE must be bearer or iam, got ${JSON.stringify(mode)}`);
  }
  return mode;
}

export function exportsDepsFromEnv(env: NodeJS.ProcessEnv): ExportsDeps {
  const tableName = required(env, 'TABLE_NAME');
  const bucket = required(env, 'BUCKET_NAME');
  const dynamo = makeDynamoClient();
  const s3 = makeS3Client();
  return {
    jobs: new DynamoExportJobStore({ client: dynamo, tableName }),
    objects: new S3ExportObjects({ s3, bucket }),
    launcher: new LambdaJobLauncher({
      lambda: makeLambdaClient(),
      functionName: required(env, 'EXPORT_JOB_FUNCTION'),
    }),
    tokens: new DynamoTokenStore({ client: dynamo, tableName }),
    reader: new DynamoTraceStore({ dynamo, tableName, blobs: new S3BlobStore(s3, bucket) }),
    logger: new Logger({ serviceName: 'sktrace-exports' }),
    clock: Date.now,
    randomBytes,
    urlTtlSec: positiveIntEnv(env, 'EXPORT_URL_TTL_SEC', 3600),
    jobRetentionSec:
      positiveIntEnv(env, 'EXPORT_RETENTION_DAYS', DEFAULT_JOB_RETENTION_SEC / DAY_SEC) * DAY_SEC,
    auth: { mode: authModeEnv(env) },
  };
}
