/**
 * The checkpoint function's real dependencies, from its environment (template.yaml sets it; the
 * shared variables are functions/env.ts's, so the checkpoint and ingest functions read one
 * retention: a checkpoint item expires with the changes it needs). The clusters come from the
 * store's registry, not from the environment. Its own variable:
 * `CHECKPOINT_MIN_INTERVAL_SEC` — skip a cluster whose newest checkpoint is younger (default 1800).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { awsClientsFromEnv, type FunctionEnv, positiveNumberEnv, traceStoreFromEnv } from '../env.ts';
import { type CheckpointDeps, DEFAULT_MIN_INTERVAL_SEC } from './handler.ts';

export type CheckpointEnv = FunctionEnv;

export function checkpointDepsFromEnv(env: CheckpointEnv): CheckpointDeps {
  const store = traceStoreFromEnv(env, awsClientsFromEnv(env));
  return {
    checkpointer: store,
    directory: store,
    nowSec: () => Math.floor(Date.now() / 1000),
    minIntervalSec: positiveNumberEnv(env, 'CHECKPOINT_MIN_INTERVAL_SEC') ?? DEFAULT_MIN_INTERVAL_SEC,
    log: new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'sktrace-checkpoint' }),
  };
}
