/**
 * One small history and the exports of representative windows of it, written out by hand: the
 * hand-made half of the export oracle (the other half is collect-events.ts). Objects are written
 * `Kind ns/name` and versions `@n` (replicas or image tag n).
 */
import type {
  ExportFilters,
  KubeObject,
  ObjectChange,
  TraceConfigDoc,
  TraceWindow,
} from '../../../lib/trace/model.ts';
import type { OracleLifecycles, OracleTrace } from './collect-events.ts';

const T = 1_700_000_000;

function deployment(ns: string, name: string, v: number, labels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, labels: { app: name, ...labels } },
    spec: { replicas: v, template: { spec: { containers: [{ name: 'c', image: 'img' }] } } },
  };
}
function pod(
  ns: string,
  name: string,
  v: number,
  owner?: { apiVersion: string; kind: string; name: string },
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: ns,
      ...(owner ? { ownerReferences: [{ ...owner, uid: `uid-${owner.name}` }] } : {}),
    },
    spec: { containers: [{ name: 'c', image: `img:${v}` }] },
  };
}
const replicaSet: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  metadata: {
    name: 'web-1',
    namespace: 'shop',
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-web' }],
  },
  spec: { replicas: 1 },
};
const service = (v: number): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'gone', namespace: 'shop' },
  spec: { ports: [{ port: v }] },
});

const applied = (ts: number, object: KubeObject, owners: ObjectChange['owners'] = []): ObjectChange => ({
  ts: T + ts,
  type: 'applied',
  object,
  owners,
});
const deleted = (ts: number, object: KubeObject): ObjectChange => ({
  ts: T + ts,
  type: 'deleted',
  object,
  owners: [],
});

const WEB = { gvk: 'apps/v1.Deployment', nsName: 'shop/web' };
const RS = { gvk: 'apps/v1.ReplicaSet', nsName: 'shop/web-1' };

export const TABLE_CONFIG: TraceConfigDoc = {
  trackedObjects: {
    'apps/v1.Deployment': {},
    'apps/v1.ReplicaSet': {},
    'v1.Pod': { trackLifecycle: true },
    'v1.Service': {},
  },
};

/** +0..+30 s: what happened in the cluster, in order. */
export const TABLE_HISTORY: ObjectChange[] = [
  applied(0, deployment('shop', 'web', 1)),
  applied(0, pod('shop', 'bare', 1)),
  applied(0, pod('shop', 'old', 1)),
  applied(5, replicaSet, [WEB]),
  applied(5, pod('shop', 'web-1-a', 1, { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1' }), [
    RS,
    WEB,
  ]),
  applied(10, deployment('shop', 'web', 2)),
  applied(10, deployment('shop', 'web', 3)), // same second: only @3 is kept
  applied(12, deployment('ops', 'api', 1, { tier: 'back' })),
  deleted(15, pod('shop', 'bare', 1)),
  applied(18, deployment('shop', 'web', 3)), // spec unchanged: no change
  deleted(20, service(80)), // never existed: nothing to delete
  applied(20, pod('shop', 'ds-x', 1, { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'ds' })),
  deleted(25, deployment('ops', 'api', 1, { tier: 'back' })),
  applied(30, deployment('shop', 'web', 4)),
];

export const TABLE_LIFECYCLES: OracleLifecycles[] = [
  {
    owner: { gvk: 'v1.Pod', nsName: 'shop/bare' },
    podSpecHash: 7n,
    lifecycles: [{ startTs: T + 1, endTs: T + 30 }],
  },
  {
    owner: { gvk: 'v1.Pod', nsName: 'shop/old' },
    podSpecHash: 8n,
    lifecycles: [{ startTs: T, endTs: T + 2 }],
  },
  { owner: WEB, podSpecHash: 9n, lifecycles: [{ startTs: T + 6 }, { startTs: T + 7, endTs: T + 9 }] },
];

export interface TableCase {
  name: string;
  window: TraceWindow;
  filters: ExportFilters;
  /** [ts - T, applied "Kind ns/name@v", deleted "Kind ns/name"] per event, the start event first. */
  events: Array<[number, string[], string[]]>;
  /** "Kind ns/name@v" of the index. */
  index: string[];
  /** "Kind ns/name hash: start-end" (end omitted while running), ts - T. */
  lifecycles: string[];
}

const NONE: ExportFilters = { excluded_namespaces: [], excluded_labels: [] };

export const TABLE_CASES: TableCase[] = [
  {
    name: 'the whole history: owned objects, a coalesced second, a no-op re-apply, a phantom deletion and a DaemonSet pod left out',
    window: { startTs: T - 10, endTs: T + 100 },
    filters: NONE,
    events: [
      [-10, [], []],
      [0, ['Deployment shop/web@1', 'Pod shop/bare@1', 'Pod shop/old@1'], []],
      [10, ['Deployment shop/web@3'], []],
      [12, ['Deployment ops/api@1'], []],
      [15, [], ['Pod shop/bare']],
      [25, [], ['Deployment ops/api']],
      [30, ['Deployment shop/web@4'], []],
    ],
    index: ['Deployment ops/api@1', 'Deployment shop/web@4', 'Pod shop/bare@1', 'Pod shop/old@1'],
    lifecycles: ['Pod shop/bare 7: 1-30', 'Pod shop/old 8: 0-2', 'Deployment shop/web 9: 6-, 7-9'],
  },
  {
    name: 'a window in the middle: the start state holds the latest versions, owned ones left out, a finished bare pod too',
    window: { startTs: T + 6, endTs: T + 26 },
    filters: NONE,
    events: [
      [6, ['Deployment shop/web@1', 'Pod shop/bare@1'], []],
      [10, ['Deployment shop/web@3'], []],
      [12, ['Deployment ops/api@1'], []],
      [15, [], ['Pod shop/bare']],
      [25, [], ['Deployment ops/api']],
    ],
    index: ['Deployment ops/api@1', 'Deployment shop/web@3', 'Pod shop/bare@1'],
    lifecycles: ['Pod shop/bare 7: 6-30', 'Deployment shop/web 9: 6-, 7-9'],
  },
  {
    name: 'the same window without namespace ops',
    window: { startTs: T + 6, endTs: T + 26 },
    filters: { excluded_namespaces: ['ops'], excluded_labels: [] },
    events: [
      [6, ['Deployment shop/web@1', 'Pod shop/bare@1'], []],
      [10, ['Deployment shop/web@3'], []],
      [15, [], ['Pod shop/bare']],
    ],
    index: ['Deployment shop/web@3', 'Pod shop/bare@1'],
    lifecycles: ['Pod shop/bare 7: 6-30', 'Deployment shop/web 9: 6-, 7-9'],
  },
  {
    name: 'the owner excluded by label: its ReplicaSet stays (the replay must still run its pods), the pod goes with it',
    window: { startTs: T + 16, endTs: T + 100 },
    filters: { excluded_namespaces: [], excluded_labels: [{ matchLabels: { app: 'web' } }] },
    events: [
      [16, ['Deployment ops/api@1', 'ReplicaSet shop/web-1@1'], []],
      [25, [], ['Deployment ops/api']],
    ],
    index: ['Deployment ops/api@1', 'ReplicaSet shop/web-1@1'],
    lifecycles: [],
  },
  {
    name: 'a one-second window at a change: the start state, then the change in its own event at the same second',
    window: { startTs: T + 30, endTs: T + 31 },
    filters: NONE,
    events: [
      [30, ['Deployment shop/web@3'], []],
      [30, ['Deployment shop/web@4'], []],
    ],
    index: ['Deployment shop/web@4'],
    lifecycles: ['Deployment shop/web 9: 30-'],
  },
  {
    name: 'the first second only: a lifecycle starting at the window end does not overlap it',
    window: { startTs: T, endTs: T + 1 },
    filters: NONE,
    events: [
      [0, [], []],
      [0, ['Deployment shop/web@1', 'Pod shop/bare@1', 'Pod shop/old@1'], []],
    ],
    index: ['Deployment shop/web@1', 'Pod shop/bare@1', 'Pod shop/old@1'],
    lifecycles: ['Pod shop/old 8: 0-2'],
  },
];

/** `Kind ns/name@v` of an object (v: replicas, image tag or port). */
export function describe(o: KubeObject): string {
  const spec = o.spec as {
    replicas?: number;
    containers?: Array<{ image: string }>;
    ports?: Array<{ port: number }>;
  };
  const v = spec.replicas ?? spec.ports?.[0]?.port ?? Number(spec.containers?.[0]?.image.split(':')[1]);
  return `${o.kind} ${o.metadata.namespace}/${o.metadata.name}@${v}`;
}

/** An export in the table's notation. */
export function asTable(t: OracleTrace): Omit<TableCase, 'name' | 'window' | 'filters'> {
  const short = (key: string) => key.replace(/^\S*\.(\w+) /, '$1 ');
  return {
    events: t.events.map((e) => [
      e.ts - T,
      e.applied_objs.map(describe),
      e.deleted_objs.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`),
    ]),
    index: [...t.index.keys()]
      .map((key) => {
        const at = t.events
          .flatMap((e) => e.applied_objs)
          .filter((o) => `${o.apiVersion}.${o.kind} ${o.metadata.namespace}/${o.metadata.name}` === key);
        return `${short(key)}@${describe(at.at(-1)!).split('@')[1]}`;
      })
      .sort(),
    lifecycles: [...t.lifecycles].flatMap(([owner, byHash]) =>
      [...byHash].map(
        ([hash, lcs]) =>
          `${short(owner)} ${hash}: ${lcs.map((l) => `${l.startTs - T}-${l.endTs === undefined ? '' : l.endTs - T}`).join(', ')}`,
      ),
    ),
  };
}

/** A table case as the tests compare it: index and lifecycles sorted (their order means nothing). */
export const tableOf = (c: TableCase) => ({
  events: c.events,
  index: [...c.index].sort(),
  lifecycles: [...c.lifecycles].sort(),
});

/** `asTable`'s output as the tests compare it with `tableOf`: lifecycles sorted. */
export const sortedLifecycles = (t: ReturnType<typeof asTable>) => ({
  ...t,
  lifecycles: [...t.lifecycles].sort(),
});
