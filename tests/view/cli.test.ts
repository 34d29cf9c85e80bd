/**
 * `sktrace view` as a user runs it: a file or a signed URL (here a local server standing in for S3,
 * with a signature in the query), the URL printed on stdout, the page's data served from it, and a
 * clean stop on SIGTERM. A refused download is one line on stderr.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { sharedTrace } from './support.ts';

const CLI = resolve(import.meta.dirname, '../../lib/cli/sktrace.mjs');
const dsb = sharedTrace('dsb-scaling.sktrace');

async function serveOnce(status: number, body: Buffer | string): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(status, {
      'content-type': status === 200 ? 'application/octet-stream' : 'application/xml',
    });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolveLine, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolveLine(text.slice(0, text.indexOf('\n')));
    });
    child.once('exit', (code) => reject(new Error(`sktrace view exited ${code} before printing its URL`)));
  });
}

test('sktrace view URL: downloads the signed URL, serves the page, hides the signature, stops on SIGTERM', async (t) => {
  if (!dsb.path) return t.skip(dsb.skip);
  const { server, base } = await serveOnce(200, readFileSync(dsb.path));
  const child = spawn(process.execPath, [
    CLI,
    'view',
    `${base}/exports/x.sktrace?X-Amz-Signature=secret`,
    '--no-open',
  ]);
  try {
    const line = await firstLine(child);
    const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(line)?.[1];
    assert.ok(url, line);
    assert.doesNotMatch(line, /secret/);
    const summary = (await (await fetch(`${url}api/summary`)).json()) as {
      source: { label: string };
      summary: { kinds: Record<string, { objects: number }> };
    };
    assert.equal(summary.source.label, `${base}/exports/x.sktrace?…`);
    assert.equal(summary.summary.kinds['apps/v1.Deployment']?.objects, 27);
    const page = await fetch(url);
    assert.match(await page.text(), /<script type="module" src="\/assets\/main\.js">/);
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    child.kill();
    server.close();
  }
});

test('sktrace view URL: an expired signed URL is one line naming the problem, exit 1', async () => {
  const { server, base } = await serveOnce(
    403,
    '<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>',
  );
  try {
    const err = await promisify(execFile)(process.execPath, [
      CLI,
      'view',
      `${base}/x?sig=1`,
      '--no-open',
    ]).then(
      () => assert.fail('view succeeded'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(err.code, 1);
    assert.equal(err.stderr.trim().split('\n').length, 1, err.stderr);
    assert.match(err.stderr, /^sktrace: .*403 AccessDenied: Request has expired: the signed URL expired/);
  } finally {
    server.close();
  }
});

test('sktrace view of a file that is not a trace: one line, exit 1, nothing served', async () => {
  const err = await promisify(execFile)(process.execPath, [CLI, 'view', CLI, '--no-open']).then(
    () => assert.fail('view succeeded'),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
  assert.equal(err.code, 1);
  assert.equal(err.stdout, '');
  assert.match(err.stderr, /^sktrace: .*sktrace\.mjs: /);
});
