/**
 * API discovery documents as kube-apiserver serves them: `/api` (APIVersions), `/apis`
 * (APIGroupList), `/apis/<group>` (APIGroup), `/api/v1` and `/apis/<group>/<version>`
 * (APIResourceList), and the aggregated form (apidiscovery.k8s.io v2 / v2beta1
 * APIGroupDiscoveryList) that clients ask for with
 * `Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`.
 */
import { createHash } from 'node:crypto';
import type { ResourceState, SimResource } from './store.ts';

export const BUILTIN_RESOURCES: ReadonlyArray<
  SimResource & { shortNames?: string[]; categories?: string[] }
> = [
  {
    group: '',
    version: 'v1',
    kind: 'Pod',
    plural: 'pods',
    namespaced: true,
    shortNames: ['po'],
    categories: ['all'],
  },
  { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, shortNames: ['cm'] },
  {
    group: '',
    version: 'v1',
    kind: 'ServiceAccount',
    plural: 'serviceaccounts',
    namespaced: true,
    shortNames: ['sa'],
  },
  {
    group: '',
    version: 'v1',
    kind: 'Namespace',
    plural: 'namespaces',
    namespaced: false,
    shortNames: ['ns'],
  },
  {
    group: 'apps',
    version: 'v1',
    kind: 'Deployment',
    plural: 'deployments',
    namespaced: true,
    shortNames: ['deploy'],
    categories: ['all'],
  },
  {
    group: 'apps',
    version: 'v1',
    kind: 'ReplicaSet',
    plural: 'replicasets',
    namespaced: true,
    shortNames: ['rs'],
    categories: ['all'],
  },
  {
    group: 'apps',
    version: 'v1',
    kind: 'StatefulSet',
    plural: 'statefulsets',
    namespaced: true,
    shortNames: ['sts'],
    categories: ['all'],
  },
  {
    group: 'apps',
    version: 'v1',
    kind: 'DaemonSet',
    plural: 'daemonsets',
    namespaced: true,
    shortNames: ['ds'],
    categories: ['all'],
  },
  { group: 'batch', version: 'v1', kind: 'Job', plural: 'jobs', namespaced: true, categories: ['all'] },
  {
    group: 'batch',
    version: 'v1',
    kind: 'CronJob',
    plural: 'cronjobs',
    namespaced: true,
    shortNames: ['cj'],
    categories: ['all'],
  },
];

const EXTRAS = new Map(BUILTIN_RESOURCES.map((r) => [`${r.group}/${r.version}/${r.plural}`, r]));

/** Kinds with a status subresource (all built-ins here, and CRDs declaring subresources.status). */
const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const STATUS_VERBS = ['get', 'patch', 'update'];

/**
 * storageVersionHash as the apiserver computes it: the first 8 bytes of the SHA-256 of
 * `group/version/kind` of the storage version, base64.
 */
function storageVersionHash(r: SimResource): string {
  return createHash('sha256')
    .update(`${r.group}/${r.version}/${r.kind}`)
    .digest()
    .subarray(0, 8)
    .toString('base64');
}

/**
 * Version priority as kube orders them (k8s.io/apimachinery/pkg/version.CompareKubeAwareVersionStrings):
 * GA before beta before alpha, higher numbers first, non-kube-like versions last.
 */
export function compareVersionPriority(a: string, b: string): number {
  const parse = (v: string): [number, number, number] | undefined => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return undefined;
    const stability = m[2] === undefined ? 2 : m[2] === 'beta' ? 1 : 0;
    return [stability, Number(m[1]), Number(m[3] ?? 0)];
  };
  const pa = parse(a);
  const pb = parse(b);
  if (!pa || !pb) return pa ? -1 : pb ? 1 : a < b ? -1 : a > b ? 1 : 0;
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pb[i]! - pa[i]!;
  return 0;
}

interface GroupInfo {
  name: string;
  versions: string[];
}

/** Groups (core excluded) in registration order, each with versions by priority. */
export function groupsOf(resources: ResourceState[]): GroupInfo[] {
  const groups = new Map<string, Set<string>>();
  for (const r of resources) {
    if (r.res.group === '') continue;
    const versions = groups.get(r.res.group) ?? new Set<string>();
    groups.set(r.res.group, versions);
    versions.add(r.res.version);
  }
  return [...groups].map(([name, versions]) => ({
    name,
    versions: [...versions].sort(compareVersionPriority),
  }));
}

export function apiVersions(serverAddress: string): unknown {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function apiGroup(g: GroupInfo): unknown {
  const versions = g.versions.map((version) => ({ groupVersion: `${g.name}/${version}`, version }));
  return { name: g.name, versions, preferredVersion: versions[0] };
}

export function apiGroupList(resources: ResourceState[]): unknown {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groupsOf(resources).map(apiGroup) };
}

export function apiGroupDoc(resources: ResourceState[], group: string): unknown | undefined {
  const g = groupsOf(resources).find((x) => x.name === group);
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...(apiGroup(g) as object) } : undefined;
}

/** APIResourceList of one group version; undefined when nothing is served there. */
export function apiResourceList(
  resources: ResourceState[],
  group: string,
  version: string,
): unknown | undefined {
  const served = resources.filter((r) => r.res.group === group && r.res.version === version);
  if (served.length === 0) return undefined;
  const list: unknown[] = [];
  for (const r of served) {
    const extra = EXTRAS.get(`${group}/${version}/${r.res.plural}`);
    list.push({
      name: r.res.plural,
      singularName: r.res.kind.toLowerCase(),
      namespaced: r.res.namespaced,
      kind: r.res.kind,
      verbs: VERBS,
      ...(extra?.shortNames ? { shortNames: extra.shortNames } : {}),
      ...(extra?.categories ? { categories: extra.categories } : {}),
      storageVersionHash: storageVersionHash(r.res),
    });
    list.push({
      name: `${r.res.plural}/status`,
      singularName: '',
      namespaced: r.res.namespaced,
      kind: r.res.kind,
      verbs: STATUS_VERBS,
    });
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources: list,
  };
}

/** Aggregated discovery (KEP-3352) for `/api` (core) or `/apis` (all other groups). */
export function aggregatedDiscovery(resources: ResourceState[], core: boolean, apiVersion: string): unknown {
  const groups: GroupInfo[] = core ? [{ name: '', versions: ['v1'] }] : groupsOf(resources);
  const items = groups.map((g) => ({
    metadata: g.name ? { name: g.name, creationTimestamp: null } : { creationTimestamp: null },
    versions: g.versions.map((version) => ({
      version,
      resources: resources
        .filter((r) => r.res.group === g.name && r.res.version === version)
        .map((r) => {
          const extra = EXTRAS.get(`${g.name}/${version}/${r.res.plural}`);
          const responseKind = { group: g.name, version, kind: r.res.kind };
          return {
            resource: r.res.plural,
            responseKind,
            scope: r.res.namespaced ? 'Namespaced' : 'Cluster',
            singularResource: r.res.kind.toLowerCase(),
            verbs: VERBS,
            ...(extra?.shortNames ? { shortNames: extra.shortNames } : {}),
            ...(extra?.categories ? { categories: extra.categories } : {}),
            subresources: [{ subresource: 'status', responseKind, verbs: STATUS_VERBS }],
          };
        }),
      freshness: 'Current',
    })),
  }));
  return { kind: 'APIGroupDiscoveryList', apiVersion, metadata: {}, items };
}

export function versionInfo(): unknown {
  return {
    major: '1',
    minor: '32',
    gitVersion: 'v1.32.0',
    gitCommit: '70d3cc986aa8221cd1dfb1121852688902d3bf53',
    gitTreeState: 'clean',
    buildDate: '2024-12-11T17:58:53Z',
    goVersion: 'go1.23.3',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}
