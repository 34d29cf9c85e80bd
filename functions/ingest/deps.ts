/**
 * The ingest function's real dependencies, from its environment (template.yaml sets it in AWS;
 * `sktrace serve` builds its dependencies directly). The shared variables (TABLE_NAME,
 * BUCKET_NAME, RETENTION_DAYS, AUTH_MODE, endpoints) are functions/env.ts's; ingest's own:
 * `GLOBAL_TOKEN_HASHES` — comma-separated SHA-256 hex of tokens valid for every cluster (local
 * stack only). Kept apart from the handler so tests of the handler never need an environment.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { AuthPolicy } from '../../lib/auth/decide.ts';
import { isTokenHash } from '../../lib/auth/token.ts';
import { DynamoTokenStore } from '../../lib/aws/dynamo-token-store.ts';
import { SktraceError } from '../../lib/errors.ts';
import { authModeEnv, awsClientsFromEnv, type FunctionEnv, requiredEnv, traceStoreFromEnv } from '../env.ts';
import type { IngestDeps } from './handler.ts';

export type IngestEnv = FunctionEnv;

export function ingestDepsFromEnv(env: IngestEnv): IngestDeps {
  const clients = awsClientsFromEnv(env);
  return {
    writer: traceStoreFromEnv(env, clients),
    tokens: new DynamoTokenStore({ client: clients.dynamo, tableName: requiredEnv(env, 'TABLE_NAME') }),
    logger: new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'sktrace-ingest' }),
    clock: Date.now,
    auth: authPolicy(env),
  };
}

function authPolicy(env: IngestEnv): AuthPolicy {
  const mode = authModeEnv(env);
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
