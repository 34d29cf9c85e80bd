/**
 * The ingest function's real dependencies, from its environment (template.yaml sets it in AWS;
 * `sktrace serve` builds its dependencies directly). Every sktrace function uses these names for
 * the same things (unprefixed, as in AWS's examples). Kept apart from the handler so tests of the handler
 * never need an environment.
 *
 * | variable | meaning |
 * | --- | --- |
 * | `TABLE_NAME` | the DynamoDB table (required) |
 * | `BUCKET_NAME` | the S3 bucket for bodies over the item limit (required) |
 * | `RETENTION_DAYS` | history retention (default: the store's, 14) |
 * | `AUTH_MODE` | `bearer` (default) or `iam` (trust API Gateway IAM authorization) |
 * | `GLOBAL_TOKEN_HASHES` | comma-separated SHA-256 hex of tokens valid for every cluster (local stack only) |
 * | `DYNAMODB_ENDPOINT`, `S3_ENDPOINT` | endpoint overrides for local servers (also `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3`) |
 * | `AWS_REGION` | set by Lambda |
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { AuthPolicy } from '../../lib/auth/decide.ts';
import { isTokenHash } from '../../lib/auth/token.ts';
import { type AwsClientOptions, makeDynamoClient, makeS3Client } from '../../lib/aws/clients.ts';
import { DynamoTokenStore } from '../../lib/aws/dynamo-token-store.ts';
import { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { S3BlobStore } from '../../lib/aws/s3-blob-store.ts';
import { SktraceError } from '../../lib/errors.ts';
import type { IngestDeps } from './handler.ts';

export type IngestEnv = Record<string, string | undefined>;

export function ingestDepsFromEnv(env: IngestEnv): IngestDeps {
  const tableName = required(env, 'TABLE_NAME');
  const bucket = required(env, 'BUCKET_NAME');
  const region = env.AWS_REGION;
  const dynamo = makeDynamoClient(
    clientOptions(region, env.DYNAMODB_ENDPOINT ?? env.AWS_ENDPOINT_URL_DYNAMODB),
  );
  const s3 = makeS3Client(clientOptions(region, env.S3_ENDPOINT ?? env.AWS_ENDPOINT_URL_S3));
  const retentionDays = optionalNumber(env, 'RETENTION_DAYS');
  return {
    writer: new DynamoTraceStore({
      dynamo,
      tableName,
      blobs: new S3BlobStore(s3, bucket),
      ...(retentionDays === undefined ? {} : { retentionDays }),
    }),
    tokens: new DynamoTokenStore({ client: dynamo, tableName }),
    logger: new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'sktrace-ingest' }),
    clock: Date.now,
    auth: authPolicy(env),
  };
}

function authPolicy(env: IngestEnv): AuthPolicy {
  const mode = env.AUTH_MODE ?? 'bearer';
  if (mode !== 'bearer' && mode !== 'iam') {
    throw new SktraceError(
      'invalid_config',
      `AUTH_MODE must be "bearer" or "iam", got ${JSON.stringify(mode)}`,
    );
  }
  const hashes = (env.GLOBAL_TOKEN_HASHES ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
  const bad = hashes.find((h) => !isTokenHash(h));
  if (bad !== undefined) {
    throw new SktraceError(
      'invalid_config',
      'GLOBAL_TOKEN_HASHES must hold lowercase hex SHA-256 hashes of tokens, not tokens',
    );
  }
  return hashes.length ? { mode, globalTokenHashes: hashes } : { mode };
}

function clientOptions(region: string | undefined, endpoint: string | undefined): AwsClientOptions {
  return { ...(region ? { region } : {}), ...(endpoint ? { endpoint } : {}) };
}

function required(env: IngestEnv, name: string): string {
  const value = env[name];
  if (!value) throw new SktraceError('invalid_config', `environment variable ${name} is required`);
  return value;
}

function optionalNumber(env: IngestEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new SktraceError('invalid_config', `${name} must be a positive number, got ${JSON.stringify(raw)}`);
  }
  return value;
}
