/**
 * `GET /v1/clusters/{cluster}/changes?after=CURSOR[&kind=GVK][&namespace=NS][&limit=N]` behind an
 * API Gateway HTTP API (payload format 2.0), what `sktrace tail` polls. The exports function serves
 * it in AWS (handler.ts `makeHandler`): it already reads the table, so the route needs no function,
 * role or cold start of its own. It answers the
 * changes that landed in the store after the cursor, in the order they landed, and the cursor to
 * ask with next (lib/store/feed.ts has the rules; docs/ingest-api.md the contract). Same auth as
 * the other routes: a cluster's token reads only that cluster's changes. Short poll: it answers at
 * once, with no changes when there are none yet (a long poll would keep a Lambda billed while idle).
 * It only wires: parse and check the query, call the ChangeFeed port, respond.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import type { AuthPolicy } from '../../lib/auth/decide.ts';
import { SktraceError } from '../../lib/errors.ts';
import { authenticate } from '../../lib/http/auth.ts';
import { clusterOf } from '../../lib/http/cluster.ts';
import { type HttpEvent, type HttpResult, jsonResponse } from '../../lib/http/event.ts';
import { allowMethods } from '../../lib/http/method.ts';
import { httpStack } from '../../lib/http/stack.ts';
import { formatCursor } from '../../lib/store/feed.ts';
import type { ChangeFeed, FeedQuery, TokenStore } from '../../lib/store/ports.ts';

export interface ChangesDeps {
  feed: ChangeFeed;
  tokens: TokenStore;
  logger: Logger;
  /** Default: bearer tokens per cluster. */
  auth?: AuthPolicy;
}

export const CHANGES_ROUTE = 'GET /v1/clusters/{cluster}/changes';
export const DEFAULT_CHANGES_LIMIT = 100;
export const MAX_CHANGES_LIMIT = 500;

/** Codes of this route beside the shared table: a cursor too old is 410 Gone, as a Kubernetes watch's. */
const STATUS_BY_CODE = { invalid_cursor: 400, cursor_expired: 410 } as const;

export type ChangesHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyResultV2>;

function queryOf(params: Record<string, string | undefined>): FeedQuery {
  const limitText = params.limit ?? String(DEFAULT_CHANGES_LIMIT);
  const limit = Number(limitText);
  if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_CHANGES_LIMIT) {
    throw new SktraceError('invalid_request', `limit must be an integer from 1 to ${MAX_CHANGES_LIMIT}`, {
      field: 'limit',
    });
  }
  const query: FeedQuery = { limit };
  if (params.kind) query.gvk = params.kind;
  if (params.namespace) query.namespace = params.namespace;
  return query;
}

export function makeChangesHandler(deps: ChangesDeps): ChangesHandler {
  const changes = async (event: HttpEvent): Promise<HttpResult> => {
    const cluster = clusterOf(event);
    const params = event.queryStringParameters ?? {};
    const query = queryOf(params);
    const page = await deps.feed.changesAfter(cluster, params.after, query);
    return jsonResponse(
      200,
      { changes: page.changes, cursor: formatCursor(page.cursorSk), caught_up: page.caughtUp },
      { 'Cache-Control': 'no-store' },
    );
  };
  const handler = middy<HttpEvent, HttpResult, Error, Context>()
    .use(httpStack({ logger: deps.logger, statusByCode: STATUS_BY_CODE }))
    .use(allowMethods(['GET']))
    .use(authenticate({ tokens: deps.tokens, policy: deps.auth ?? { mode: 'bearer' } }))
    .handler(changes);
  return handler as ChangesHandler;
}
