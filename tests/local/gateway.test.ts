import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { createGateway } from '../../lib/local/gateway.ts';

let base = '';
const seen: APIGatewayProxyEventV2[] = [];
const gateway = createGateway({
  routes: [
    {
      routeKey: 'POST /v1/clusters/{cluster}/events',
      handler: async (event) => {
        seen.push(event);
        return { statusCode: 202, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };
      },
    },
    { routeKey: 'GET /plain', handler: async () => ({ hello: 'world' }) as never },
    {
      routeKey: 'GET /boom',
      handler: async () => {
        throw new Error('handler crashed');
      },
    },
    { routeKey: 'GET /slow', handler: () => new Promise(() => {}) },
  ],
  maxPayloadBytes: 1024,
  integrationTimeoutMs: 200,
});

before(async () => {
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
});
after(() => gateway.close());

test('a JSON request becomes a payload v2 event with path parameters and a text body', async () => {
  seen.length = 0;
  const res = await fetch(`${base}/v1/clusters/prod-eu/events?x=1&x=2`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Custom': 'a' },
    body: '{"changes":[]}',
  });
  assert.equal(res.status, 202);
  assert.deepEqual(await res.json(), { ok: true });
  const event = seen[0]!;
  assert.equal(event.version, '2.0');
  assert.equal(event.routeKey, 'POST /v1/clusters/{cluster}/events');
  assert.deepEqual(event.pathParameters, { cluster: 'prod-eu' });
  assert.deepEqual(event.queryStringParameters, { x: '1,2' });
  assert.equal(event.headers['x-custom'], 'a');
  assert.equal(event.isBase64Encoded, false);
  assert.equal(event.body, '{"changes":[]}');
  assert.equal(event.requestContext.http.method, 'POST');
});

test('a gzip body arrives base64-encoded, byte for byte', async () => {
  seen.length = 0;
  const gz = gzipSync('{"changes":[]}');
  await fetch(`${base}/v1/clusters/c1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    body: gz,
  });
  const event = seen[0]!;
  assert.equal(event.isBase64Encoded, true);
  assert.deepEqual(Buffer.from(event.body!, 'base64'), gz);
});

test('API Gateway behaviours: 404, 413, inferred 200, 500 on a crash, 503 on timeout', async () => {
  assert.equal((await fetch(`${base}/nowhere`)).status, 404);
  assert.equal((await fetch(`${base}/v1/clusters/c1/events`)).status, 404, 'wrong method');
  const big = await fetch(`${base}/v1/clusters/c1/events`, { method: 'POST', body: 'x'.repeat(2048) });
  assert.equal(big.status, 413);
  const plain = await fetch(`${base}/plain`);
  assert.equal(plain.status, 200);
  assert.deepEqual(await plain.json(), { hello: 'world' });
  const boom = await fetch(`${base}/boom`);
  assert.equal(boom.status, 500);
  assert.deepEqual(await boom.json(), { message: 'Internal Server Error' });
  assert.equal((await fetch(`${base}/slow`)).status, 503);
});
