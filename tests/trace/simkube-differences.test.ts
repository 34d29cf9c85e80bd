/**
 * The inputs of docs/simkube.md's "Where sktrace deliberately differs", each with the outcome
 * written out by hand (and what SimKube does instead, in a comment). The assembly runs through
 * `assembleFromHistory`, the store rules applied to a full history.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assembleFromHistory } from '../../lib/trace/assemble.ts';
import { tracerConfigFromDoc } from '../../lib/trace/config.ts';
import type { ExportFilters, KubeObject, ObjectChange } from '../../lib/trace/model.ts';

const config = tracerConfigFromDoc({
  trackedObjects: {
    'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/template'], trackLifecycle: true },
    'v1.ServiceAccount': {},
    'v1.ConfigMap': {},
  },
});
const noFilters: ExportFilters = { excluded_namespaces: [], excluded_labels: [] };
const object = (kind: string, nsName: string, rev: number, labels?: Record<string, string>): KubeObject => {
  const [namespace, name] = nsName.split('/');
  return {
    apiVersion: kind === 'Deployment' ? 'apps/v1' : 'v1',
    kind,
    metadata: { annotations: {}, name: name!, namespace: namespace!, ...(labels ? { labels } : {}) },
    spec: { rev },
  };
};
const applied = (ts: number, o: KubeObject): ObjectChange => ({ ts, type: 'applied', object: o, owners: [] });
const deleted = (ts: number, o: KubeObject): ObjectChange => ({ ts, type: 'deleted', object: o, owners: [] });
const names = (objs: KubeObject[]) => objs.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`);

describe('deliberate differences from SimKube (docs/simkube.md)', () => {
  it('start state judged on the version alive at the start', () => {
    // SimKube keeps the t=0 version (the t=10 one is filtered, the t=0 one stays in its start state).
    const history = [
      applied(0, object('Deployment', 'shop/web', 1, { tier: 'front' })),
      applied(10, object('Deployment', 'shop/web', 2, { tier: 'canary' })),
    ];
    const filters = { excluded_namespaces: [], excluded_labels: [{ matchLabels: { tier: 'canary' } }] };
    const trace = assembleFromHistory(history, { startTs: 20, endTs: 30 }, filters, config);
    assert.deepEqual(trace.events, [{ ts: 20, applied_objs: [], deleted_objs: [] }]);
    assert.equal(trace.index.size, 0);
  });

  it('start state keyed by kind and name: a Deployment and a ServiceAccount both prod/web', () => {
    // SimKube's flattened_objects is keyed by "prod/web" alone: one overwrites the other.
    const history = [
      applied(0, object('Deployment', 'prod/web', 1)),
      applied(0, object('ServiceAccount', 'prod/web', 1)),
    ];
    const trace = assembleFromHistory(history, { startTs: 10, endTs: 20 }, noFilters, config);
    assert.deepEqual(names(trace.events[0]!.applied_objs), [
      'Deployment prod/web',
      'ServiceAccount prod/web',
    ]);
  });

  it('no index entry for an object deleted before the window', () => {
    // SimKube's index lists it (it replays its whole history with keep_deleted).
    const cm = object('ConfigMap', 'shop/settings', 1);
    const trace = assembleFromHistory(
      [applied(0, cm), deleted(5, cm)],
      { startTs: 10, endTs: 20 },
      noFilters,
      config,
    );
    assert.equal(trace.index.get('v1.ConfigMap')?.has('shop/settings') ?? false, false);
  });

  it('a deletion only for an object the replay holds', () => {
    // Created with an excluded label, relabelled without a spec change (no event, in SimKube
    // either), deleted at 15 with its last body: SimKube's filter passes that body and exports a
    // deletion of an object its replay never created.
    const history = [
      applied(0, object('Deployment', 'shop/tmp', 1, { skip: 'yes' })),
      applied(5, object('Deployment', 'shop/tmp', 1)),
      deleted(15, object('Deployment', 'shop/tmp', 1)),
    ];
    const filters = { excluded_namespaces: [], excluded_labels: [{ matchLabels: { skip: 'yes' } }] };
    const trace = assembleFromHistory(history, { startTs: 10, endTs: 20 }, filters, config);
    assert.deepEqual(trace.events, [{ ts: 10, applied_objs: [], deleted_objs: [] }]);
  });

  it('a lifecycle spanning the whole window is kept, its start clamped', () => {
    // SimKube's overlaps() wants the start or the end inside the window: Finished(0, 300) is dropped.
    const trace = assembleFromHistory(
      [applied(0, object('Deployment', 'shop/web', 1))],
      { startTs: 100, endTs: 200 },
      noFilters,
      config,
      [
        {
          owner: { gvk: 'apps/v1.Deployment', nsName: 'shop/web' },
          podSpecHash: 7n,
          lifecycles: [{ startTs: 0, endTs: 300 }],
        },
      ],
    );
    const entry = [...trace.podLifecycles.values()][0];
    assert.deepEqual(entry && Object.fromEntries(entry.bySpecHash), { '7': [{ startTs: 100, endTs: 300 }] });
  });
});
