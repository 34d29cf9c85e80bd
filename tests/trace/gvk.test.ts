import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SktraceError } from '../../lib/errors.ts';
import {
  apiVersionOf,
  formatGvk,
  formatNsName,
  gvkOf,
  kindOf,
  nsNameOf,
  parseGvk,
  parseNsName,
  refOf,
} from '../../lib/trace/gvk.ts';
import { objKey, parseObjKey } from '../../lib/trace/model.ts';

describe('GVK strings', () => {
  const good: [string, { group: string; version: string; kind: string }, string][] = [
    ['v1.Pod', { group: '', version: 'v1', kind: 'Pod' }, 'v1'],
    ['apps/v1.Deployment', { group: 'apps', version: 'v1', kind: 'Deployment' }, 'apps/v1'],
    ['batch/v1.CronJob', { group: 'batch', version: 'v1', kind: 'CronJob' }, 'batch/v1'],
    [
      'rbac.authorization.k8s.io/v1.ClusterRole',
      { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole' },
      'rbac.authorization.k8s.io/v1',
    ],
    [
      'simkube.io/v1alpha1.Simulation',
      { group: 'simkube.io', version: 'v1alpha1', kind: 'Simulation' },
      'simkube.io/v1alpha1',
    ],
  ];
  for (const [gvk, parts, apiVersion] of good) {
    it(`parses and formats ${gvk}`, () => {
      assert.deepEqual(parseGvk(gvk), parts);
      assert.equal(formatGvk(parts), gvk);
      assert.equal(apiVersionOf(gvk), apiVersion);
      assert.equal(kindOf(gvk), parts.kind);
      assert.equal(gvkOf({ apiVersion, kind: parts.kind }), gvk);
    });
  }

  const bad = [
    'Pod',
    'v1/Pod',
    'apps/v1',
    'apps/v1.',
    '.Pod',
    'Apps/v1.Deployment',
    'apps/v1.1Deployment',
    'a b/v1.Pod',
    '',
  ];
  for (const gvk of bad) {
    it(`refuses ${JSON.stringify(gvk)}`, () => {
      assert.throws(
        () => parseGvk(gvk),
        (err: unknown) =>
          err instanceof SktraceError && err.code === 'invalid_gvk' && err.message.includes(`"${gvk}"`),
      );
    });
  }
});

describe('namespaced names', () => {
  const cases: [{ name?: string; namespace?: string }, string][] = [
    [{ name: 'web', namespace: 'prod' }, 'prod/web'],
    [{ name: 'node-1' }, 'node-1'],
    [{ name: 'x', namespace: '' }, 'x'],
  ];
  for (const [metadata, nsName] of cases) {
    it(`${JSON.stringify(metadata)} → ${nsName}`, () => {
      assert.equal(nsNameOf({ metadata }), nsName);
      assert.equal(formatNsName(metadata.namespace, metadata.name!), nsName);
      const parsed = parseNsName(nsName);
      assert.equal(parsed.name, metadata.name);
      assert.equal(parsed.namespace, metadata.namespace || undefined);
    });
  }
  it('splits at the first slash only', () => {
    assert.deepEqual(parseNsName('ns/a/b'), { namespace: 'ns', name: 'a/b' });
  });
});

describe('object refs and keys', () => {
  it('keys kind and name together so same-name objects of two kinds never collide', () => {
    const deploy = refOf({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'prod' },
    });
    const sa = refOf({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'web', namespace: 'prod' },
    });
    assert.deepEqual(deploy, { gvk: 'apps/v1.Deployment', nsName: 'prod/web' });
    assert.equal(deploy.nsName, sa.nsName);
    assert.notEqual(objKey(deploy), objKey(sa));
    assert.deepEqual(parseObjKey(objKey(deploy)), deploy);
    assert.deepEqual(parseObjKey(objKey({ gvk: 'v1.Node', nsName: 'node-1' })), {
      gvk: 'v1.Node',
      nsName: 'node-1',
    });
  });
});
