import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { LabelSelector } from '../../lib/trace/model.ts';
import {
  formatSelector,
  labelKeyProblem,
  labelValueProblem,
  matchesSelector,
  parseSelector,
  SelectorError,
  validateLabelSelector,
} from '../../lib/trace/selector.ts';

describe('parseSelector', () => {
  const cases: [string, LabelSelector][] = [
    ['app=web', { matchLabels: { app: 'web' } }],
    ['app==web', { matchLabels: { app: 'web' } }],
    ['app!=web', { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] }],
    ['tier in (b,a)', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }] }],
    ['tier notin (a)', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['a'] }] }],
    ['canary', { matchExpressions: [{ key: 'canary', operator: 'Exists' }] }],
    ['!canary', { matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] }],
    [
      ' app = web , tier in ( a , b ) ,\t!canary ',
      {
        matchLabels: { app: 'web' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['a', 'b'] },
          { key: 'canary', operator: 'DoesNotExist' },
        ],
      },
    ],
    ['app.kubernetes.io/name=web', { matchLabels: { 'app.kubernetes.io/name': 'web' } }],
    // The empty value, spelled the ways selector.go accepts.
    ['app=', { matchLabels: { app: '' } }],
    ['app=,b', { matchLabels: { app: '' }, matchExpressions: [{ key: 'b', operator: 'Exists' }] }],
    ['x in ()', { matchExpressions: [{ key: 'x', operator: 'In', values: [''] }] }],
    ['x in (a,,b)', { matchExpressions: [{ key: 'x', operator: 'In', values: ['', 'a', 'b'] }] }],
    ['x in (a,)', { matchExpressions: [{ key: 'x', operator: 'In', values: ['', 'a'] }] }],
    ['x in (a,a)', { matchExpressions: [{ key: 'x', operator: 'In', values: ['a'] }] }],
    // `in`/`notin` are plain words in key and value position.
    ['in in (in,notin)', { matchExpressions: [{ key: 'in', operator: 'In', values: ['in', 'notin'] }] }],
    // A repeated key with another value must keep matching nothing.
    ['a=1,a=2', { matchLabels: { a: '1' }, matchExpressions: [{ key: 'a', operator: 'In', values: ['2'] }] }],
    ['a=1,a=1', { matchLabels: { a: '1' } }],
    ['', {}],
    ['   ', {}],
  ];
  for (const [text, expected] of cases) {
    it(`parses ${JSON.stringify(text)}`, () => {
      assert.deepEqual(parseSelector(text), expected);
    });
  }

  const errors: [string, number, RegExp][] = [
    ['app=web,', 9, /expected a label key/],
    [',app', 1, /expected a label key/],
    ['app=web tier=a', 9, /expected "," or the end/],
    ['tier in a', 9, /expected "\("/],
    ['tier in (a', 11, /not closed/],
    ['tier in (a b)', 12, /expected "," or "\)"/],
    ['x>1', 2, /">" is not supported in a LabelSelector/],
    ['x<1', 2, /"<" is not supported/],
    ['!x=a', 3, /expected "," or the end/],
    ['app=we b', 8, /expected "," or the end/],
    ['-app=web', 1, /invalid label key "-app"/],
    ['a/b/c=x', 1, /at most one "\/"/],
    ['/x=y', 1, /prefix before "\/" must not be empty/],
    ['Example.com/x=y', 1, /not a DNS subdomain/],
    [`${'k'.repeat(64)}=v`, 1, /longer than 63/],
    [`k=${'v'.repeat(64)}`, 3, /invalid label value .* longer than 63/],
    ['k=v!', 4, /expected "," or the end/],
    ['k=-v', 3, /invalid label value "-v"/],
    ['k in (a,-b)', 9, /invalid label value "-b"/],
  ];
  for (const [text, column, pattern] of errors) {
    it(`refuses ${JSON.stringify(text)} at column ${column}`, () => {
      assert.throws(
        () => parseSelector(text),
        (err: unknown) => {
          assert.ok(err instanceof SelectorError, `not a SelectorError: ${String(err)}`);
          assert.equal(err.code, 'invalid_selector');
          assert.match(err.message, pattern);
          assert.match(err.message, new RegExp(`at column ${column}$`));
          assert.equal(err.context.position, column - 1);
          assert.equal(err.context.selector, text);
          return true;
        },
      );
    });
  }
  it('takes `app==` as the empty value, as selector.go does', () => {
    assert.deepEqual(parseSelector('app=='), { matchLabels: { app: '' } });
  });
});

describe('label keys and values', () => {
  const keys: [string, boolean][] = [
    ['app', true],
    ['a', true],
    ['app.kubernetes.io/name', true],
    ['example.com/a_b.c-d', true],
    ['A1', true],
    ['_a', false],
    ['a_', false],
    ['', false],
    ['ex_ample.com/a', false],
    [`${'a'.repeat(63)}`, true],
    [`${'a'.repeat(64)}`, false],
    [`${'a'.repeat(253)}/a`, true],
    [`${'a'.repeat(254)}/a`, false],
  ];
  for (const [key, ok] of keys) {
    it(`key ${JSON.stringify(key.length > 20 ? `${key.slice(0, 8)}…(${key.length})` : key)} is ${ok ? 'valid' : 'invalid'}`, () => {
      assert.equal(labelKeyProblem(key) === undefined, ok);
    });
  }
  const values: [string, boolean][] = [
    ['', true],
    ['web', true],
    ['v1.2_3-x', true],
    ['-x', false],
    ['x.', false],
    ['a b', false],
    ['a'.repeat(63), true],
    ['a'.repeat(64), false],
  ];
  for (const [value, ok] of values) {
    it(`value ${JSON.stringify(value.length > 20 ? `…(${value.length})` : value)} is ${ok ? 'valid' : 'invalid'}`, () => {
      assert.equal(labelValueProblem(value) === undefined, ok);
    });
  }
});

describe('validateLabelSelector', () => {
  it('accepts and copies a valid selector, null fields as absent', () => {
    const input = {
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['a'] },
        { key: 'canary', operator: 'Exists', values: [] },
        { key: 'x', operator: 'DoesNotExist', values: null },
      ],
    };
    const out = validateLabelSelector(input, 'sel');
    assert.deepEqual(out, {
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['a'] },
        { key: 'canary', operator: 'Exists' },
        { key: 'x', operator: 'DoesNotExist' },
      ],
    });
    assert.notEqual(out.matchLabels, input.matchLabels);
    assert.deepEqual(validateLabelSelector({ matchLabels: null, matchExpressions: null }, 'sel'), {});
  });

  const bad: [unknown, string, RegExp][] = [
    [null, 'f.excluded_labels[0]', /expected a LabelSelector object/],
    [[], 'f.excluded_labels[0]', /expected a LabelSelector object/],
    [{ matchLabel: {} }, 'f.excluded_labels[0].matchLabel', /unknown field/],
    [{ matchLabels: [] }, 'f.excluded_labels[0].matchLabels', /expected an object/],
    [{ matchLabels: { app: 1 } }, 'f.excluded_labels[0].matchLabels["app"]', /expected a string value/],
    [{ matchLabels: { '-a': 'x' } }, 'f.excluded_labels[0].matchLabels["-a"]', /invalid label key/],
    [{ matchLabels: { a: 'x y' } }, 'f.excluded_labels[0].matchLabels["a"]', /invalid label value/],
    [{ matchExpressions: {} }, 'f.excluded_labels[0].matchExpressions', /expected an array/],
    [
      { matchExpressions: ['x'] },
      'f.excluded_labels[0].matchExpressions[0]',
      /expected a requirement object/,
    ],
    [
      { matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] },
      'f.excluded_labels[0].matchExpressions[0].operator',
      /unknown operator "Gt"/,
    ],
    [
      { matchExpressions: [{ key: 'a', operator: 'in', values: ['1'] }] },
      'f.excluded_labels[0].matchExpressions[0].operator',
      /unknown operator "in"/,
    ],
    [
      { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] },
      'f.excluded_labels[0].matchExpressions[0].values',
      /Exists takes no values/,
    ],
    [
      { matchExpressions: [{ key: 'a', operator: 'DoesNotExist', values: ['x'] }] },
      'f.excluded_labels[0].matchExpressions[0].values',
      /DoesNotExist takes no values/,
    ],
    [
      { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] },
      'f.excluded_labels[0].matchExpressions[0].values',
      /In needs at least one value/,
    ],
    [
      { matchExpressions: [{ key: 'a', operator: 'NotIn' }] },
      'f.excluded_labels[0].matchExpressions[0].values',
      /NotIn needs at least one value/,
    ],
    [
      { matchExpressions: [{ key: 'a', operator: 'In', values: [1] }] },
      'f.excluded_labels[0].matchExpressions[0].values[0]',
      /expected a string/,
    ],
    [
      { matchExpressions: [{ key: 3, operator: 'Exists' }] },
      'f.excluded_labels[0].matchExpressions[0].key',
      /expected a string label key/,
    ],
    [
      { matchExpressions: [{ key: 'a', operator: 'Exists', value: 'x' }] },
      'f.excluded_labels[0].matchExpressions[0].value',
      /unknown field/,
    ],
  ];
  for (const [sel, path, pattern] of bad) {
    it(`refuses ${JSON.stringify(sel)} naming ${path}`, () => {
      assert.throws(
        () => validateLabelSelector(sel, 'f.excluded_labels[0]'),
        (err: unknown) => {
          assert.ok(err instanceof SelectorError);
          assert.equal(err.code, 'invalid_selector');
          assert.equal(err.context.path, path);
          assert.ok(err.message.startsWith(`${path}: `), err.message);
          assert.match(err.message, pattern);
          return true;
        },
      );
    });
  }
});

describe('matchesSelector', () => {
  const labels = { app: 'web', tier: 'front' };
  const cases: [string, Record<string, string> | undefined, boolean][] = [
    ['app=web', labels, true],
    ['app=db', labels, false],
    ['app=web', undefined, false],
    ['app!=db', labels, true],
    ['app!=web', labels, false],
    ['missing!=x', labels, true],
    ['tier in (front,back)', labels, true],
    ['tier in (back)', labels, false],
    ['missing in (a)', labels, false],
    ['tier notin (back)', labels, true],
    ['tier notin (front)', labels, false],
    ['missing notin (a)', labels, true],
    ['app', labels, true],
    ['missing', labels, false],
    ['!missing', labels, true],
    ['!app', labels, false],
    ['!app', undefined, true],
    ['app=web,tier=front', labels, true],
    ['app=web,tier=back', labels, false],
    ['a=1,a=2', { a: '1' }, false],
    ['a=', { a: '' }, true],
    ['a=', {}, false],
    // SimKube's (and Kubernetes') empty selector matches everything.
    ['', labels, true],
    ['', undefined, true],
  ];
  for (const [text, have, expected] of cases) {
    it(`${JSON.stringify(text)} on ${JSON.stringify(have)} → ${expected}`, () => {
      assert.equal(matchesSelector(have, parseSelector(text)), expected);
    });
  }
  it('does not treat inherited properties as labels', () => {
    assert.equal(matchesSelector({}, parseSelector('toString')), false);
    assert.equal(matchesSelector({}, parseSelector('!constructor')), true);
  });
  it('refuses an operator it does not know instead of matching', () => {
    const sel = {
      matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }],
    } as unknown as LabelSelector;
    assert.throws(() => matchesSelector({ a: '2' }, sel), SelectorError);
  });
});

describe('selector properties', () => {
  const alphabet = 'abcXY09-_./=!(), \tinotn';
  const anyText = fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }).map((cs) => cs.join(''));

  it('parse throws nothing but SelectorError', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, fc.string({ maxLength: 40 })), (text) => {
        try {
          parseSelector(text);
        } catch (err) {
          if (!(err instanceof SelectorError)) throw err;
        }
      }),
      { numRuns: 5000 },
    );
  });

  const name = fc.stringMatching(/^[a-z0-9]([a-z0-9._-]{0,10}[a-z0-9])?$/);
  const key = fc.oneof(
    name,
    fc.tuple(fc.constantFrom('app.kubernetes.io', 'x.io'), name).map(([p, n]) => `${p}/${n}`),
  );
  const value = fc.oneof(fc.constant(''), name);
  const requirement = fc.oneof(
    fc.record({
      key,
      operator: fc.constantFrom('In' as const, 'NotIn' as const),
      values: fc.uniqueArray(value, { minLength: 1, maxLength: 3 }),
    }),
    fc.record({ key, operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const) }),
  );
  const selector: fc.Arbitrary<LabelSelector> = fc.record(
    {
      matchLabels: fc.dictionary(key, value, { maxKeys: 3 }),
      matchExpressions: fc.array(requirement, { maxLength: 3 }),
    },
    { requiredKeys: [] },
  );
  const labelSet = fc.dictionary(fc.oneof(key, fc.constantFrom('app', 'tier', 'a')), value, { maxKeys: 4 });

  it('formatSelector then parseSelector matches the same label sets', () => {
    fc.assert(
      fc.property(selector, fc.array(labelSet, { maxLength: 5 }), (sel, sets) => {
        const text = formatSelector(sel);
        const reparsed = parseSelector(text);
        for (const labels of sets) {
          assert.equal(
            matchesSelector(labels, reparsed),
            matchesSelector(labels, sel),
            `${text} on ${JSON.stringify(labels)}`,
          );
        }
        // and the JSON form validates as it is
        validateLabelSelector(sel, 'sel');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('validateLabelSelector on a deeply nested operator (found by tests/fuzz)', () => {
  it('refuses it with a SelectorError, not a stack overflow from echoing it', () => {
    let deep: unknown = 'In';
    for (let i = 0; i < 10_000; i++) deep = [deep];
    assert.throws(
      () => validateLabelSelector({ matchExpressions: [{ key: 'a', operator: deep }] }, 'sel'),
      (err: unknown) => {
        assert.ok(err instanceof SelectorError, String(err));
        assert.equal(err.context.path, 'sel.matchExpressions[0].operator');
        assert.ok(err.message.length < 300, err.message);
        return true;
      },
    );
  });
});
