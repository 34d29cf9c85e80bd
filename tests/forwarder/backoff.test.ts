import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff, type BackoffOptions, parseRetryAfterMs } from '../../lib/forwarder/backoff.ts';

const options: BackoffOptions = {
  initialMs: 100,
  maxMs: 1_000,
  factor: 2,
  jitter: 0.5,
  quietPeriodMs: 10_000,
  maxRetryAfterMs: 60_000,
};

test('delays grow exponentially up to the ceiling, with equal jitter', () => {
  const cases: Array<{ random: number; expected: number[] }> = [
    // random 0: the fixed half only.
    { random: 0, expected: [50, 100, 200, 400, 500, 500] },
    // random 1 (just under): the whole step.
    { random: 0.999999, expected: [100, 200, 400, 800, 1000, 1000] },
  ];
  for (const { random, expected } of cases) {
    const backoff = new Backoff(options, () => random);
    let now = 0;
    const delays = expected.map(() => {
      const d = backoff.next(now);
      now += d; // fail again right after each wait
      return d;
    });
    assert.deepEqual(delays, expected);
  }
});

test('a quiet period after the last delay resets to the first step', () => {
  const backoff = new Backoff(options, () => 0);
  let now = 0;
  for (let i = 0; i < 4; i++) now += backoff.next(now);
  assert.equal(backoff.attempt, 4);
  // A failure just before the quiet period ends keeps growing...
  assert.equal(backoff.next(now + 9_999), 500);
  // ...one after a full quiet period starts over.
  const after = now + 9_999 + 500 + 10_000;
  assert.equal(backoff.next(after), 50);
  assert.equal(backoff.attempt, 1);
});

test('reset() starts over at once', () => {
  const backoff = new Backoff(options, () => 0);
  backoff.next(0);
  backoff.next(0);
  backoff.reset();
  assert.equal(backoff.next(0), 50);
});

test('Retry-After is a floor, capped', () => {
  const backoff = new Backoff(options, () => 0);
  assert.equal(backoff.next(0, 5_000), 5_000);
  assert.equal(backoff.next(0, 10), 100); // the exponential step wins when larger
  assert.equal(backoff.next(0, 3_600_000), 60_000);
});

test('parseRetryAfterMs reads seconds and HTTP dates', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  const cases: Array<[string | undefined, number | undefined]> = [
    ['3', 3_000],
    [' 0 ', 0],
    ['Wed, 01 Jan 2025 00:00:10 GMT', 10_000],
    ['Tue, 31 Dec 2024 23:00:00 GMT', 0],
    ['soon', undefined],
    ['-1', undefined],
    [undefined, undefined],
  ];
  for (const [header, expected] of cases)
    assert.equal(parseRetryAfterMs(header, now), expected, String(header));
});
