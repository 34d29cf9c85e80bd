import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  compareBytewise,
  isValidClusterId,
  nameProblem,
  namespaceProblem,
  nsNameProblem,
} from '../../lib/ingest/names.ts';

test('compareBytewise orders as UTF-8 bytes do', () => {
  const sign = (n: number) => Math.sign(n);
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
      assert.equal(sign(compareBytewise(a, b)), sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
    }),
    { numRuns: 5000 },
  );
  // The case UTF-16 gets wrong: U+FF5E (EF BD 9E) sorts before U+1F600 (F0 9F 98 80).
  assert.ok(compareBytewise('\uff5e', '😀') < 0);
  assert.ok('\uff5e' > '😀', 'while JavaScript says the opposite');
});

const cluster: [string, boolean][] = [
  ['prod', true],
  ['eu-west-1-a', true],
  ['a', true],
  ['a'.repeat(63), true],
  ['a'.repeat(64), false],
  ['Prod', false],
  ['-prod', false],
  ['prod-', false],
  ['pr#od', false],
  ['pr/od', false],
  ['..', false],
  ['', false],
];
for (const [id, valid] of cluster) {
  test(`cluster id ${JSON.stringify(id.length > 20 ? `${id.slice(0, 5)}…(${id.length})` : id)} is ${valid ? 'valid' : 'invalid'}`, () => {
    assert.equal(isValidClusterId(id), valid);
  });
}

const names: [string, (s: string) => string | undefined, string, boolean][] = [
  ['name', nameProblem, 'web-7d4b9c-abcde', true],
  ['name', nameProblem, 'system:controller:job', true],
  ['name', nameProblem, 'x'.repeat(253), true],
  ['name', nameProblem, 'x'.repeat(254), false],
  ['name', nameProblem, '.', false],
  ['name', nameProblem, 'a%2Fb', false],
  ['name', nameProblem, 'tab\tname', false],
  ['namespace', namespaceProblem, 'kube-system', true],
  ['namespace', namespaceProblem, 'Kube', false],
  ['namespace', namespaceProblem, 'a.b', false],
  ['nsName', nsNameProblem, 'shop/web', true],
  ['nsName', nsNameProblem, 'node-1', true],
  ['nsName', nsNameProblem, 'shop/a/b', false],
  ['nsName', nsNameProblem, '/web', false],
  ['nsName', nsNameProblem, 'shop/', false],
];
for (const [what, check, value, valid] of names) {
  test(`${what} ${JSON.stringify(value.length > 20 ? `${value.slice(0, 5)}…` : value)} is ${valid ? 'valid' : 'invalid'}`, () => {
    assert.equal(check(value) === undefined, valid, check(value));
  });
}
