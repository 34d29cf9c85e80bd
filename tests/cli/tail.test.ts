/**
 * `sktrace tail` against `sktrace serve`'s stack (the real changes handler behind the API Gateway
 * emulation, dynalite underneath): a change stored after tail started shows within seconds, a change
 * stored late for an earlier hour too, and after the server goes away and comes back (same data,
 * same port) tail goes on from its cursor: the change stored meanwhile shows, nothing repeats.
 * Also the route's answers to a bad cursor, an expired one, a bad limit and a wrong token.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { generateToken } from '../../lib/auth/token.ts';
import { ApiClient, ApiError } from '../../lib/cli/client.ts';
import { type LocalStack, startLocalStack } from '../../lib/local/serve.ts';
import type { KubeObject } from '../../lib/trace/model.ts';

const CLI = resolve(import.meta.dirname, '../../lib/cli/sktrace.mjs');

function deployment(name: string, replicas: number): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'web' },
    spec: { replicas, template: { spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] } } },
  };
}

/** Lines of a child's stdout/stderr as they come, with a wait for a line matching a pattern. */
function lines(child: ChildProcess, stream: 'stdout' | 'stderr') {
  const seen: string[] = [];
  let buffered = '';
  const waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  child[stream]!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let at = buffered.indexOf('\n'); at >= 0; at = buffered.indexOf('\n')) {
      const line = buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
      seen.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  return {
    seen,
    waitFor(re: RegExp, timeoutMs: number): Promise<string> {
      const found = seen.find((l) => re.test(l));
      if (found) return Promise.resolve(found);
      return new Promise((resolveLine, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`no ${stream} line matching ${re} within ${timeoutMs} ms; got:\n${seen.join('\n')}`),
            ),
          timeoutMs,
        );
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(timer);
            resolveLine(l);
          },
        });
      });
    },
  };
}

test('tail shows changes as they land, one late for an earlier hour too, and resumes after the server restarts', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sktrace-tail-'));
  const token = generateToken().token;
  const options = {
    host: '127.0.0.1',
    dataDir,
    token,
    logLevel: 'SILENT' as const,
    checkpointEverySec: 0,
    feedSettleMs: 300,
  };
  let stack: LocalStack = await startLocalStack({ ...options, port: 0 });
  const port = stack.port;
  const child = spawn(
    process.execPath,
    [CLI, 'tail', '--endpoint', stack.url, '--cluster', 'demo', '-o', 'json', '--interval', '0.2'],
    { env: { ...process.env, SKTRACE_TOKEN: token } },
  );
  const out = lines(child, 'stdout');
  const err = lines(child, 'stderr');
  try {
    await err.waitFor(/following cluster demo from now/, 30_000);
    const client = new ApiClient({ endpoint: stack.url, token });
    const nowSec = Math.floor(Date.now() / 1000);
    const postedAt = Date.now();
    await client.postEvents('demo', {
      changes: [{ type: 'applied', ts: nowSec, seq: 1, object: deployment('api', 2) }],
    });
    await out.waitFor(/"nsName":"web\/api"/, 15_000);
    t.diagnostic(`a stored change showed in tail after ${Date.now() - postedAt} ms`);

    // Stored now for a second two hours ago (a forwarder back from an outage, an import).
    await client.postEvents('demo', {
      changes: [{ type: 'applied', ts: nowSec - 7200, seq: 1, object: deployment('late', 1) }],
    });
    await out.waitFor(/"nsName":"web\/late"/, 15_000);

    // The server goes away; a change lands once it is back; tail goes on from its cursor.
    await stack.close();
    stack = await startLocalStack({ ...options, port });
    await client.postEvents('demo', {
      changes: [{ type: 'applied', ts: nowSec + 1, seq: 1, object: deployment('api', 3) }],
    });
    await out.waitFor(
      /"ts":\d+,"type":"applied","gvk":"apps\/v1\.Deployment","nsName":"web\/api","seq":1,"object":.*"replicas":3/,
      60_000,
    );
    // A little longer: anything repeated would show by now.
    await new Promise((r) => setTimeout(r, 1500));
    const changes = out.seen.map((l) => JSON.parse(l) as { ts: number; nsName: string; seq: number });
    assert.deepEqual(
      changes.map((c) => `${c.ts - nowSec} ${c.nsName}`),
      ['0 web/api', '-7200 web/late', '1 web/api'],
    );
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.match(await err.waitFor(/resume with --after/, 1000), /--after c1:\d{13}#/);
  } finally {
    child.kill();
    await stack.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('the changes route: 400 for a bad cursor or limit, 410 for an expired cursor, 401 without the token', async () => {
  const token = generateToken().token;
  const stack = await startLocalStack({ port: 0, token, logLevel: 'SILENT', checkpointEverySec: 0 });
  try {
    const client = new ApiClient({ endpoint: stack.url, token, retry: { maxAttempts: 1 } });
    const first = await client.getChanges('demo');
    assert.match(first.cursor, /^c1:\d{13}#~$/);
    assert.deepEqual(first.changes, []);
    const status = (p: Promise<unknown>) =>
      p.then(
        () => 200,
        (e: unknown) => (e instanceof ApiError ? e.status : -1),
      );
    assert.equal(await status(client.getChanges('demo', { after: 'nope' })), 400);
    assert.equal(await status(client.getChanges('demo', { after: 'c1:0000000000001#~' })), 410);
    assert.equal(await status(client.getChanges('demo', { limit: 0 })), 400);
    const stranger = new ApiClient({
      endpoint: stack.url,
      token: generateToken().token,
      retry: { maxAttempts: 1 },
    });
    assert.equal(await status(stranger.getChanges('demo')), 401);
  } finally {
    await stack.close();
  }
});
