/**
 * What the ingest benchmark feeds the real handler: API Gateway HTTP API (payload 2.0) events for
 * `POST /v1/clusters/{cluster}/events` with a bearer token, and a token store that knows it.
 */
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { hashToken } from '../../lib/auth/token.ts';
import type { ClusterId, TokenRecord, TokenStore } from '../../lib/store/ports.ts';

/** A well-formed token for the benchmark's cluster only (never deployed). */
export const BENCH_TOKEN = `skt_${'b'.repeat(43)}`;

export class OneTokenStore implements TokenStore {
  readonly #record: TokenRecord;

  constructor(cluster: ClusterId, token: string) {
    this.#record = { cluster, tokenId: 'tok_bench', tokenHash: hashToken(token), createdAtSec: 0 };
  }
  async put(): Promise<void> {}
  async findByHash(tokenHash: string): Promise<TokenRecord | undefined> {
    return tokenHash === this.#record.tokenHash ? this.#record : undefined;
  }
  async list(cluster: ClusterId): Promise<TokenRecord[]> {
    return cluster === this.#record.cluster ? [this.#record] : [];
  }
  async revoke(): Promise<boolean> {
    return false;
  }
}

export function ingestEvent(cluster: ClusterId, body: string, nowMs: number): APIGatewayProxyEventV2 {
  const path = `/v1/clusters/${cluster}/events`;
  return {
    version: '2.0',
    routeKey: 'POST /v1/clusters/{cluster}/events',
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_TOKEN}` },
    pathParameters: { cluster },
    requestContext: {
      accountId: '000000000000',
      apiId: 'bench',
      domainName: 'bench.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'bench',
      http: { method: 'POST', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' },
      requestId: `bench-${nowMs}`,
      routeKey: 'POST /v1/clusters/{cluster}/events',
      stage: '$default',
      time: new Date(nowMs).toUTCString(),
      timeEpoch: nowMs,
    },
    body,
    isBase64Encoded: false,
  };
}

export function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'sktrace-ingest',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:sktrace-ingest',
    memoryLimitInMB: '1024',
    awsRequestId: 'bench',
    logGroupName: '/aws/lambda/sktrace-ingest',
    logStreamName: 'bench',
    getRemainingTimeInMillis: () => 900_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
