/**
 * `sktrace conformance` and `sktrace conformance --roundtrip` on the real SimKube traces of
 * ../shared/simkube-traces (skipped with one line when absent): every file passes, bare-pods'
 * edited index named as the known exception, every msgpack file byte-identical on re-encoding and
 * "same as the file" after the round trip through a local stack. The oracle is the files; the
 * stricter byte-level checks are codec.test.ts and roundtrip.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { msgpackTraces, SIMKUBE_TRACES, skipUnlessSimkubeTraces } from './support.ts';

const skip = skipUnlessSimkubeTraces();
const files = msgpackTraces();

function sktrace(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['lib/cli/sktrace.mjs', ...args],
      { timeout: 240_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

test('sktrace conformance on the real SimKube traces: every file passes, known exceptions named', {
  skip,
}, async () => {
  const run = await sktrace('conformance', SIMKUBE_TRACES);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  for (const { name } of files)
    assert.match(
      run.stdout,
      new RegExp(`${name.replace('.', '\\.')} \\(msgpack[^\\n]*\\n  round trip: byte-identical`),
    );
  assert.match(run.stdout, /known exception for v1\.Pod entries: SimKube sample bare-pods\.sktrace/);
  assert.match(run.stdout, /conformance: \d+ trace file\(s\) checked, 0 failing/);
});

test('sktrace conformance --roundtrip on the real SimKube traces: every file round-trips', {
  skip,
}, async () => {
  const run = await sktrace('conformance', '--roundtrip', SIMKUBE_TRACES);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  for (const { name } of files)
    assert.match(
      run.stdout,
      new RegExp(
        `${name.replace('.', '\\.')} \\(cluster[^\\n]*\\n[^\\n]*\\n  full window [^\\n]*: equals the reference export\\n    same as the file`,
      ),
    );
  assert.match(run.stdout, /round trip: \d+ trace file\(s\), 0 failing/);
});
