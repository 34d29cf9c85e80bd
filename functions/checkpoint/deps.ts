/**
 * The checkpoint function's real dependencies, from its environment (template.yaml sets it). All
 * four functions use the same names for the same things, so the checkpoint and ingest functions
 * read one retention. The clusters come from the store's registry, not from the environment.
 *
 * | variable | meaning |
 * | --- | --- |
 * | `TABLE_NAME`, `BUCKET_NAME` | the trace table and bucket (required) |
 * | `RETENTION_DAYS` | history retention, as the ingest function's (default 14): a checkpoint item expires with the changes it needs |
 * | `CHECKPOINT_MIN_INTERVAL_SEC` | skip a cluster whose newest checkpoint is younger (default 1800) |
 * | `DYNAMODB_ENDPOINT`, `S3_ENDPOINT` | endpoint overrides for local servers |
 * | `AWS_REGION` | set by Lambda |
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { type AwsClientOptions, makeDynamoClient, makeS3Client } from '../../lib/aws/clients.ts';
import { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { S3BlobStore } from '../../lib/aws/s3-blob-store.ts';
import { SktraceError } from '../../lib/errors.ts';
import { type CheckpointDeps, DEFAULT_MIN_INTERVAL_SEC } from './handler.ts';

export type CheckpointEnv = Record<string, string | undefined>;

export function checkpointDepsFromEnv(env: CheckpointEnv): CheckpointDeps {
  const tableName = required(env, 'TABLE_NAME');
  const bucket = required(env, 'BUCKET_NAME');
  const region = env.AWS_REGION;
  const dynamo = makeDynamoClient(clientOptions(region, env.DYNAMODB_ENDPOINT));
  const s3 = makeS3Client(clientOptions(region, env.S3_ENDPOINT));
  const retentionDays = positiveNumber(env, 'RETENTION_DAYS');
  const store = new DynamoTraceStore({
    dynamo,
    tableName,
    blobs: new S3BlobStore(s3, bucket),
    ...(retentionDays === undefined ? {} : { retentionDays }),
  });
  return {
    checkpointer: store,
    directory: store,
    nowSec: () => Math.floor(Date.now() / 1000),
    minIntervalSec: positiveNumber(env, 'CHECKPOINT_MIN_INTERVAL_SEC') ?? DEFAULT_MIN_INTERVAL_SEC,
    log: new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'sktrace-checkpoint' }),
  };
}

function clientOptions(region: string | undefined, endpoint: string | undefined): AwsClientOptions {
  return { ...(region ? { region } : {}), ...(endpoint ? { endpoint } : {}) };
}

function required(env: CheckpointEnv, name: string): string {
  const value = env[name];
  if (!value) throw new SktraceError('invalid_config', `environment variable ${name} is required`);
  return value;
}

function positiveNumber(env: CheckpointEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new SktraceError('invalid_config', `${name} must be a positive number, got ${JSON.stringify(raw)}`);
  }
  return value;
}
