/**
 * The ingest function: `POST /v1/clusters/{cluster}/events` behind an API Gateway HTTP API
 * (payload format 2.0). It only wires: the middlewares of lib/http authenticate, decode and
 * parse; lib/ingest validates the whole batch; the TraceWriter applies it; the result and the
 * capacity it cost go to the response and one log line.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import type { AuthPolicy } from '../../lib/auth/decide.ts';
import { authenticate } from '../../lib/http/auth.ts';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_DECODED_BYTES, decodeBody } from '../../lib/http/body.ts';
import { clusterOf } from '../../lib/http/cluster.ts';
import { type HttpEvent, type HttpResult, jsonResponse } from '../../lib/http/event.ts';
import { parseJsonBody } from '../../lib/http/json.ts';
import { allowMethods } from '../../lib/http/method.ts';
import { httpStack } from '../../lib/http/stack.ts';
import {
  DEFAULT_MAX_CHANGES,
  DEFAULT_MAX_OBJECT_BYTES,
  DEFAULT_MAX_RELIST_NAMES,
  validateBatch,
} from '../../lib/ingest/validate.ts';
import type { BatchResult } from '../../lib/ingest/wire.ts';
import type { ApplyResult, TokenStore, TraceWriter } from '../../lib/store/ports.ts';
import { ingestDepsFromEnv } from './deps.ts';

export interface IngestLimits {
  /** Body bytes as sent (before gunzip); see lib/http/body.ts for why 4 MiB. */
  maxBodyBytes: number;
  /** Body bytes after gunzip. */
  maxDecodedBytes: number;
  maxChanges: number;
  maxObjectBytes: number;
  maxRelistNames: number;
  /** How far a change's ts may be ahead of the server clock. */
  maxSkewSec: number;
}

export const DEFAULT_INGEST_LIMITS: Readonly<IngestLimits> = {
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  maxDecodedBytes: DEFAULT_MAX_DECODED_BYTES,
  maxChanges: DEFAULT_MAX_CHANGES,
  maxObjectBytes: DEFAULT_MAX_OBJECT_BYTES,
  maxRelistNames: DEFAULT_MAX_RELIST_NAMES,
  maxSkewSec: 300,
};

export interface IngestDeps {
  writer: TraceWriter;
  tokens: TokenStore;
  logger: Logger;
  /** Wall clock, epoch milliseconds. */
  clock: () => number;
  limits?: Partial<IngestLimits>;
  /** Default: bearer tokens per cluster. */
  auth?: AuthPolicy;
}

export type IngestHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyResultV2>;

const NOTHING_APPLIED: ApplyResult = {
  accepted: 0,
  deduplicated: 0,
  reconciled_deletions: 0,
  writeUnits: 0,
  readUnits: 0,
};

export function makeHandler(deps: IngestDeps): IngestHandler {
  const limits = { ...DEFAULT_INGEST_LIMITS, ...deps.limits };
  const { logger, clock, writer } = deps;

  const ingest = async (event: HttpEvent): Promise<HttpResult> => {
    const startedMs = clock();
    const cluster = clusterOf(event);
    const nowSec = Math.floor(startedMs / 1000);
    // Everything is validated before the first write, so a rejected batch writes nothing.
    const batch = validateBatch(event.jsonBody, { nowSec, ...limits });
    const result =
      batch.changes.length === 0 ? NOTHING_APPLIED : await writer.applyBatch(cluster, batch, { nowSec });
    // One line per batch for cost accounting: capacity units as DynamoDB reported them.
    logger.info('batch applied', {
      cluster,
      changes: batch.changes.length,
      accepted: result.accepted,
      deduplicated: result.deduplicated,
      reconciled_deletions: result.reconciled_deletions,
      writeUnits: result.writeUnits,
      readUnits: result.readUnits,
      durationMs: clock() - startedMs,
      ...(event.principal?.kind === 'token' ? { tokenId: event.principal.tokenId } : {}),
    });
    const body: BatchResult = {
      accepted: result.accepted,
      deduplicated: result.deduplicated,
      reconciled_deletions: result.reconciled_deletions,
    };
    return jsonResponse(200, body);
  };

  const handler = middy<HttpEvent, HttpResult, Error, Context>()
    .use(httpStack({ logger }))
    .use(allowMethods(['POST']))
    .use(authenticate({ tokens: deps.tokens, policy: deps.auth ?? { mode: 'bearer' } }))
    .use(decodeBody(limits))
    .use(parseJsonBody())
    .handler(ingest);
  return handler as IngestHandler;
}

let coldStart: IngestHandler | undefined;

/**
 * The Lambda entry point. Real dependencies are built from the environment on the first
 * invocation of each execution environment and reused after, so importing this module (tests,
 * the local gateway) reads no environment and opens no client.
 */
export const handler: IngestHandler = async (event, context) => {
  if (!coldStart) {
    coldStart = makeHandler(ingestDepsFromEnv(process.env));
  }
  return coldStart(event, context);
};
