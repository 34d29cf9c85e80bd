/**
 * The bench runner's pure parts: statistics, the result shape written to bench/results.json, and
 * its command line. The benchmarks themselves are not tests (`npm run bench`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatMarkdown, median, resultOf, sig } from '../../bench/result.ts';
import { parseArgs } from '../../bench/run.ts';

describe('median', () => {
  for (const [xs, want] of [
    [[3], 3],
    [[5, 1, 3], 3],
    [[4, 1, 3, 2], 2.5],
    [[7, 7, 1, 9, 8], 7],
  ] as const) {
    it(`of ${xs.join(',')} is ${want}`, () => assert.equal(median(xs), want));
  }
  it('refuses no figures', () => assert.throws(() => median([]), RangeError));
});

describe('resultOf', () => {
  it('takes medians, extremes and the ratio to the floor, 3 significant digits', () => {
    const r = resultOf('x', { size: 1 }, 'ms', [12.345, 10, 30, 11, 13], [2, 3, 4]);
    assert.deepEqual(r, {
      name: 'x',
      params: { size: 1 },
      unit: 'ms',
      median: 12.3,
      min: 10,
      max: 30,
      runs: 5,
      floor_median: 3,
      ratio: 4.12,
    });
  });
  it('rounds large figures to significant digits, not decimals', () => {
    assert.equal(sig(123_456), 123_000);
    assert.equal(sig(0.0012345), 0.00123);
  });
  it('renders one markdown row per result', () => {
    const md = formatMarkdown([resultOf('a', { n: 2, extrapolated: true }, 'MB', [1], [2])]).split('\n');
    assert.equal(md.length, 3);
    assert.equal(md[2], '| a | n=2 extrapolated=true | MB | 1 | 1 | 1 | 1 | 2 | 0.5 |');
  });
});

describe('parseArgs', () => {
  it('runs everything by default', () => {
    const args = parseArgs([]);
    assert.equal(args.quick, false);
    assert.ok(args.only.includes('export') && args.only.includes('end_to_end'));
  });
  for (const argv of [
    ['--quick', '--only', 'hash,export'],
    ['--only=hash,export', '--quick'],
  ]) {
    it(`reads ${argv.join(' ')}`, () =>
      assert.deepEqual(parseArgs(argv), { quick: true, only: ['hash', 'export'] }));
  }
  it('names an unknown benchmark', () => {
    assert.throws(() => parseArgs(['--only', 'hash,exprot']), /unknown benchmark\(s\) exprot/);
  });
  it('refuses --only without a list', () => assert.throws(() => parseArgs(['--only']), /--only needs/));
});
