import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNamespaceList, parseTimeArg, SKCTL_EXCLUDED_NAMESPACES } from '../../lib/cli/time.ts';

const NOW = 1_710_892_138; // 2024-03-19T23:48:58Z

describe('parseTimeArg', () => {
  const cases: [string, number][] = [
    ['now', NOW],
    ['NOW', NOW],
    ['1700000000', 1_700_000_000],
    ['@1700000000', 1_700_000_000],
    ['0', 0],
    ['-30m', NOW - 1800],
    ['-2h', NOW - 7200],
    ['-1d', NOW - 86_400],
    ['-1w', NOW - 604_800],
    ['-90s', NOW - 90],
    ['+5m', NOW + 300],
    ['-1h30m', NOW - 5400],
    ['-1h 30m', NOW - 5400],
    ['-2 hours', NOW - 7200],
    ['2 hours ago', NOW - 7200],
    ['30 minutes ago', NOW - 1800],
    ['2024-03-19T23:48:58Z', 1_710_892_138],
    ['2024-03-19T23:48:58.999Z', 1_710_892_138],
    ['2024-03-19 23:48:58z', 1_710_892_138],
    ['2024-03-20T00:48:58+01:00', 1_710_892_138],
    ['2024-03-19T20:48:58-0300', 1_710_892_138],
    ['2024-03-19T23:48Z', 1_710_892_080],
    ['  now  ', NOW],
  ];
  for (const [text, want] of cases) {
    it(`${JSON.stringify(text)} → ${want}`, () => {
      assert.equal(parseTimeArg(text, NOW), want);
    });
  }

  it('reads a date or date-time without offset as local time, like skctl', () => {
    assert.equal(
      parseTimeArg('2024-03-19T23:48:58', NOW),
      new Date(2024, 2, 19, 23, 48, 58).getTime() / 1000,
    );
    assert.equal(parseTimeArg('2024-03-19', NOW), new Date(2024, 2, 19).getTime() / 1000);
  });

  const bad: [string, RegExp][] = [
    ['', /is empty/],
    ['yesterday', /is not a time/],
    ['30m', /is not a time/],
    ['-30', /is not a time/],
    ['-30 parsecs', /is not a time/],
    ['-2h ago', /is not a time/],
    ['2024-02-30', /not a valid date/],
    ['2024-13-01T00:00:00Z', /not a valid date/],
    ['2024-01-01T25:00:00Z', /not a valid date/],
    ['99999999999999999999', /out of range/],
  ];
  for (const [text, why] of bad) {
    it(`refuses ${JSON.stringify(text)} naming the flag`, () => {
      assert.throws(
        () => parseTimeArg(text, NOW, '--start'),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'usage');
          assert.match(err.message, /^--start /);
          assert.match(err.message, why);
          return true;
        },
      );
    });
  }
});

describe('parseNamespaceList', () => {
  const cases: [string, string[]][] = [
    ['', []],
    ['a', ['a']],
    ['a,b', ['a', 'b']],
    [' a , b ,', ['a', 'b']],
  ];
  for (const [text, want] of cases) {
    it(`${JSON.stringify(text)}`, () => assert.deepEqual(parseNamespaceList(text), want));
  }

  it("holds skctl export's default excluded namespaces", () => {
    assert.deepEqual(parseNamespaceList(SKCTL_EXCLUDED_NAMESPACES.join(',')), [
      'cert-manager',
      'default',
      'kube-public',
      'kube-node-lease',
      'kube-system',
      'local-path-storage',
      'monitoring',
      'simkube',
    ]);
  });
});
