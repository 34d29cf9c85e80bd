import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeTrace } from '../../lib/trace/codec.ts';
import {
  exportableConfigDoc,
  knownPodSpecTemplatePaths,
  parseTracerConfig,
  podTemplatesOf,
  tracerConfigFromDoc,
} from '../../lib/trace/config.ts';
import { TracerConfigError } from '../../lib/trace/errors.ts';

const kinds = (yaml: string) =>
  Object.fromEntries(
    [...parseTracerConfig(yaml).trackedObjects].map(([gvk, k]) => [
      gvk,
      { paths: k.podSpecTemplatePaths, trackLifecycle: k.trackLifecycle, skipOwned: k.skipOwned },
    ]),
  );

describe('parseTracerConfig', () => {
  test("SimKube's example: defaults filled in, order kept", () => {
    const config = parseTracerConfig(
      '---\ntrackedObjects:\n  apps/v1.Deployment: {}\n  apps/v1.StatefulSet: {}\n  batch/v1.CronJob:\n    trackLifecycle: true\n',
    );
    assert.deepEqual(
      [...config.trackedObjects.keys()],
      ['apps/v1.Deployment', 'apps/v1.StatefulSet', 'batch/v1.CronJob'],
    );
    assert.deepEqual(config.trackedObjects.get('batch/v1.CronJob'), {
      gvk: 'batch/v1.CronJob',
      group: 'batch',
      version: 'v1',
      kind: 'CronJob',
      podSpecTemplatePaths: ['/spec/jobTemplate/spec/template'],
      trackLifecycle: true,
      skipOwned: false,
    });
  });

  const defaults: [string, string[]][] = [
    ['batch/v1.CronJob', ['/spec/jobTemplate/spec/template']],
    ['apps/v1.DaemonSet', ['/spec/template']],
    ['apps/v1.Deployment', ['/spec/template']],
    ['batch/v1.Job', ['/spec/template']],
    ['apps/v1.StatefulSet', ['/spec/template']],
    ['apps/v1.ReplicaSet', ['/spec']],
    ['v1.Pod', ['']],
    // The template's place belongs to the kind, not its version.
    ['batch/v1beta1.CronJob', ['/spec/jobTemplate/spec/template']],
  ];
  for (const [gvk, paths] of defaults) {
    test(`default paths of ${gvk}`, () => {
      assert.deepEqual(kinds(`trackedObjects:\n  ${gvk}:\n`)[gvk]?.paths, paths);
      assert.deepEqual(knownPodSpecTemplatePaths(gvk), paths);
    });
  }

  const accepted: { name: string; yaml: string; gvk: string; paths: string[] }[] = [
    {
      name: 'the default path given explicitly',
      yaml: 'trackedObjects:\n  apps/v1.Deployment:\n    podSpecTemplatePaths: ["/spec/template"]\n',
      gvk: 'apps/v1.Deployment',
      paths: ['/spec/template'],
    },
    {
      name: 'the deprecated single path, equal to the default',
      yaml: 'trackedObjects:\n  apps/v1.Deployment:\n    podSpecTemplatePath: /spec/template\n',
      gvk: 'apps/v1.Deployment',
      paths: ['/spec/template'],
    },
    {
      name: 'both forms, equal',
      yaml: 'trackedObjects:\n  batch/v1.Job:\n    podSpecTemplatePath: /spec/template\n    podSpecTemplatePaths: [/spec/template]\n',
      gvk: 'batch/v1.Job',
      paths: ['/spec/template'],
    },
    {
      name: 'an empty list: the default',
      yaml: 'trackedObjects:\n  apps/v1.DaemonSet:\n    podSpecTemplatePaths: []\n',
      gvk: 'apps/v1.DaemonSet',
      paths: ['/spec/template'],
    },
    {
      name: 'a custom resource with its own paths',
      yaml: 'trackedObjects:\n  example.com/v1.Pipeline:\n    podSpecTemplatePaths: [/spec/stages/*/template]\n',
      gvk: 'example.com/v1.Pipeline',
      paths: ['/spec/stages/*/template'],
    },
    {
      name: 'a kind without pods (kept, no paths)',
      yaml: 'trackedObjects:\n  v1.ServiceAccount: {}\n',
      gvk: 'v1.ServiceAccount',
      paths: [],
    },
  ];
  for (const c of accepted) {
    test(`accepts ${c.name}`, () => {
      assert.deepEqual(kinds(c.yaml)[c.gvk]?.paths, c.paths);
    });
  }

  const refused: { name: string; yaml: string; error: RegExp }[] = [
    {
      name: 'a path differing from the known default',
      yaml: 'trackedObjects:\n  apps/v1.Deployment:\n    podSpecTemplatePaths: [/spec]\n',
      error:
        /apps\/v1\.Deployment: pod template path \["\/spec"\] differs from the path SimKube uses for Deployment, \["\/spec\/template"\]/,
    },
    {
      name: 'a deprecated single path differing from the default',
      yaml: 'trackedObjects:\n  batch/v1.CronJob:\n    podSpecTemplatePath: /spec/template\n',
      error:
        /batch\/v1\.CronJob: .*\["\/spec\/template"\] differs .* \["\/spec\/jobTemplate\/spec\/template"\]/,
    },
    {
      name: 'both path forms, different',
      yaml: 'trackedObjects:\n  example.com/v1.Thing:\n    podSpecTemplatePath: /a\n    podSpecTemplatePaths: [/b]\n',
      error:
        /example\.com\/v1\.Thing gives both podSpecTemplatePath "\/a" \(deprecated\) and podSpecTemplatePaths \["\/b"\]/,
    },
    {
      name: 'an unknown field of a kind',
      yaml: 'trackedObjects:\n  apps/v1.Deployment:\n    trackLifecycles: true\n',
      error: /unknown field "trackLifecycles" in trackedObjects\.apps\/v1\.Deployment/,
    },
    {
      name: 'an unknown top-level field',
      yaml: 'trackedObjects: {}\nextra: 1\n',
      error: /unknown field "extra" in the tracer config/,
    },
    { name: 'a bad GVK', yaml: 'trackedObjects:\n  Deployment: {}\n', error: /"Deployment" is not a GVK/ },
    {
      name: 'a GVK with a slash in the kind',
      yaml: 'trackedObjects:\n  apps/v1/Deployment: {}\n',
      error: /"apps\/v1\/Deployment" is not a GVK/,
    },
    {
      name: 'a boolean that is not one',
      yaml: 'trackedObjects:\n  v1.Pod:\n    trackLifecycle: "yes"\n',
      error: /trackedObjects\.v1\.Pod\.trackLifecycle must be true or false, got string "yes"/,
    },
    {
      name: 'paths that are not a list',
      yaml: 'trackedObjects:\n  v1.Pod:\n    podSpecTemplatePaths: ""\n',
      error: /podSpecTemplatePaths must be a list of strings/,
    },
    {
      name: 'a path that is not a JSON pointer',
      yaml: 'trackedObjects:\n  example.com/v1.Thing:\n    podSpecTemplatePaths: [spec/template]\n',
      error: /example\.com\/v1\.Thing: JSON pointer "spec\/template" must be "" or start with "\/"/,
    },
    { name: 'no trackedObjects', yaml: 'other: 1\n', error: /unknown field "other"/ },
    {
      name: 'an empty file',
      yaml: '',
      error: /tracer config must be a map with trackedObjects, got nothing/,
    },
    {
      name: 'trackedObjects a list',
      yaml: 'trackedObjects: [a]\n',
      error: /trackedObjects must be a map from GVK to settings, got a list/,
    },
    {
      name: 'invalid YAML',
      yaml: 'trackedObjects: [\n',
      error: /^tracer config is not valid YAML: .*at line/,
    },
    {
      name: 'a GVK listed twice',
      yaml: 'trackedObjects:\n  v1.Pod: {}\n  v1.Pod: {}\n',
      error: /not valid YAML: Map keys must be unique/,
    },
  ];
  for (const c of refused) {
    test(`refuses ${c.name}`, () => {
      assert.throws(
        () => parseTracerConfig(c.yaml),
        (err) => {
          assert.ok(err instanceof TracerConfigError, String(err));
          assert.equal(err.code, 'tracer_config');
          assert.match(err.message, c.error);
          assert.doesNotMatch(err.message, /\n/);
          return true;
        },
      );
    });
  }
});

describe('exportableConfigDoc', () => {
  const config = parseTracerConfig(
    [
      'trackedObjects:',
      '  v1.ServiceAccount: {}',
      '  v1.Pod:',
      '    skipOwned: true',
      '    trackLifecycle: true',
      '  apps/v1.Deployment: {}',
      '  example.com/v1.Thing:',
      '    podSpecTemplatePaths: [/spec/template]',
      '',
    ].join('\n'),
  );

  test('lists only kinds with pod template paths, fields in SimKube order, false flags omitted', () => {
    const doc = exportableConfigDoc(config);
    assert.equal(
      JSON.stringify(doc),
      JSON.stringify({
        trackedObjects: {
          'v1.Pod': { podSpecTemplatePaths: [''], trackLifecycle: true, skipOwned: true },
          'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/template'] },
          'example.com/v1.Thing': { podSpecTemplatePaths: ['/spec/template'] },
        },
      }),
    );
    // The tracer config still tracks the ServiceAccounts: the forwarder watches them.
    assert.ok(config.trackedObjects.has('v1.ServiceAccount'));
  });

  test('encodes as sk-tracer writes its config', () => {
    const podOnly = tracerConfigFromDoc({
      trackedObjects: { 'v1.Pod': { skipOwned: true, trackLifecycle: true } },
    });
    const b = encodeTrace({
      version: 2,
      config: exportableConfigDoc(podOnly),
      events: [],
      index: new Map(),
      podLifecycles: new Map(),
    });
    const fixstr = (s: string) => [0xa0 | s.length, ...Buffer.from(s)];
    const expected = [
      ...fixstr('config'),
      0x81,
      ...fixstr('trackedObjects'),
      0x81,
      ...fixstr('v1.Pod'),
      0x83,
      ...fixstr('podSpecTemplatePaths'),
      0x91,
      0xa0,
      ...fixstr('trackLifecycle'),
      0xc3,
      ...fixstr('skipOwned'),
      0xc3,
    ];
    assert.ok(Buffer.from(b).includes(Buffer.from(expected)));
  });

  test('a trace config (older SimKube omitted known paths) reads back with them', () => {
    const fromTrace = tracerConfigFromDoc({
      trackedObjects: { 'apps/v1.Deployment': {}, 'batch/v1.CronJob': { trackLifecycle: true } },
    });
    assert.deepEqual(exportableConfigDoc(fromTrace), {
      trackedObjects: {
        'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/template'] },
        'batch/v1.CronJob': {
          podSpecTemplatePaths: ['/spec/jobTemplate/spec/template'],
          trackLifecycle: true,
        },
      },
    });
    assert.deepEqual(
      exportableConfigDoc(tracerConfigFromDoc(exportableConfigDoc(fromTrace))),
      exportableConfigDoc(fromTrace),
    );
  });
});

describe('podTemplatesOf', () => {
  const config = parseTracerConfig(
    [
      'trackedObjects:',
      '  apps/v1.Deployment: {}',
      '  batch/v1.CronJob: {}',
      '  v1.Pod: {}',
      '  v1.ConfigMap: {}',
      '  example.com/v1.Pipeline:',
      '    podSpecTemplatePaths: [/spec/stages/*/template]',
      '',
    ].join('\n'),
  );
  const template = { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'c' }] } };
  const cases: {
    name: string;
    obj: { apiVersion: string; kind: string; [k: string]: unknown };
    expected: unknown[];
  }[] = [
    {
      name: 'Deployment',
      obj: { apiVersion: 'apps/v1', kind: 'Deployment', spec: { template } },
      expected: [template],
    },
    {
      name: 'CronJob',
      obj: { apiVersion: 'batch/v1', kind: 'CronJob', spec: { jobTemplate: { spec: { template } } } },
      expected: [template],
    },
    {
      name: 'a Pod is its own template',
      obj: { apiVersion: 'v1', kind: 'Pod', spec: template.spec },
      expected: [{ apiVersion: 'v1', kind: 'Pod', spec: template.spec }],
    },
    {
      name: 'a tracked kind without pods',
      obj: { apiVersion: 'v1', kind: 'ConfigMap', data: {} },
      expected: [],
    },
    {
      name: 'an untracked kind',
      obj: { apiVersion: 'apps/v1', kind: 'StatefulSet', spec: { template } },
      expected: [],
    },
    {
      name: 'one template per array element with *',
      obj: {
        apiVersion: 'example.com/v1',
        kind: 'Pipeline',
        spec: { stages: [{ template }, { template }, {}] },
      },
      expected: [template, template],
    },
    {
      name: 'a Deployment without a template',
      obj: { apiVersion: 'apps/v1', kind: 'Deployment', spec: {} },
      expected: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(podTemplatesOf(c.obj, config), c.expected);
    });
  }
});
