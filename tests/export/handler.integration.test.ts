/**
 * The exports function end to end on real local servers: DynamoDB (dynalite) for the trace store,
 * tokens and job records, S3 (s3rver) for the traces and their presigned URLs, all through the
 * production adapters and SDK calls. Requests are the sample events in events/exports-*.json.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { makeHandler } from '../../functions/exports/handler.ts';
import { hashToken } from '../../lib/auth/token.ts';
import { DynamoExportJobStore } from '../../lib/aws/dynamo-export-jobs.ts';
import { DynamoTokenStore } from '../../lib/aws/dynamo-token-store.ts';
import type { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { S3ExportObjects } from '../../lib/aws/s3-exports.ts';
import type { ExportJobView, JobRef } from '../../lib/export/job.ts';
import { type ExportJobDeps, runExportJob } from '../../lib/export/pipeline.ts';
import type { JobLauncher } from '../../lib/export/ports.ts';
import { decodeTrace } from '../../lib/trace/codec.ts';
import { type LocalAws, localTraceStore, startLocalAws } from '../support/local-aws.ts';
import { DEPLOYMENT_CONFIG, deployment, exportsContext, recordingLog, silentLogger } from './support.ts';

const NOW_SEC = 1_700_000_000;
const DEMO_TOKEN = `skt_${'d'.repeat(43)}`;
const OTHER_TOKEN = `skt_${'o'.repeat(43)}`;
const GLOBAL_TOKEN = `skt_${'g'.repeat(43)}`;

function sample(name: string): APIGatewayProxyEventV2 {
  return JSON.parse(readFileSync(new URL(`../../events/${name}`, import.meta.url), 'utf8'));
}

const context = () => exportsContext({ memoryLimitInMB: '1024', remainingMs: 30_000 });

function getEvent(cluster: string, id: string, token = DEMO_TOKEN): APIGatewayProxyEventV2 {
  const event = sample('exports-get.json');
  event.pathParameters = { cluster, id };
  event.rawPath = `/v1/clusters/${cluster}/exports/${id}`;
  event.headers = { authorization: `Bearer ${token}` };
  return event;
}

class RecordingLauncher implements JobLauncher {
  readonly launched: JobRef[] = [];
  fail = false;
  async launch(ref: JobRef): Promise<void> {
    if (this.fail) throw new Error('Lambda said no');
    this.launched.push(ref);
  }
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

describe('exports function (dynalite + s3rver)', () => {
  let aws: LocalAws;
  let store: DynamoTraceStore;
  let jobs: DynamoExportJobStore;
  let objects: S3ExportObjects;
  let launcher: RecordingLauncher;
  let jobDeps: ExportJobDeps;
  let horizon: { firstTs?: number; horizonTs?: number } | undefined;
  let call: (event: APIGatewayProxyEventV2) => Promise<Reply>;
  let urlTtlSec = 3600;
  let maxWindowChanges: number | undefined;

  before(async () => {
    aws = await startLocalAws();
    store = localTraceStore(aws, {
      nowSec: () => NOW_SEC,
      countChanges: true,
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
    jobs = new DynamoExportJobStore({ client: aws.dynamo, tableName: aws.tableName });
    objects = new S3ExportObjects({ s3: aws.s3, bucket: aws.bucket });
    launcher = new RecordingLauncher();
    jobDeps = { jobs, reader: store, objects, nowSec: () => NOW_SEC, log: recordingLog() };
    await store.applyBatch(
      'demo',
      {
        changes: [
          { type: 'config', ts: NOW_SEC - 3000, config: DEPLOYMENT_CONFIG },
          { type: 'applied', ts: NOW_SEC - 3000, object: deployment('web', 1) },
          { type: 'applied', ts: NOW_SEC - 1000, object: deployment('web', 2) },
          { type: 'applied', ts: NOW_SEC - 900, object: deployment('api', 1, { namespace: 'kube-system' }) },
          {
            type: 'applied',
            ts: NOW_SEC - 800,
            object: deployment('canary', 1, { labels: { canary: 'yes' } }),
          },
        ],
      },
      { nowSec: NOW_SEC },
    );
    const reader = {
      retentionHorizon: async () => horizon ?? (await store.retentionHorizon('demo')),
      estimateChanges: (cluster: string, window: { startTs: number; endTs: number }) =>
        store.estimateChanges(cluster, window),
    };
    call = async (event) => {
      const handler = makeHandler({
        jobs,
        objects,
        launcher,
        tokens,
        reader,
        logger: silentLogger(),
        clock: () => NOW_SEC * 1000,
        urlTtlSec,
        ...(maxWindowChanges === undefined ? {} : { maxWindowChanges }),
        auth: { mode: 'bearer', globalTokenHashes: [hashToken(GLOBAL_TOKEN)] },
      });
      const out = (await handler(event, context())) as APIGatewayProxyStructuredResultV2;
      return {
        status: out.statusCode ?? 200,
        headers: (out.headers ?? {}) as Record<string, string>,
        body: JSON.parse(out.body ?? '{}'),
      };
    };
  });

  after(async () => {
    await aws.close();
  });

  it('creates a pending job at once (202 + Location), stored under the cluster, and launches it', async () => {
    const reply = await call(sample('exports-create-valid.json'));
    assert.equal(reply.status, 202);
    const view = reply.body as unknown as ExportJobView;
    assert.equal(view.status, 'pending');
    assert.match(view.id, /^[a-z2-7]{26}$/);
    assert.equal(reply.headers.Location, `/v1/clusters/demo/exports/${view.id}`);
    assert.deepEqual(view.filters, {
      excluded_namespaces: ['kube-system'],
      excluded_labels: [{ matchExpressions: [{ key: 'canary', operator: 'Exists' }] }],
    });
    assert.deepEqual(launcher.launched.at(-1), { cluster: 'demo', id: view.id });
    const stored = await jobs.get('demo', view.id);
    assert.equal(stored?.status, 'pending');
    assert.deepEqual(stored?.window, { startTs: 1_699_998_200, endTs: 1_700_000_000 });
    assert.equal(await jobs.get('other', view.id), undefined, 'the job is under its own cluster only');
  });

  it('refuses up front (400 window_too_large, no job) a window estimated above what one export does, saying how to split it', async () => {
    maxWindowChanges = 0;
    const launches = launcher.launched.length;
    try {
      const reply = await call(sample('exports-create-valid.json'));
      assert.equal(reply.status, 400);
      const error = reply.body.error as { code: string; message: string; field: string };
      assert.equal(error.code, 'window_too_large');
      assert.equal(error.field, 'end_ts');
      assert.match(error.message, /holds about 1 changes.*split it into \d+ windows of at most \d+ s/);
      assert.equal(launcher.launched.length, launches);
    } finally {
      maxWindowChanges = undefined;
    }
  });

  it('reports the job, then after the run a signed URL to the trace and its counts', async () => {
    const created = (await call(sample('exports-create-valid.json'))).body as unknown as ExportJobView;
    const pending = await call(getEvent('demo', created.id));
    assert.equal(pending.status, 200);
    assert.equal(pending.body.status, 'pending');
    assert.equal(pending.body.url, undefined);

    await runExportJob(jobDeps, { cluster: 'demo', id: created.id });
    const done = await call(getEvent('demo', created.id));
    assert.equal(done.status, 200);
    assert.equal(done.headers['Cache-Control'], 'no-store');
    const view = done.body as unknown as ExportJobView;
    assert.equal(view.status, 'succeeded');
    assert.equal(view.key, `exports/demo/${created.id}.sktrace`);
    assert.equal(view.url_expires_at, NOW_SEC + urlTtlSec);
    const url = new URL(view.url!);
    assert.equal(
      url.pathname,
      `/${aws.bucket}/exports/demo/${created.id}.sktrace`,
      'the URL names exactly that key',
    );
    assert.equal(url.searchParams.get('X-Amz-Expires'), String(urlTtlSec));

    const res = await fetch(view.url!);
    assert.equal(res.status, 200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    assert.equal(view.counts?.bytes, bytes.length);
    const trace = decodeTrace(bytes);
    // kube-system is excluded, the canary matches the Exists selector: only web, its start version then v2.
    assert.deepEqual(
      trace.events.flatMap((e) =>
        e.applied_objs.map((o) => `${e.ts} ${o.metadata.name} ${(o.spec as { replicas: number }).replicas}`),
      ),
      [`${NOW_SEC - 1800} web 1`, `${NOW_SEC - 1000} web 2`],
    );
    assert.deepEqual(view.counts, { events: 2, objects: 1, bytes: bytes.length });
  });

  it('never shows a job of one cluster through another cluster’s path', async () => {
    const created = (await call(sample('exports-create-valid.json'))).body as unknown as ExportJobView;
    await runExportJob(jobDeps, { cluster: 'demo', id: created.id });
    // The other cluster's own token, on its own path: not found.
    const viaOther = await call(getEvent('other', created.id, OTHER_TOKEN));
    assert.equal(viaOther.status, 404);
    assert.equal((viaOther.body.error as { code: string }).code, 'not_found');
    // Even a token valid for every cluster finds it only under its cluster.
    assert.equal((await call(getEvent('other', created.id, GLOBAL_TOKEN))).status, 404);
    assert.equal((await call(getEvent('demo', created.id, GLOBAL_TOKEN))).status, 200);
    // And demo's path with other's token is refused before any lookup.
    assert.equal((await call(getEvent('demo', created.id, OTHER_TOKEN))).status, 403);
  });

  it('answers 404 for an unknown or malformed id', async () => {
    for (const id of ['a'.repeat(26), 'not-an-id', '..%2F..%2Fsecret']) {
      const reply = await call(getEvent('demo', id));
      assert.equal(reply.status, 404, id);
    }
  });

  const refusals: [string, number, string, string | undefined][] = [
    ['exports-create-end-before-start.json', 400, 'invalid_request', 'end_ts'],
    [
      'exports-create-bad-selector.json',
      400,
      'invalid_request',
      'filters.excluded_labels[0].matchExpressions[0].operator',
    ],
    ['exports-create-unknown-field.json', 400, 'invalid_request', 'export_path'],
    ['exports-create-wrong-type.json', 400, 'invalid_request', 'start_ts'],
    ['exports-create-invalid-json.json', 400, 'invalid_json', undefined],
    ['exports-create-missing-token.json', 401, 'unauthorized', undefined],
    ['exports-create-wrong-cluster-token.json', 403, 'forbidden', undefined],
  ];
  for (const [file, status, code, field] of refusals) {
    it(`refuses ${file} with ${status} ${code}${field ? ` naming ${field}` : ''}, creating no job`, async () => {
      const before = launcher.launched.length;
      const reply = await call(sample(file));
      assert.equal(reply.status, status);
      const error = reply.body.error as { code: string; field?: string; message: string };
      assert.equal(error.code, code);
      assert.equal(error.field, field);
      assert.ok(error.message.length > 0);
      assert.equal(launcher.launched.length, before);
    });
  }

  it('refuses a wrong media type (415) and a wrong method (405)', async () => {
    const wrongType = sample('exports-create-valid.json');
    wrongType.headers['content-type'] = 'text/plain';
    assert.equal((await call(wrongType)).status, 415);
    const wrongMethod = sample('exports-create-valid.json');
    wrongMethod.requestContext.http.method = 'PUT';
    const reply = await call(wrongMethod);
    assert.equal(reply.status, 405);
    assert.equal(reply.headers.Allow, 'POST');
  });

  it('refuses with 409 a window starting before the retention horizon', async () => {
    horizon = { firstTs: 1_699_990_000, horizonTs: 1_699_999_000 };
    try {
      const reply = await call(sample('exports-create-valid.json'));
      assert.equal(reply.status, 409);
      const error = reply.body.error as { code: string; field: string; message: string };
      assert.equal(error.code, 'window_expired');
      assert.equal(error.field, 'start_ts');
      assert.match(error.message, /retention horizon 1699999000/);
    } finally {
      horizon = undefined;
    }
  });

  it('answers 503 with Retry-After when the job cannot be launched, and marks the job failed', async () => {
    launcher.fail = true;
    try {
      const before = await call(sample('exports-create-valid.json'));
      assert.equal(before.status, 503);
      assert.equal(before.headers['Retry-After'], '5');
    } finally {
      launcher.fail = false;
    }
    const { Items } = await aws.dynamo.send(
      new (await import('@aws-sdk/client-dynamodb')).QueryCommand({
        TableName: aws.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: 'EXPORT#demo' } },
      }),
    );
    const failed = (Items ?? []).map((i) => JSON.parse(i.job!.S!)).filter((j) => j.status === 'failed');
    assert.equal(failed.length, 1);
    assert.match(failed[0].reason, /could not be started/);
  });

  it('signs URLs that expire: with a 1 s lifetime s3rver refuses the download after 2 s (403)', async () => {
    urlTtlSec = 1;
    try {
      const created = (await call(sample('exports-create-valid.json'))).body as unknown as ExportJobView;
      await runExportJob(jobDeps, { cluster: 'demo', id: created.id });
      const view = (await call(getEvent('demo', created.id))).body as unknown as ExportJobView;
      assert.equal(new URL(view.url!).searchParams.get('X-Amz-Expires'), '1');
      await new Promise((resolve) => setTimeout(resolve, 2100));
      const res = await fetch(view.url!);
      assert.equal(res.status, 403);
      assert.match(await res.text(), /expired/i);
      // A new GET signs a fresh URL, which works.
      urlTtlSec = 60;
      const fresh = (await call(getEvent('demo', created.id))).body as unknown as ExportJobView;
      assert.equal((await fetch(fresh.url!)).status, 200);
    } finally {
      urlTtlSec = 3600;
    }
  });
});
