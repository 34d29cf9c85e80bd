import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../../lib/trace/model.ts';
import { parseFieldSelector, parseLabelSelector, SelectorError } from '../kube-sim/selectors.ts';

function obj(labels: Record<string, string>, extra: Partial<KubeObject> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'ns', name: 'p', labels }, ...extra };
}

test('label selectors match as kube-apiserver does', () => {
  const cases: Array<[string, Record<string, string>, boolean]> = [
    ['', {}, true],
    ['app=web', { app: 'web' }, true],
    ['app==web', { app: 'web' }, true],
    ['app=web', { app: 'db' }, false],
    ['app!=web', { app: 'db' }, true],
    ['app!=web', {}, true], // != matches objects without the key
    ['app', { app: '' }, true],
    ['app', {}, false],
    ['!canary', {}, true],
    ['!canary', { canary: 'x' }, false],
    ['tier in (a,b)', { tier: 'b' }, true],
    ['tier in (a, b)', { tier: 'c' }, false],
    ['tier notin (a,b)', {}, true],
    ['tier notin (a,b)', { tier: 'a' }, false],
    ['app=web,tier in (a,b),!canary', { app: 'web', tier: 'a' }, true],
    ['app=web,tier in (a,b),!canary', { app: 'web', tier: 'a', canary: '1' }, false],
    ['rank>2', { rank: '3' }, true],
    ['rank<2', { rank: '3' }, false],
    ['rank>2', { rank: 'x' }, false],
    ['example.com/team=core', { 'example.com/team': 'core' }, true],
    ['app=', { app: '' }, true],
  ];
  for (const [selector, labels, want] of cases) {
    assert.equal(parseLabelSelector(selector)(obj(labels)), want, `${selector} on ${JSON.stringify(labels)}`);
  }
});

test('malformed label selectors are SelectorErrors', () => {
  for (const bad of ['app=we b', 'tier in ()', 'tier in (a', '=x', 'a b c']) {
    assert.throws(() => parseLabelSelector(bad), SelectorError, bad);
  }
});

test('field selectors support metadata fields for every kind and pod fields for pods', () => {
  const pod = obj({}, { spec: { nodeName: 'n1' }, status: { phase: 'Running' } });
  const cases: Array<[string, string, boolean]> = [
    ['metadata.name=p', 'Pod', true],
    ['metadata.name==q', 'Pod', false],
    ['metadata.namespace!=kube-system', 'Pod', true],
    ['metadata.namespace=ns,metadata.name=p', 'Pod', true],
    ['spec.nodeName=n1', 'Pod', true],
    ['status.phase=Running,spec.nodeName!=n1', 'Pod', false],
  ];
  for (const [selector, kind, want] of cases) {
    assert.equal(parseFieldSelector(selector, kind)(pod), want, selector);
  }
  assert.throws(
    () => parseFieldSelector('spec.nodeName=n1', 'ConfigMap'),
    /field label not supported: spec.nodeName/,
  );
  assert.throws(() => parseFieldSelector('nonsense', 'Pod'), SelectorError);
});

test('field selector values unescape \\, and \\=', () => {
  const o = obj({});
  o.metadata.name = 'a,b';
  assert.equal(parseFieldSelector('metadata.name=a\\,b', 'Pod')(o), true);
});
