/**
 * `sktrace forward` as a process: start-up errors exit 2 naming the kind and field; SIGTERM stops
 * the watches, flushes what is held, and exits 0; the ops listener answers probes and scrapes.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../lib/cli/main.ts';
import { KubeSim } from '../kube-sim/server.ts';
import { configMap, deployment } from '../kube-sim/workload.ts';
import { IngestRecorder } from './support/ingest-recorder.ts';
import { eventually } from './support/runtime.ts';
import { StoreReducer } from './support/store-reducer.ts';

const CLI = 'lib/cli/sktrace.mjs';

async function runMain(argv: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: await main(argv), stderr };
  } finally {
    process.stderr.write = write;
  }
}

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sktrace-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('config errors are reported at start-up with the kind and field, exit 2', async (t) => {
  const dir = await tempDir(t);
  const cases: Array<{ yaml: string; message: RegExp }> = [
    {
      yaml: 'trackedObjects:\n  apps/v1.Deployment:\n    podSpecTemplatePaths: ["/spec/other"]\n',
      message: /apps\/v1\.Deployment.*pod template path/,
    },
    {
      yaml: 'trackedObjects:\n  v1.Pod:\n    trackLifecycles: true\n',
      message: /"trackLifecycles".*trackedObjects\.v1\.Pod/,
    },
    { yaml: 'trackedObjects:\n  Deployment: {}\n', message: /"Deployment" is not a GVK/ },
  ];
  for (const [i, c] of cases.entries()) {
    const file = join(dir, `config-${i}.yaml`);
    await writeFile(file, c.yaml);
    // In-process: the same main() the binary runs, without a process start per case.
    const { code, stderr } = await runMain([
      'forward',
      '--config',
      file,
      '--endpoint',
      'http://127.0.0.1:9',
      '--cluster',
      'c',
    ]);
    assert.equal(code, 2, c.yaml);
    assert.match(stderr, c.message);
    assert.equal(stderr.trim().split('\n').length, 1, 'one clear line');
  }
});

test('--max-batches-in-flight must be a whole number of at least 1: exit 2 naming the flag', async () => {
  for (const value of ['0', '1.5', 'two', '-1']) {
    const { code, stderr } = await runMain([
      'forward',
      '--config',
      '/nonexistent/config.yaml',
      '--endpoint',
      'http://127.0.0.1:9',
      '--cluster',
      'c',
      '--max-batches-in-flight',
      value,
    ]);
    assert.equal(code, 2, value);
    assert.match(stderr, /--max-batches-in-flight must be/, value);
    assert.equal(stderr.trim().split('\n').length, 1, 'one clear line');
  }
});

interface Child {
  proc: ChildProcess;
  lines: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

function startCli(args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, [CLI, 'forward', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let at = buf.indexOf('\n');
    while (at >= 0) {
      lines.push(JSON.parse(buf.slice(0, at)));
      buf = buf.slice(at + 1);
      at = buf.indexOf('\n');
    }
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code) => {
      if (stderr) process.stderr.write(`forward stderr: ${stderr}\n`);
      resolve(code);
    }),
  );
  return { proc, lines, exited };
}

test('SIGTERM: watches stop, held changes are flushed, exit 0; probes and metrics answer', async (t) => {
  const dir = await tempDir(t);
  const sim = await KubeSim.start();
  const ingest = await IngestRecorder.start();
  t.after(async () => {
    await sim.close();
    await ingest.close();
  });
  for (let i = 0; i < 30; i++) sim.apply(configMap('ns', `cm-${i}`));
  sim.apply(deployment('ns', 'web'));
  const config = join(dir, 'config.yaml');
  await writeFile(config, 'trackedObjects:\n  v1.ConfigMap: {}\n  apps/v1.Deployment: {}\n');
  const kubeconfig = await sim.writeKubeconfig(dir);
  const child = startCli(
    [
      '--config',
      config,
      '--endpoint',
      ingest.url,
      '--cluster',
      'prod',
      '--kubeconfig',
      kubeconfig,
      '--listen',
      '127.0.0.1:0',
    ],
    { SKTRACE_TOKEN: 'from-env' },
  );
  t.after(() => {
    child.proc.kill('SIGKILL');
  });
  await eventually(() => child.lines.some((l) => l.msg === 'forwarder configured'), 60_000, 'start-up');
  const ops = String(child.lines.find((l) => l.msg === 'forwarder configured')!.ops);
  await eventually(
    () => ingest.accepted().filter((c) => c.type === 'relist').length === 2,
    30_000,
    'initial lists',
  );
  assert.equal((await fetch(`${ops}/healthz`)).status, 200);
  const readyz = await fetch(`${ops}/readyz`);
  assert.equal(readyz.status, 200);
  assert.equal(((await readyz.json()) as { ready: boolean }).ready, true);
  const metrics = await (await fetch(`${ops}/metrics`)).text();
  assert.match(metrics, /^sktrace_forwarder_kind_listed\{gvk="v1.ConfigMap"\} 1$/m);
  assert.equal(ingest.requests[0]?.headers.authorization, 'Bearer from-env');

  // The endpoint goes down; changes pile up in the forwarder; SIGTERM arrives; the endpoint returns.
  ingest.setDown(true);
  for (let i = 30; i < 40; i++) sim.apply(configMap('ns', `cm-${i}`));
  sim.delete('v1.ConfigMap', 'ns/cm-0');
  await eventually(
    () => child.lines.some((l) => l.msg === 'posting a batch failed; retrying the same batch'),
    30_000,
    'held changes',
  );
  child.proc.kill('SIGTERM');
  await eventually(() => child.lines.some((l) => l.msg === 'signal received'), 30_000, 'signal');
  ingest.setDown(false);
  assert.equal(await child.exited, 0);
  const stopped = child.lines.find((l) => l.msg === 'forwarder stopped');
  assert.deepEqual(stopped?.unsent, 0);
  const store = new StoreReducer().apply(ingest.accepted());
  assert.equal(store.names('v1.ConfigMap').length, 39);
  assert.ok(!store.kind('v1.ConfigMap').has('ns/cm-0'));
  // Every log line is one JSON object with a level and a time.
  for (const l of child.lines) assert.ok(typeof l.level === 'string' && typeof l.time === 'string');
});

test('SIGTERM with the endpoint still down: the grace period bounds the flush, the loss is logged, exit 0', async (t) => {
  const dir = await tempDir(t);
  const sim = await KubeSim.start();
  const ingest = await IngestRecorder.start();
  t.after(async () => {
    await sim.close();
    await ingest.close();
  });
  sim.apply(configMap('ns', 'a'));
  const config = join(dir, 'config.yaml');
  await writeFile(config, 'trackedObjects:\n  v1.ConfigMap: {}\n');
  ingest.setDown(true);
  const child = startCli([
    '--config',
    config,
    '--endpoint',
    ingest.url,
    '--cluster',
    'prod',
    '--kubeconfig',
    await sim.writeKubeconfig(dir),
    '--listen',
    '127.0.0.1:0',
    '--grace-period',
    '1',
  ]);
  t.after(() => {
    child.proc.kill('SIGKILL');
  });
  await eventually(
    () => child.lines.some((l) => l.msg === 'posting a batch failed; retrying the same batch'),
    60_000,
    'retries',
  );
  child.proc.kill('SIGTERM');
  assert.equal(await child.exited, 0);
  // The flush gave up when the grace period ended (the endpoint never came back), and said so.
  const lost = child.lines.find((l) => l.level === 'error' && typeof l.left === 'number');
  assert.ok(lost, 'the unsent changes are logged');
  assert.match(String(lost.msg), /grace period ended/);
  assert.ok((lost.left as number) >= 3, 'config, the object and its relist page');
});
