/**
 * Test doubles and builders for the ingest function. The in-memory TraceWriter is a stand-in
 * for wiring tests only (does the handler call the writer, with what, and map its errors);
 * the store's behaviour is tested against dynalite in tests/ingest/handler-dynamo.test.ts and
 * the store's own tests.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { hashToken } from '../../lib/auth/token.ts';
import type { Batch } from '../../lib/ingest/wire.ts';
import type {
  ApplyOptions,
  ApplyResult,
  ClusterId,
  TokenRecord,
  TokenStore,
  TraceWriter,
} from '../../lib/store/ports.ts';

/** A fixed "now" for every ingest test: 2023-11-14T22:13:20Z. */
export const NOW_SEC = 1_700_000_000;
export const NOW_MS = NOW_SEC * 1000;

/** Tokens the sample events in events/ carry (test values, never deployed). */
export const DEMO_TOKEN = `skt_${'d'.repeat(43)}`;
export const OTHER_TOKEN = `skt_${'o'.repeat(43)}`;

export class MemoryTokenStore implements TokenStore {
  readonly records = new Map<string, TokenRecord>();

  async put(record: TokenRecord): Promise<void> {
    this.records.set(record.tokenHash, record);
  }
  async findByHash(tokenHash: string): Promise<TokenRecord | undefined> {
    return this.records.get(tokenHash);
  }
  async list(cluster: ClusterId): Promise<TokenRecord[]> {
    return [...this.records.values()].filter((r) => r.cluster === cluster);
  }
  async revoke(cluster: ClusterId, tokenId: string): Promise<boolean> {
    for (const [hash, r] of this.records) {
      if (r.cluster === cluster && r.tokenId === tokenId) return this.records.delete(hash);
    }
    return false;
  }
}

/** Token store holding DEMO_TOKEN for cluster `demo` and OTHER_TOKEN for cluster `other`. */
export function demoTokens(): MemoryTokenStore {
  const store = new MemoryTokenStore();
  for (const [token, cluster, tokenId] of [
    [DEMO_TOKEN, 'demo', 'tok_demo'],
    [OTHER_TOKEN, 'other', 'tok_other'],
  ] as const) {
    store.records.set(hashToken(token), {
      cluster,
      tokenId,
      tokenHash: hashToken(token),
      createdAtSec: NOW_SEC,
    });
  }
  return store;
}

export interface RecordedCall {
  cluster: ClusterId;
  batch: Batch;
  options: ApplyOptions;
}

/** Records applyBatch calls; answers from `respond` (default: everything accepted). */
export class RecordingWriter implements TraceWriter {
  readonly calls: RecordedCall[] = [];
  respond: (call: RecordedCall) => Promise<ApplyResult> = async ({ batch }) => ({
    accepted: batch.changes.length,
    deduplicated: 0,
    reconciled_deletions: 0,
    writeUnits: 2 * batch.changes.length,
    readUnits: 1,
  });

  async applyBatch(cluster: ClusterId, batch: Batch, options: ApplyOptions): Promise<ApplyResult> {
    const call = { cluster, batch, options };
    this.calls.push(call);
    return this.respond(call);
  }
}

/** A real Powertools Logger whose JSON lines are kept instead of printed. */
export class CapturingLogger extends Logger {
  readonly lines: Record<string, unknown>[] = [];

  constructor() {
    super({ serviceName: 'sktrace-test', logLevel: 'DEBUG' });
  }

  protected override printLog(_logLevel: number, log: Parameters<Logger['printLog']>[1]): void {
    log.prepareForPrint();
    this.lines.push(
      JSON.parse(JSON.stringify(log.getAttributes(), this.getJsonReplacer())) as Record<string, unknown>,
    );
  }

  find(message: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l.message === message);
  }
}

export function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'sktrace-ingest',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:sktrace-ingest',
    memoryLimitInMB: '512',
    awsRequestId: 'test-request',
    logGroupName: '/aws/lambda/sktrace-ingest',
    logStreamName: 'test',
    getRemainingTimeInMillis: () => 30_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

export interface EventOptions {
  cluster?: string;
  token?: string | null;
  body?: string | Buffer;
  base64?: boolean;
  headers?: Record<string, string>;
  method?: string;
}

/** An API Gateway HTTP API payload v2 event for POST /v1/clusters/{cluster}/events. */
export function ingestEvent(opts: EventOptions = {}): APIGatewayProxyEventV2 {
  const cluster = opts.cluster ?? 'demo';
  const token = opts.token === undefined ? DEMO_TOKEN : opts.token;
  const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const base64 = opts.base64 ?? Buffer.isBuffer(opts.body);
  const body =
    opts.body === undefined
      ? undefined
      : Buffer.isBuffer(opts.body)
        ? opts.body.toString('base64')
        : base64
          ? Buffer.from(opts.body).toString('base64')
          : opts.body;
  const path = `/v1/clusters/${cluster}/events`;
  return {
    version: '2.0',
    routeKey: 'POST /v1/clusters/{cluster}/events',
    rawPath: path,
    rawQueryString: '',
    headers,
    pathParameters: { cluster },
    requestContext: {
      accountId: '000000000000',
      apiId: 'test',
      domainName: 'test.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'test',
      http: {
        method: opts.method ?? 'POST',
        path,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'test',
      },
      requestId: 'req-1',
      routeKey: 'POST /v1/clusters/{cluster}/events',
      stage: '$default',
      time: '14/Nov/2023:22:13:20 +0000',
      timeEpoch: NOW_MS,
    },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: base64,
  };
}

export type Response = APIGatewayProxyStructuredResultV2 & { statusCode: number; body: string };

export function asResponse(result: unknown): Response {
  const r = result as APIGatewayProxyStructuredResultV2;
  if (typeof r !== 'object' || r === null || typeof r.statusCode !== 'number' || typeof r.body !== 'string') {
    throw new Error(`not a structured response: ${JSON.stringify(result)}`);
  }
  return r as Response;
}

export function errorOf(response: Response): {
  code: string;
  message: string;
  field?: string;
  index?: number;
} {
  return (
    JSON.parse(response.body) as { error: { code: string; message: string; field?: string; index?: number } }
  ).error;
}

/** A Deployment of about 1 KB, as the forwarder sends it. */
export function deployment(name: string, replicas = 2): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'shop', labels: { app: name }, annotations: { team: 'checkout' } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name: 'web', image: 'nginx:1.27', resources: { requests: { cpu: '100m' } } }],
        },
      },
    },
  };
}

/** A valid batch using every change type, timestamps just before NOW_SEC. */
export function validBatch(): { changes: Record<string, unknown>[] } {
  const t = NOW_SEC - 60;
  return {
    changes: [
      {
        type: 'config',
        ts: t,
        config: {
          trackedObjects: {
            'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/template'], trackLifecycle: true },
          },
        },
      },
      { type: 'applied', ts: t, seq: 0, object: deployment('web') },
      {
        type: 'applied',
        ts: t + 1,
        object: {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: 'web-7d4b9c-abcde',
            namespace: 'shop',
            ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d4b9c', uid: 'u1' }],
          },
          spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
        },
        owners: [
          { gvk: 'apps/v1.ReplicaSet', ns_name: 'shop/web-7d4b9c' },
          { gvk: 'apps/v1.Deployment', ns_name: 'shop/web' },
        ],
      },
      { type: 'deleted', ts: t + 2, seq: 3, object: deployment('old') },
      {
        type: 'relist',
        ts: t + 3,
        gvk: 'apps/v1.Deployment',
        after: null,
        through: 'shop/zzz',
        ns_names: ['shop/api', 'shop/web'],
      },
      {
        type: 'lifecycle',
        ts: t + 4,
        owner: { gvk: 'apps/v1.Deployment', ns_name: 'shop/web' },
        pod: 'shop/web-7d4b9c-abcde',
        pod_spec_hash: '17156035354639895998',
        start_ts: t,
        end_ts: t + 4,
      },
    ],
  };
}

/** What each sample event must get back; every events/ingest-*.json must be listed here. */
export const SAMPLE_EXPECTATIONS: Record<
  string,
  { status: number; code?: string; field?: string; index?: number }
> = {
  'ingest-valid.json': { status: 200 },
  'ingest-gzip.json': { status: 200 },
  'ingest-invalid-json.json': { status: 400, code: 'invalid_json' },
  'ingest-missing-token.json': { status: 401, code: 'unauthorized' },
  'ingest-wrong-cluster-token.json': { status: 403, code: 'forbidden' },
  'ingest-future-ts.json': { status: 400, code: 'ts_in_future', field: 'changes[1].ts', index: 1 },
  'ingest-unknown-change-type.json': {
    status: 400,
    code: 'unknown_change_type',
    field: 'changes[2].type',
    index: 2,
  },
  'ingest-relist-unsorted.json': {
    status: 400,
    code: 'relist_unsorted',
    field: 'changes[4].ns_names[1]',
    index: 4,
  },
  'ingest-wrong-content-type.json': { status: 415, code: 'unsupported_media_type' },
};
