/**
 * The SKEL engine, ported from SimKube's sk-skel engine_test.rs and itest.rs: the same commands,
 * objects and expected results, written out by hand (objects as SimKube serialises them: metadata
 * first, then the rest).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  emptyStats,
  parseSkel,
  SkelEvalError,
  transformEvent,
  transformTrace,
} from '../../lib/skel/index.ts';
import type { KubeObject, Trace, TraceEvent } from '../../lib/trace/model.ts';

// biome-ignore lint/suspicious/noExplicitAny: hand-written JSON fixtures
type J = any;
const obj = (metadata: J, data: J = {}): KubeObject => ({ metadata, ...data }) as KubeObject;
const event = (applied: KubeObject[], deleted: KubeObject[] = [], ts = 1234): TraceEvent => ({
  ts,
  applied_objs: applied,
  deleted_objs: deleted,
});
function run(skel: string, ev: TraceEvent): TraceEvent | undefined {
  return transformEvent(parseSkel(skel, 1234), ev);
}

const envSecrets = () => ({
  spec: {
    template: {
      spec: {
        containers: [
          { env: [{ valueFrom: { secretKeyRef: 'SOME_SECRET' } }, { FOO: 'BAR' }] },
          { env: [{ ASDF: 'QWERTY' }] },
          {
            env: [
              { FOO: 'BAR' },
              { valueFrom: { secretKeyRef: 'SOME_SECRET' } },
              { valueFrom: { secretKeyRef: 'SOME_SECRET_2' } },
            ],
          },
        ],
      },
    },
  },
  status: { foo: 'bar' },
});

describe('remove (engine_test.rs test_remove_command)', () => {
  const labelled = () => obj({ labels: { 'simkube.dev/foo': 'bar' } }, { status: { foo: 'bar' } });
  const plain = () => obj({}, { status: { foo: 'bar' } });
  const cases: [string, string, KubeObject[], KubeObject[]][] = [
    ['remove_implicit_match_star', 'remove(status);', [plain()], [obj({})]],
    ['remove_match_star', 'remove(*, status);', [plain()], [obj({})]],
    [
      'remove_quoted_label_match',
      'remove(metadata.labels."simkube.dev/foo" == "bar", status);',
      [plain(), labelled()],
      [plain(), obj({ labels: { 'simkube.dev/foo': 'bar' } })],
    ],
    [
      'remove_exists',
      'remove(exists(metadata.labels."simkube.dev/foo"), status);',
      [plain(), labelled()],
      [plain(), obj({ labels: { 'simkube.dev/foo': 'bar' } })],
    ],
    [
      'remove_not_exists',
      'remove(!exists(metadata.labels."simkube.dev/foo"), status);',
      [plain(), labelled()],
      [obj({}), labelled()],
    ],
    [
      'remove_multi_conditional_1',
      'remove(@t >= 123 && metadata.namespace == "baz", status);',
      [plain(), obj({ namespace: 'baz' }, { status: { foo: 'bar' } })],
      [plain(), obj({ namespace: 'baz' })],
    ],
    [
      'remove_multi_conditional_2',
      'remove(@t < 123 && metadata.namespace == "baz", status);',
      [plain(), obj({ namespace: 'baz' }, { status: { foo: 'bar' } })],
      [plain(), obj({ namespace: 'baz' }, { status: { foo: 'bar' } })],
    ],
    [
      'remove_wildcards',
      'remove(spec.template.spec.containers[*]);',
      [obj({}, envSecrets())],
      [obj({}, { spec: { template: { spec: { containers: [] } } }, status: { foo: 'bar' } })],
    ],
    [
      'remove_variable_def_1',
      'remove($x := spec.template.spec.containers[*].env[*] | exists($x.valueFrom.secretKeyRef), $x);',
      [obj({}, envSecrets())],
      [
        obj(
          {},
          {
            spec: {
              template: {
                spec: {
                  containers: [
                    { env: [{ FOO: 'BAR' }] },
                    { env: [{ ASDF: 'QWERTY' }] },
                    { env: [{ FOO: 'BAR' }] },
                  ],
                },
              },
            },
            status: { foo: 'bar' },
          },
        ),
      ],
    ],
    [
      'remove_variable_def_2',
      'remove($x := spec.template.spec.containers[*].env[*] | exists($x.valueFrom.secretKeyRef), $x.valueFrom);',
      [
        obj(
          {},
          {
            spec: {
              template: {
                spec: {
                  containers: [
                    { env: [{ valueFrom: { secretKeyRef: 'SOME_SECRET' }, valueTo: 42 }, { FOO: 'BAR' }] },
                    { env: [{ ASDF: 'QWERTY' }] },
                    {
                      env: [
                        { FOO: 'BAR' },
                        { valueFrom: { secretKeyRef: 'SOME_SECRET' }, valueTo: 67 },
                        { valueFrom: { secretKeyRef: 'SOME_SECRET_2' }, valueTo: 99 },
                      ],
                    },
                  ],
                },
              },
            },
            status: { foo: 'bar' },
          },
        ),
      ],
      [
        obj(
          {},
          {
            spec: {
              template: {
                spec: {
                  containers: [
                    { env: [{ valueTo: 42 }, { FOO: 'BAR' }] },
                    { env: [{ ASDF: 'QWERTY' }] },
                    { env: [{ FOO: 'BAR' }, { valueTo: 67 }, { valueTo: 99 }] },
                  ],
                },
              },
            },
            status: { foo: 'bar' },
          },
        ),
      ],
    ],
    [
      'remove_variable_deref',
      `remove($x := spec.template.spec.containers[*].image | $x == "asdf"
        && metadata.labels.image == $x,
      metadata.labels.image);`,
      [
        obj(
          { labels: { image: 'asdf' } },
          { spec: { template: { spec: { containers: [{ image: 'asdf' }] } } } },
        ),
      ],
      [obj({ labels: {} }, { spec: { template: { spec: { containers: [{ image: 'asdf' }] } } } })],
    ],
    [
      'remove_variable_deref_other_variable',
      `remove($x := spec.template.spec.volumes[*] | exists($x.secret)
        && $y := spec.template.spec.containers[*].volumeMounts[*] | $y.name == $x.name,
      $y);`,
      [
        obj(
          {},
          {
            spec: {
              template: {
                spec: {
                  containers: [
                    {
                      volumeMounts: [
                        { name: 'empty', mountPath: '/foo/bar' },
                        { name: 'secret', mountPath: '/etc/shadow' },
                      ],
                    },
                    { volumeMounts: [{ name: 'empty2', mountPath: '/baz/buz' }] },
                    {
                      volumeMounts: [
                        { name: 'empty', mountPath: '/foo/bar' },
                        { name: 'secret', mountPath: '/etc/passwd' },
                        { name: 'secret2', mountPath: '/etc/shadow' },
                      ],
                    },
                  ],
                  volumes: [
                    { name: 'empty', emptyDir: {} },
                    { name: 'empty2', emptyDir: {} },
                    { name: 'secret', secret: { secretName: 'SOOPER_SECRET' } },
                    { name: 'secret2', secret: { secretName: 'SOOPER_SECRET_2' } },
                  ],
                },
              },
            },
          },
        ),
      ],
      [
        obj(
          {},
          {
            spec: {
              template: {
                spec: {
                  containers: [
                    { volumeMounts: [{ name: 'empty', mountPath: '/foo/bar' }] },
                    { volumeMounts: [{ name: 'empty2', mountPath: '/baz/buz' }] },
                    { volumeMounts: [{ name: 'empty', mountPath: '/foo/bar' }] },
                  ],
                  volumes: [
                    { name: 'empty', emptyDir: {} },
                    { name: 'empty2', emptyDir: {} },
                    { name: 'secret', secret: { secretName: 'SOOPER_SECRET' } },
                    { name: 'secret2', secret: { secretName: 'SOOPER_SECRET_2' } },
                  ],
                },
              },
            },
          },
        ),
      ],
    ],
  ];
  for (const [name, skel, input, expected] of cases) {
    it(name, () => {
      const before = JSON.stringify(input);
      assert.deepEqual(run(skel, event(input)), event(expected));
      assert.equal(JSON.stringify(input), before, 'the input objects are not modified');
    });
  }
});

describe('delete (test_delete_command)', () => {
  it('delete(*) empties the event, which leaves the trace', () => {
    const trace = { events: [event([obj({})])] } as unknown as Trace;
    assert.deepEqual(transformTrace(trace, parseSkel('delete(*);', 1234)).events, []);
  });
  it('delete by name keeps the others', () => {
    const out = run('delete(metadata.name == "foo");', event([obj({ name: 'foo' }), obj({ name: 'bar' })]));
    assert.deepEqual(out, event([obj({ name: 'bar' })]));
  });
  it('applies to deleted objects too', () => {
    const out = run(
      'delete(metadata.name == "foo");',
      event([], [obj({ name: 'foo' }), obj({ name: 'bar' })]),
    );
    assert.deepEqual(out, event([], [obj({ name: 'bar' })]));
  });
});

describe('modify (test_modify_command)', () => {
  it('modify_implicit_match_star: creates missing parents', () => {
    assert.deepEqual(
      run('modify(spec.template.spec.nodeSelector."simkube.dev/foo" = "bar");', event([obj({})])),
      event([obj({}, { spec: { template: { spec: { nodeSelector: { 'simkube.dev/foo': 'bar' } } } } })]),
    );
  });
  it('modify_subst_key', () => {
    assert.deepEqual(
      run(
        'modify($x := metadata.labels."simkube.dev/key" | exists($x), $x = "baz");',
        event([obj({ labels: { 'simkube.dev/key': 'bar', other_key: 'something_else' } })]),
      ),
      event([obj({ labels: { 'simkube.dev/key': 'baz', other_key: 'something_else' } })]),
    );
  });
  it('modify_subst_value', () => {
    assert.deepEqual(
      run(
        `modify($x := metadata.labels."simkube.dev/key" | exists($x),
        spec.template.spec.nodeSelector."simkube.dev/foo" = $x);`,
        event([obj({}), obj({ labels: { 'simkube.dev/key': 'bar' } })]),
      ),
      event([
        obj({}),
        obj(
          { labels: { 'simkube.dev/key': 'bar' } },
          { spec: { template: { spec: { nodeSelector: { 'simkube.dev/foo': 'bar' } } } } },
        ),
      ]),
    );
  });
  it('modify_subst_key_value', () => {
    const labels = { 'simkube.dev/key': 'bar', other_key: 'something_else' };
    assert.deepEqual(
      run(
        `modify($x := metadata.labels."simkube.dev/key" | exists($x)
            && $y := spec.template.spec.containers[*] | $y.args[0] == "PLACEHOLDER",
       $y.args[0] = $x);`,
        event([
          obj(
            { labels },
            {
              spec: {
                template: {
                  spec: {
                    containers: [{ args: ['PLACEHOLDER', '--foo', '--bar'] }, { args: ['doit', '-x', '-y'] }],
                  },
                },
              },
            },
          ),
        ]),
      ),
      event([
        obj(
          { labels },
          {
            spec: {
              template: {
                spec: { containers: [{ args: ['bar', '--foo', '--bar'] }, { args: ['doit', '-x', '-y'] }] },
              },
            },
          },
        ),
      ]),
    );
  });
  it('a modify whose value is not exactly one is an error naming the command (test_process_modify_event_obj_multi_val)', () => {
    const skel = 'modify($x := spec.containers[*] | exists($x.name), metadata.labels.a = $x.name);';
    const o = obj({ name: 'p' }, { kind: 'Pod', spec: { containers: [{ name: 'a' }, { name: 'b' }] } });
    assert.throws(
      () => run(skel, event([o])),
      (err: unknown) =>
        err instanceof SkelEvalError &&
        /only one matched value/.test(err.message) &&
        /line 1/.test(err.message),
    );
  });
});

describe('matching (engine_test.rs unit cases)', () => {
  // The fixture of engine_test.rs: the second container has no name.
  const fixture = () =>
    obj(
      { labels: { foo: 'bar' } },
      {
        spec: {
          template: {
            spec: { containers: [{ name: 'container1' }, { image: 'asdf:latest' }, { name: 'container2' }] },
          },
        },
      },
    );
  const names = (o: KubeObject | undefined) =>
    ((o as J).spec.template.spec.containers as J[]).map((c) => c.name ?? `(image ${c.image})`);

  it('a variable binds the matching elements only: == and != skip elements without the field', () => {
    const rename = (test: string) =>
      run(`modify($x := spec.template.spec.containers[*] | ${test}, $x.name = "foo");`, event([fixture()]))
        ?.applied_objs[0];
    assert.deepEqual(names(rename('$x.name == "container1"')), ['foo', '(image asdf:latest)', 'container2']);
    assert.deepEqual(names(rename('$x.name != "container1"')), ['container1', '(image asdf:latest)', 'foo']);
    assert.deepEqual(names(rename('$x.name == "container3"')), [
      'container1',
      '(image asdf:latest)',
      'container2',
    ]);
    assert.deepEqual(names(rename('$x.name != "container3"')), ['foo', '(image asdf:latest)', 'foo']);
    assert.deepEqual(names(rename('exists($x.name)')), ['foo', '(image asdf:latest)', 'foo']);
    assert.deepEqual(names(rename('!exists($x.name)')), ['container1', '(image asdf:latest)', 'container2']);
  });

  it('remove of a bound variable removes every bound element (test_process_remove_event_obj)', () => {
    const out = run(
      'remove($x := spec.template.spec.containers[*] | exists($x.name), $x);',
      event([fixture()]),
    );
    assert.deepEqual((out!.applied_objs[0] as J).spec.template.spec.containers, [{ image: 'asdf:latest' }]);
  });

  it('time and resource conditionals must all hold (test_trace_matches_list)', () => {
    const stats = emptyStats();
    transformEvent(
      parseSkel('remove(@t == 1235 && metadata.labels.foo == "bar", metadata.labels);', 1234),
      event([fixture()]),
      stats,
    );
    assert.equal(stats.objectsMatched, 0);
    transformEvent(
      parseSkel('remove(@t != 1235 && metadata.labels.foo == "bar", metadata.labels);', 1234),
      event([fixture()]),
      stats,
    );
    assert.equal(stats.objectsMatched, 1);
    assert.equal(stats.resourcesModified, 1);
  });

  it('an integer never equals a float of the same value, as in serde_json', async () => {
    const { Float64 } = await import('../../lib/trace/float.ts');
    const o = obj({}, { spec: { replicas: new Float64(2) } });
    assert.equal(run('delete(spec.replicas == 2);', event([o]))?.applied_objs.length, 1);
    assert.equal(run('delete(spec.replicas == 2);', event([obj({}, { spec: { replicas: 2 } })])), undefined);
  });

  it('ordering comparisons on resources are refused when evaluated (SimKube: unimplemented!)', () => {
    assert.throws(
      () => run('delete(spec.replicas < 2);', event([obj({}, { spec: { replicas: 1 } })])),
      SkelEvalError,
    );
    // Nothing to compare: no error, as in SimKube.
    assert.equal(run('delete(spec.replicas < 2);', event([obj({})]))?.applied_objs.length, 1);
  });
});
