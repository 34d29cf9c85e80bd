import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../lib/trace/model.ts';
import { sanitizeObject } from '../../lib/trace/sanitize.ts';

function deployment(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      namespace: 'prod',
      labels: { app: 'web' },
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"apps/v1"}',
        'deployment.kubernetes.io/revision': '3',
        'team.example.com/owner': 'payments',
      },
      creationTimestamp: '2024-03-19T23:48:58Z',
      deletionTimestamp: '2024-03-20T00:00:00Z',
      deletionGracePeriodSeconds: 30,
      generation: 7,
      managedFields: [{ manager: 'kubectl', operation: 'Update' }],
      resourceVersion: '123456',
      uid: '0d9c1b7e-1111-2222-3333-444455556666',
      finalizers: ['example.com/guard'],
      ownerReferences: [
        { apiVersion: 'example.com/v1', kind: 'App', name: 'web', uid: 'u-1', controller: true },
      ],
    },
    spec: { replicas: 2, template: { metadata: { creationTimestamp: null }, spec: { containers: [] } } },
    status: { replicas: 2, readyReplicas: 1 },
  };
}

describe('sanitizeObject', () => {
  it('drops server-owned metadata, the two annotations and status; keeps the rest', () => {
    const input = deployment();
    const before = structuredClone(input);
    const out = sanitizeObject(input);
    assert.deepEqual(out, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        annotations: { 'team.example.com/owner': 'payments' },
        name: 'web',
        namespace: 'prod',
        labels: { app: 'web' },
        finalizers: ['example.com/guard'],
        ownerReferences: [
          { apiVersion: 'example.com/v1', kind: 'App', name: 'web', uid: 'u-1', controller: true },
        ],
      },
      // creationTimestamp inside the pod template is spec, and spec is hashed as SimKube has it.
      spec: { replicas: 2, template: { metadata: { creationTimestamp: null }, spec: { containers: [] } } },
    });
    assert.deepEqual(input, before, 'the input must not change');
  });

  it('always leaves an annotations map, first in metadata, as SimKube does', () => {
    const cases: [Record<string, unknown>, Record<string, unknown>][] = [
      [
        { name: 'a', namespace: 'n' },
        { annotations: {}, name: 'a', namespace: 'n' },
      ],
      [
        { name: 'a', annotations: { 'deployment.kubernetes.io/revision': '1' } },
        { annotations: {}, name: 'a' },
      ],
      [
        { name: 'a', annotations: null },
        { annotations: {}, name: 'a' },
      ],
    ];
    for (const [metadata, expected] of cases) {
      const out = sanitizeObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata } as KubeObject);
      assert.deepEqual(out.metadata, expected);
      assert.deepEqual(Object.keys(out.metadata), Object.keys(expected));
    }
  });

  it('removes spec.nodeName of pods only (SimKube >= 2.6.1 dyn_obj_watcher), nothing else in spec', () => {
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'n' },
      spec: {
        nodeName: 'ip-10-0-0-1',
        serviceAccountName: 'default',
        containers: [{ name: 'c', image: 'busybox' }],
      },
      status: { phase: 'Running' },
    };
    const out = sanitizeObject(pod);
    assert.deepEqual(out.spec, {
      serviceAccountName: 'default',
      containers: [{ name: 'c', image: 'busybox' }],
    });
    assert.equal('status' in out, false);
    assert.equal((pod.spec as Record<string, unknown>).nodeName, 'ip-10-0-0-1', 'input spec untouched');

    // Before the fix every kind lost it: a tracked VolumeAttachment's index hash then differed
    // from SimKube's.
    const attachment = sanitizeObject({
      apiVersion: 'storage.k8s.io/v1',
      kind: 'VolumeAttachment',
      metadata: { name: 'csi-1' },
      spec: {
        attacher: 'ebs.csi.aws.com',
        nodeName: 'ip-10-0-0-1',
        source: { persistentVolumeName: 'pv-1' },
      },
    });
    assert.deepEqual(attachment.spec, {
      attacher: 'ebs.csi.aws.com',
      nodeName: 'ip-10-0-0-1',
      source: { persistentVolumeName: 'pv-1' },
    });
    const custom = sanitizeObject({
      apiVersion: 'x.io/v1',
      kind: 'Pod',
      metadata: { name: 't' },
      spec: { nodeName: 'n' },
    });
    assert.deepEqual(custom.spec, { nodeName: 'n' }, 'a Pod of another group is another kind');
  });

  it('keeps objects without spec or with a non-object spec as they are', () => {
    const cm = sanitizeObject({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c' },
      data: { k: 'v' },
    });
    assert.deepEqual(cm, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { annotations: {}, name: 'c' },
      data: { k: 'v' },
    });
    assert.equal('spec' in cm, false);
  });

  it('is idempotent', () => {
    const once = sanitizeObject(deployment());
    assert.deepEqual(sanitizeObject(once), once);
  });
});
