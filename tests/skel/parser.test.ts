/**
 * SKEL parsing, ported from SimKube's sk-skel tests (parser_test.rs, ast_test.rs): the same inputs
 * and expectations, written out by hand.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Conditional, SkelCommand } from '../../lib/skel/ast.ts';
import { parseSkel, SkelError } from '../../lib/skel/index.ts';
import { SANITIZE_SKEL } from '../support/skel.ts';

const only = (text: string, startTs = 1234): SkelCommand => {
  const cmds = parseSkel(text, startTs);
  assert.equal(cmds.length, 1);
  return cmds[0]!;
};
const strip = (c: Conditional) => {
  const { at: _at, ...rest } = c;
  return rest;
};

describe('SKEL grammar (parser_test.rs)', () => {
  const shouldParse = [
    '# foo bar',
    'remove(status);',
    'remove(*, spec.template.spec);',
    'remove(spec.template.spec.nodeSelector."simkube.dev/foo" == "bar", metadata.labels);',
    `remove(@t >= 12345
        && @t <= 45677
        && spec.template.spec.nodeSelector."simkube.dev/foo" == "bar",
      metadata);`,
    'remove(!exists(spec.template.tolerations), metadata.labels);',
    'remove(@t == 1 && exists(spec.template.tolerations), metadata.labels);',
    'remove(exists(spec.template.spec.containers[*].env[*].valueFrom.secretKeyRef), metadata.labels."simkube.io/dev");',
    'remove($x := spec.template.spec.containers[*].env[*] | exists($x.valueFrom.secretKeyRef), $x);',
    'remove($x := spec.template.spec.containers[*].env[*] | !exists($x.valueFrom.secretKeyRef), $x);',
    `remove(@t >= 10m
        && spec.template.spec.nodeSelector."simkube.dev/foo" == "bar"
        && $p := spec.template.spec.tolerations[*] | $p.key <= 1234,
      $p.value);`,
    `remove($x := spec.template.spec.volumes[*] | exists($x.secret)
        && $y := spec.template.spec.containers[*].volumeMounts[*] | $y.name == $x.name,
      $y);`,
    `modify(@t >= 10m && spec.template.spec.nodeSelector."simkube.dev/foo" == "bar",
      spec.template.spec.nodeSelector."simkube.dev/foo" = "baz");`,
    'delete(@t >= 10m && spec.template.spec.nodeSelector."simkube.dev/foo" == "bar");',
  ];
  for (const text of shouldParse) {
    it(`parses ${JSON.stringify(text.slice(0, 60))}`, () => {
      parseSkel(text, 0);
    });
  }

  const shouldNotParse = [
    'remove(status',
    'remove(* && status == "foo", metadata);',
    'remove(@status);',
    'remove(sta%tus);',
    'remove($x := spec.template.spec.volumes[*] | exists($x.secret), spec.template.spec.$x);',
    `remove($x := spec.template.spec.volumes[*] | exists($x.secret)
        && $y := spec.template.spec.containers[*].volumeMounts[*] | $y.name == /foo/bar/baz,
      $y);`,
    `remove($x := spec.template.spec.volumes[*] | exists($x.secret)
        && $y := spec.template.spec.containers[*].volumeMounts[*] | $y.name == "asdf",
      $x.$y);`,
  ];
  for (const text of shouldNotParse) {
    it(`refuses ${JSON.stringify(text.slice(0, 60))} with a SkelError`, () => {
      assert.throws(() => parseSkel(text, 0), SkelError);
    });
  }

  it('names the line and column of a syntax error', () => {
    const text = 'remove(status);\n\n  remove(sta%tus);\n';
    assert.throws(
      () => parseSkel(text, 0),
      (err: unknown) =>
        err instanceof SkelError &&
        err.line === 3 &&
        err.column === 13 &&
        err.code === 'skel_invalid' &&
        /^SKEL line 3, column 13: /.test(err.message),
    );
  });
});

describe('SKEL commands (ast_test.rs)', () => {
  it('delete(*), modify and remove without selectors select everything', () => {
    assert.deepEqual(only('delete(*);').selector, { kind: 'all' });
    assert.deepEqual(only('delete(*);').action, { kind: 'delete' });
    const m = only('modify(metadata.labels.asdf = "foo");');
    assert.deepEqual(
      [m.selector, m.action],
      [
        { kind: 'all' },
        { kind: 'modify', pointer: '/metadata/labels/asdf', rhs: { kind: 'value', value: 'foo' } },
      ],
    );
    const r = only('remove(metadata.labels);');
    assert.deepEqual(
      [r.selector, r.action],
      [{ kind: 'all' }, { kind: 'remove', pointer: '/metadata/labels' }],
    );
  });

  it('a trace selector: time, value test, variable tests', () => {
    const c = only(`delete(@t == 1234 && metadata.labels == "foo"
        && $x := metadata.labels | exists($x)
        && $y := metadata.annotations | !exists($y));`);
    assert.equal(c.selector.kind, 'list');
    const conds = c.selector.kind === 'list' ? c.selector.conditions.map(strip) : [];
    assert.deepEqual(conds, [
      { kind: 'time', ts: 1234, op: 'eq' },
      { kind: 'resource', pointer: '/metadata/labels', op: 'eq', rhs: { kind: 'value', value: 'foo' } },
      { kind: 'resource', pointer: '/$x', op: 'exists', var: { name: '$x', pointer: '/metadata/labels' } },
      {
        kind: 'resource',
        pointer: '/$y',
        op: 'not_exists',
        var: { name: '$y', pointer: '/metadata/annotations' },
      },
    ]);
  });

  it('resource conditionals', () => {
    const sel = (s: string) => {
      const c = only(`delete(${s});`);
      return c.selector.kind === 'list' ? strip(c.selector.conditions[0]!) : undefined;
    };
    assert.deepEqual(sel('metadata.labels == 1234'), {
      kind: 'resource',
      pointer: '/metadata/labels',
      op: 'eq',
      rhs: { kind: 'value', value: 1234 },
    });
    assert.deepEqual(sel('exists(metadata.labels)'), {
      kind: 'resource',
      pointer: '/metadata/labels',
      op: 'exists',
    });
    assert.deepEqual(sel('!exists(metadata.labels)'), {
      kind: 'resource',
      pointer: '/metadata/labels',
      op: 'not_exists',
    });
  });

  it('variable errors: undefined on the left-hand side, defined twice, undefined on the right', () => {
    assert.throws(
      () => parseSkel('delete($x := metadata.labels | exists($y));', 0),
      /variable \$y is not present/,
    );
    assert.throws(
      () => parseSkel('delete($x := metadata.labels | exists($x) && $x := metadata.name | exists($x));', 0),
      /variable \$x already defined/,
    );
    assert.throws(() => parseSkel('modify(metadata.name = $x.path);', 0), /variable \$x not defined/);
    assert.throws(() => parseSkel('remove($x.path);', 0), /variable \$x not defined/);
  });

  it('@t: absolute, or relative to the trace start (1000 here)', () => {
    const ts = (s: string) => {
      const c = only(`delete(@t == ${s});`, 1000);
      return c.selector.kind === 'list' ? strip(c.selector.conditions[0]!) : undefined;
    };
    assert.deepEqual(ts('1234'), { kind: 'time', ts: 1234, op: 'eq' });
    assert.deepEqual(ts('1234s'), { kind: 'time', ts: 2234, op: 'eq' });
    assert.deepEqual(ts('123m'), { kind: 'time', ts: 8380, op: 'eq' });
    assert.deepEqual(ts('12h'), { kind: 'time', ts: 44200, op: 'eq' });
  });

  it('resource paths become JSON pointers', () => {
    const cases: [string, string][] = [
      ['metadata.namespace', '/metadata/namespace'],
      ['spec.template.spec.containers[*].env[*]', '/spec/template/spec/containers/*/env/*'],
      ['metadata.labels."foo.bar/baz"', '/metadata/labels/foo.bar~1baz'],
      ['meta-data.namespace', '/meta-data/namespace'],
      ['meta_data.namespace', '/meta_data/namespace'],
      ['spec.containers[34].image', '/spec/containers/34/image'],
    ];
    for (const [path, pointer] of cases) {
      assert.deepEqual(only(`remove(${path});`).action, { kind: 'remove', pointer });
    }
  });

  it('right-hand sides: strings, numbers, case-insensitive booleans, paths', () => {
    const rhs = (s: string) => {
      const a = only(`modify(metadata.x = ${s});`).action;
      return a.kind === 'modify' ? a.rhs : undefined;
    };
    assert.deepEqual(rhs('"asdf"'), { kind: 'value', value: 'asdf' });
    assert.deepEqual(rhs('1234'), { kind: 'value', value: 1234 });
    assert.deepEqual(rhs('tRuE'), { kind: 'value', value: true });
    assert.deepEqual(rhs('False'), { kind: 'value', value: false });
    assert.deepEqual(rhs('metadata.name'), { kind: 'path', pointer: '/metadata/name' });
    const withVar = only('modify($x := metadata.labels | exists($x), metadata.y = $x.name);').action;
    assert.deepEqual(withVar.kind === 'modify' && withVar.rhs, { kind: 'path', pointer: '/$x/name' });
  });

  it('SimKube examples/sanitize.skel parses into its 11 commands', () => {
    const text = `# This file includes a standard set of trace transformations\n${SANITIZE_SKEL}`;
    const cmds = parseSkel(text, 0);
    assert.equal(cmds.length, 11);
    assert.deepEqual(cmds[0]!.at, { line: 2, column: 1 });
  });
});

describe('the generated parser', () => {
  it('is what npm run skel:grammar makes of skel.peggy (regenerate after editing the grammar)', async () => {
    const { readFile } = await import('node:fs/promises');
    const peggy = (await import('peggy')).default;
    const grammar = await readFile(new URL('../../lib/skel/skel.peggy', import.meta.url), 'utf8');
    const committed = await readFile(new URL('../../lib/skel/grammar.generated.js', import.meta.url), 'utf8');
    const generated = peggy.generate(grammar, { output: 'source', format: 'es' });
    assert.equal(committed.trim(), String(generated).trim());
  });
});
