/**
 * The exports function's dependencies in Lambda, from its environment (template.yaml sets it):
 * - `SKTRACE_TABLE`, `SKTRACE_BUCKET`: the trace table and bucket;
 * - `EXPORT_JOB_FUNCTION`: name or ARN of the export-job function, invoked asynchronously;
 * - `EXPORT_URL_TTL_SEC`: lifetime of presigned URLs (default 3600). A URL signed with this
 *   function's role credentials stops working when the role session ends, whatever this says;
 * - `SKTRACE_AUTH_MODE`: `bearer` (default) or `iam`.
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
import type { ExportsDeps } from './handler.ts';

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
  const mode = env.SKTRACE_AUTH_MODE ?? 'bearer';
  if (mode !== 'bearer' && mode !== 'iam') {
    throw new SktraceError('config', `SKTRACE_AUTH_MODE must be bearer or iam, got ${JSON.stringify(mode)}`);
  }
  return mode;
}

export function exportsDepsFromEnv(env: NodeJS.ProcessEnv): ExportsDeps {
  const tableName = required(env, 'SKTRACE_TABLE');
  const bucket = required(env, 'SKTRACE_BUCKET');
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
    auth: { mode: authModeEnv(env) },
  };
}
