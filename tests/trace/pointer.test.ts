import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { JsonPointerError } from '../../lib/trace/errors.ts';
import { formatPointer, parsePointer, resolvePointer } from '../../lib/trace/pointer.ts';

describe('resolvePointer: RFC 6901 section 5 examples', () => {
  const doc = {
    foo: ['bar', 'baz'],
    '': 0,
    'a/b': 1,
    'c%d': 2,
    'e^f': 3,
    'g|h': 4,
    'i\\j': 5,
    'k"l': 6,
    ' ': 7,
    'm~n': 8,
  };
  const cases: [string, unknown][] = [
    ['', doc],
    ['/foo', ['bar', 'baz']],
    ['/foo/0', 'bar'],
    ['/', 0],
    ['/a~1b', 1],
    ['/c%d', 2],
    ['/e^f', 3],
    ['/g|h', 4],
    ['/i\\j', 5],
    ['/k"l', 6],
    ['/ ', 7],
    ['/m~0n', 8],
  ];
  for (const [pointer, expected] of cases) {
    test(JSON.stringify(pointer), () => {
      assert.deepEqual(resolvePointer(doc, pointer), [expected]);
    });
  }
});

describe('resolvePointer: SimKube `*` and misses', () => {
  const deployment = {
    spec: {
      template: {
        spec: {
          containers: [
            { name: 'a', ports: [{ p: 1 }, { p: 2 }] },
            { name: 'b', ports: [{ p: 3 }] },
          ],
        },
      },
      '*': 'literal star key',
    },
  };
  const cases: { name: string; pointer: string; expected: unknown[] }[] = [
    { name: '* over an array', pointer: '/spec/template/spec/containers/*/name', expected: ['a', 'b'] },
    { name: 'nested *', pointer: '/spec/template/spec/containers/*/ports/*/p', expected: [1, 2, 3] },
    { name: '* at the end', pointer: '/spec/template/spec/containers/1/ports/*', expected: [{ p: 3 }] },
    { name: '* on an object is the key "*"', pointer: '/spec/*', expected: ['literal star key'] },
    { name: 'missing key', pointer: '/spec/nope', expected: [] },
    { name: 'index out of range', pointer: '/spec/template/spec/containers/2', expected: [] },
    { name: '"-" (past the end)', pointer: '/spec/template/spec/containers/-', expected: [] },
    { name: 'index with a leading zero', pointer: '/spec/template/spec/containers/01', expected: [] },
    { name: 'step into a string', pointer: '/spec/template/spec/containers/0/name/x', expected: [] },
    { name: '* over no array', pointer: '/spec/template/*', expected: [] },
    { name: '* partly missing below', pointer: '/spec/template/spec/containers/*/ports/1/p', expected: [2] },
    { name: 'the prototype is not the document', pointer: '/constructor', expected: [] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(resolvePointer(deployment, c.pointer), c.expected);
    });
  }

  test('an undefined property is absent, as in JSON', () => {
    assert.deepEqual(resolvePointer({ a: undefined, b: [undefined, 1] }, '/a'), []);
    assert.deepEqual(resolvePointer({ a: undefined, b: [undefined, 1] }, '/b/*'), [1]);
  });
});

describe('pointer syntax', () => {
  test('"~01" is "~1" unescaped once, not "/"', () => {
    assert.deepEqual(parsePointer('/~01'), ['~1']);
    assert.deepEqual(resolvePointer({ '~1': 'x', '/': 'y' }, '/~01'), ['x']);
  });

  for (const bad of ['spec/template', '#/spec', '/a~2b', '/a~']) {
    test(`refuses ${JSON.stringify(bad)}`, () => {
      assert.throws(
        () => resolvePointer({}, bad),
        (err) => err instanceof JsonPointerError && err.code === 'json_pointer' && err.message.includes(bad),
      );
    });
  }

  test('formatPointer and parsePointer are inverse', () => {
    fc.assert(
      fc.property(fc.array(fc.string()), (segments) => {
        assert.deepEqual(parsePointer(formatPointer(segments)), segments);
      }),
    );
  });
});
