/**
 * IAM checked against what the functions really send. Each function's Lambda entry point runs with
 * the environment template.yaml gives it, its SDK clients pointed through recording proxies in
 * front of dynalite and s3rver (and a fake Lambda API), through one end-to-end flow: ingest with
 * bodies large enough for S3 and a relist deletion, an hourly checkpoint, a big change after it
 * inside the export's window, an export request, the export job it starts, the status call and a download of the presigned URL. Every request is
 * mapped to its IAM action and resource (table, bucket key, function) and must be allowed by the
 * role of the function that sent it. The static test (template.test.ts) bounds the grants from
 * above by the code; this one bounds them from below by a real run.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { CHANGES_ROUTE } from '../../functions/exports/changes.ts';
import { generateToken } from '../../lib/auth/token.ts';
import { DynamoTokenStore } from '../../lib/aws/dynamo-token-store.ts';
import { DEFAULT_SETTLE_MS, feedPositionAt, formatCursor } from '../../lib/store/feed.ts';
import { type LocalAws, startLocalAws } from '../support/local-aws.ts';
import { asList, type Cfn, describeRef, loadTemplate, resourcesOfType, roleStatements } from './support.ts';

interface Call {
  fn: string;
  action: string;
  /** `table:<name>`, `s3:<bucket>/<key>` or `lambda:<function name>`. */
  resource: string;
  /** DynamoDB: the partition keys the request touches (IAM's `dynamodb:LeadingKeys`). */
  leadingKeys?: string[];
}

type Classify = (
  req: IncomingMessage,
  body: Buffer,
) => { action: string; resource: string; leadingKeys?: string[] };

/** An HTTP proxy that records each request (as the function `recorder.current`) and forwards it. */
async function recordingProxy(target: string, recorder: Recorder, classify: Classify): Promise<Server> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      recorder.calls.push({ fn: recorder.current, ...classify(req, body) });
      const upstream = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', (err) => {
        res.writeHead(502);
        res.end(String(err));
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const urlOf = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const dynamoCall: Classify = (req, body) => {
  const op = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '?';
  const doc = JSON.parse(body.toString('utf8') || '{}') as {
    TableName?: string;
    RequestItems?: Record<string, { Keys?: { pk?: { S?: string } }[] }>;
    Item?: { pk?: { S?: string } };
    Key?: { pk?: { S?: string } };
    KeyConditionExpression?: string;
    ExpressionAttributeValues?: Record<string, { S?: string }>;
  };
  const table = doc.TableName ?? Object.keys(doc.RequestItems ?? {})[0] ?? '?';
  // The partition keys as IAM sees them (dynamodb:LeadingKeys): of the item, the key, every key
  // of a batch, or the value a Query's key condition gives pk.
  const keys: (string | undefined)[] = [doc.Item?.pk?.S, doc.Key?.pk?.S];
  for (const r of Object.values(doc.RequestItems ?? {})) for (const k of r.Keys ?? []) keys.push(k.pk?.S);
  const pkValue = /\bpk\s*=\s*(:\w+)/.exec(doc.KeyConditionExpression ?? '')?.[1];
  if (pkValue) keys.push(doc.ExpressionAttributeValues?.[pkValue]?.S);
  const leadingKeys = keys.filter((k): k is string => k !== undefined);
  return { action: `dynamodb:${op}`, resource: `table:${table}`, leadingKeys };
};

/** S3 path-style requests to IAM actions (every multipart step but the abort is s3:PutObject). */
const s3Call: Classify = (req) => {
  const url = new URL(req.url ?? '/', 'http://s3');
  const [, bucket = '', ...key] = url.pathname.split('/');
  const q = url.searchParams;
  const method = req.method ?? 'GET';
  const action =
    method === 'GET' || method === 'HEAD'
      ? key.length === 0
        ? 's3:ListBucket'
        : 's3:GetObject'
      : method === 'PUT' || (method === 'POST' && (q.has('uploads') || q.has('uploadId')))
        ? 's3:PutObject'
        : method === 'DELETE' && q.has('uploadId')
          ? 's3:AbortMultipartUpload'
          : method === 'DELETE'
            ? 's3:DeleteObject'
            : `s3:${method}?`;
  return { action, resource: `s3:${bucket}/${decodeURIComponent(key.join('/'))}` };
};

class Recorder {
  current = 'setup';
  readonly calls: Call[] = [];
  /** Payloads of asynchronous invocations the fake Lambda API accepted. */
  readonly invocations: unknown[] = [];
}

/** Lambda's Invoke API: records the call and accepts it as an asynchronous invocation (202). */
async function fakeLambda(recorder: Recorder): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(req.url ?? '');
      recorder.calls.push({
        fn: recorder.current,
        action: m ? 'lambda:InvokeFunction' : `lambda:${req.method} ${req.url}`,
        resource: `lambda:${decodeURIComponent(m?.[1] ?? '?')}`,
      });
      recorder.invocations.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(req.headers['x-amz-invocation-type'] === 'Event' ? 202 : 200, {
        'content-type': 'application/json',
      });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const t = loadTemplate();
const EXPORT_JOB_FUNCTION_NAME = 'stack-ExportJobFunction-TEST';

function functionId(name: string): string {
  const id = resourcesOfType(t, 'AWS::Serverless::Function').find((r) =>
    ((t.Resources[r]!.Metadata!.BuildProperties as Cfn).EntryPoints as string[])[0]!.startsWith(
      `functions/${name}/`,
    ),
  );
  assert.ok(id, name);
  return id;
}

/** A role statement's resource as the recorder names resources; `*` at the end matches any suffix. */
function resolveResource(raw: unknown, aws: LocalAws): string {
  const r = describeRef(raw);
  if (r === 'Table.Arn') return `table:${aws.tableName}`;
  if (r === `${functionId('export-job')}.Arn`) return `lambda:${EXPORT_JOB_FUNCTION_NAME}`;
  const s3 = /^\$\{Bucket\.Arn\}\/(.*)$/.exec(r);
  if (s3) return `s3:${aws.bucket}/${s3[1]}`;
  return `other:${r}`;
}

/** IAM's StringLike: `*` matches any run of characters, everything else itself. */
function stringLike(pattern: string, value: string): boolean {
  const parts = pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`).test(value);
}

/** A statement's `ForAllValues:StringLike` on `dynamodb:LeadingKeys`: every key must match a pattern. */
function conditionAllows(statement: unknown, call: Call): boolean {
  const condition = (statement as { Condition?: Record<string, Record<string, unknown>> }).Condition;
  if (condition === undefined) return true;
  for (const [operator, entries] of Object.entries(condition)) {
    for (const [key, raw] of Object.entries(entries)) {
      if (operator !== 'ForAllValues:StringLike' || key !== 'dynamodb:LeadingKeys') return false;
      const patterns = asList(raw as string | string[]);
      const keys = call.leadingKeys ?? [];
      if (keys.length === 0) return false;
      if (!keys.every((k) => patterns.some((p) => stringLike(p, k)))) return false;
    }
  }
  return true;
}

function allowedBy(fn: string, call: Call, aws: LocalAws): boolean {
  return roleStatements(t, functionId(fn)).some(
    (s) =>
      s.Effect === 'Allow' &&
      asList(s.Action).includes(call.action) &&
      conditionAllows(s, call) &&
      asList(s.Resource).some((raw) => {
        const pattern = resolveResource(raw, aws);
        return pattern.endsWith('*')
          ? call.resource.startsWith(pattern.slice(0, -1))
          : call.resource === pattern;
      }),
  );
}

/** The environment template.yaml sets for a function, with its references resolved for this run. */
function templateEnv(name: string, aws: LocalAws): Record<string, string> {
  const refs: Record<string, string> = {
    Table: aws.tableName,
    Bucket: aws.bucket,
    [functionId('export-job')]: EXPORT_JOB_FUNCTION_NAME,
    AuthMode: 'bearer',
  };
  const env: Record<string, string> = {};
  const vars = (t.Resources[functionId(name)]!.Properties.Environment as Cfn).Variables as Cfn;
  for (const [k, v] of Object.entries(vars)) {
    const ref = describeRef(v);
    env[k] = ref.startsWith('Ref:')
      ? (refs[ref.slice(4)] ?? String(t.Parameters[ref.slice(4)]?.Default ?? ''))
      : String(v);
  }
  return env;
}

function apiEvent(
  method: string,
  routeKey: string,
  path: string,
  params: Record<string, string>,
  token: string,
  body?: unknown,
  extraHeaders: Record<string, string> = {},
): APIGatewayProxyEventV2 {
  const gz = body === undefined ? undefined : gzipSync(JSON.stringify(body));
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: '',
    headers: {
      authorization: `Bearer ${token}`,
      ...(gz ? { 'content-type': 'application/json', 'content-encoding': 'gzip' } : {}),
      ...extraHeaders,
    },
    pathParameters: params,
    requestContext: {
      accountId: '000000000000',
      apiId: 'test',
      domainName: 'test.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'test',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: `req-${method}-${path}`,
      routeKey,
      stage: '$default',
      time: '',
      timeEpoch: Date.now(),
    },
    ...(gz ? { body: gz.toString('base64') } : {}),
    isBase64Encoded: gz !== undefined,
  };
}

const context = { awsRequestId: 'test', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;

/** A Deployment whose compressed body exceeds the 350 KiB inline limit (random data does not deflate). */
function bigDeployment(name: string): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'shop' },
    spec: {
      replicas: 1,
      // Kubernetes caps annotations at 256 KiB; a large spec field is how real objects get big.
      blob: randomBytes(450 * 1024).toString('base64'),
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: `registry.example/${name}:1` }] },
      },
    },
  };
}

describe('IAM against a real run of every function', () => {
  let aws: LocalAws;
  const servers: Server[] = [];
  const recorder = new Recorder();
  const savedEnv = { ...process.env };

  before(async () => {
    aws = await startLocalAws();
    const dynamo = await recordingProxy(aws.endpoints.dynamo, recorder, dynamoCall);
    const s3 = await recordingProxy(aws.endpoints.s3, recorder, s3Call);
    const lambda = await fakeLambda(recorder);
    servers.push(dynamo, s3, lambda);
    // What Lambda's environment and the SDK's provider chain would supply; endpoints redirected.
    Object.assign(process.env, {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_ENDPOINT_URL_DYNAMODB: urlOf(dynamo),
      AWS_ENDPOINT_URL_S3: urlOf(s3),
      AWS_ENDPOINT_URL_LAMBDA: urlOf(lambda),
      DYNAMODB_ENDPOINT: urlOf(dynamo),
      S3_ENDPOINT: urlOf(s3),
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      ...templateEnv('ingest', aws),
      ...templateEnv('exports', aws),
      ...templateEnv('export-job', aws),
      ...templateEnv('checkpoint', aws),
    });
    delete process.env.AWS_PROFILE;
  });

  after(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    await aws?.close();
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    Object.assign(process.env, savedEnv);
  });

  test('each function sends only what its role allows, and the flow exercises every grant', async () => {
    const cluster = 'prod';
    const created = generateToken();
    await new DynamoTokenStore({ client: aws.dynamo, tableName: aws.tableName }).put({
      cluster,
      tokenId: created.tokenId,
      tokenHash: created.tokenHash,
      createdAtSec: 0,
    });
    const token = created.token;
    const now = Math.floor(Date.now() / 1000);
    const ingest = (await import('../../functions/ingest/handler.ts')).handler;
    const exportsFn = (await import('../../functions/exports/handler.ts')).handler;
    const exportJob = (await import('../../functions/export-job/handler.ts')).handler;
    const checkpoint = (await import('../../functions/checkpoint/handler.ts')).handler;
    const post = async (changes: unknown[]) => {
      const out = (await ingest(
        apiEvent(
          'POST',
          'POST /v1/clusters/{cluster}/events',
          `/v1/clusters/${cluster}/events`,
          { cluster },
          token,
          {
            changes,
          },
        ),
        context,
      )) as { statusCode: number; body: string };
      assert.equal(out.statusCode, 200, out.body);
    };

    // Where `sktrace tail` would start: before the first batch lands.
    const feedStart = formatCursor(feedPositionAt(Date.now() - 1000));
    recorder.current = 'ingest';
    await post([
      { type: 'config', ts: now - 100, config: { trackedObjects: { 'apps/v1.Deployment': {} } } },
      { type: 'applied', ts: now - 100, object: bigDeployment('big-a') },
      { type: 'applied', ts: now - 100, object: bigDeployment('big-b') },
      { type: 'applied', ts: now - 100, object: bigDeployment('big-c') },
    ]);
    // A bare deletion is completed with the last applied body, read back from S3; big-b vanished
    // while nobody watched: the relist deletes it.
    await post([
      {
        type: 'deleted',
        ts: now - 50,
        object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'big-c', namespace: 'shop' } },
      },
      {
        type: 'relist',
        ts: now - 50,
        gvk: 'apps/v1.Deployment',
        after: null,
        through: null,
        ns_names: ['shop/big-a'],
      },
    ]);
    // A pod lifecycle started then finished: its running-lifecycle index entry is deleted.
    const lifecycle = {
      type: 'lifecycle',
      owner: { gvk: 'apps/v1.Deployment', ns_name: 'shop/big-a' },
      pod: 'shop/big-a-1',
      pod_spec_hash: '42',
      start_ts: now - 40,
    };
    await post([{ ...lifecycle, ts: now - 40 }]);
    await post([{ ...lifecycle, ts: now - 30, end_ts: now - 30 }]);

    recorder.current = 'checkpoint';
    const run = await checkpoint({ source: 'aws.events', 'detail-type': 'Scheduled Event' });
    assert.deepEqual(
      run.clusters.map((c) => c.outcome),
      ['written'],
    );
    // A big change inside the export's window, after the checkpoint: the job reads its body from
    // S3. (The replay's last versions before the window are the checkpoint's own, which it takes
    // from the checkpoint without downloading them: lib/aws/trace-store/replay.ts decodeLive.)
    recorder.current = 'ingest';
    await post([{ type: 'applied', ts: now - 5, object: bigDeployment('big-d') }]);
    const lastPostMs = Date.now();

    recorder.current = 'exports';
    const createdJob = (await exportsFn(
      apiEvent(
        'POST',
        'POST /v1/clusters/{cluster}/exports',
        `/v1/clusters/${cluster}/exports`,
        { cluster },
        token,
        {
          start_ts: now - 10,
          end_ts: now,
        },
        // Idempotency-Key records are EXPORT# items too (the role's LeadingKeys).
        { 'idempotency-key': 'iam-runtime-1' },
      ),
      context,
    )) as { statusCode: number; body: string };
    assert.equal(createdJob.statusCode, 202, createdJob.body);
    const jobId = (JSON.parse(createdJob.body) as { id: string }).id;

    recorder.current = 'export-job';
    assert.equal(recorder.invocations.length, 1);
    const result = await exportJob(recorder.invocations[0]);
    assert.equal((result as { status?: string }).status, 'succeeded');

    recorder.current = 'exports';
    const status = (await exportsFn(
      apiEvent(
        'GET',
        'GET /v1/clusters/{cluster}/exports/{id}',
        `/v1/clusters/${cluster}/exports/${jobId}`,
        { cluster, id: jobId },
        token,
      ),
      context,
    )) as { statusCode: number; body: string };
    assert.equal(status.statusCode, 200, status.body);
    const { url } = JSON.parse(status.body) as { url: string };
    // Whoever downloads the trace does so with the exports role's signature.
    const download = await fetch(url);
    assert.equal(download.status, 200);
    assert.ok((await download.arrayBuffer()).byteLength > 0);

    // sktrace tail's route, served by the exports function: the changes above, once settled
    // (records are followed 5 s after they land), big bodies read back from S3.
    await new Promise((r) => setTimeout(r, Math.max(0, lastPostMs + DEFAULT_SETTLE_MS + 200 - Date.now())));
    recorder.current = 'exports';
    const changesEvent = apiEvent(
      'GET',
      CHANGES_ROUTE,
      `/v1/clusters/${cluster}/changes`,
      { cluster },
      token,
    );
    changesEvent.queryStringParameters = { after: feedStart };
    changesEvent.rawQueryString = `after=${encodeURIComponent(feedStart)}`;
    const changes = (await exportsFn(changesEvent, context)) as { statusCode: number; body: string };
    assert.equal(changes.statusCode, 200, changes.body);
    assert.deepEqual(
      (JSON.parse(changes.body) as { changes: { type: string; nsName: string }[] }).changes.map(
        (c) => `${c.type} ${c.nsName}`,
      ),
      // One second's changes in seq order, then by name: the deletion of big-c and the relist's
      // deletion of big-b both have seq 0.
      [
        'applied shop/big-a',
        'applied shop/big-b',
        'applied shop/big-c',
        'deleted shop/big-b',
        'deleted shop/big-c',
        'applied shop/big-d',
      ],
    );

    const denied = recorder.calls.filter((c) => c.fn !== 'setup' && !allowedBy(c.fn, c, aws));
    assert.deepEqual(denied, [], 'calls the roles would refuse');

    // Every grant was used by this flow, except those listed (with why the flow cannot reach them).
    const unexercised: Record<string, string[]> = {
      // The job skips its own checkpoint when one younger than an hour exists (the scheduled one
      // above); multipart uploads start at 16 MiB.
      'export-job': [
        `s3:PutObject s3:${aws.bucket}/checkpoints/*`,
        `s3:PutObject s3:${aws.bucket}/bodies/*`,
        `s3:AbortMultipartUpload s3:${aws.bucket}/exports/*`,
      ],
      // Bodies are written back only for objects unchanged for 12 hours (bodies.ts refreshDue;
      // tests/store/body-refresh.test.ts); this flow's objects are seconds old.
      checkpoint: [`s3:PutObject s3:${aws.bucket}/bodies/*`],
    };
    for (const fn of ['ingest', 'exports', 'export-job', 'checkpoint']) {
      const grants = roleStatements(t, functionId(fn)).flatMap((s) =>
        asList(s.Action)
          // Logs and the on-failure queue are used by Lambda itself with the role, not by the code.
          .filter((a) => !a.startsWith('logs:') && !a.startsWith('sqs:'))
          .flatMap((a) => asList(s.Resource).map((r) => `${a} ${resolveResource(r, aws)}`)),
      );
      const unused = grants.filter((g) => {
        const [action, pattern] = g.split(' ') as [string, string];
        return !recorder.calls.some(
          (c) =>
            c.fn === fn &&
            c.action === action &&
            (pattern.endsWith('*') ? c.resource.startsWith(pattern.slice(0, -1)) : c.resource === pattern),
        );
      });
      assert.deepEqual(unused.sort(), (unexercised[fn] ?? []).sort(), `${fn}: grants this flow never used`);
    }

    // Every partition pattern a role allows was reached by that function in this flow (no
    // prefix granted that the code does not build), except those listed with why.
    const unreachedPrefixes: Record<string, string[]> = {
      // An event slot is read only for a stale change of a retried batch, to list it in the change
      // feed again (writer.ts #feedStoredEarlier; tests/store/feed.test.ts stages it). (Ingest reads
      // LC# at its first lifecycle write per container: whether older items exist, docs/storage.md
      // "Lifecycles by window".)
      ingest: ['dynamodb:BatchGetItem,dynamodb:GetItem,dynamodb:Query EV#*'],
      // State partitions and the checkpoint item: only for the checkpoint the job skips here (a
      // scheduled one younger than an hour exists, as above).
      // Owner-keyed lifecycles: only for windows older than the lifecycle layout record and for
      // bare pods alive at a window's start (docs/storage.md "Lifecycles by window"); neither here.
      'export-job': [
        'dynamodb:GetItem,dynamodb:Query OBJ#*',
        'dynamodb:PutItem CKPT#*',
        'dynamodb:GetItem,dynamodb:Query LC#*',
      ],
    };
    for (const fn of ['ingest', 'exports', 'export-job', 'checkpoint']) {
      const unreached: string[] = [];
      for (const st of roleStatements(t, functionId(fn))) {
        const condition = (st as { Condition?: Record<string, Record<string, unknown>> }).Condition;
        const patterns = asList(
          (condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] ?? []) as string | string[],
        );
        for (const pattern of patterns) {
          const reached = recorder.calls.some(
            (c) =>
              c.fn === fn &&
              asList(st.Action).includes(c.action) &&
              (c.leadingKeys ?? []).some((k) => stringLike(pattern, k)),
          );
          if (!reached) unreached.push(`${asList(st.Action).join(',')} ${pattern}`);
        }
      }
      assert.deepEqual(
        unreached.sort(),
        (unreachedPrefixes[fn] ?? []).sort(),
        `${fn}: partitions never reached`,
      );
    }
  });
});
