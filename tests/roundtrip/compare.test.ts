import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalJson, compareTraces, configProblems } from '../../lib/roundtrip/compare.ts';
import { exportableConfigDoc, tracerConfigFromDoc } from '../../lib/trace/config.ts';
import type { Trace } from '../../lib/trace/model.ts';
import { deploymentObj, generatedTrace, T0 } from './fixtures.ts';

/** A copy with the config as an export writes it (paths spelled out, kinds without paths left out). */
function copy(trace: Trace): Trace {
  const out = structuredClone(trace);
  out.config = exportableConfigDoc(tracerConfigFromDoc(trace.config));
  return out;
}

describe('compareTraces', () => {
  it('finds a trace equal to itself, and to its copy with the first second split in two events', () => {
    const a = generatedTrace();
    assert.deepEqual(compareTraces(a, copy(a)).differences, []);
    const b = generatedTrace({ emptyFirstEvent: true });
    assert.equal(compareTraces(a, copy(b)).equal, true);
    assert.equal(compareTraces(b, copy(a)).equal, true);
  });

  it('ignores key order inside objects', () => {
    const a = generatedTrace();
    const b = copy(a);
    const obj = b.events[0]!.applied_objs[0]!;
    b.events[0]!.applied_objs[0] = {
      spec: obj.spec,
      metadata: obj.metadata,
      kind: obj.kind,
      apiVersion: obj.apiVersion,
    };
    assert.equal(compareTraces(a, b).equal, true);
    assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: 1 }] }), '{"a":[{"c":1,"d":2}],"b":1}');
  });

  type Mutation = [string, (t: Trace) => void, string, RegExp];
  const mutations: Mutation[] = [
    [
      'a changed object',
      (t) => {
        t.events[1]!.applied_objs[0] = deploymentObj(
          'web',
          'shop',
          { replicas: 9 },
          { app: 'web', tier: 'front' },
        );
      },
      'events',
      /ts \d+: applied apps\/v1\.Deployment shop\/web is (missing|not expected) \(another version of it is there\)/,
    ],
    [
      'a missing deletion',
      (t) => {
        t.events[3]!.deleted_objs = [];
      },
      'events',
      /deleted apps\/v1\.Deployment data\/db is missing/,
    ],
    [
      'an object moved to another second',
      (t) => {
        t.events[1]!.ts = T0 + 11;
      },
      'events',
      /ts 1750000010: applied .* is missing/,
    ],
    [
      'an index entry that is not the spec hash',
      (t) => {
        t.index.get('apps/v1.Deployment')!.set('shop/web', 1n);
      },
      'index',
      /shop\/web: index 1 is not the spec hash/,
    ],
    [
      'an index entry for an object the events never apply',
      (t) => {
        t.index.get('apps/v1.Deployment')!.set('shop/ghost', 1n);
      },
      'index',
      /shop\/ghost: indexed but never applied/,
    ],
    [
      'a lifecycle ending differently',
      (t) => {
        const web = t.podLifecycles.get('apps/v1.Deployment shop/web')!;
        web.bySpecHash.set(22_222n, [{ startTs: T0 + 3 }, { startTs: T0 + 12, endTs: T0 + 46 }]);
      },
      'lifecycles',
      /shop\/web 22222: .*Finished\(1750000012,1750000046\), expected .*Finished\(1750000012,1750000045\)/,
    ],
    [
      'a lost owner',
      (t) => {
        t.podLifecycles.delete('batch/v1.CronJob ops/nightly');
      },
      'lifecycles',
      /ops\/nightly 11111111111111111111: missing/,
    ],
    [
      'a config SimKube refuses',
      (t) => {
        t.config = { trackedObjects: { 'v1.Service': {} } };
      },
      'config',
      /SimKube would refuse the config/,
    ],
    [
      'events out of order',
      (t) => {
        const [e4, e5] = [t.events[4]!, t.events[5]!];
        t.events[4] = e5;
        t.events[5] = e4;
      },
      'structure',
      /comes after/,
    ],
  ];
  for (const [name, mutate, area, message] of mutations) {
    it(`reports ${name}`, () => {
      const want = generatedTrace();
      const got = copy(want);
      assert.equal(compareTraces(want, got).equal, true, 'unmutated copy');
      mutate(got);
      const result = compareTraces(want, got);
      assert.equal(result.equal, false);
      const hit = result.differences.find((d) => d.area === area && message.test(d.message));
      assert.ok(hit, `no ${area} difference matching ${message}: ${JSON.stringify(result.differences)}`);
    });
  }

  it('notes, without failing, an expected trace whose own index disagrees with its events', () => {
    const want = generatedTrace();
    want.index.get('apps/v1.Deployment')!.set('shop/web', 5n);
    const result = compareTraces(want, copy(generatedTrace()));
    assert.equal(result.equal, true);
    assert.match(result.notes.join(' '), /own index disagrees/);
  });
});

describe('configProblems', () => {
  const cases: [string, Trace['config'], RegExp | undefined][] = [
    [
      'known kinds with their paths',
      { trackedObjects: { 'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/template'] } } },
      undefined,
    ],
    [
      'a known kind without spelled-out paths',
      { trackedObjects: { 'apps/v1.Deployment': {} } },
      /does not spell out/,
    ],
    [
      'an unknown kind without paths',
      { trackedObjects: { 'v1.ConfigMap': {} } },
      /has no pod template paths/,
    ],
    [
      'a wrong path for a known kind',
      { trackedObjects: { 'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec'] } } },
      /differs from the path SimKube uses/,
    ],
  ];
  for (const [name, config, problem] of cases) {
    it(name, () => {
      const problems = configProblems(config);
      if (problem) assert.match(problems.join('; '), problem);
      else assert.deepEqual(problems, []);
    });
  }
});
