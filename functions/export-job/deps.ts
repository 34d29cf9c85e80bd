/**
 * The export-job function's dependencies in Lambda, from its environment (template.yaml):
 * `TABLE_NAME`, `BUCKET_NAME`, optional `RETENTION_DAYS` (the ingest function's variable and
 * value: the checkpoint a job leaves expires with the history it summarises) and
 * `CHECKPOINT_EVERY_SEC` (default 3600).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { makeDynamoClient, makeS3Client } from '../../lib/aws/clients.ts';
import { DynamoExportJobStore } from '../../lib/aws/dynamo-export-jobs.ts';
import { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { S3BlobStore } from '../../lib/aws/s3-blob-store.ts';
import { S3ExportObjects } from '../../lib/aws/s3-exports.ts';
import type { ExportJobDeps } from '../../lib/export/pipeline.ts';
import { positiveIntEnv, required } from '../exports/deps.ts';

export function exportJobDepsFromEnv(env: NodeJS.ProcessEnv): ExportJobDeps {
  const tableName = required(env, 'TABLE_NAME');
  const bucket = required(env, 'BUCKET_NAME');
  const dynamo = makeDynamoClient();
  const s3 = makeS3Client();
  const store = new DynamoTraceStore({
    dynamo,
    tableName,
    blobs: new S3BlobStore(s3, bucket),
    retentionDays: positiveIntEnv(env, 'RETENTION_DAYS', 14),
  });
  return {
    jobs: new DynamoExportJobStore({ client: dynamo, tableName }),
    reader: store,
    checkpointer: store,
    objects: new S3ExportObjects({ s3, bucket }),
    nowSec: () => Math.floor(Date.now() / 1000),
    checkpointEverySec: positiveIntEnv(env, 'CHECKPOINT_EVERY_SEC', 3600),
    log: new Logger({ serviceName: 'sktrace-export-job' }),
  };
}
