/**
 * The export-job function's dependencies in Lambda, from its environment (template.yaml; the shared
 * variables are functions/env.ts's — RETENTION_DAYS is the ingest function's value, so the
 * checkpoint a job leaves expires with the history it summarises) plus `CHECKPOINT_EVERY_SEC`
 * (default 3600).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoExportJobStore } from '../../lib/aws/dynamo-export-jobs.ts';
import { S3ExportObjects } from '../../lib/aws/s3-exports.ts';
import type { ExportJobDeps } from '../../lib/export/pipeline.ts';
import {
  awsClientsFromEnv,
  type FunctionEnv,
  positiveIntEnv,
  requiredEnv,
  traceStoreFromEnv,
} from '../env.ts';

export function exportJobDepsFromEnv(env: FunctionEnv): ExportJobDeps {
  const clients = awsClientsFromEnv(env);
  const store = traceStoreFromEnv(env, clients);
  return {
    jobs: new DynamoExportJobStore({ client: clients.dynamo, tableName: requiredEnv(env, 'TABLE_NAME') }),
    reader: store,
    checkpointer: store,
    objects: new S3ExportObjects({ s3: clients.s3, bucket: requiredEnv(env, 'BUCKET_NAME') }),
    nowSec: () => Math.floor(Date.now() / 1000),
    checkpointEverySec: positiveIntEnv(env, 'CHECKPOINT_EVERY_SEC', 3600),
    log: new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'sktrace-export-job' }),
  };
}
