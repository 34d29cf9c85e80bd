/**
 * Random histories for the export oracle (fast-check): a small cluster of Deployments, their
 * ReplicaSets and Pods (owner chains resolved or one level), bare pods, a DaemonSet's pod and a
 * Service, in two namespaces, with versions that repeat (dedupe), same-second changes, deletions
 * of what never existed, labels the filters select on, and pod lifecycles. Plus the comparable
 * shape of an exported trace and a way to post a history to the ingest API.
 */
import fc from 'fast-check';
import type { ApiClient } from '../../../lib/cli/client.ts';
import type { Change } from '../../../lib/ingest/wire.ts';
import type {
  ExportFilters,
  KubeObject,
  ObjectChange,
  ObjectRef,
  Trace,
  TraceConfigDoc,
  TraceWindow,
} from '../../../lib/trace/model.ts';
import type { OracleLifecycles, OracleTrace } from './collect-events.ts';

export interface History {
  changes: ObjectChange[];
  lifecycles: OracleLifecycles[];
  window: TraceWindow;
  filters: ExportFilters;
  config: TraceConfigDoc;
}

interface Template {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  /** Owner references (one level) and the whole chain, nearest first. */
  refs?: Array<{ apiVersion: string; kind: string; name: string }>;
  chain?: ObjectRef[];
}

const templates: Template[] = [];
for (const ns of ['shop', 'ops']) {
  for (const app of ['web', 'api']) {
    templates.push({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: app });
    const dep = { gvk: 'apps/v1.Deployment', nsName: `${ns}/${app}` };
    const rs = { gvk: 'apps/v1.ReplicaSet', nsName: `${ns}/${app}-1` };
    templates.push({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      namespace: ns,
      name: `${app}-1`,
      refs: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: app }],
      chain: [dep],
    });
    const podRefs = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-1` }];
    templates.push({
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: ns,
      name: `${app}-1-a`,
      refs: podRefs,
      chain: [rs, dep],
    });
    // The same pod with only its direct owner known (no chain resolved by the sender).
    templates.push({ apiVersion: 'v1', kind: 'Pod', namespace: ns, name: `${app}-1-b`, refs: podRefs });
  }
  templates.push({ apiVersion: 'v1', kind: 'Pod', namespace: ns, name: 'bare-a' });
  templates.push({
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: ns,
    name: 'ds-a',
    refs: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'ds' }],
  });
  templates.push({ apiVersion: 'v1', kind: 'Service', namespace: ns, name: 'svc' });
}

function objectOf(t: Template, version: number, tier: string | undefined): KubeObject {
  const labels: Record<string, string> = { app: t.name.split('-')[0]! };
  if (tier) labels.tier = tier;
  const spec =
    t.kind === 'Pod'
      ? { containers: [{ name: 'c', image: `img:${version}` }] }
      : t.kind === 'Service'
        ? { ports: [{ port: 80 + version }] }
        : { replicas: version, template: { spec: { containers: [{ name: 'c', image: 'img' }] } } };
  return {
    apiVersion: t.apiVersion,
    kind: t.kind,
    metadata: {
      name: t.name,
      namespace: t.namespace,
      labels,
      ...(t.refs ? { ownerReferences: t.refs.map((r) => ({ ...r, uid: `uid-${r.name}` })) } : {}),
    },
    spec,
  };
}

const changeArb = fc.record({
  template: fc.nat({ max: templates.length - 1 }),
  version: fc.integer({ min: 1, max: 3 }),
  tier: fc.constantFrom(undefined, 'front', 'back'),
  deleted: fc.nat({ max: 4 }).map((n) => n === 0), // one change in five
  gapSec: fc.constantFrom(0, 0, 1, 2, 5),
});

const filtersArb: fc.Arbitrary<ExportFilters> = fc.constantFrom<ExportFilters>(
  { excluded_namespaces: [], excluded_labels: [] },
  { excluded_namespaces: ['ops'], excluded_labels: [] },
  { excluded_namespaces: [], excluded_labels: [{ matchLabels: { tier: 'back' } }] },
  { excluded_namespaces: [], excluded_labels: [{ matchLabels: { app: 'web' } }] },
  {
    excluded_namespaces: [],
    excluded_labels: [{ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }],
  },
  {
    excluded_namespaces: ['shop'],
    excluded_labels: [{ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }],
  },
);

const lifecycleOwners: ObjectRef[] = [
  { gvk: 'apps/v1.Deployment', nsName: 'shop/web' },
  { gvk: 'apps/v1.Deployment', nsName: 'ops/api' },
  { gvk: 'v1.Pod', nsName: 'shop/bare-a' },
  { gvk: 'v1.Pod', nsName: 'ops/bare-a' },
];

export const T0 = 1_700_000_000;

export const historyArb: fc.Arbitrary<History> = fc
  .record({
    steps: fc.array(changeArb, { minLength: 1, maxLength: 40 }),
    window: fc.tuple(fc.integer({ min: -3, max: 60 }), fc.integer({ min: 1, max: 80 })),
    filters: filtersArb,
    skipOwned: fc.constantFrom<string[]>([], ['apps/v1.ReplicaSet'], ['v1.Pod']),
    lifecycles: fc.uniqueArray(
      fc.record({
        owner: fc.nat({ max: lifecycleOwners.length - 1 }),
        hash: fc.constantFrom(1n, 2n),
        spans: fc.array(fc.tuple(fc.integer({ min: -5, max: 70 }), fc.option(fc.nat({ max: 40 }))), {
          minLength: 1,
          maxLength: 2,
        }),
      }),
      // One entry per owner and pod-spec hash (the store orders an owner's lifecycles by start).
      { maxLength: 3, selector: (l) => `${l.owner} ${l.hash}` },
    ),
  })
  .map(({ steps, window, filters, skipOwned, lifecycles }) => {
    let ts = T0;
    const changes: ObjectChange[] = steps.map((s) => {
      ts += s.gapSec;
      const t = templates[s.template]!;
      return {
        ts,
        type: s.deleted ? 'deleted' : 'applied',
        object: objectOf(t, s.version, s.tier),
        owners: t.chain ?? [],
      };
    });
    const config: TraceConfigDoc = { trackedObjects: {} };
    for (const gvk of ['apps/v1.Deployment', 'apps/v1.ReplicaSet', 'v1.Pod', 'v1.Service'])
      config.trackedObjects[gvk] = skipOwned.includes(gvk) ? { skipOwned: true } : {};
    return {
      changes,
      window: { startTs: T0 + window[0], endTs: T0 + window[0] + window[1] },
      filters,
      config,
      lifecycles: lifecycles.map((l) => ({
        owner: lifecycleOwners[l.owner]!,
        podSpecHash: l.hash,
        lifecycles: l.spans
          .map(([start, length]) =>
            length === null ? { startTs: T0 + start } : { startTs: T0 + start, endTs: T0 + start + length },
          )
          .sort((a, b) => a.startTs - b.startTs),
      })),
    };
  });

/** An exported trace in the oracle's shape. */
export function comparable(trace: Trace): OracleTrace {
  const index = new Map<string, bigint>();
  for (const [gvk, byName] of trace.index)
    for (const [nsName, hash] of byName) index.set(`${gvk} ${nsName}`, hash);
  const lifecycles: OracleTrace['lifecycles'] = new Map();
  for (const { owner, bySpecHash } of trace.podLifecycles.values())
    lifecycles.set(`${owner.gvk} ${owner.nsName}`, bySpecHash);
  return {
    events: trace.events.map((e) => ({
      ts: e.ts,
      applied_objs: e.applied_objs,
      deleted_objs: e.deleted_objs,
    })),
    index,
    lifecycles,
  };
}

/**
 * Posts a history to the ingest API as a sender would: the config, then every change in order
 * (`seq` in history order, so the last of an object's changes in one second wins), owners as
 * resolved chains, and every lifecycle.
 */
export async function postHistory(client: ApiClient, cluster: string, h: History): Promise<void> {
  // The config before any window this history is exported over (the export reads the config in
  // force at the window's last second).
  const changes: Change[] = [{ type: 'config', ts: Math.min(T0, h.changes[0]!.ts) - 10, config: h.config }];
  h.changes.forEach((c, seq) => {
    const owners = c.owners.map((o) => ({ gvk: o.gvk, ns_name: o.nsName }));
    changes.push(
      c.type === 'applied'
        ? { type: 'applied', ts: c.ts, seq, object: c.object, ...(owners.length > 0 ? { owners } : {}) }
        : { type: 'deleted', ts: c.ts, seq, object: c.object },
    );
  });
  h.lifecycles.forEach((l, i) => {
    l.lifecycles.forEach((lc, j) => {
      changes.push({
        type: 'lifecycle',
        ts: lc.endTs ?? lc.startTs,
        owner: { gvk: l.owner.gvk, ns_name: l.owner.nsName },
        pod: `pod-${i}-${j}`,
        pod_spec_hash: l.podSpecHash.toString(),
        start_ts: lc.startTs,
        ...(lc.endTs === undefined ? {} : { end_ts: lc.endTs }),
      });
    });
  });
  for (let i = 0; i < changes.length; i += 200)
    await client.postEvents(cluster, { changes: changes.slice(i, i + 200) });
}
