/**
 * List page limits by bytes (runner.ts PageSizes): expectations computed by hand from the sizes
 * given, not by the class.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PageSizes } from '../../lib/forwarder/runner.ts';

const items = (n: number) => new Array<unknown>(n).fill({});

test('the first page asks for firstLimit items; later pages for what fits the target bytes', () => {
  const sizes = new PageSizes(500, 100, 1_000_000);
  assert.equal(sizes.first(), 100);
  // Nothing observed yet: the next page is as small as the first.
  assert.equal(sizes.next(), 100);
  // 100 pods of 9,000 B: 1,000,000 / 9,000 = 111.1 → 111.
  sizes.observe({ items: items(100), bytes: 900_000 });
  assert.equal(sizes.next(), 111);
  // Smaller objects (1,250 B each): 800 fit, capped at 500.
  sizes.observe({ items: items(111), bytes: 138_750 });
  assert.equal(sizes.next(), 500);
  // Objects larger than the target: one per page, never 0.
  sizes.observe({ items: items(2), bytes: 5_000_000 });
  assert.equal(sizes.next(), 1);
});

test('pages without a size or without items change nothing; firstLimit is capped by the maximum', () => {
  const sizes = new PageSizes(50, 100, 1_000_000);
  assert.equal(sizes.first(), 50);
  sizes.observe({ items: items(10) });
  sizes.observe({ items: [], bytes: 120 });
  assert.equal(sizes.next(), 50);
  sizes.observe({ items: items(10), bytes: 400_000 });
  assert.equal(sizes.next(), 25);
});
