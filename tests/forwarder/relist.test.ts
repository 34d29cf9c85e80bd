import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { relistPages, sortNsNames } from '../../lib/forwarder/relist.ts';
import { compareUtf8 } from '../../lib/trace/hash.ts';

test('relist pages tile the whole key space', () => {
  const cases: Array<{
    names: string[];
    size: number;
    expected: Array<[string | null, string | null, string[]]>;
  }> = [
    { names: [], size: 2, expected: [[null, null, []]] },
    { names: ['a/x'], size: 2, expected: [[null, null, ['a/x']]] },
    { names: ['a/x', 'b/y'], size: 2, expected: [[null, null, ['a/x', 'b/y']]] },
    {
      names: ['a/x', 'b/y', 'c/z'],
      size: 2,
      expected: [
        [null, 'b/y', ['a/x', 'b/y']],
        ['b/y', null, ['c/z']],
      ],
    },
    {
      names: ['a', 'b', 'c', 'd'],
      size: 1,
      expected: [
        [null, 'a', ['a']],
        ['a', 'b', ['b']],
        ['b', 'c', ['c']],
        ['c', null, ['d']],
      ],
    },
  ];
  for (const { names, size, expected } of cases) {
    const pages = relistPages('v1.Pod', names, size);
    assert.deepEqual(
      pages.map((p) => [p.after, p.through, p.nsNames]),
      expected,
      `${names.join(',')} / ${size}`,
    );
    for (const p of pages) assert.equal(p.gvk, 'v1.Pod');
  }
});

test('every name falls in exactly one page, and every page range is consistent', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 })),
      fc.integer({ min: 1, max: 5 }),
      (raw, size) => {
        const names = sortNsNames(raw);
        const pages = relistPages('apps/v1.Deployment', names, size);
        const inRange = (n: string, after: string | null, through: string | null) =>
          (after === null || compareUtf8(n, after) > 0) && (through === null || compareUtf8(n, through) <= 0);
        for (const n of names) assert.equal(pages.filter((p) => inRange(n, p.after, p.through)).length, 1);
        for (const p of pages) for (const n of p.nsNames) assert.ok(inRange(n, p.after, p.through));
        assert.equal(pages[0]!.after, null);
        assert.equal(pages.at(-1)!.through, null);
      },
    ),
    { numRuns: 500 },
  );
});

test('sortNsNames orders by UTF-8 bytes and drops duplicates', () => {
  // U+FF5E (EF BD 9E) sorts before U+1F600 (F0 9F 98 80) in UTF-8, after it in UTF-16.
  assert.deepEqual(sortNsNames(['\u{1f600}', '\uff5e']), ['\uff5e', '\u{1f600}']);
  // '-' (0x2d) sorts before '/' (0x2f): "ns-a/x" precedes "ns/x", as in etcd's key order.
  assert.deepEqual(sortNsNames(['ns/x', 'ns-a/x', 'ns/x']), ['ns-a/x', 'ns/x']);
});
