import assert from 'node:assert/strict';
import { type AddressInfo, connect } from 'node:net';
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

// Found by tests/fuzz/gateway.test.ts: each of these took `sktrace serve` down (an unhandled
// rejection exits Node) or answered without the JSON body every other gateway error has.

/** Writes raw bytes; resolves with what the server sent before closing (`end`: give up after writing). */
function raw(bytes: string, end = false): Promise<string> {
  const port = Number(new URL(base).port);
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply: ${JSON.stringify(out)}`));
    }, 3000);
    socket.on('data', (d: Buffer) => {
      out += d.toString('latin1');
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    if (end) socket.end(bytes, 'latin1');
    else socket.write(bytes, 'latin1');
  });
}

test('repeated headers are joined with commas, as API Gateway does, even those Node keeps one of', async () => {
  seen.length = 0;
  const body = '{"changes":[]}';
  const reply = await raw(
    `POST /v1/clusters/prod/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n` +
      `Content-Type: application/json\r\nX-Custom: 1\r\nX-Custom: 2\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
  );
  assert.match(reply, /^HTTP\/1\.1 202/);
  const event = seen[0]!;
  assert.equal(event.headers.authorization, 'Bearer a,Bearer b');
  assert.equal(event.headers['x-custom'], '1,2');
});

async function withUnhandled(run: () => Promise<void>): Promise<unknown[]> {
  const errors: unknown[] = [];
  const record = (err: unknown) => errors.push(err);
  process.on('unhandledRejection', record);
  try {
    await run();
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    process.off('unhandledRejection', record);
  }
  return errors;
}

test('a path parameter with malformed percent-encoding is a JSON 400, not a crash', async () => {
  const errors = await withUnhandled(async () => {
    for (const segment of ['%zz', '%E0%A4%A', '%']) {
      const reply = await raw(
        `POST /v1/clusters/${segment}/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
      assert.match(reply, /^HTTP\/1\.1 400 /, segment);
      assert.match(reply, /\r\n\r\n\{"message":"Bad Request"\}$/, segment);
    }
  });
  assert.deepEqual(errors.map(String), []);
  assert.equal((await fetch(`${base}/nowhere`)).status, 404, 'the server still answers');
});

test('a request the HTTP parser refuses gets a JSON body (400, 431)', async () => {
  const bad = await raw('POST /v1/clusters/c1/events HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n');
  assert.match(
    bad,
    /^HTTP\/1\.1 400 [\s\S]*content-type: application\/json[\s\S]*\r\n\r\n\{"message":"Bad Request"\}$/,
  );
  const big = await raw(`GET /plain HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  assert.match(big, /^HTTP\/1\.1 431 [\s\S]*\{"message":"Request Header Fields Too Large"\}$/);
});

test('a client giving up mid-body leaves no unhandled rejection', async () => {
  const errors = await withUnhandled(async () => {
    await raw(
      'POST /v1/clusters/c1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"chan',
      true,
    );
  });
  assert.deepEqual(errors.map(String), []);
});

test('a JSON body that is not UTF-8 arrives base64-encoded, bytes intact (not U+FFFD)', async () => {
  seen.length = 0;
  const bytes = Buffer.from([0x7b, 0x22, 0x61, 0xff, 0x22, 0x7d]);
  await fetch(`${base}/v1/clusters/c1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: bytes,
  });
  const event = seen[0]!;
  assert.equal(event.isBase64Encoded, true);
  assert.deepEqual(Buffer.from(event.body!, 'base64'), bytes);
});
