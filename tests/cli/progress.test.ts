import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, Progress } from '../../lib/cli/progress.ts';

function stream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, out: { isTTY, columns: 80, write: (t: string) => writes.push(t) } };
}

test('on a terminal: one bar rewritten in place, cleared before a note', () => {
  const { writes, out } = stream(true);
  const p = new Progress(out, { barWidth: 10 });
  p.update('import a.sktrace', 'batch 1/4', 0.25);
  p.update('import a.sktrace', 'batch 4/4', 1);
  p.note('retry 1 in 0.5 s');
  assert.deepEqual(writes, [
    '\r\x1b[2K[###.......]  25% import a.sktrace batch 1/4',
    '\r\x1b[2K[##########] 100% import a.sktrace batch 4/4',
    '\r\x1b[2K',
    'retry 1 in 0.5 s\n',
  ]);
});

test('elsewhere: plain lines, at most one per interval unless the step changes', () => {
  const { writes, out } = stream(false);
  let now = 0;
  const p = new Progress(out, { plainEveryMs: 10_000, nowMs: () => now });
  p.update('export x: changes', '10 changes read', 0.1);
  now = 5_000;
  p.update('export x: changes', '20 changes read', 0.2);
  now = 10_000;
  p.update('export x: changes', '30 changes read', 0.3);
  now = 11_000;
  p.update('export x: finishing', '40 changes read', 1);
  p.update('export x: pending', '1 s');
  p.clear();
  assert.deepEqual(writes, [
    '10% export x: changes 10 changes read\n',
    '30% export x: changes 30 changes read\n',
    '100% export x: finishing 40 changes read\n',
    'export x: pending 1 s\n',
  ]);
});

test('formatBytes', () => {
  assert.deepEqual([0, 999, 1000, 12_345, 1_234_567, 5e9].map(formatBytes), [
    '0 B',
    '999 B',
    '1.0 kB',
    '12 kB',
    '1.2 MB',
    '5.0 GB',
  ]);
});
