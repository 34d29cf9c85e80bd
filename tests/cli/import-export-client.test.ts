/**
 * The CLI's API client against a scripted node:http server: what it sends (token, gzip, exact
 * integers), which answers it retries and how long it waits (injected sleep), and its errors.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { ApiClient, ApiError, jsonText, retryAfterMs } from '../../lib/cli/client.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

type Answer = (res: ServerResponse) => void;

describe('ApiClient', () => {
  let server: Server;
  let base: string;
  let script: Answer[] = [];
  let seen: Seen[] = [];
  let sleeps: number[] = [];

  const json =
    (status: number, body: unknown, headers: Record<string, string> = {}): Answer =>
    (res) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };

  function client(overrides: Partial<ConstructorParameters<typeof ApiClient>[0]> = {}): ApiClient {
    return new ApiClient({
      endpoint: `${base}/`,
      token: 'skt_secret',
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
      nowMs: () => Date.parse('2026-01-01T00:00:00Z'),
      retry: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1000 },
      ...overrides,
    });
  }

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
        const answer = script.shift();
        if (answer) answer(res);
        else json(500, { error: { code: 'internal', message: 'script used up' } })(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    script = [];
    seen = [];
    sleeps = [];
  });

  it('posts a batch gzipped with the token, integers past 2^53 exact', async () => {
    script = [json(200, { accepted: 1, deduplicated: 0, reconciled_deletions: 0 })];
    const big = 18_446_744_073_709_551_615n;
    const out = await client().postEvents('prod', {
      changes: [
        {
          type: 'applied',
          ts: 5,
          object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { n: big } },
        },
      ],
    });
    assert.deepEqual(out, { accepted: 1, deduplicated: 0, reconciled_deletions: 0 });
    const req = seen[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/v1/clusters/prod/events');
    assert.equal(req.headers.authorization, 'Bearer skt_secret');
    assert.equal(req.headers['content-encoding'], 'gzip');
    assert.equal(req.headers['content-type'], 'application/json');
    const text = gunzipSync(req.body).toString();
    assert.match(text, /"n":18446744073709551615\b/);
    assert.equal(script.length, 0);
  });

  it('retries 503, 429 and a 409 with Retry-After after their Retry-After (seconds, HTTP date), then succeeds', async () => {
    script = [
      json(503, { error: { code: 'store_unavailable', message: 'busy' } }, { 'Retry-After': '3' }),
      json(
        429,
        { error: { code: 'store_throttled', message: 'slow down' } },
        { 'Retry-After': 'Thu, 01 Jan 2026 00:00:02 GMT' },
      ),
      json(
        409,
        { error: { code: 'idempotency_in_progress', message: 'in progress' } },
        { 'Retry-After': '1' },
      ),
      json(200, { id: 'x', status: 'pending' }),
    ];
    const retried: string[] = [];
    const job = await client({ onRetry: (i) => retried.push(`${i.attempt} ${i.reason}`) }).createExport(
      'prod',
      {
        start_ts: 1,
        end_ts: 2,
        filters: { excluded_namespaces: [], excluded_labels: [] },
      },
    );
    assert.equal(job.id, 'x');
    assert.deepEqual(sleeps, [3000, 2000, 1000]);
    assert.deepEqual(retried, ['1 HTTP 503', '2 HTTP 429', '3 HTTP 409']);
    assert.equal(seen.length, 4);
    // One Idempotency-Key for the export, the same on every retry: the server gives back one job.
    const keys = seen.map((r) => r.headers['idempotency-key']);
    assert.match(String(keys[0]), /^[0-9a-f-]{36}$/);
    assert.deepEqual(keys, [keys[0], keys[0], keys[0], keys[0]]);
    assert.deepEqual(JSON.parse(seen[3]!.body.toString()), {
      start_ts: 1,
      end_ts: 2,
      filters: { excluded_namespaces: [], excluded_labels: [] },
    });
  });

  it('backs off exponentially with jitter when no Retry-After is given, and gives up with the last status', async () => {
    script = [
      json(502, {}),
      json(500, {}),
      json(504, {}),
      json(503, { error: { code: 'store_unavailable', message: 'still busy' } }),
    ];
    await assert.rejects(client().getExport('prod', 'abc'), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 503);
      assert.equal(err.code, 'store_unavailable');
      assert.match(
        err.message,
        /^GET \/v1\/clusters\/prod\/exports\/abc: 503 store_unavailable: still busy$/,
      );
      return true;
    });
    // random() = 0.5 of min(1000, 100·2^(n−1)).
    assert.deepEqual(sleeps, [50, 100, 200]);
  });

  it('does not retry a 4xx, and names the field the server named', async () => {
    script = [
      json(400, {
        error: { code: 'invalid_request', message: 'end_ts (1) must be after start_ts (2)', field: 'end_ts' },
      }),
    ];
    await assert.rejects(
      client().createExport('prod', {
        start_ts: 2,
        end_ts: 1,
        filters: { excluded_namespaces: [], excluded_labels: [] },
      }),
      (err: Error & { code?: string; status?: number }) => {
        assert.equal(err.code, 'invalid_request');
        assert.equal(err.status, 400);
        assert.match(
          err.message,
          /400 invalid_request: end_ts \(1\) must be after start_ts \(2\) \(field end_ts\)$/,
        );
        return true;
      },
    );
    assert.equal(seen.length, 1);
    assert.deepEqual(sleeps, []);
  });

  it("reports API Gateway's own errors ({message})", async () => {
    script = [json(404, { message: 'Not Found' })];
    await assert.rejects(client().getExport('prod', 'x'), /404: Not Found/);
  });

  it('downloads without the token and explains an expired signed URL', async () => {
    script = [
      (res) => {
        res.writeHead(403, { 'content-type': 'application/xml' });
        res.end(
          '<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>',
        );
      },
    ];
    await assert.rejects(
      client().download(`${base}/bucket/exports/prod/x.sktrace?X-Amz-Expires=1`),
      (err: Error) => {
        assert.match(err.message, /403 AccessDenied: Request has expired: the signed URL expired/);
        return true;
      },
    );
    assert.equal(seen[0]!.headers.authorization, undefined);
  });

  it('retries an unreachable server, then says which', async () => {
    // A port nobody listens on: bound, then released.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const c = new ApiClient({
      endpoint: `http://127.0.0.1:${port}`,
      token: 't',
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      retry: { maxAttempts: 2, baseDelayMs: 1 },
    });
    await assert.rejects(c.getExport('prod', 'x'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'unreachable');
      assert.match(err.message, new RegExp(`ECONNREFUSED \\(http://127\\.0\\.0\\.1:${port}\\)`));
      return true;
    });
    assert.equal(sleeps.length, 1);
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const cases: [string | null, number | undefined][] = [
    [null, undefined],
    ['', undefined],
    ['0', 0],
    ['7', 7000],
    ['Thu, 01 Jan 2026 00:00:10 GMT', 10_000],
    ['Wed, 31 Dec 2025 23:59:00 GMT', 0],
    ['soon', undefined],
  ];
  for (const [value, want] of cases) {
    it(`${JSON.stringify(value)} → ${want}`, () => assert.equal(retryAfterMs(value, now), want));
  }
});

describe('jsonText', () => {
  it('writes bigints as exact JSON integers', () => {
    assert.equal(jsonText({ a: 2n ** 64n - 1n, b: [1n] }), '{"a":18446744073709551615,"b":[1]}');
  });
});
