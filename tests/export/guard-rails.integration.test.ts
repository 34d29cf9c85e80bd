/**
 * Export guard rails on dynalite + s3rver through the production adapters: a claim only one
 * invocation wins (two concurrent runs of one job's event make one export), Idempotency-Key on
 * POST (same key → same job; another body → 422; concurrent duplicates → one job), the
 * per-cluster cap on unfinished exports (429 + Retry-After) and the window cap (400 naming it).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { makeHandler as makeJobHandler } from '../../functions/export-job/handler.ts';
import { makeHandler } from '../../functions/exports/handler.ts';
import { hashToken } from '../../lib/auth/token.ts';
import { DynamoExportJobStore } from '../../lib/aws/dynamo-export-jobs.ts';
import { DynamoTokenStore } from '../../lib/aws/dynamo-token-store.ts';
import type { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { S3ExportObjects } from '../../lib/aws/s3-exports.ts';
import { exportKey, type JobRef, newJob } from '../../lib/export/job.ts';
import type { ExportObjectStore, ExportUpload, JobLauncher } from '../../lib/export/ports.ts';
import { decodeTrace } from '../../lib/trace/codec.ts';
import { type LocalAws, localTraceStore, startLocalAws } from '../support/local-aws.ts';
import { DEPLOYMENT_CONFIG, deployment, exportsContext, recordingLog, silentLogger } from './support.ts';

const NOW_SEC = 1_700_000_000;
const TOKEN = `skt_${'g'.repeat(43)}`;
const NO_FILTERS = { excluded_namespaces: [], excluded_labels: [] };

const context = () => exportsContext({ memoryLimitInMB: '512', remainingMs: 10_000 });

function postEvent(cluster: string, body: unknown, key?: string): APIGatewayProxyEventV2 {
  const event = JSON.parse(
    readFileSync(new URL('../../events/exports-create-valid.json', import.meta.url), 'utf8'),
  ) as APIGatewayProxyEventV2;
  event.pathParameters = { cluster };
  event.rawPath = `/v1/clusters/${cluster}/exports`;
  event.headers = {
    authorization: `Bearer ${TOKEN}`,
    'content-type': 'application/json',
    ...(key === undefined ? {} : { 'idempotency-key': key }),
  };
  event.body = JSON.stringify(body);
  event.isBase64Encoded = false;
  return event;
}

class RecordingLauncher implements JobLauncher {
  readonly launched: JobRef[] = [];
  async launch(ref: JobRef): Promise<void> {
    this.launched.push(ref);
  }
}

/** The real S3 adapter, counting puts per key (what "one export" means for the test). */
class CountingObjects implements ExportObjectStore {
  readonly puts = new Map<string, number>();
  readonly inner: ExportObjectStore;
  constructor(inner: ExportObjectStore) {
    this.inner = inner;
  }
  async put(key: string, bytes: Uint8Array): Promise<void> {
    this.puts.set(key, (this.puts.get(key) ?? 0) + 1);
    await this.inner.put(key, bytes);
  }
  /** A multipart upload (a trace larger than one part) counts as one put, on completion. */
  async startUpload(key: string): Promise<ExportUpload> {
    const upload = await this.inner.startUpload(key);
    return {
      uploadPart: (n, bytes) => upload.uploadPart(n, bytes),
      complete: async () => {
        this.puts.set(key, (this.puts.get(key) ?? 0) + 1);
        await upload.complete();
      },
      abort: () => upload.abort(),
    };
  }
  presign(key: string, ttlSec: number): Promise<string> {
    return this.inner.presign(key, ttlSec);
  }
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown> & { error?: { code: string; message: string; field?: string } };
}

describe('export guard rails (dynalite + s3rver)', () => {
  let aws: LocalAws;
  let store: DynamoTraceStore;
  let jobs: DynamoExportJobStore;
  let launcher: RecordingLauncher;
  let clockSec = NOW_SEC;
  let post: (cluster: string, body: unknown, key?: string) => Promise<Reply>;

  before(async () => {
    aws = await startLocalAws();
    store = localTraceStore(aws, {
      nowSec: () => NOW_SEC,
    });
    jobs = new DynamoExportJobStore({ client: aws.dynamo, tableName: aws.tableName });
    launcher = new RecordingLauncher();
    const tokens = new DynamoTokenStore({ client: aws.dynamo, tableName: aws.tableName });
    const handler = makeHandler({
      jobs,
      objects: new S3ExportObjects({ s3: aws.s3, bucket: aws.bucket }),
      launcher,
      tokens,
      logger: silentLogger(),
      clock: () => clockSec * 1000,
      maxActiveExports: 2,
      maxWindowSec: 3600,
      sleep: async () => {},
      auth: { mode: 'bearer', globalTokenHashes: [hashToken(TOKEN)] },
    });
    post = async (cluster, body, key) => {
      const out = (await handler(
        postEvent(cluster, body, key),
        context(),
      )) as APIGatewayProxyStructuredResultV2;
      return {
        status: out.statusCode ?? 200,
        headers: (out.headers ?? {}) as Record<string, string>,
        body: JSON.parse(out.body ?? '{}'),
      };
    };
  });
  after(() => aws.close());

  it('two concurrent runs of one job’s event produce one export', async () => {
    await store.applyBatch(
      'race',
      {
        changes: [
          { type: 'config', ts: NOW_SEC - 3000, config: DEPLOYMENT_CONFIG },
          { type: 'applied', ts: NOW_SEC - 3000, object: deployment('web', 1) },
          { type: 'applied', ts: NOW_SEC - 1000, object: deployment('web', 2) },
        ],
      },
      { nowSec: NOW_SEC },
    );
    const ref = { cluster: 'race', id: 'r'.repeat(26) };
    await jobs.create(
      newJob(
        ref,
        { window: { startTs: NOW_SEC - 2000, endTs: NOW_SEC - 10 }, filters: NO_FILTERS },
        NOW_SEC,
        {
          retentionSec: 86_400,
        },
      ),
    );
    const objects = new CountingObjects(new S3ExportObjects({ s3: aws.s3, bucket: aws.bucket }));
    const run = makeJobHandler({ jobs, reader: store, objects, nowSec: () => NOW_SEC, log: recordingLog() });
    const event = { kind: 'export', cluster: ref.cluster, id: ref.id };
    const outcomes = await Promise.all([run(event), run(event)]);

    assert.deepEqual([...objects.puts.entries()], [[exportKey(ref.cluster, ref.id), 1]], 'one upload');
    const stored = await jobs.get(ref.cluster, ref.id);
    assert.equal(stored?.status, 'succeeded');
    assert.equal(stored?.attempts, 1, 'one claim');
    assert.ok(
      outcomes.some((o) => o.status === 'succeeded'),
      `one run exported: ${JSON.stringify(outcomes)}`,
    );
    // A third delivery later finds the job final and does nothing.
    assert.deepEqual(await run(event), { status: 'succeeded' });
    assert.equal(objects.puts.get(exportKey(ref.cluster, ref.id)), 1);
    const trace = decodeTrace(
      new Uint8Array(await (await fetch(await objects.presign(stored!.key!, 60))).arrayBuffer()),
    );
    assert.equal(trace.events.length > 0, true);
  });

  it('the same Idempotency-Key gives the same job; another body with it is a 422; a bad key a 400', async () => {
    const body = { start_ts: NOW_SEC - 600, end_ts: NOW_SEC - 60, filters: NO_FILTERS };
    const first = await post('idem', body, 'key-1');
    assert.equal(first.status, 202);
    const again = await post(
      'idem',
      { filters: NO_FILTERS, end_ts: body.end_ts, start_ts: body.start_ts },
      'key-1',
    );
    assert.equal(again.status, 202);
    assert.equal(again.body.id, first.body.id, 'the same job');
    assert.equal(again.headers['Idempotent-Replayed'], 'true');
    assert.equal((await jobs.unfinished('idem')).length, 1, 'one job stored');
    assert.equal(launcher.launched.filter((r) => r.cluster === 'idem').length, 1, 'launched once');

    const other = await post('idem', { ...body, end_ts: body.end_ts - 1 }, 'key-1');
    assert.equal(other.status, 422);
    assert.equal(other.body.error?.code, 'idempotency_key_reused');
    assert.equal(other.body.error?.field, 'Idempotency-Key');

    const bad = await post('idem', body, 'a key with spaces');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error?.field, 'Idempotency-Key');

    // Without a key, each POST is a new job.
    const plain = await post('idem', body);
    assert.equal(plain.status, 202);
    assert.notEqual(plain.body.id, first.body.id);
  });

  it('two concurrent POSTs with one key make one job', async () => {
    const body = { start_ts: NOW_SEC - 600, end_ts: NOW_SEC - 60, filters: NO_FILTERS };
    const [a, b] = await Promise.all([post('idem-race', body, 'k'), post('idem-race', body, 'k')]);
    assert.deepEqual([a.status, b.status], [202, 202]);
    assert.equal(a.body.id, b.body.id);
    assert.equal((await jobs.unfinished('idem-race')).length, 1);
  });

  it('caps unfinished exports per cluster (429 + Retry-After), yet replays a key whose job fills the cap', async () => {
    const body = { start_ts: NOW_SEC - 600, end_ts: NOW_SEC - 60, filters: NO_FILTERS };
    assert.equal((await post('capped', body, 'one')).status, 202);
    assert.equal((await post('capped', body, 'two')).status, 202);
    const refused = await post('capped', body, 'three');
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['Retry-After'], '30');
    assert.equal(refused.body.error?.code, 'too_many_exports');
    assert.match(refused.body.error?.message ?? '', /at most 2 at once.*MaxActiveExportsPerCluster/);
    assert.equal((await jobs.unfinished('capped')).length, 2, 'nothing written for the refused POST');
    // The retry of an accepted POST (its response lost) is not refused by its own job.
    assert.equal((await post('capped', body, 'two')).status, 202);
    // Other clusters are not affected.
    assert.equal((await post('uncapped', body)).status, 202);
    // Jobs whose runner never came are failed after the longest run: the cap frees itself.
    clockSec = NOW_SEC + 961;
    try {
      assert.equal((await post('capped', body, 'three')).status, 202);
    } finally {
      clockSec = NOW_SEC;
    }
  });

  it('refuses a window longer than the cap with a 400 naming the limit', async () => {
    const res = await post('window', { start_ts: NOW_SEC - 3700, end_ts: NOW_SEC - 99, filters: NO_FILTERS });
    assert.equal(res.status, 400);
    assert.equal(res.body.error?.code, 'invalid_request');
    assert.equal(res.body.error?.field, 'end_ts');
    assert.match(res.body.error?.message ?? '', /3601 s long.*at most 3600 s.*MaxExportWindowHours/);
    const ok = await post('window', { start_ts: NOW_SEC - 3700, end_ts: NOW_SEC - 100, filters: NO_FILTERS });
    assert.equal(ok.status, 202);
  });
});
