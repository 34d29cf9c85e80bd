/**
 * `sktrace serve` against issue #12's poison changes: keys DynamoDB refuses (sort keys over 1,024
 * bytes). Each is answered with a 4xx naming the change, and the table is item-by-item what it
 * was before (nothing of the batch is written, the valid change before it included).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeDynamoClient } from '../../lib/aws/clients.ts';
import { type LocalStack, startLocalStack } from '../../lib/local/serve.ts';
import { scanTable } from '../store/support.ts';

const TOKEN = `skt_${'t'.repeat(43)}`;
const NOW = Math.floor(Date.now() / 1000);

function deployment(overrides: { apiVersion?: string; kind?: string; name?: string } = {}) {
  return {
    apiVersion: overrides.apiVersion ?? 'apps/v1',
    kind: overrides.kind ?? 'Deployment',
    metadata: { name: overrides.name ?? 'web', namespace: 'shop' },
    spec: { replicas: 1 },
  };
}

const POISON: { name: string; change: Record<string, unknown>; field: string }[] = [
  {
    name: 'an apiVersion of 1,500 characters',
    change: {
      type: 'applied',
      ts: NOW - 10,
      object: deployment({ apiVersion: `apps/v${'1'.repeat(1495)}` }),
    },
    field: 'changes[1].object.apiVersion',
  },
  {
    name: 'a kind of 1,100 characters',
    change: { type: 'applied', ts: NOW - 10, object: deployment({ kind: `D${'e'.repeat(1099)}` }) },
    field: 'changes[1].object.kind',
  },
  {
    name: 'a lifecycle pod of 509 two-byte characters',
    change: {
      type: 'lifecycle',
      ts: NOW - 10,
      owner: { gvk: 'apps/v1.Deployment', ns_name: 'shop/web' },
      pod: 'é'.repeat(509),
      pod_spec_hash: '1',
      start_ts: NOW - 10,
    },
    field: 'changes[1].pod',
  },
];

describe('sktrace serve refuses poison changes', () => {
  let stack: LocalStack;
  before(async () => {
    stack = await startLocalStack({ port: 0, logLevel: 'SILENT', token: TOKEN, checkpointEverySec: 0 });
    // Something in the table already, so "unchanged" is about real items.
    const seed = await post({ changes: [{ type: 'applied', ts: NOW - 60, object: deployment() }] });
    assert.equal(seed.status, 200);
  });
  after(() => stack.close());

  async function post(body: unknown): Promise<Response> {
    return fetch(`${stack.url}/v1/clusters/poison/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  for (const poison of POISON) {
    it(`${poison.name}: 4xx naming the change, nothing written`, async () => {
      const dynamo = makeDynamoClient({ endpoint: stack.endpoints.dynamo });
      try {
        const before = await scanTable(dynamo, stack.tableName);
        const valid = { type: 'applied', ts: NOW - 20, object: deployment({ name: 'api' }) };
        const res = await post({ changes: [valid, poison.change] });
        assert.equal(res.status, 400);
        const body = (await res.json()) as {
          error: { code: string; field: string; index: number; message: string };
        };
        assert.equal(body.error.code, 'invalid_value');
        assert.equal(body.error.field, poison.field);
        assert.equal(body.error.index, 1);
        assert.ok(body.error.message.length < 400, 'the message does not echo the whole value');
        assert.deepEqual(
          await scanTable(dynamo, stack.tableName),
          before,
          'the table is unchanged, item by item',
        );
      } finally {
        dynamo.destroy();
      }
    });
  }
});

describe('sktrace serve keeps dynalite and s3rver on loopback whatever --host says', () => {
  // 127.0.0.2 is loopback too (127.0.0.0/8), so the test stays on this machine, yet it is another
  // address than the emulators' 127.0.0.1: what binds to the gateway's address is observable.
  const HOST = '127.0.0.2';
  let stack: LocalStack;
  before(async () => {
    stack = await startLocalStack({
      port: 0,
      host: HOST,
      logLevel: 'SILENT',
      token: TOKEN,
      checkpointEverySec: 0,
    });
  });
  after(() => stack.close());

  it('binds the emulators to 127.0.0.1 only, and the gateway to the host asked for', async () => {
    assert.equal(stack.url, `http://${HOST}:${stack.port}`);
    for (const endpoint of [stack.endpoints.dynamo, stack.endpoints.s3]) {
      const url = new URL(endpoint);
      assert.equal(url.hostname, '127.0.0.1');
      // Nothing answers on the gateway's address at the emulator's port.
      await assert.rejects(fetch(`http://${HOST}:${url.port}/`), /fetch failed/);
    }
    assert.equal((await fetch(`${stack.url}/healthz`)).status, 200);
  });

  it('serves export downloads through the gateway with signed URLs, and nothing else of S3', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${stack.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const changes = [
      { type: 'config', ts: NOW - 600, config: { trackedObjects: { 'apps/v1.Deployment': {} } } },
      { type: 'applied', ts: NOW - 600, object: deployment() },
    ];
    assert.equal((await post('/v1/clusters/remote/events', { changes })).status, 200);
    const created = (await (
      await post('/v1/clusters/remote/exports', { start_ts: NOW - 900, end_ts: NOW - 60 })
    ).json()) as {
      id: string;
    };
    await stack.drainJobs();
    const job = (await (
      await fetch(`${stack.url}/v1/clusters/remote/exports/${created.id}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      })
    ).json()) as { status: string; url: string };
    assert.equal(job.status, 'succeeded');
    assert.ok(job.url.startsWith(`${stack.url}/${stack.bucket}/exports/remote/`), job.url);
    const download = await fetch(job.url);
    assert.equal(download.status, 200);
    assert.ok((await download.arrayBuffer()).byteLength > 0);
    // A tampered signature, another prefix, or a write: refused.
    const tampered = job.url.replace(
      /X-Amz-Signature=([0-9a-f])/,
      (_m, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`,
    );
    assert.equal((await fetch(tampered)).status, 403);
    assert.equal((await fetch(job.url.split('?')[0]!)).status, 403, 'unsigned');
    assert.equal((await fetch(`${stack.url}/${stack.bucket}/bodies/x`)).status, 404);
    assert.equal((await fetch(job.url, { method: 'PUT', body: 'x' })).status, 404);
  });
});
