/**
 * The ingest handler through API Gateway payload v2 events. The TraceWriter here is the
 * in-memory RecordingWriter (a stand-in for wiring: what reaches the writer and how its errors
 * map); handler-dynamo.test.ts runs the same route through the real DynamoDB store.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { type IngestDeps, makeHandler } from '../../functions/ingest/handler.ts';
import { hashToken } from '../../lib/auth/token.ts';
import { SktraceError } from '../../lib/errors.ts';
import {
  asResponse,
  CapturingLogger,
  DEMO_TOKEN,
  demoTokens,
  errorOf,
  ingestEvent,
  lambdaContext,
  NOW_MS,
  NOW_SEC,
  RecordingWriter,
  SAMPLE_EXPECTATIONS,
  validBatch,
} from './support.ts';

function setup(overrides: Partial<IngestDeps> = {}) {
  const writer = new RecordingWriter();
  const logger = new CapturingLogger();
  const deps: IngestDeps = { writer, tokens: demoTokens(), logger, clock: () => NOW_MS, ...overrides };
  const handler = makeHandler(deps);
  const invoke = async (event: APIGatewayProxyEventV2, context: Context = lambdaContext()) =>
    asResponse(await handler(event, context));
  return { writer, logger, invoke };
}

const EVENTS_DIR = new URL('../../events/', import.meta.url);

function sampleEvent(name: string): APIGatewayProxyEventV2 {
  return JSON.parse(readFileSync(new URL(name, EVENTS_DIR), 'utf8')) as APIGatewayProxyEventV2;
}

describe('sample events in events/', () => {
  const files = readdirSync(EVENTS_DIR).filter((f) => /^ingest-.*\.json$/.test(f));

  test('every sample event has a documented expectation', () => {
    assert.deepEqual(files.sort(), Object.keys(SAMPLE_EXPECTATIONS).sort());
  });

  for (const [file, expected] of Object.entries(SAMPLE_EXPECTATIONS)) {
    test(`${file} → ${expected.status}${expected.code ? ` ${expected.code}` : ''}`, async () => {
      const { invoke, writer } = setup();
      const res = await invoke(sampleEvent(file));
      assert.equal(res.statusCode, expected.status, res.body);
      assert.equal(res.headers?.['Content-Type'], 'application/json');
      if (expected.status === 200) {
        assert.deepEqual(JSON.parse(res.body), { accepted: 6, deduplicated: 0, reconciled_deletions: 0 });
        assert.equal(writer.calls.length, 1);
        assert.deepEqual(writer.calls[0]!.batch, validBatch());
      } else {
        const error = errorOf(res);
        assert.equal(error.code, expected.code);
        assert.equal(error.field, expected.field);
        assert.equal(error.index, expected.index);
        assert.equal(writer.calls.length, 0, 'a rejected request writes nothing');
      }
    });
  }
});

describe('a valid batch', () => {
  test('reaches the writer once, with the cluster and the ingest time; event.body stays a string', async () => {
    const { invoke, writer } = setup();
    const event = ingestEvent({ body: JSON.stringify(validBatch()) });
    const res = await invoke(event);
    assert.equal(res.statusCode, 200);
    assert.equal(writer.calls.length, 1);
    assert.equal(writer.calls[0]!.cluster, 'demo');
    assert.deepEqual(writer.calls[0]!.options, { nowSec: NOW_SEC });
    assert.equal(typeof event.body, 'string', 'middlewares put parsed values in new fields');
  });

  test('answers with what the writer reports', async () => {
    const { invoke, writer } = setup();
    writer.respond = async () => ({
      accepted: 6,
      deduplicated: 4,
      reconciled_deletions: 7,
      writeUnits: 9,
      readUnits: 3,
    });
    const res = await invoke(ingestEvent({ body: JSON.stringify(validBatch()) }));
    assert.deepEqual(JSON.parse(res.body), { accepted: 6, deduplicated: 4, reconciled_deletions: 7 });
  });

  test('logs one cost line per batch with capacity units and the Lambda context', async () => {
    let nowMs = NOW_MS;
    const { invoke, writer, logger } = setup({ clock: () => (nowMs += 7) });
    writer.respond = async () => ({
      accepted: 6,
      deduplicated: 1,
      reconciled_deletions: 2,
      writeUnits: 12.5,
      readUnits: 3,
    });
    await invoke(ingestEvent({ body: JSON.stringify(validBatch()) }));
    const lines = logger.find('batch applied');
    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.equal(line.level, 'INFO');
    assert.equal(line.cluster, 'demo');
    assert.equal(line.changes, 6);
    assert.equal(line.accepted, 6);
    assert.equal(line.deduplicated, 1);
    assert.equal(line.reconciled_deletions, 2);
    assert.equal(line.writeUnits, 12.5);
    assert.equal(line.readUnits, 3);
    assert.equal(line.durationMs, 7);
    assert.equal(line.tokenId, 'tok_demo');
    assert.equal(line.function_request_id, 'test-request');
    assert.equal(line.apiRequestId, 'req-1');
    assert.ok(!JSON.stringify(logger.lines).includes(DEMO_TOKEN), 'the token never reaches the logs');
  });

  test('an empty batch is accepted without touching the store', async () => {
    const { invoke, writer } = setup();
    const res = await invoke(ingestEvent({ body: '{"changes":[]}' }));
    assert.equal(res.statusCode, 200);
    assert.deepEqual(JSON.parse(res.body), { accepted: 0, deduplicated: 0, reconciled_deletions: 0 });
    assert.equal(writer.calls.length, 0);
  });

  const mediaTypes = [
    'application/json',
    'application/json; charset=utf-8',
    'Application/JSON',
    'application/vnd.sktrace+json',
  ];
  for (const type of mediaTypes) {
    test(`Content-Type ${type} is JSON`, async () => {
      const { invoke } = setup();
      const res = await invoke(ingestEvent({ body: '{"changes":[]}', headers: { 'content-type': type } }));
      assert.equal(res.statusCode, 200, res.body);
    });
  }

  test('header names in any case (local gateways), base64 text bodies, x-gzip', async () => {
    const { invoke, writer } = setup();
    const body = gzipSync(JSON.stringify(validBatch()));
    const event = ingestEvent({ body, token: null, headers: { 'Content-Encoding': 'x-gzip' } });
    event.headers = {
      'Content-Type': 'application/json',
      Authorization: `Bearer ${DEMO_TOKEN}`,
      ...event.headers,
    };
    const res = await invoke(event);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(writer.calls[0]!.batch, validBatch());
  });
});

describe('rejections', () => {
  const limits = { maxBodyBytes: 1024 * 1024, maxDecodedBytes: 2 * 1024 * 1024 };
  const cases: {
    name: string;
    event: () => APIGatewayProxyEventV2;
    status: number;
    code: string;
    headers?: Record<string, string>;
  }[] = [
    {
      name: 'a body over maxBodyBytes',
      event: () => ingestEvent({ body: JSON.stringify({ changes: [], pad: 'x'.repeat(1024 * 1024) }) }),
      status: 413,
      code: 'payload_too_large',
    },
    {
      name: 'a gzip bomb (small body inflating past maxDecodedBytes)',
      event: () =>
        ingestEvent({
          body: gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x20)),
          headers: { 'content-encoding': 'gzip' },
        }),
      status: 413,
      code: 'payload_too_large',
    },
    {
      name: 'a corrupt gzip body',
      event: () =>
        ingestEvent({ body: Buffer.from('not gzip at all'), headers: { 'content-encoding': 'gzip' } }),
      status: 400,
      code: 'invalid_encoding',
    },
    {
      name: 'an unsupported content coding',
      event: () => ingestEvent({ body: Buffer.from('{}'), headers: { 'content-encoding': 'br' } }),
      status: 415,
      code: 'unsupported_encoding',
    },
    {
      name: 'no Content-Type',
      event: () => {
        const e = ingestEvent({ body: '{"changes":[]}' });
        delete e.headers['content-type'];
        return e;
      },
      status: 415,
      code: 'unsupported_media_type',
    },
    { name: 'an empty body', event: () => ingestEvent({}), status: 400, code: 'invalid_json' },
    {
      name: 'a body that is not UTF-8',
      event: () => ingestEvent({ body: Buffer.from([0x7b, 0xff, 0x7d]) }),
      status: 400,
      code: 'invalid_json',
    },
    {
      name: 'a validation failure',
      event: () => ingestEvent({ body: JSON.stringify({ changes: [{ type: 'applied' }] }) }),
      status: 400,
      code: 'missing_field',
    },
    {
      // JSON.parse takes any depth; what comes after it recurses (stack overflow → was a 500).
      name: 'an object nested 100,000 levels deep',
      event: () => {
        const deep = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
        const change = `{"type":"applied","ts":${NOW_SEC},"object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":${deep}}}`;
        return ingestEvent({ body: `{"changes":[${change}]}` });
      },
      status: 400,
      code: 'nesting_too_deep',
    },
    {
      name: 'a cluster id with a key separator',
      event: () => ingestEvent({ cluster: 'demo#x', body: '{"changes":[]}' }),
      status: 400,
      code: 'invalid_cluster',
    },
    {
      name: 'GET on the route',
      event: () => ingestEvent({ method: 'GET' }),
      status: 405,
      code: 'method_not_allowed',
      headers: { Allow: 'POST' },
    },
    {
      name: 'no token, even with a broken body (auth runs first)',
      event: () => ingestEvent({ token: null, body: '{' }),
      status: 401,
      code: 'unauthorized',
      headers: { 'WWW-Authenticate': 'Bearer realm="sktrace"' },
    },
    {
      name: 'an unknown token',
      event: () => ingestEvent({ token: `skt_${'z'.repeat(43)}`, body: '{"changes":[]}' }),
      status: 401,
      code: 'unauthorized',
      headers: { 'WWW-Authenticate': 'Bearer realm="sktrace", error="invalid_token"' },
    },
    {
      name: "the demo token on another cluster's path",
      event: () => ingestEvent({ cluster: 'other', body: '{"changes":[]}' }),
      status: 403,
      code: 'forbidden',
      headers: { 'WWW-Authenticate': 'Bearer realm="sktrace", error="insufficient_scope"' },
    },
  ];
  for (const c of cases) {
    test(`${c.name} → ${c.status} ${c.code}`, async () => {
      const { invoke, writer, logger } = setup({ limits });
      const res = await invoke(c.event());
      assert.equal(res.statusCode, c.status, res.body);
      const error = errorOf(res);
      assert.equal(error.code, c.code);
      assert.ok(error.message.length > 0);
      for (const [name, value] of Object.entries(c.headers ?? {})) assert.equal(res.headers?.[name], value);
      assert.equal(writer.calls.length, 0);
      const warning = logger.find('request rejected');
      assert.equal(warning.length, 1);
      assert.equal(warning[0]!.code, c.code);
      assert.equal(warning[0]!.level, 'WARN');
    });
  }

  test('a validation failure names field and index in body and log', async () => {
    const { invoke, logger } = setup();
    const batch = validBatch();
    (batch.changes[3]!.object as { metadata: Record<string, unknown> }).metadata.name = 'a b';
    const res = await invoke(ingestEvent({ body: JSON.stringify(batch) }));
    assert.equal(res.statusCode, 400);
    const error = errorOf(res);
    assert.deepEqual(
      { code: error.code, field: error.field, index: error.index },
      { code: 'invalid_value', field: 'changes[3].object.metadata.name', index: 3 },
    );
    assert.match(error.message, /^changes\[3\]\.object\.metadata\.name /);
    const log = logger.find('request rejected')[0]!;
    assert.equal(log.field, 'changes[3].object.metadata.name');
    assert.equal(log.index, 3);
  });
});

describe('store failures', () => {
  const cases: { name: string; error: unknown; status: number; code: string; retryAfter?: string }[] = [
    {
      name: 'throttling after the adapter retried',
      error: new SktraceError('store_throttled', 'ProvisionedThroughputExceededException after 5 attempts'),
      status: 429,
      code: 'store_throttled',
      retryAfter: '1',
    },
    {
      name: 'throttling with the adapter suggesting a wait',
      error: new SktraceError('store_throttled', 'throttled after 3 attempts', { retryAfterSec: 2.5 }),
      status: 429,
      code: 'store_throttled',
      retryAfter: '3',
    },
    {
      name: 'the store unavailable',
      error: new SktraceError('store_unavailable', 'InternalServerError after 5 attempts'),
      status: 503,
      code: 'store_unavailable',
      retryAfter: '5',
    },
    {
      name: 'an SktraceError without an HTTP mapping',
      error: new SktraceError('invalid_gvk', 'secret detail: table sktrace-prod'),
      status: 500,
      code: 'internal',
    },
    {
      name: 'a plain bug',
      error: new TypeError('secret detail: x is undefined'),
      status: 500,
      code: 'internal',
    },
    { name: 'a thrown string', error: 'secret detail', status: 500, code: 'internal' },
  ];
  for (const c of cases) {
    test(`${c.name} → ${c.status}`, async () => {
      const { invoke, writer, logger } = setup();
      writer.respond = async () => {
        throw c.error;
      };
      const res = await invoke(ingestEvent({ body: JSON.stringify(validBatch()) }));
      assert.equal(res.statusCode, c.status);
      assert.equal(errorOf(res).code, c.code);
      assert.equal(res.headers?.['Retry-After'], c.retryAfter);
      assert.ok(!res.body.includes('secret detail'), '5xx bodies hide details');
      assert.ok(!res.body.includes('attempts'), '5xx bodies hide details');
      const logged = logger.find('request failed');
      assert.equal(logged.length, 1);
      assert.equal(logged[0]!.level, 'ERROR');
      assert.equal(logged[0]!.status, c.status);
      assert.match(
        JSON.stringify(logged[0]),
        c.status === 500 ? /secret detail/ : /attempts/,
        'details go to the log',
      );
    });
  }

  test('token store failures map the same way', async () => {
    const tokens = demoTokens();
    tokens.findByHash = async () => {
      throw new SktraceError('store_unavailable', 'connection reset');
    };
    const { invoke } = setup({ tokens });
    const res = await invoke(ingestEvent({ body: '{"changes":[]}' }));
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers?.['Retry-After'], '5');
  });

  test('a write cut short by the Lambda timeout → 503 timeout, so the sender retries', async () => {
    const { invoke, writer } = setup();
    writer.respond = () => new Promise(() => {});
    const context = { ...lambdaContext(), getRemainingTimeInMillis: () => 40 };
    const res = await invoke(ingestEvent({ body: JSON.stringify(validBatch()) }), context);
    assert.equal(res.statusCode, 503);
    assert.equal(errorOf(res).code, 'timeout');
    assert.equal(res.headers?.['Retry-After'], '5');
  });
});

describe('auth modes', () => {
  test('IAM mode: the identity API Gateway verified is enough', async () => {
    const { invoke, writer, logger } = setup({ auth: { mode: 'iam' } });
    const event = ingestEvent({ token: null, body: '{"changes":[]}' });
    (event.requestContext as unknown as Record<string, unknown>).authorizer = {
      iam: { userArn: 'arn:aws:iam::123456789012:role/forwarder', accountId: '123456789012' },
    };
    const res = await invoke(event);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(writer.calls.length, 0);
    assert.equal(logger.find('batch applied').length, 1);
  });

  test('IAM mode without an authorizer on the route fails closed', async () => {
    const { invoke } = setup({ auth: { mode: 'iam' } });
    const res = await invoke(ingestEvent({ body: '{"changes":[]}' }));
    assert.equal(res.statusCode, 401);
  });

  test('a global token (sktrace serve --token) works for every cluster', async () => {
    const token = `skt_${'L'.repeat(43)}`;
    const { invoke } = setup({ auth: { mode: 'bearer', globalTokenHashes: [hashToken(token)] } });
    for (const cluster of ['demo', 'other', 'brand-new']) {
      const res = await invoke(ingestEvent({ cluster, token, body: '{"changes":[]}' }));
      assert.equal(res.statusCode, 200, `${cluster}: ${res.body}`);
    }
  });
});
