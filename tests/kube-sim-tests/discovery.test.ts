import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { compareVersionPriority } from '../kube-sim/discovery.ts';
import { KubeSim } from '../kube-sim/server.ts';
import { getJson } from '../kube-sim/testing.ts';

let sim: KubeSim;
before(async () => {
  sim = await KubeSim.start();
});
after(() => sim.close());

interface ResourceList {
  kind: string;
  groupVersion: string;
  resources: Array<{
    name: string;
    singularName: string;
    namespaced: boolean;
    kind: string;
    verbs: string[];
  }>;
}

const AGGREGATED = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

test('core and group discovery list the built-in kinds', async () => {
  const api = await getJson<{ kind: string; versions: string[] }>(sim, '/api');
  assert.equal(api.status, 200);
  assert.deepEqual([api.body.kind, api.body.versions], ['APIVersions', ['v1']]);
  assert.deepEqual(
    (api.body as unknown as { serverAddressByClientCIDRs: unknown }).serverAddressByClientCIDRs,
    [{ clientCIDR: '0.0.0.0/0', serverAddress: new URL(sim.url).host }],
  );

  const v1 = await getJson<ResourceList>(sim, '/api/v1');
  assert.equal(v1.body.kind, 'APIResourceList');
  assert.equal(v1.body.groupVersion, 'v1');
  const pods = v1.body.resources.find((r) => r.name === 'pods');
  assert.deepEqual(
    { ...pods, verbs: undefined },
    { ...pods, name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: undefined },
  );
  assert.ok(pods?.verbs.includes('list') && pods.verbs.includes('watch'));
  assert.equal(v1.body.resources.find((r) => r.name === 'namespaces')?.namespaced, false);
  assert.ok(v1.body.resources.some((r) => r.name === 'pods/status'));

  const groups = await getJson<{
    kind: string;
    groups: Array<{ name: string; preferredVersion: { groupVersion: string } }>;
  }>(sim, '/apis');
  assert.equal(groups.body.kind, 'APIGroupList');
  assert.deepEqual(
    groups.body.groups.map((g) => [g.name, g.preferredVersion.groupVersion]),
    [
      ['apps', 'apps/v1'],
      ['batch', 'batch/v1'],
    ],
  );
  const apps = await getJson<ResourceList>(sim, '/apis/apps/v1');
  assert.deepEqual(
    apps.body.resources.filter((r) => !r.name.includes('/')).map((r) => r.kind),
    ['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet'],
  );
  assert.equal((await getJson(sim, '/apis/apps')).body.kind, 'APIGroup');
  assert.equal((await getJson(sim, '/apis/nope/v1')).status, 404);
  assert.equal((await getJson(sim, '/version')).body.gitVersion, 'v1.32.0');
});

test('a resource added later appears in every form of discovery, and is served', async () => {
  const before = await getJson<{ groups: Array<{ name: string }> }>(sim, '/apis');
  assert.ok(!before.body.groups.some((g) => g.name === 'example.com'));
  sim.addResource({
    group: 'example.com',
    version: 'v1',
    kind: 'Widget',
    plural: 'widgets',
    namespaced: true,
  });
  sim.addResource({
    group: 'example.com',
    version: 'v1beta1',
    kind: 'Widget',
    plural: 'widgets',
    namespaced: true,
  });

  const groups = await getJson<{
    groups: Array<{
      name: string;
      versions: Array<{ version: string }>;
      preferredVersion: { version: string };
    }>;
  }>(sim, '/apis');
  const example = groups.body.groups.find((g) => g.name === 'example.com');
  assert.deepEqual(
    example?.versions.map((v) => v.version),
    ['v1', 'v1beta1'],
  );
  assert.equal(example?.preferredVersion.version, 'v1');
  const list = await getJson<ResourceList>(sim, '/apis/example.com/v1');
  assert.equal(list.body.resources[0]?.kind, 'Widget');
  assert.equal(list.body.resources[0]?.singularName, 'widget');

  const agg = await getJson<{
    kind: string;
    apiVersion: string;
    items: Array<{
      metadata: { name: string };
      versions: Array<{ version: string; resources: Array<{ resource: string; scope: string }> }>;
    }>;
  }>(sim, '/apis', { accept: `${AGGREGATED},application/json` });
  assert.equal(agg.headers.get('content-type'), AGGREGATED);
  assert.equal(agg.body.kind, 'APIGroupDiscoveryList');
  assert.equal(agg.body.apiVersion, 'apidiscovery.k8s.io/v2');
  const item = agg.body.items.find((i) => i.metadata.name === 'example.com');
  assert.deepEqual(item?.versions[0]?.resources[0], {
    ...item?.versions[0]?.resources[0],
    resource: 'widgets',
    scope: 'Namespaced',
  });

  const kc = new k8s.KubeConfig();
  kc.loadFromString(sim.kubeconfig());
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const widgets = (await custom.listClusterCustomObject({
    group: 'example.com',
    version: 'v1',
    plural: 'widgets',
  })) as {
    kind: string;
  };
  assert.equal(widgets.kind, 'WidgetList');
});

test('content negotiation: aggregated only where served, 406 when nothing acceptable', async () => {
  const core = await getJson<{ kind: string; items: Array<{ versions: Array<{ version: string }> }> }>(
    sim,
    '/api',
    {
      accept: AGGREGATED,
    },
  );
  assert.equal(core.body.kind, 'APIGroupDiscoveryList');
  assert.equal(core.body.items[0]?.versions[0]?.version, 'v1');
  const beta = await getJson<{ apiVersion: string }>(sim, '/apis', {
    accept: 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList',
  });
  assert.equal(beta.body.apiVersion, 'apidiscovery.k8s.io/v2beta1');
  const refused = await getJson<{ kind: string; code: number; reason: string }>(sim, '/api/v1/pods', {
    accept: AGGREGATED,
  });
  assert.deepEqual(
    [refused.status, refused.body.kind, refused.body.reason],
    [406, 'Status', 'NotAcceptable'],
  );
  const table = await getJson<{ kind: string }>(sim, '/api/v1/pods', {
    accept: 'application/json;as=Table;g=meta.k8s.io;v=v1, application/json',
  });
  assert.equal(table.body.kind, 'PodList', 'falls back to the plain form the client also accepts');
});

test('kube version priority orders GA, then beta, then alpha', () => {
  const versions = ['v1alpha1', 'v2beta1', 'v1', 'v1beta2', 'v2', 'v1beta1', 'foo'];
  assert.deepEqual(versions.sort(compareVersionPriority), [
    'v2',
    'v1',
    'v2beta1',
    'v1beta2',
    'v1beta1',
    'v1alpha1',
    'foo',
  ]);
});
