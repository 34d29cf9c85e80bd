import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeTrace } from '../../lib/trace/codec.ts';
import { specHash } from '../../lib/trace/hash.ts';
import type { KubeObject, Trace } from '../../lib/trace/model.ts';
import { objKey } from '../../lib/trace/model.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function sktrace(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['lib/cli/sktrace.mjs', ...args], (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const pod = (name: string, image: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'jobs' },
  spec: { containers: [{ name: 'main', image }], restartPolicy: 'Never' },
});
const a = pod('a', 'busybox:1');
const b = pod('b', 'busybox:2');
const owner = { gvk: 'v1.Pod', nsName: 'jobs/a' };

function traceWith(indexOfB: bigint): Trace {
  return {
    version: 2,
    config: { trackedObjects: { 'v1.Pod': { podSpecTemplatePaths: [''], trackLifecycle: true } } },
    events: [
      { ts: 1700000000, applied_objs: [a, b], deleted_objs: [] },
      { ts: 1700000100, applied_objs: [], deleted_objs: [a] },
    ],
    index: new Map([
      [
        'v1.Pod',
        new Map([
          ['jobs/a', specHash(a.spec)],
          ['jobs/b', indexOfB],
        ]),
      ],
    ]),
    podLifecycles: new Map([
      [
        objKey(owner),
        { owner, bySpecHash: new Map([[2n ** 64n - 1n, [{ startTs: 1700000001, endTs: 1700000099 }]]]) },
      ],
    ]),
  };
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('sktrace conformance', () => {
  const root = mkdtempSync(join(tmpdir(), 'sktrace-conformance-'));
  const mixed = join(root, 'mixed');
  const excused = join(root, 'excused');
  const empty = join(root, 'empty');
  const good = encodeTrace(traceWith(specHash(b.spec)));
  const badIndex = encodeTrace(traceWith(99n));
  // The same trace with its top-level map header as map16 (de 00 05) instead of fixmap (85):
  // it decodes, but sk-tracer would not have written it, and re-encoding shows it.
  const nonCanonical = Uint8Array.from([0xde, 0x00, 0x05, ...good.subarray(1)]);
  let mixedRun: Run;
  let excusedRun: Run;
  let emptyRun: Run;

  before(async () => {
    for (const d of [mixed, excused, empty]) mkdirSync(d);
    writeFileSync(join(mixed, 'good.sktrace'), good);
    writeFileSync(join(mixed, 'bad-index.sktrace'), badIndex);
    writeFileSync(join(mixed, 'non-canonical.msgpack'), nonCanonical);
    writeFileSync(join(mixed, 'garbage.sktrace'), Buffer.from('not a trace'));
    writeFileSync(join(mixed, 'notes.yml'), 'ignored: true\n');
    writeFileSync(
      join(mixed, 'good.json'),
      JSON.stringify({
        version: 2,
        config: { trackedObjects: {} },
        events: [{ ts: 1, applied_objs: [b], deleted_objs: [] }],
        index: { 'v1.Pod': { 'jobs/b': '@' } },
        pod_lifecycles: {},
      }).replace('"@"', specHash(b.spec).toString()),
    );
    writeFileSync(join(excused, 'good.sktrace'), good);
    writeFileSync(join(excused, 'bad-index.sktrace'), badIndex);
    const exceptions = join(root, 'exceptions.json');
    writeFileSync(
      exceptions,
      JSON.stringify([
        {
          sha256: sha256(badIndex),
          gvk: 'v1.Pod',
          nsNames: ['jobs/b'],
          reason: 'edited by hand in this test',
        },
      ]),
    );
    // The CLI starts slowly (every command's modules load): run the three at once.
    [mixedRun, excusedRun, emptyRun] = await Promise.all([
      sktrace('conformance', mixed),
      sktrace('conformance', excused, '--exceptions', exceptions, '--json'),
      sktrace('conformance', empty),
    ]);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  /** The report block of one file in the readable output. */
  const block = (out: string, file: string) => {
    const start = out.indexOf(`${file} (`);
    assert.ok(start >= 0, `no report for ${file} in:\n${out}`);
    const next = out.slice(start + 1).search(/\n\S/);
    return out.slice(start, next < 0 ? undefined : start + 1 + next);
  };

  test('a conforming msgpack trace: byte-identical, every index entry equal', () => {
    const r = block(mixedRun.stdout, 'good.sktrace');
    assert.match(r, /round trip: byte-identical/);
    assert.match(r, /index: 2 of 2 entries equal the spec hash/);
    assert.match(r, /\n {2}ok$/);
  });

  test('a wrong index entry fails, named with both hashes', () => {
    const r = block(mixedRun.stdout, 'bad-index.sktrace');
    assert.match(r, /index: 1 of 2 entries/);
    assert.match(r, new RegExp(`mismatch v1\\.Pod jobs/b: index 99, spec hash ${specHash(b.spec)}`));
    assert.match(r, /FAIL: index: 1 entr\(ies\) differ from the spec hash/);
  });

  test('a trace sk-tracer would not have written fails the byte comparison', () => {
    const r = block(mixedRun.stdout, 'non-canonical.msgpack');
    assert.match(r, /round trip: differs from byte 0 \(re-encoded \d+ bytes, file \d+\)/);
    assert.match(r, /FAIL: round trip/);
  });

  test('a JSON trace: decodes, and its msgpack encoding decodes back equal', () => {
    const r = block(mixedRun.stdout, 'good.json');
    assert.match(r, /\(json, /);
    assert.match(r, /round trip: decodes; its msgpack encoding \(\d+ bytes\) decodes back equal/);
    assert.match(r, /index: 1 of 1 entries equal/);
    assert.match(r, /\n {2}ok$/);
  });

  test('a file that is no trace fails with the reason', () => {
    const r = block(mixedRun.stdout, 'garbage.sktrace');
    assert.match(r, /decode: FAILED: not a trace: the data starts with byte 0x6e/);
  });

  test('other files are skipped; any failure makes the exit status 1', () => {
    assert.doesNotMatch(mixedRun.stdout, /notes\.yml/);
    assert.match(mixedRun.stdout, /conformance: 5 trace file\(s\) checked, 3 failing\n$/);
    assert.equal(mixedRun.code, 1);
  });

  test('a known exception keyed by content hash: reported, not failing', () => {
    assert.equal(excusedRun.code, 0, excusedRun.stdout + excusedRun.stderr);
    const doc = JSON.parse(excusedRun.stdout);
    assert.equal(doc.files, 2);
    assert.equal(doc.failing, 0);
    const report = doc.reports.find((r: { file: string }) => r.file === 'bad-index.sktrace');
    assert.equal(report.exception.reason, 'edited by hand in this test');
    assert.equal(report.index.mismatched[0].nsName, 'jobs/b');
    assert.equal(report.index.mismatched[0].indexHash, '99');
    assert.deepEqual(report.failures, []);
    // The same content elsewhere (mixed/) was not excused: the exception is the file, not its name.
    assert.match(block(mixedRun.stdout, 'bad-index.sktrace'), /FAIL/);
  });

  test('a directory without traces is a usage error', () => {
    assert.equal(emptyRun.code, 2);
    assert.match(
      emptyRun.stderr,
      /^sktrace: conformance: no trace files \(\.sktrace, \.msgpack, \.json\) in .*empty\n$/,
    );
  });
});
