/**
 * Reading a function's environment, shared by the four functions so the same variable means the
 * same thing everywhere and a bad value fails the cold start with the variable's name (a Lambda
 * that starts with a wrong table or retention would otherwise fail on every request, or worse,
 * write with the wrong expiry).
 *
 * | variable | meaning |
 * | --- | --- |
 * | `TABLE_NAME`, `BUCKET_NAME` | the trace table and bucket (required) |
 * | `RETENTION_DAYS` | history retention (default: the store's, 14) |
 * | `AUTH_MODE` | `bearer` (default) or `iam` (trust API Gateway IAM authorization) |
 * | `DYNAMODB_ENDPOINT`, `S3_ENDPOINT` | endpoint overrides for local servers (also the SDK's `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3`) |
 * | `AWS_REGION` | set by Lambda |
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { AuthMode } from '../lib/auth/decide.ts';
import { type AwsClientOptions, makeDynamoClient, makeS3Client } from '../lib/aws/clients.ts';
import { DynamoTraceStore } from '../lib/aws/dynamo-trace-store.ts';
import { S3BlobStore } from '../lib/aws/s3-blob-store.ts';
import { SktraceError } from '../lib/errors.ts';

export type FunctionEnv = Record<string, string | undefined>;

export function requiredEnv(env: FunctionEnv, name: string): string {
  const value = env[name];
  if (!value) throw new SktraceError('invalid_config', `environment variable ${name} is required`, { name });
  return value;
}

/** Undefined when unset or empty; anything but a finite positive number fails. */
export function positiveNumberEnv(env: FunctionEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new SktraceError(
      'invalid_config',
      `${name} must be a positive number, got ${JSON.stringify(raw)}`,
      {
        name,
      },
    );
  }
  return value;
}

export function positiveIntEnv(env: FunctionEnv, name: string, fallback: number): number {
  const value = positiveNumberEnv(env, name);
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value)) {
    throw new SktraceError(
      'invalid_config',
      `${name} must be a positive integer, got ${JSON.stringify(env[name])}`,
      {
        name,
      },
    );
  }
  return value;
}

export function authModeEnv(env: FunctionEnv): AuthMode {
  const mode = env.AUTH_MODE ?? 'bearer';
  if (mode !== 'bearer' && mode !== 'iam') {
    throw new SktraceError(
      'invalid_config',
      `AUTH_MODE must be "bearer" or "iam", got ${JSON.stringify(mode)}`,
    );
  }
  return mode;
}

export interface AwsClients {
  dynamo: DynamoDBClient;
  s3: S3Client;
}

export function awsClientsFromEnv(env: FunctionEnv): AwsClients {
  const region = env.AWS_REGION;
  return {
    dynamo: makeDynamoClient(clientOptions(region, env.DYNAMODB_ENDPOINT ?? env.AWS_ENDPOINT_URL_DYNAMODB)),
    s3: makeS3Client(clientOptions(region, env.S3_ENDPOINT ?? env.AWS_ENDPOINT_URL_S3)),
  };
}

/**
 * The longest an ingest batch takes to apply, for the checkpoints' replay margin
 * (lib/aws/trace-store/checkpoints.ts: a checkpoint built at B replays the changes from
 * B − lateMarginSec − maxBatchSec on). Batches are applied only by the ingest function, whose
 * Timeout is 29 s (template.yaml; API Gateway's HTTP API waits at most 30 s for an integration),
 * after which Lambda stops it; the store's default, 900 s, is Lambda's longest timeout. Twice the
 * timeout covers writes still in flight when it stops and the clocks of two Lambda hosts. Every
 * export starting from a checkpoint reads its margin: 600 + 60 s of changes instead of 600 + 900 s
 * (at the bench's pace 0.18× the window's items instead of 0.42×, docs/benchmarks.md "export").
 */
export const INGEST_MAX_BATCH_SEC = 60;

/** The trace store every function builds the same way: table, bucket for large bodies, retention. */
export function traceStoreFromEnv(env: FunctionEnv, clients: AwsClients): DynamoTraceStore {
  const tableName = requiredEnv(env, 'TABLE_NAME');
  const bucket = requiredEnv(env, 'BUCKET_NAME');
  const retentionDays = positiveNumberEnv(env, 'RETENTION_DAYS');
  return new DynamoTraceStore({
    dynamo: clients.dynamo,
    tableName,
    blobs: new S3BlobStore(clients.s3, bucket),
    // Hourly change counts: the exports function sizes a window with them before accepting it.
    countChanges: true,
    maxBatchSec: INGEST_MAX_BATCH_SEC,
    ...(retentionDays === undefined ? {} : { retentionDays }),
  });
}

function clientOptions(region: string | undefined, endpoint: string | undefined): AwsClientOptions {
  return { ...(region ? { region } : {}), ...(endpoint ? { endpoint } : {}) };
}
