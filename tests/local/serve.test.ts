/**
 * The local stack in-process: health, routing, tokens, persistence across restarts (dynalite on
 * LevelDB, s3rver on files) and a clean close that lets running exports finish.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateToken } from '../../lib/auth/token.ts';
import { makeDynamoClient } from '../../lib/aws/clients.ts';
import { DynamoTokenStore } from '../../lib/aws/dynamo-token-store.ts';
import type { ExportJobView } from '../../lib/export/job.ts';
import { type LocalStack, startLocalStack } from '../../lib/local/serve.ts';
import { decodeTrace } from '../../lib/trace/codec.ts';

const TOKEN = `skt_${'t'.repeat(43)}`;
const NOW = Math.floor(Date.now() / 1000);

function deployment(name: string, replicas: number) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'shop' },
    spec: { replicas, template: { spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
  };
}

async function post(stack: LocalStack, path: string, body: unknown, token = stack.token): Promise<Response> {
  return fetch(`${stack.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function getJob(
  stack: LocalStack,
  cluster: string,
  id: string,
  token = stack.token,
): Promise<ExportJobView> {
  const res = await fetch(`${stack.url}/v1/clusters/${cluster}/exports/${id}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(res.status, 200);
  return (await res.json()) as ExportJobView;
}

const BATCH = {
  changes: [
    { type: 'config', ts: NOW - 600, config: { trackedObjects: { 'apps/v1.Deployment': {} } } },
    { type: 'applied', ts: NOW - 600, object: deployment('web', 1) },
    { type: 'applied', ts: NOW - 300, object: deployment('web', 2) },
  ],
};

describe('sktrace serve (in-process)', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sktrace-serve-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('answers /healthz and routes only the API', async () => {
    const stack = await startLocalStack({ port: 0, logLevel: 'SILENT', token: TOKEN });
    try {
      assert.match(stack.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await fetch(`${stack.url}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      assert.equal((await fetch(`${stack.url}/healthz`, { method: 'HEAD' })).status, 200);
      assert.equal((await fetch(`${stack.url}/healthz`, { method: 'POST' })).status, 405);
      const missing = await fetch(`${stack.url}/v1/nothing`);
      assert.equal(missing.status, 404);
      assert.deepEqual(await missing.json(), { message: 'Not Found' });
      // The stores listen on the same interface, for the signed URLs.
      assert.match(stack.endpoints.s3, /^http:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      await stack.close();
    }
  });

  it('checkpoints every cluster that has sent a batch on its own timer, and not when turned off', async () => {
    const ticking = await startLocalStack({
      port: 0,
      logLevel: 'SILENT',
      token: TOKEN,
      checkpointEverySec: 1,
    });
    const off = await startLocalStack({ port: 0, logLevel: 'SILENT', token: TOKEN, checkpointEverySec: 0 });
    try {
      for (const stack of [ticking, off]) {
        assert.equal((await post(stack, '/v1/clusters/a/events', BATCH)).status, 200);
        assert.equal((await post(stack, '/v1/clusters/b/events', BATCH)).status, 200);
      }
      const far = NOW + 10 * 86_400;
      const deadline = Date.now() + 15_000;
      const checkpointed = async (stack: LocalStack) =>
        Promise.all(['a', 'b'].map((c) => stack.store.latestCheckpointAtOrBefore(c, far)));
      let found = await checkpointed(ticking);
      while (found.some((c) => c === undefined) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        found = await checkpointed(ticking);
      }
      assert.deepEqual(
        found.map((c) => c?.objects),
        [1, 1],
      );
      assert.deepEqual(await checkpointed(off), [undefined, undefined]);
    } finally {
      await Promise.all([ticking.close(), off.close()]);
    }
  });

  it('refuses a malformed --token', async () => {
    await assert.rejects(startLocalStack({ port: 0, token: 'hunter2' }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'usage');
      assert.match(err.message, /skt_/);
      return true;
    });
  });

  it('takes the local token for every cluster, and per-cluster tokens made with `token create` against its DynamoDB', async () => {
    const stack = await startLocalStack({ port: 0, logLevel: 'SILENT', token: TOKEN });
    try {
      assert.equal((await post(stack, '/v1/clusters/a/events', BATCH)).status, 200);
      assert.equal((await post(stack, '/v1/clusters/b/events', BATCH)).status, 200);
      assert.equal((await post(stack, '/v1/clusters/a/events', BATCH, `skt_${'x'.repeat(43)}`)).status, 401);

      // What `sktrace token create --endpoint-url <dynamodb> --table sktrace --cluster a` does.
      const created = generateToken();
      const dynamo = makeDynamoClient({ endpoint: stack.endpoints.dynamo });
      await new DynamoTokenStore({ client: dynamo, tableName: stack.tableName }).put({
        cluster: 'a',
        tokenId: created.tokenId,
        tokenHash: created.tokenHash,
        createdAtSec: NOW,
      });
      dynamo.destroy();
      assert.equal((await post(stack, '/v1/clusters/a/events', BATCH, created.token)).status, 200);
      assert.equal((await post(stack, '/v1/clusters/b/events', BATCH, created.token)).status, 403);
    } finally {
      await stack.close();
    }
  });

  it('keeps traces, exports and its generated token across a restart, and finishes running exports on close', async () => {
    const dataDir = join(dir, 'data');
    const first = await startLocalStack({ port: 0, logLevel: 'SILENT', dataDir });
    assert.equal(first.tokenSource, 'generated');
    const tokenFile = join(dataDir, 'token');
    assert.equal((await readFile(tokenFile, 'utf8')).trim(), first.token);
    assert.equal((await stat(tokenFile)).mode & 0o777, 0o600);
    let id: string;
    let pendingId: string;
    try {
      assert.equal((await post(first, '/v1/clusters/demo/events', BATCH)).status, 200);
      const created = (await (
        await post(first, '/v1/clusters/demo/exports', { start_ts: NOW - 400, end_ts: NOW })
      ).json()) as ExportJobView;
      id = created.id;
      await first.drainJobs();
      assert.equal((await getJob(first, 'demo', id)).status, 'succeeded');
      // Requested right before closing: close waits for it.
      const res = await post(first, '/v1/clusters/demo/exports', { start_ts: NOW - 700, end_ts: NOW });
      assert.equal(res.status, 202);
      pendingId = ((await res.json()) as ExportJobView).id;
    } finally {
      await first.close();
    }

    const second = await startLocalStack({ port: 0, logLevel: 'SILENT', dataDir });
    try {
      assert.equal(second.tokenSource, 'data-dir');
      assert.equal(second.token, first.token);
      const old = await getJob(second, 'demo', id);
      assert.equal(old.status, 'succeeded');
      const download = await fetch(old.url!);
      assert.equal(download.status, 200, 'the export file survived in s3rver’s directory');
      const trace = decodeTrace(new Uint8Array(await download.arrayBuffer()));
      assert.deepEqual(
        trace.events.map((e) => e.applied_objs.map((o) => (o.spec as { replicas: number }).replicas)),
        [[1], [2]],
      );
      assert.equal((await getJob(second, 'demo', pendingId)).status, 'succeeded');
      // The history survived in dynalite's LevelDB: a new export sees it.
      const again = (await (
        await post(second, '/v1/clusters/demo/exports', { start_ts: NOW - 400, end_ts: NOW })
      ).json()) as ExportJobView;
      await second.drainJobs();
      const fresh = await getJob(second, 'demo', again.id);
      assert.equal(fresh.status, 'succeeded');
      assert.deepEqual(fresh.counts, old.counts);
    } finally {
      await second.close();
    }
  });
});
