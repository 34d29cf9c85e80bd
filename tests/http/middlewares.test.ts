/**
 * The lib/http middlewares one at a time, each through a minimal middy handler, at their
 * boundaries. The ingest handler tests cover them composed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { SktraceError } from '../../lib/errors.ts';
import { decodeBody } from '../../lib/http/body.ts';
import { problemOf, STATUS_BY_CODE } from '../../lib/http/errors.ts';
import { type HttpEvent, type HttpMiddleware, type HttpResult, jsonResponse } from '../../lib/http/event.ts';
import { parseJsonBody } from '../../lib/http/json.ts';
import { httpStack } from '../../lib/http/stack.ts';
import { BATCH_ERROR_CODES, BatchValidationError } from '../../lib/ingest/errors.ts';
import { asResponse, CapturingLogger, errorOf, ingestEvent, lambdaContext } from '../ingest/support.ts';

/** A handler running the common stack plus `middlewares`, answering with what they derived. */
function withMiddlewares(...middlewares: HttpMiddleware[]) {
  const logger = new CapturingLogger();
  const handler = middy<HttpEvent, HttpResult, Error, Context>()
    .use(httpStack({ logger }))
    .use(middlewares)
    .handler(async (event) =>
      jsonResponse(200, { bytes: event.bodyBytes?.length ?? null, json: event.jsonBody ?? null }),
    );
  return async (event: HttpEvent) => asResponse(await handler(event, lambdaContext()));
}

describe('decodeBody', () => {
  const limits = { maxBodyBytes: 1000, maxDecodedBytes: 5000 };
  const cases: { name: string; event: () => HttpEvent; status: number; bytes?: number; code?: string }[] = [
    { name: 'no body', event: () => ingestEvent({}), status: 200, bytes: 0 },
    {
      name: 'exactly maxBodyBytes',
      event: () => ingestEvent({ body: 'x'.repeat(1000) }),
      status: 200,
      bytes: 1000,
    },
    {
      name: 'one byte over maxBodyBytes',
      event: () => ingestEvent({ body: 'x'.repeat(1001) }),
      status: 413,
      code: 'payload_too_large',
    },
    {
      name: 'maxBodyBytes counts decoded base64, not the base64 text',
      event: () => ingestEvent({ body: Buffer.alloc(1000, 1) }),
      status: 200,
      bytes: 1000,
    },
    {
      name: 'multi-byte UTF-8 counted in bytes',
      event: () => ingestEvent({ body: 'é'.repeat(501) }),
      status: 413,
      code: 'payload_too_large',
    },
    {
      name: 'gzip inflating to exactly maxDecodedBytes',
      event: () =>
        ingestEvent({ body: gzipSync(Buffer.alloc(5000, 0x61)), headers: { 'content-encoding': 'gzip' } }),
      status: 200,
      bytes: 5000,
    },
    {
      name: 'gzip inflating one byte past maxDecodedBytes',
      event: () =>
        ingestEvent({ body: gzipSync(Buffer.alloc(5001, 0x61)), headers: { 'content-encoding': 'gzip' } }),
      status: 413,
      code: 'payload_too_large',
    },
    {
      name: 'two concatenated gzip members (RFC 1952 allows it)',
      event: () =>
        ingestEvent({
          body: Buffer.concat([gzipSync('ab'), gzipSync('cd')]),
          headers: { 'content-encoding': 'gzip' },
        }),
      status: 200,
      bytes: 4,
    },
    {
      name: 'Content-Encoding: identity',
      event: () => ingestEvent({ body: 'abc', headers: { 'content-encoding': 'identity' } }),
      status: 200,
      bytes: 3,
    },
    {
      name: 'Content-Encoding: GZIP in capitals',
      event: () => ingestEvent({ body: gzipSync('abc'), headers: { 'content-encoding': 'GZIP' } }),
      status: 200,
      bytes: 3,
    },
    {
      name: 'gzip applied twice',
      event: () =>
        ingestEvent({ body: gzipSync(gzipSync('abc')), headers: { 'content-encoding': 'gzip, gzip' } }),
      status: 415,
      code: 'unsupported_encoding',
    },
    {
      name: 'truncated gzip',
      event: () =>
        ingestEvent({
          body: gzipSync(Buffer.alloc(100, 1)).subarray(0, 15),
          headers: { 'content-encoding': 'gzip' },
        }),
      status: 400,
      code: 'invalid_encoding',
    },
  ];
  for (const c of cases) {
    test(`${c.name} → ${c.status}`, async () => {
      const res = await withMiddlewares(decodeBody(limits))(c.event());
      assert.equal(res.statusCode, c.status, res.body);
      if (c.status === 200) assert.equal(JSON.parse(res.body).bytes, c.bytes);
      else assert.equal(errorOf(res).code, c.code);
    });
  }
});

describe('parseJsonBody', () => {
  const run = withMiddlewares(decodeBody({ maxBodyBytes: 1e6, maxDecodedBytes: 1e6 }), parseJsonBody());
  const cases: { name: string; body: string | Buffer; type?: string; status: number; json?: unknown }[] = [
    { name: 'an object', body: '{"a":1}', status: 200, json: { a: 1 } },
    { name: 'a UTF-8 byte order mark', body: Buffer.from('\ufeff{"a":1}'), status: 200, json: { a: 1 } },
    { name: 'whitespace only', body: '  \n', status: 400 },
    { name: 'truncated JSON', body: '{"a":', status: 400 },
    { name: 'JSON with a trailing comma', body: '{"a":1,}', status: 400 },
    { name: 'text/json is not application/json', body: '{}', type: 'text/json', status: 415 },
    {
      name: 'form encoding (curl -d default)',
      body: '{}',
      type: 'application/x-www-form-urlencoded',
      status: 415,
    },
    { name: 'application/jsonx', body: '{}', type: 'application/jsonx', status: 415 },
  ];
  for (const c of cases) {
    test(`${c.name} → ${c.status}`, async () => {
      const event = ingestEvent({ body: c.body, headers: c.type ? { 'content-type': c.type } : {} });
      const res = await run(event);
      assert.equal(res.statusCode, c.status, res.body);
      if (c.status === 200) {
        assert.deepEqual(JSON.parse(res.body).json, c.json);
        // event.body stays what API Gateway sent: the text, or base64 of binary bodies.
        const sent = Buffer.isBuffer(c.body) ? c.body.toString('base64') : c.body;
        assert.equal(event.body, sent, 'event.body is never rewritten');
      } else if (c.status === 400) {
        assert.equal(errorOf(res).code, 'invalid_json');
        assert.match(errorOf(res).message, /JSON|empty/);
      }
    });
  }
});

describe('problemOf maps every code', () => {
  test('validation codes: limits → 413, the rest → 400, with field and index exposed', () => {
    for (const code of BATCH_ERROR_CODES) {
      const p = problemOf(new BatchValidationError(code, `changes[2].x is bad`, 'changes[2].x', 2));
      const expected = code.startsWith('too_many') || code.endsWith('_too_large') ? 413 : 400;
      assert.equal(p.status, expected, code);
      assert.deepEqual(p.body, {
        error: { code, message: 'changes[2].x is bad', field: 'changes[2].x', index: 2 },
      });
    }
  });

  const table: [string, number][] = [
    ['unauthorized', 401],
    ['forbidden', 403],
    ['method_not_allowed', 405],
    ['payload_too_large', 413],
    ['unsupported_media_type', 415],
    ['store_throttled', 429],
    ['store_unavailable', 503],
    ['invalid_cluster', 400],
    ['no_such_code', 500],
  ];
  for (const [code, status] of table) {
    test(`${code} → ${status}`, () => {
      const p = problemOf(new SktraceError(code, 'detail'));
      assert.equal(p.status, status);
      if (status >= 500 || status === 429) assert.ok(!p.body.error.message.includes('detail'));
      else assert.equal(p.body.error.message, 'detail');
      if (code in STATUS_BY_CODE) assert.equal(p.body.error.code, code);
      else assert.equal(p.body.error.code, 'internal');
    });
  }

  test("middy's own HttpErrors keep their 4xx status", () => {
    const err = Object.assign(new Error('Unsupported Media Type'), { statusCode: 415, expose: true });
    assert.deepEqual(problemOf(err), {
      status: 415,
      headers: {},
      body: { error: { code: 'unsupported_media_type', message: 'Unsupported Media Type' } },
    });
  });

  test('a function can add its own codes', () => {
    const p = problemOf(new SktraceError('export_not_found', 'no export e-1'), {
      statusByCode: { export_not_found: 404 },
    });
    assert.equal(p.status, 404);
    assert.equal(p.body.error.message, 'no export e-1');
  });
});
