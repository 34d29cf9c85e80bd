/**
 * The fuzz targets: the real ingest and exports handlers (`makeHandler(deps)`) on the real
 * DynamoDB adapters (trace store, token store, export job store) over dynalite and s3rver, seeded
 * with a little history, one succeeded export (so the bucket holds an object) and per-cluster
 * tokens. A hostile request must be refused with a 4xx and the documented error body, and must
 * leave every item of the table and every object of the bucket as it was: `snapshot()` reads
 * both in full so a test can compare them item by item.
 */
import assert from 'node:assert/strict';
import { type AttributeValue, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import fc from 'fast-check';
import { makeHandler as makeExportsHandler } from '../../functions/exports/handler.ts';
import { makeHandler as makeIngestHandler } from '../../functions/ingest/handler.ts';
import { hashToken } from '../../lib/auth/token.ts';
import { DynamoExportJobStore } from '../../lib/aws/dynamo-export-jobs.ts';
import { DynamoTokenStore } from '../../lib/aws/dynamo-token-store.ts';
import { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { S3BlobStore } from '../../lib/aws/s3-blob-store.ts';
import { S3ExportObjects } from '../../lib/aws/s3-exports.ts';
import type { JobRef } from '../../lib/export/job.ts';
import { runExportJob } from '../../lib/export/pipeline.ts';
import type { JobLauncher } from '../../lib/export/ports.ts';
import { recordingLog, silentLogger } from '../export/support.ts';
import {
  asResponse,
  DEMO_TOKEN,
  ingestEvent,
  lambdaContext,
  NOW_MS,
  NOW_SEC,
  OTHER_TOKEN,
  type Response,
  validBatch,
} from '../ingest/support.ts';
import { type LocalAws, startLocalAws } from '../support/local-aws.ts';

export { DEMO_TOKEN, NOW_SEC, OTHER_TOKEN };

/**
 * Valid for every cluster, as `sktrace serve --token` is (AuthPolicy.globalTokenHashes): it is
 * checked without a store read, so most cases cost no DynamoDB round trip; a share of them use
 * DEMO_TOKEN instead, looked up in the token store on dynalite.
 */
export const GLOBAL_TOKEN = `skt_${'g'.repeat(43)}`;

/** Token of the n-th case (n in 0..7): one in eight through the token store. */
export function tokenFor(n: number): string {
  return n === 0 ? DEMO_TOKEN : GLOBAL_TOKEN;
}

export type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>;

/** Jobs are recorded, never run: a hostile request must not even get as far as a launch. */
class RecordingLauncher implements JobLauncher {
  readonly launched: JobRef[] = [];
  async launch(ref: JobRef): Promise<void> {
    this.launched.push(ref);
  }
}

export interface Snapshot {
  /** Every item of the table, as DynamoDB returns it, sorted by key. */
  items: Record<string, AttributeValue>[];
  /** Every object of the bucket: key, size and ETag. */
  objects: { key: string; size: number; etag: string }[];
}

export interface FuzzEnv {
  aws: LocalAws;
  ingest: Handler;
  exports: Handler;
  launcher: RecordingLauncher;
  /** Id of the demo cluster's succeeded export job. */
  jobId: string;
  snapshot(): Promise<Snapshot>;
  close(): Promise<void>;
}

export async function startFuzzEnv(): Promise<FuzzEnv> {
  const aws = await startLocalAws();
  try {
    const store = new DynamoTraceStore({
      dynamo: aws.dynamo,
      tableName: aws.tableName,
      blobs: new S3BlobStore(aws.s3, aws.bucket),
      nowSec: () => NOW_SEC,
    });
    const tokens = new DynamoTokenStore({ client: aws.dynamo, tableName: aws.tableName });
    for (const [token, cluster] of [
      [DEMO_TOKEN, 'demo'],
      [OTHER_TOKEN, 'other'],
    ] as const) {
      await tokens.put({
        cluster,
        tokenId: `tok_${cluster}`,
        tokenHash: hashToken(token),
        createdAtSec: NOW_SEC,
      });
    }
    const jobs = new DynamoExportJobStore({ client: aws.dynamo, tableName: aws.tableName });
    const objects = new S3ExportObjects({ s3: aws.s3, bucket: aws.bucket });
    const launcher = new RecordingLauncher();
    const logger = silentLogger();
    const clock = () => NOW_MS;
    const auth = { mode: 'bearer' as const, globalTokenHashes: [hashToken(GLOBAL_TOKEN)] };
    const ingest = makeIngestHandler({ writer: store, tokens, logger, clock, auth });
    const exports = makeExportsHandler({
      jobs,
      objects,
      launcher,
      tokens,
      reader: store,
      logger,
      clock,
      auth,
    });

    // Seed through the very handlers under test: a valid batch, then an export run to completion.
    const seeded = asResponse(
      await ingest(ingestEvent({ body: JSON.stringify(validBatch()) }), lambdaContext()),
    );
    assert.equal(seeded.statusCode, 200, seeded.body);
    const created = asResponse(
      await exports(
        exportsEvent({ body: JSON.stringify({ start_ts: NOW_SEC - 120, end_ts: NOW_SEC }) }),
        lambdaContext(),
      ),
    );
    assert.equal(created.statusCode, 202, created.body);
    const jobId = (JSON.parse(created.body) as { id: string }).id;
    const done = await runExportJob(
      { jobs, reader: store, objects, nowSec: () => NOW_SEC, log: recordingLog() },
      { cluster: 'demo', id: jobId },
    );
    assert.equal(done?.status, 'succeeded');
    launcher.launched.length = 0;

    return {
      aws,
      ingest,
      exports,
      launcher,
      jobId,
      snapshot: () => snapshotOf(aws),
      close: () => aws.close(),
    };
  } catch (err) {
    await aws.close();
    throw err;
  }
}

/** Where a snapshot reads from: a LocalAws, or clients pointed at a local stack's servers. */
export type SnapshotTarget = Pick<LocalAws, 'dynamo' | 's3' | 'tableName' | 'bucket'>;

/** Every item of the table (Scan, consistent) and every object of the bucket (ListObjectsV2). */
export async function snapshotOf(aws: SnapshotTarget): Promise<Snapshot> {
  const items: Record<string, AttributeValue>[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await aws.dynamo.send(
      new ScanCommand({
        TableName: aws.tableName,
        ConsistentRead: true,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  items.sort((a, b) => keyOf(a).localeCompare(keyOf(b)));

  const objects: Snapshot['objects'] = [];
  let token: string | undefined;
  do {
    const page = await aws.s3.send(
      new ListObjectsV2Command({ Bucket: aws.bucket, ...(token ? { ContinuationToken: token } : {}) }),
    );
    for (const o of page.Contents ?? [])
      objects.push({ key: o.Key ?? '', size: o.Size ?? -1, etag: o.ETag ?? '' });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  objects.sort((a, b) => a.key.localeCompare(b.key));
  return { items, objects };
}

function keyOf(item: Record<string, AttributeValue>): string {
  return JSON.stringify([item.pk, item.sk]);
}

/** Asserts two snapshots hold the same items and objects, naming the first that differs. */
export function assertUnchanged(before: Snapshot, after: Snapshot): void {
  assert.equal(after.items.length, before.items.length, 'number of table items');
  for (const [i, item] of before.items.entries()) {
    assert.deepEqual(after.items[i], item, `table item ${keyOf(item)}`);
  }
  assert.deepEqual(after.objects, before.objects, 'bucket objects');
}

export interface ExportsEventOptions {
  cluster?: string;
  /** The `{id}` path parameter: a status request (GET) when given. */
  id?: string;
  token?: string | null;
  body?: string | Buffer;
  base64?: boolean;
  headers?: Record<string, string>;
  method?: string;
}

/** A payload v2 event for the exports routes, built on the ingest tests' event builder. */
export function exportsEvent(opts: ExportsEventOptions = {}): APIGatewayProxyEventV2 {
  const cluster = opts.cluster ?? 'demo';
  const status = opts.id !== undefined;
  const event = ingestEvent({
    cluster,
    ...(opts.token === undefined ? {} : { token: opts.token }),
    ...(opts.body === undefined ? {} : { body: opts.body }),
    ...(opts.base64 === undefined ? {} : { base64: opts.base64 }),
    ...(opts.headers === undefined ? {} : { headers: opts.headers }),
    method: opts.method ?? (status ? 'GET' : 'POST'),
  });
  const routeKey = status ? 'GET /v1/clusters/{cluster}/exports/{id}' : 'POST /v1/clusters/{cluster}/exports';
  const path = status ? `/v1/clusters/${cluster}/exports/${opts.id}` : `/v1/clusters/${cluster}/exports`;
  event.routeKey = routeKey;
  event.rawPath = path;
  event.requestContext.routeKey = routeKey;
  event.requestContext.http.path = path;
  event.pathParameters = status ? { cluster, id: opts.id ?? '' } : { cluster };
  return event;
}

/** The documented error body: `{"error": {"code", "message", "field"?, "index"?}}`, nothing else. */
export interface ErrorBody {
  error: { code: string; message: string; field?: string; index?: number };
}

/**
 * Asserts a refusal: a 4xx (never 5xx, never a 2xx/3xx), a JSON content type, and the documented
 * error body. Returns the parsed error.
 */
export function assertRefused(result: unknown, what: string): ErrorBody['error'] {
  let res: Response;
  try {
    res = asResponse(result);
  } catch (err) {
    assert.fail(`${what}: ${(err as Error).message}`);
  }
  assert.ok(
    res.statusCode >= 400 && res.statusCode < 500,
    `${what}: status ${res.statusCode} ${res.body.slice(0, 300)}`,
  );
  const contentType = Object.entries(res.headers ?? {}).find(
    ([k]) => k.toLowerCase() === 'content-type',
  )?.[1];
  assert.match(String(contentType), /^application\/json/, `${what}: content type of a ${res.statusCode}`);
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    assert.fail(`${what}: ${res.statusCode} body is not JSON: ${res.body.slice(0, 200)}`);
  }
  assertErrorShape(body, what);
  return (body as ErrorBody).error;
}

export function assertErrorShape(body: unknown, what: string): void {
  const shape = `${what}: error body ${JSON.stringify(body)?.slice(0, 300)}`;
  assert.ok(isPlainObject(body) && Object.keys(body).join() === 'error', shape);
  const error = (body as { error: unknown }).error;
  assert.ok(isPlainObject(error), shape);
  const e = error as Record<string, unknown>;
  assert.ok(typeof e.code === 'string' && /^[a-z_]+$/.test(e.code), shape);
  assert.ok(typeof e.message === 'string' && e.message.length > 0, shape);
  for (const key of Object.keys(e)) assert.ok(['code', 'message', 'field', 'index'].includes(key), shape);
  if ('field' in e) assert.equal(typeof e.field, 'string', shape);
  if ('index' in e) assert.ok(Number.isSafeInteger(e.index) && (e.index as number) >= 0, shape);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Own property names of the built-in prototypes hostile keys aim at, to check none was added. */
export function prototypeFingerprint(): string {
  const protos = { Object: Object.prototype, Array: Array.prototype, Function: Function.prototype };
  return JSON.stringify(
    Object.entries(protos).map(([name, p]) => [
      name,
      Object.getOwnPropertyNames(p).sort(),
      Object.getPrototypeOf(p) === null,
    ]),
  );
}

/** Runs `tasks` with at most `width` in flight (dynalite is in this process: a few overlap its I/O). */
export async function runPool<T>(
  items: readonly T[],
  width: number,
  run: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await run(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

/** What the property runner needs of a generated request (ingest-cases.ts `HostileRequest`). */
export interface GeneratedRequest {
  kind: string;
  expect?: { status: number; code?: string };
  bodyText?: string;
}

/**
 * Sends `runs` requests from `arb` with a fixed seed and asserts each is refused with the documented
 * error (and is invalid to begin with: a generator that makes a valid request fails the test rather
 * than being skipped). Adds to `counts` per kind; the seed is in any failure's message.
 */
export async function assertAllRefused<R extends GeneratedRequest>(options: {
  api: string;
  seed: number;
  runs: number;
  arb: fc.Arbitrary<R>;
  isValid: (bodyText: string) => boolean;
  send: (req: R) => Promise<unknown>;
  counts: Map<string, number>;
}): Promise<void> {
  const { api, seed, runs, counts } = options;
  const prototypes = prototypeFingerprint();
  try {
    await fc.assert(
      fc.asyncProperty(options.arb, async (req) => {
        if (req.bodyText !== undefined) {
          assert.ok(!options.isValid(req.bodyText), `the generator made a valid request (${req.kind})`);
        }
        const error = assertRefused(await options.send(req), req.kind);
        if (req.expect?.code !== undefined) assert.equal(error.code, req.expect.code, req.kind);
        counts.set(req.kind, (counts.get(req.kind) ?? 0) + 1);
      }),
      { seed, numRuns: runs },
    );
  } catch (err) {
    throw new Error(`${api} fuzz failed with fast-check seed ${seed}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  assert.equal(prototypeFingerprint(), prototypes, 'built-in prototypes changed');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const sent = [...counts.values()].reduce((a, b) => a + b, 0);
  assert.ok(sent >= runs, `${sent} requests sent`);
}

/** `kind=n; …` of the requests sent, for the test's diagnostic line. */
export function describeCounts(counts: Map<string, number>): string {
  return `kinds: ${[...counts]
    .sort()
    .map(([k, n]) => `${k}=${n}`)
    .join('; ')}`;
}
