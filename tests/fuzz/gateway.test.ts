/**
 * Fuzzing the local stack's HTTP gateway (lib/local/gateway.ts) with raw bytes on a TCP socket,
 * so nothing between the test and the server tidies the request up: malformed request lines and
 * headers, paths with traversal and bad percent-encoding, wrong methods, odd bodies. Every answer
 * must be a 4xx with a JSON body — the handlers' error body, or API Gateway's own
 * `{"message": …}` for what the gateway refuses before routing — and the server must live on
 * with its table and bucket untouched.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { makeDynamoClient, makeS3Client } from '../../lib/aws/clients.ts';
import { isValidClusterId } from '../../lib/ingest/names.ts';
import { type LocalStack, startLocalStack } from '../../lib/local/serve.ts';
import {
  assertErrorShape,
  assertUnchanged,
  type Snapshot,
  type SnapshotTarget,
  snapshotOf,
} from './harness.ts';
import { anyString, BAD_ENCODINGS, badContentTypeArb, PROTO_KEYS, withInvalidUtf8 } from './values.ts';

const SEED = 0x6a7e;
const RUNS = 300;
const TOKEN = `skt_${'f'.repeat(43)}`;
const NOW_SEC = Math.floor(Date.now() / 1000);

interface RawReply {
  /** Undefined when the server closed without answering (a request it never got whole). */
  status?: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends raw bytes on a fresh connection and reads the reply until the server closes (every
 * request says `Connection: close`). The client half-closes only when `giveUp` is set: a request
 * the server would otherwise wait on forever (a body shorter than announced).
 */
function rawRequest(port: number, bytes: Buffer, giveUp = false, timeoutMs = 5000): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => {}); // a reset after the reply is fine; the reply is judged below
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseReply(Buffer.concat(chunks).toString('latin1')));
    });
    if (giveUp) socket.end(bytes);
    else socket.write(bytes);
  });
}

function parseReply(text: string): RawReply {
  if (text === '') return { headers: {}, body: '' };
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const at = line.indexOf(':');
    if (at > 0) headers[line.slice(0, at).toLowerCase()] = line.slice(at + 1).trim();
  }
  const body = end < 0 ? '' : Buffer.from(text.slice(end + 4), 'latin1').toString('utf8');
  return { status: Number.isNaN(status) ? -1 : status, headers, body };
}

interface RawCase {
  kind: string;
  bytes: Buffer;
  /** The server may close without a reply (the request never arrived whole). */
  mayNotAnswer?: boolean;
}

function request(
  method: string,
  path: string,
  headers: [string, string][],
  body: Buffer | string = '',
  version = 'HTTP/1.1',
): Buffer {
  const bodyBytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const head = [
    `${method} ${path} ${version}`,
    'Host: 127.0.0.1',
    'Connection: close',
    ...headers.map(([k, v]) => `${k}: ${v}`),
  ];
  if (!headers.some(([k]) => /^(content-length|transfer-encoding)$/i.test(k)))
    head.push(`Content-Length: ${bodyBytes.length}`);
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), bodyBytes]);
}

const AUTH: [string, string] = ['Authorization', `Bearer ${TOKEN}`];
const JSON_TYPE: [string, string] = ['Content-Type', 'application/json'];
/** A batch the store would refuse (its ts is in the future), so a path that did route writes nothing. */
const BAD_BATCH = JSON.stringify({
  changes: [
    {
      type: 'deleted',
      ts: NOW_SEC + 86_400,
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop' } },
    },
  ],
});
const VALID_BATCH = JSON.stringify({
  changes: [
    {
      type: 'deleted',
      ts: NOW_SEC - 60,
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop' } },
    },
  ],
});

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** Path segments for `{cluster}` that never decode to a valid cluster id. */
const badSegment = fc
  .oneof(
    fc.constantFrom(
      '..',
      '.',
      '%2e%2e',
      '%2E%2E',
      '..%2f..',
      '%2f',
      'demo%2Fother',
      '%23',
      'demo%00',
      '%zz',
      '%E0%A4%A',
      '%',
      '%%',
      '%C0%AF',
      '%ED%A0%80',
      'Demo',
      'a'.repeat(1024),
      '%F0%9F%99%82',
      '__proto__',
      'demo%20',
    ),
    fc.string({ unit: fc.constantFrom(..."abcXYZ019-_.~%!$&'()*+,;=:@"), minLength: 1, maxLength: 40 }),
  )
  .filter((seg) => {
    const decoded = safeDecode(seg);
    return decoded === undefined || !isValidClusterId(decoded);
  });

/** Paths no route serves (API Gateway answers 404 `{"message":"Not Found"}`). */
const unroutedPath = fc.oneof(
  fc.constantFrom(
    '/',
    '*',
    '/v1',
    '/v1/clusters',
    '/v1/clusters/demo',
    '/v1/clusters/demo/events/',
    '/v1/clusters/demo/events/extra',
    '/v1//clusters/demo/events',
    '/v1/clusters//events',
    '/V1/clusters/demo/events',
    '/v2/clusters/demo/events',
    '/v1/clusters/demo/../other/events/x',
    '/v1/clusters/demo/exports/a/b',
    '/../../etc/passwd',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/v1/clusters/demo%2Fevents',
    '/healthz/../v1/clusters/demo/events/x',
    '/__proto__',
  ),
  anyString.map((s) => `/${encodeURIComponent(s)}`).filter((p) => !p.startsWith('/healthz')),
);

/** Header lines the HTTP parser must refuse, or that name nothing the handlers accept. */
const badHeaderLine = fc.constantFrom(
  'Bad Header: x',
  'X-Ctl: a\u0001b',
  'X-Nul: a\u0000b',
  ': empty-name',
  'NoColon',
  'X-Fold: a\r\n continued',
  `X-Big: ${'a'.repeat(20_000)}`,
  'Content-Length: 1\r\nContent-Length: 2',
  'Content-Length: -1',
  'Content-Length: abc',
  'Transfer-Encoding: chunked\r\nContent-Length: 3',
  'Transfer-Encoding: gzip, chunked, identity',
  'X-\u00e9: latin1',
);

function rawCases(): fc.Arbitrary<RawCase> {
  return fc.oneof(
    fc.tuple(badSegment, fc.constantFrom('events', 'exports')).map(([seg, route]) => ({
      kind: 'path: bad cluster segment',
      bytes: request('POST', `/v1/clusters/${seg}/${route}`, [AUTH, JSON_TYPE], BAD_BATCH),
    })),
    fc
      .tuple(fc.constantFrom('%zz', '%E0%A4%A', '%', '..', '%2e%2e', `x${'%41'.repeat(300)}`, '%00', '%23'))
      .map(([id]) => ({
        kind: 'path: bad export id',
        bytes: request('GET', `/v1/clusters/demo/exports/${id}`, [AUTH]),
      })),
    fc.tuple(unroutedPath, fc.constantFrom('GET', 'POST', 'PUT', 'DELETE')).map(([path, method]) => ({
      kind: 'path: no route',
      bytes: request(method, path, [AUTH, JSON_TYPE], VALID_BATCH),
    })),
    fc
      .constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'BREW', 'get', 'Post')
      .map((method) => ({
        kind: 'method: not routed',
        bytes: request(method, '/v1/clusters/demo/events', [AUTH, JSON_TYPE], VALID_BATCH),
      })),
    fc
      .constantFrom(
        'GARBAGE',
        'POST',
        'POST /v1/clusters/demo/events',
        'POST  /v1/clusters/demo/events HTTP/1.1',
        '\u0000\u0001\u0002',
        'POST /v1/clusters/demo/events HTTP/9.9',
        'POST /v1/clusters/demo/events HTTP/1.1 extra',
        'PRI * HTTP/2.0',
      )
      .map((line) => ({
        kind: 'request line: malformed',
        bytes: Buffer.from(`${line}\r\nHost: x\r\nConnection: close\r\n\r\n`, 'latin1'),
      })),
    fc.constantFrom('\u00e9', '\u00ff\u00fe', ' ', '\t', '"', '<', '{', '|', '\\', '^', '`').map((ch) => ({
      kind: 'request line: raw byte in the path',
      bytes: Buffer.concat([
        Buffer.from(
          `POST /v1/clusters/de${ch}mo/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${BAD_BATCH.length}\r\n\r\n`,
          'latin1',
        ),
        Buffer.from(BAD_BATCH),
      ]),
    })),
    badHeaderLine.map((line) => ({
      kind: 'headers: malformed',
      bytes: Buffer.from(
        `POST /v1/clusters/demo/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${line}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n\r\n`,
        'latin1',
      ),
    })),
    fc
      .constantFrom(
        'zz\r\n',
        '5\r\nabc\r\n0\r\n\r\n',
        '-1\r\n',
        'ffffffffffffffffff\r\n',
        '3;ext=\u0000\r\nabc\r\n0\r\n\r\n',
      )
      .map((chunked) => ({
        kind: 'body: bad chunked framing',
        bytes: Buffer.from(
          `POST /v1/clusters/demo/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`,
          'latin1',
        ),
        mayNotAnswer: true,
      })),
    fc.integer({ min: 1, max: 1000 }).map((missing) => ({
      kind: 'body: shorter than Content-Length',
      bytes: Buffer.from(
        `POST /v1/clusters/demo/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${VALID_BATCH.length + missing}\r\n\r\n${VALID_BATCH}`,
        'latin1',
      ),
      mayNotAnswer: true,
    })),
    fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((bytes) => ({
      kind: 'body: random bytes',
      bytes: request('POST', '/v1/clusters/demo/events', [AUTH, JSON_TYPE], Buffer.from(bytes)),
    })),
    fc.tuple(fc.nat({ max: VALID_BATCH.length }), fc.nat()).map(([pos, k]) => ({
      kind: 'body: invalid UTF-8',
      bytes: request(
        'POST',
        '/v1/clusters/demo/events',
        [AUTH, JSON_TYPE],
        withInvalidUtf8(Buffer.from(VALID_BATCH), pos, k),
      ),
    })),
    badContentTypeArb
      .filter((ct): ct is string => ct !== null && !/[\r\n\u0000-\u001f\u007f-\uffff]/.test(ct))
      .map((ct) => ({
        kind: 'headers: wrong content-type',
        bytes: request('POST', '/v1/clusters/demo/events', [AUTH, ['Content-Type', ct]], VALID_BATCH),
      })),
    fc.constantFrom(...BAD_ENCODINGS, 'gzip').map((enc) => ({
      kind: 'headers: wrong content-encoding',
      bytes: request(
        'POST',
        '/v1/clusters/demo/events',
        [AUTH, JSON_TYPE, ['Content-Encoding', enc]],
        enc === 'gzip' ? VALID_BATCH : gzipSync(VALID_BATCH),
      ),
    })),
    fc
      .constantFrom(
        '',
        'Basic eA==',
        `Bearer ${TOKEN.slice(0, -1)}`,
        `Bearer ${TOKEN}x`,
        `bearer  ${TOKEN} ${TOKEN}`,
        'Bearer skt_' + 'A'.repeat(43),
      )
      .map((auth) => ({
        kind: 'headers: bad credentials',
        bytes: request('POST', '/v1/clusters/demo/events', [['Authorization', auth], JSON_TYPE], VALID_BATCH),
      })),
    fc.constantFrom(...PROTO_KEYS).map((k) => ({
      kind: 'body: prototype keys',
      bytes: request(
        'POST',
        '/v1/clusters/demo/events',
        [AUTH, JSON_TYPE],
        `{"${k}":{"changes":[]},"changes":[{"type":"config","ts":1,"config":{"${k}":{"polluted":true}}}]}`,
      ),
    })),
    fc.constantFrom(...PROTO_KEYS).map((k) => ({
      kind: 'headers: prototype-key header names',
      bytes: request(
        'POST',
        '/v1/clusters/demo/events',
        [AUTH, JSON_TYPE, [k, '{"polluted":true}']],
        BAD_BATCH,
      ),
    })),
  );
}

/** What is wrong with the server's answer to a case, or undefined when it is a proper refusal. */
async function judge(c: RawCase, errorsBefore: number): Promise<string | undefined> {
  let reply: RawReply;
  try {
    reply = await rawRequest(stack().port, c.bytes, c.mayNotAnswer === true);
  } catch (err) {
    return (err as Error).message;
  }
  if (processErrors.length > errorsBefore)
    return `unhandled in the server: ${String(processErrors[errorsBefore])}`;
  if (reply.status === undefined) return c.mayNotAnswer ? undefined : 'closed without an answer';
  const head = `${reply.status} ${reply.body.slice(0, 160)}`;
  if (reply.status < 400 || reply.status >= 500) return head;
  if (!/^application\/json/.test(reply.headers['content-type'] ?? '')) return `${head} (no JSON body)`;
  try {
    const body: unknown = JSON.parse(reply.body);
    if (typeof body === 'object' && body !== null && 'error' in body) assertErrorShape(body, 'handler error');
    else assert.deepEqual(Object.keys(body as object), ['message'], 'gateway error');
  } catch (err) {
    return `${head}: ${(err as Error).message.split('\n')[0]}`;
  }
  return undefined;
}

let current: LocalStack | undefined;
const stack = (): LocalStack => current!;
const processErrors: unknown[] = [];

describe('gateway fuzz (sktrace serve in-process, raw TCP)', () => {
  let target: SnapshotTarget;
  let before0: Snapshot;
  const onProcessError = (err: unknown) => processErrors.push(err);

  before(async () => {
    process.on('unhandledRejection', onProcessError);
    process.on('uncaughtException', onProcessError);
    current = await startLocalStack({ port: 0, token: TOKEN, logLevel: 'SILENT' });
    const stack = current;
    target = {
      dynamo: makeDynamoClient({ endpoint: stack.endpoints.dynamo }),
      s3: makeS3Client({ endpoint: stack.endpoints.s3 }),
      tableName: stack.tableName,
      bucket: stack.bucket,
    };
    // Something in the table and the bucket to compare: a batch and one finished export.
    const post = (path: string, body: string) =>
      fetch(`${stack.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body,
      });
    assert.equal(
      (await post('/v1/clusters/demo/events', VALID_BATCH.replace('"deleted"', '"applied"'))).status,
      200,
    );
    assert.equal(
      (await post('/v1/clusters/demo/exports', JSON.stringify({ start_ts: NOW_SEC - 120, end_ts: NOW_SEC })))
        .status,
      202,
    );
    await stack.drainJobs();
    before0 = await snapshotOf(target);
    assert.ok(
      before0.objects.some((o) => o.key.startsWith('exports/')),
      'the export left its trace in the bucket',
    );
  });

  after(async () => {
    target.dynamo.destroy();
    target.s3.destroy();
    await stack().close();
    process.off('unhandledRejection', onProcessError);
    process.off('uncaughtException', onProcessError);
  });

  test(`${RUNS} raw hostile HTTP requests each get a 4xx with a JSON error body (fast-check seed ${SEED})`, async (t) => {
    const counts = new Map<string, number>();
    const failures = new Map<string, string[]>();
    // Sampled with the seed and run one by one, so a failure names its case index and every kind
    // that failed is counted (raw bytes shrink poorly anyway).
    const cases = fc.sample(rawCases(), { seed: SEED, numRuns: RUNS });
    for (const [i, c] of cases.entries()) {
      counts.set(c.kind, (counts.get(c.kind) ?? 0) + 1);
      const what = `case ${i} (${c.kind}): ${JSON.stringify(c.bytes.toString('latin1').slice(0, 160))}`;
      const problem = await judge(c, processErrors.length);
      if (problem !== undefined)
        failures.set(c.kind, [...(failures.get(c.kind) ?? []), `${what} → ${problem}`]);
    }
    const failed = [...failures.values()].flat();
    assert.equal(
      failed.length,
      0,
      `seed ${SEED}: ${failed.length} of ${cases.length} failed (${[...failures].map(([k, v]) => `${k}: ${v.length}`).join(', ')})\n${[...failures.values()].map((v) => v[0]).join('\n')}`,
    );
    t.diagnostic(
      `kinds: ${[...counts]
        .sort()
        .map(([k, n]) => `${k}=${n}`)
        .join('; ')}`,
    );
  });

  test('the server lives on, with no unhandled error, and its table and bucket are as before', async () => {
    assert.deepEqual(processErrors.map(String), []);
    assert.equal((await fetch(`${stack().url}/healthz`)).status, 200);
    assertUnchanged(before0, await snapshotOf(target));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});
