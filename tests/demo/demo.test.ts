/**
 * `npm run demo` end to end, as a user runs it: a child process (the local stack, the simulated
 * cluster, two real forwarder processes, an export), exit 0, and a last line that is the path of a
 * trace file which decodes. The wall time is reported, never asserted (timings never decide a
 * test); 120 s is only a guard against a hang.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readTraceFile } from '../../lib/trace/codec-file.ts';
import { summarizeTrace } from '../../lib/trace/inspect.ts';

const HANG_GUARD_MS = 120_000;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  wallMs: number;
}

function runDemo(args: string[]): Promise<Run> {
  const startedMs = Date.now();
  const proc = spawn(process.execPath, ['--import', 'tsx', 'deploy/demo.ts', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  // SIGINT: the demo's own handler stops its forwarders; the process group is not ours to kill.
  const guard = setTimeout(() => proc.kill('SIGINT'), HANG_GUARD_MS);
  return new Promise((resolve) =>
    proc.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr, wallMs: Date.now() - startedMs });
    }),
  );
}

test('npm run demo: exit 0, the last line is a trace file that decodes and holds the workload', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sktrace-demo-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const output = join(dir, 'demo.sktrace');
  const run = await runDemo(['--output', output]);
  t.diagnostic(`demo wall time: ${(run.wallMs / 1000).toFixed(1)} s (target: under 60 s)`);
  assert.ok(run.wallMs < HANG_GUARD_MS, `the demo hung: ${run.stdout.slice(-2000)}`);
  assert.equal(run.code, 0, `exit ${run.code} (${run.signal})\n${run.stdout.slice(-4000)}\n${run.stderr}`);

  const lines = run.stdout.trimEnd().split('\n');
  const last = lines[lines.length - 1]!;
  assert.equal(last, output, 'the last line is the trace path, alone');
  assert.ok(existsSync(last));
  const trace = await readTraceFile(last);
  const summary = summarizeTrace(trace);
  // What the scripted workload must leave in any correct export (excluded kube-system aside).
  assert.deepEqual(Object.keys(summary.kinds), [
    'apps/v1.Deployment',
    'apps/v1.StatefulSet',
    'batch/v1.CronJob',
    'v1.ServiceAccount',
  ]);
  assert.deepEqual(summary.kinds['apps/v1.Deployment'], { objects: 2, applied: 5, deleted: 1 });
  assert.deepEqual(summary.kinds['apps/v1.StatefulSet'], { objects: 1, applied: 1, deleted: 1 });
  assert.deepEqual(summary.kinds['v1.ServiceAccount'], { objects: 2, applied: 2, deleted: 1 });
  const lifecycles = (nsName: string) => {
    const o = summary.lifecycles.perOwner.find((x) => x.nsName === nsName);
    return o && { finished: o.finished, running: o.running };
  };
  assert.deepEqual(lifecycles('batch/report'), { finished: 3, running: 0 });
  // Pods deleted while the forwarder was down (all of shop/api's, one of shop/web's) are finished
  // by the restarted forwarder's pods relist, not left Running.
  assert.deepEqual(lifecycles('shop/api'), { finished: 2, running: 0 });
  assert.deepEqual(lifecycles('shop/web'), { finished: 6, running: 4 });

  // The demo printed its checks, none failed, and its forwarders are gone (no orphans).
  assert.match(run.stdout, /✓ objects alive at the end/);
  assert.doesNotMatch(run.stdout, /✗/);
  const pids = [...run.stdout.matchAll(/forwarder #\d \(pid (\d+)\)/g)].map((m) => Number(m[1]));
  assert.equal(pids.length, 2);
  for (const pid of pids)
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `forwarder ${pid} left running`);
});
