/**
 * `sktrace validate` and `sktrace transform` as a user runs them (child processes): the summary,
 * --json and --fix; a transform that leaves nothing to report; bad SKEL is exit 2 with its line
 * and column and writes nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { importTrace } from '../../lib/roundtrip/transfer.ts';
import { decodeTrace, encodeTrace } from '../../lib/trace/codec.ts';
import type { Trace } from '../../lib/trace/model.ts';
import { startTestStack } from '../support/local-stack.ts';

const SKTRACE = fileURLToPath(new URL('../../lib/cli/sktrace.mjs', import.meta.url));

function sktrace(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SKTRACE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

// A deployment whose pods need a Secret volume the trace does not hold, plus a status.
const trace: Trace = {
  version: 2,
  config: { trackedObjects: { 'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/template'] } } },
  events: [
    {
      ts: 1_700_000_000,
      applied_objs: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { annotations: {}, namespace: 'shop', name: 'web' },
          spec: {
            template: {
              spec: {
                containers: [
                  { name: 'c', image: 'nginx', volumeMounts: [{ name: 'creds', mountPath: '/c' }] },
                ],
                volumes: [{ name: 'creds', secret: { secretName: 'db-creds' } }],
              },
            },
          },
          status: { replicas: 1 },
        },
      ],
      deleted_objs: [],
    },
  ],
  index: new Map(),
  podLifecycles: new Map(),
};

describe('sktrace validate / transform', () => {
  let dir: string;
  let file: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sktrace-validate-'));
    file = join(dir, 'in.sktrace');
    await writeFile(file, encodeTrace(trace));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('validate prints the table; --fix writes the SKEL that transform applies; then nothing is left', async () => {
    const fix = join(dir, 'fix.skel');
    const v = await sktrace(['validate', file, '--fix', fix]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^status_field_populated \(W0000\) \.+ 1$/m);
    assert.match(v.stdout, /^volume_secret_missing \(E0004\) \.+ 1$/m);
    assert.doesNotMatch(v.stdout, /E0001|E0002|E0003|E0005/);
    assert.match(
      await readFile(fix, 'utf8'),
      /remove\(\$x := spec\.template\.spec\.volumes\[\*\] \| exists\(\$x\.secret\), \$x\);/,
    );
    const out = join(dir, 'out.sktrace');
    const t = await sktrace(['transform', file, fix, '--output', out]);
    assert.equal(t.code, 0, t.stderr);
    const again = await sktrace(['validate', out, '--json']);
    const doc = JSON.parse(again.stdout) as { counts: { count: number }[]; findings: unknown[] };
    assert.deepEqual(doc.findings, []);
    assert.equal(doc.counts.length, 6);
  });

  it('validate reads a trace from an http URL (a signed export URL needs no token)', async () => {
    const body = encodeTrace(trace);
    const server = createServer((req, res) => {
      if (req.url?.startsWith('/exports/t.sktrace')) res.writeHead(200).end(body);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const ok = await sktrace([
        'validate',
        `http://127.0.0.1:${port}/exports/t.sktrace?X-Amz-Signature=abc`,
        '--json',
      ]);
      assert.equal(ok.code, 0, ok.stderr);
      const doc = JSON.parse(ok.stdout) as { trace: string; counts: { code: string; count: number }[] };
      assert.equal(doc.trace, `http://127.0.0.1:${port}/exports/t.sktrace?…`, 'the signature is not echoed');
      assert.deepEqual(
        doc.counts.filter((c) => c.count > 0).map((c) => `${c.code} ${c.count}`),
        ['W0000 1', 'E0004 1'],
      );
      const missing = await sktrace(['validate', `http://127.0.0.1:${port}/nope`]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /^sktrace: cannot download the trace: 404/);
    } finally {
      server.close();
    }
  });

  it('export --transform: the server applies the SKEL; without it, the findings are named on stderr', async () => {
    const { stack, client } = await startTestStack();
    try {
      await importTrace(client, 'c1', trace);
      const skel = join(dir, 'fix-volumes.skel');
      await writeFile(skel, 'remove($x := spec.template.spec.volumes[*] | exists($x.secret), $x);\n');
      const common = ['--endpoint', stack.url, '--cluster', 'c1', '--token', stack.token];
      const window = ['--start', '1700000000', '--end', '1700000001', '--excluded-namespaces', ''];
      const plain = await sktrace(['export', ...common, ...window, '--output', join(dir, 'plain.sktrace')]);
      assert.equal(plain.code, 0, plain.stderr);
      // An import keeps objects as the file has them, status included (the forwarder strips it).
      assert.match(
        plain.stderr,
        /validation: status_field_populated \(W0000\) 1, volume_secret_missing \(E0004\) 1; sktrace validate/,
      );
      const fixed = join(dir, 'fixed.sktrace');
      const t = await sktrace(['export', ...common, ...window, '--transform', skel, '--output', fixed]);
      assert.equal(t.code, 0, t.stderr);
      assert.match(t.stderr, /validation: status_field_populated \(W0000\) 1; /);
      const out = decodeTrace(await readFile(fixed));
      const deployment = out.events.flatMap((e) => e.applied_objs).find((o) => o.kind === 'Deployment');
      assert.deepEqual(
        (deployment!.spec as { template: { spec: { volumes?: unknown[] } } }).template.spec.volumes,
        [],
      );
    } finally {
      await stack.close();
    }
  });

  it('bad SKEL: exit 2, one line naming line and column, no output file', async () => {
    const skel = join(dir, 'bad.skel');
    await writeFile(skel, 'remove(status);\n# fine so far\nremove(sta%tus);\n');
    const out = join(dir, 'never.sktrace');
    const r = await sktrace(['transform', file, skel, '--output', out]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^sktrace: SKEL line 3, column 11: /);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.equal(existsSync(out), false);
    // export --transform checks the file before calling the server (port 9: nothing listens).
    const e = await sktrace([
      'export',
      '--endpoint',
      'http://127.0.0.1:9',
      '--cluster',
      'c',
      '--token',
      `skt_${'c'.repeat(43)}`,
      '--transform',
      skel,
      '--output',
      out,
    ]);
    assert.equal(e.code, 2, e.stderr);
    assert.match(e.stderr, /SKEL line 3, column 11/);
  });
});
