/**
 * The changes function's dependencies in Lambda, from its environment (functions/env.ts: TABLE_NAME,
 * BUCKET_NAME for bodies stored in S3, RETENTION_DAYS, AUTH_MODE). It only reads.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoTokenStore } from '../../lib/aws/dynamo-token-store.ts';
import { authModeEnv, awsClientsFromEnv, type FunctionEnv, requiredEnv, traceStoreFromEnv } from '../env.ts';
import type { ChangesDeps } from './handler.ts';

export function changesDepsFromEnv(env: FunctionEnv): ChangesDeps {
  const clients = awsClientsFromEnv(env);
  return {
    feed: traceStoreFromEnv(env, clients),
    tokens: new DynamoTokenStore({ client: clients.dynamo, tableName: requiredEnv(env, 'TABLE_NAME') }),
    logger: new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'sktrace-changes' }),
    auth: { mode: authModeEnv(env) },
  };
}
