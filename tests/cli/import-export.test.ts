/**
 * End to end through the command line: `sktrace serve` as a child process on a free port with a
 * temporary data dir, `sktrace import` of generated traces (msgpack and JSON), `sktrace export`
 * back, compared with lib/roundtrip; a restart keeps everything; errors are one line on stderr.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compareTraces } from '../../lib/roundtrip/compare.ts';
import { referenceExport } from '../../lib/roundtrip/reference.ts';
import { decodeTrace, encodeTrace } from '../../lib/trace/codec.ts';
import { generatedTrace, T0 } from '../roundtrip/fixtures.ts';

const SKTRACE = fileURLToPath(new URL('../../lib/cli/sktrace.mjs', import.meta.url));
const TOKEN = `skt_${'c'.repeat(43)}`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sktrace(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SKTRACE, ...args], {
      env: { ...process.env, SKTRACE_TOKEN: TOKEN, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

interface Served {
  child: ChildProcess;
  url: string;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

async function serve(dataDir: string): Promise<Served> {
  const child = spawn(
    process.execPath,
    [SKTRACE, 'serve', '--port', '0', '--data-dir', dataDir, '--token', TOKEN],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out}${err}`)), 20_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /sktrace serve: listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    exited.then((code) => reject(new Error(`serve exited with ${code}: ${out}${err}`)));
  });
  return {
    child,
    url,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      child.kill(signal);
      return exited;
    },
  };
}

describe('sktrace serve / import / export (child processes)', () => {
  let dir: string;
  let served: Served;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sktrace-cli-test-'));
    await writeFile(join(dir, 'gen.sktrace'), encodeTrace(generatedTrace()));
    // SimKube's JSON variant (its tests' format): pod_lifecycles must be {} there.
    const json = generatedTrace();
    const doc = {
      version: 2,
      config: json.config,
      events: json.events,
      index: Object.fromEntries(
        [...json.index].map(([gvk, m]) => [gvk, Object.fromEntries([...m].map(([n, h]) => [n, `@${h}@`]))]),
      ),
      pod_lifecycles: {},
    };
    await writeFile(join(dir, 'gen.json'), JSON.stringify(doc).replace(/"@(\d+)@"/g, '$1'));
    served = await serve(join(dir, 'data'));
  });

  after(async () => {
    if (served.child.exitCode === null) await served.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('prints where it listens, the data dir and the token', () => {
    const out = served.output();
    assert.match(out, /^sktrace serve: listening on http:\/\/127\.0\.0\.1:\d+$/m);
    assert.match(
      out,
      new RegExp(`^data dir: ${join(dir, 'data').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'),
    );
    assert.match(out, new RegExp(`^token: ${TOKEN}$`, 'm'));
  });

  it('imports msgpack and JSON traces, then exports each back unchanged', async () => {
    const imported = await sktrace([
      'import',
      join(dir, 'gen.sktrace'),
      '--endpoint',
      served.url,
      '--cluster',
      'demo',
    ]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(
      imported.stdout,
      /imported .*gen\.sktrace \(msgpack\) into cluster demo: 10 events, 13 applied, 2 deleted, 8 lifecycles/,
    );
    assert.match(imported.stdout, new RegExp(`--start ${T0} --end ${T0 + 101}`));
    const json = await sktrace(
      ['import', join(dir, 'gen.json'), '--endpoint', served.url, '--cluster', 'json', '--token', TOKEN],
      {
        SKTRACE_TOKEN: '',
      },
    );
    assert.equal(json.code, 0, json.stderr);

    const out = join(dir, 'out.sktrace');
    const exported = await sktrace([
      'export',
      '--endpoint',
      served.url,
      '--cluster',
      'demo',
      '--start',
      String(T0),
      '--end',
      new Date((T0 + 101) * 1000).toISOString(),
      '--excluded-namespaces',
      '',
      '--output',
      out,
    ]);
    assert.equal(exported.code, 0, exported.stderr);
    const url = exported.stdout.trim();
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/sktrace\/exports\/demo\/[a-z2-7]{26}\.sktrace\?/);
    assert.match(exported.stderr, /wrote .*out\.sktrace: window \[\d+, \d+\), \d+ events, 8 objects/);
    const trace = decodeTrace(await readFile(out));
    assert.deepEqual(compareTraces(generatedTrace(), trace).differences, []);

    const jsonOut = join(dir, 'json.sktrace');
    const fromJson = await sktrace([
      'export',
      '--endpoint',
      served.url,
      '--cluster',
      'json',
      '--start',
      String(T0),
      '--end',
      String(T0 + 101),
      '--excluded-namespaces',
      '',
      '--output',
      jsonOut,
    ]);
    assert.equal(fromJson.code, 0, fromJson.stderr);
    const withoutLifecycles = generatedTrace();
    withoutLifecycles.podLifecycles.clear();
    assert.deepEqual(compareTraces(withoutLifecycles, decodeTrace(await readFile(jsonOut))).differences, []);
  });

  it("exports with skctl's default namespaces and repeated --excluded-labels as the reference does", async () => {
    const out = join(dir, 'filtered.sktrace');
    const run = await sktrace([
      'export',
      '--endpoint',
      served.url,
      '--cluster',
      'demo',
      '--start',
      `@${T0 + 22}`,
      '--end',
      String(T0 + 95),
      '--excluded-labels',
      'tier=front',
      '--excluded-labels',
      'canary,app in (canary)',
      '--output',
      out,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const filters = {
      // skctl's defaults exclude none of these namespaces (shop, data, ops) but must be sent.
      excluded_namespaces: [
        'cert-manager',
        'default',
        'kube-public',
        'kube-node-lease',
        'kube-system',
        'local-path-storage',
        'monitoring',
        'simkube',
      ],
      excluded_labels: [
        { matchLabels: { tier: 'front' } },
        {
          matchExpressions: [
            { key: 'canary', operator: 'Exists' as const },
            { key: 'app', operator: 'In' as const, values: ['canary'] },
          ],
        },
      ],
    };
    const want = referenceExport(generatedTrace(), { startTs: T0 + 22, endTs: T0 + 95 }, filters);
    assert.deepEqual(compareTraces(want, decodeTrace(await readFile(out))).differences, []);
  });

  const failures: [string, string[], Record<string, string>, number, RegExp][] = [
    [
      'a malformed selector',
      ['--excluded-labels', 'tier in (a'],
      {},
      2,
      /^sktrace: --excluded-labels "tier in \(a": /,
    ],
    [
      'an empty window',
      ['--start', 'now', '--end', '-1h'],
      {},
      2,
      /^sktrace: --end \(\d+\) must be after --start/,
    ],
    ['a bad time', ['--start', 'yesterday'], {}, 2, /^sktrace: --start "yesterday" is not a time/],
    [
      'a wrong token',
      [],
      { SKTRACE_TOKEN: `skt_${'w'.repeat(43)}` },
      1,
      /^sktrace: POST \/v1\/clusters\/demo\/exports: 401 unauthorized: unknown or revoked token/,
    ],
    ['no token', [], { SKTRACE_TOKEN: '' }, 2, /^sktrace: no token: pass --token or set SKTRACE_TOKEN/],
    [
      'a window past retention of nothing: end in the future',
      ['--start', 'now', '--end', '+2h'],
      {},
      1,
      /^sktrace: POST .*: 400 invalid_request: end_ts .* ahead of the server clock.*\(field end_ts\)/,
    ],
  ];
  for (const [name, args, env, code, message] of failures) {
    it(`fails on ${name} with exit ${code} and one line on stderr`, async () => {
      const run = await sktrace(
        [
          'export',
          '--endpoint',
          served.url,
          '--cluster',
          'demo',
          '--output',
          join(dir, 'never.sktrace'),
          ...args,
        ],
        env,
      );
      assert.equal(run.code, code, run.stderr);
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.equal(run.stdout, '');
    });
  }

  it('fails an import of a file that is not a trace, naming it', async () => {
    const bad = join(dir, 'bad.sktrace');
    await writeFile(bad, 'not a trace');
    const run = await sktrace(['import', bad, '--endpoint', served.url, '--cluster', 'demo']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^sktrace: .*bad\.sktrace: not a trace/);
  });

  it('stops cleanly on SIGTERM and serves the same data after a restart', async () => {
    const before = await readFile(join(dir, 'out.sktrace'));
    assert.equal(await served.stop('SIGTERM'), 0);
    assert.match(served.output(), /sktrace serve: stopped/);
    served = await serve(join(dir, 'data'));
    const out = join(dir, 'again.sktrace');
    const run = await sktrace([
      'export',
      '--endpoint',
      served.url,
      '--cluster',
      'demo',
      '--start',
      String(T0),
      '--end',
      String(T0 + 101),
      '--excluded-namespaces',
      '',
      '--output',
      out,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await readFile(out), before);
    assert.equal(await served.stop('SIGINT'), 0);
  });
});
