import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject, OwnerReference } from '../../lib/trace/model.ts';
import { isOwnedByDaemonSet, ownerChainOf, ownerRefsOf } from '../../lib/trace/owners.ts';

function obj(namespace: string | undefined, ownerReferences?: OwnerReference[]): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'p',
      ...(namespace ? { namespace } : {}),
      ...(ownerReferences ? { ownerReferences } : {}),
    },
  };
}

const rs: OwnerReference = {
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  name: 'web-5d8f',
  uid: 'u1',
  controller: true,
};
const node: OwnerReference = { apiVersion: 'v1', kind: 'Node', name: 'node-1', uid: 'u2' };
const ds: OwnerReference = { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd', uid: 'u3' };

describe('ownerRefsOf', () => {
  it('maps owner references to refs in the dependent namespace', () => {
    assert.deepEqual(ownerRefsOf(obj('prod', [rs])), [
      { gvk: 'apps/v1.ReplicaSet', nsName: 'prod/web-5d8f' },
    ]);
  });
  it('keeps known cluster-scoped owners without a namespace (mirror pod owned by its Node)', () => {
    assert.deepEqual(ownerRefsOf(obj('kube-system', [node])), [{ gvk: 'v1.Node', nsName: 'node-1' }]);
  });
  it('lets the caller say which kinds are cluster-scoped', () => {
    const cr: OwnerReference = { apiVersion: 'x.io/v1', kind: 'Tenant', name: 't1' };
    assert.deepEqual(ownerRefsOf(obj('prod', [cr])), [{ gvk: 'x.io/v1.Tenant', nsName: 'prod/t1' }]);
    assert.deepEqual(ownerRefsOf(obj('prod', [cr]), { isClusterScoped: (gvk) => gvk === 'x.io/v1.Tenant' }), [
      { gvk: 'x.io/v1.Tenant', nsName: 't1' },
    ]);
  });
  it('gives cluster-scoped dependents cluster-scoped owners', () => {
    assert.deepEqual(ownerRefsOf(obj(undefined, [rs])), [{ gvk: 'apps/v1.ReplicaSet', nsName: 'web-5d8f' }]);
  });
  it('skips references that name nothing, and handles no references', () => {
    const broken = [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: '' },
      { kind: 'X', name: 'y' },
    ] as OwnerReference[];
    assert.deepEqual(ownerRefsOf(obj('prod', broken)), []);
    assert.deepEqual(ownerRefsOf(obj('prod')), []);
  });
});

describe('ownerChainOf', () => {
  it('prefers the chain the sender resolved, else the direct owner references', () => {
    const chain = [
      { gvk: 'apps/v1.ReplicaSet', nsName: 'prod/web-5d8f' },
      { gvk: 'apps/v1.Deployment', nsName: 'prod/web' },
    ];
    assert.deepEqual(
      ownerChainOf({ ts: 1, type: 'applied', object: obj('prod', [rs]), owners: chain }),
      chain,
    );
    assert.deepEqual(ownerChainOf({ ts: 1, type: 'applied', object: obj('prod', [rs]), owners: [] }), [
      { gvk: 'apps/v1.ReplicaSet', nsName: 'prod/web-5d8f' },
    ]);
  });
});

describe('isOwnedByDaemonSet', () => {
  const cases: [OwnerReference[] | undefined, boolean][] = [
    [[ds], true],
    [[rs, ds], true],
    [[rs], false],
    [[], false],
    [undefined, false],
  ];
  for (const [refs, expected] of cases) {
    it(`${JSON.stringify(refs?.map((r) => r.kind))} → ${expected}`, () => {
      assert.equal(isOwnedByDaemonSet(obj('prod', refs)), expected);
    });
  }
});
