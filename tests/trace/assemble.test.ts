import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  AssemblyOrderError,
  assembleFromHistory,
  assembleTrace,
  ExportFiltersError,
  ExportWindowError,
  type OwnerLifecycles,
  TraceAssembler,
} from '../../lib/trace/assemble.ts';
import { tracerConfigFromDoc } from '../../lib/trace/config.ts';
import { refOf } from '../../lib/trace/gvk.ts';
import { specHash } from '../../lib/trace/hash.ts';
import type {
  ExportFilters,
  KubeObject,
  Lifecycle,
  ObjectChange,
  ObjectRef,
  OwnerReference,
  Trace,
} from '../../lib/trace/model.ts';
import { matchesSelector, SelectorError } from '../../lib/trace/selector.ts';
import { storeConsistentHistory } from '../support/history.ts';

// --- builders ------------------------------------------------------------------------------------

const config = tracerConfigFromDoc({
  trackedObjects: {
    'apps/v1.Deployment': {},
    'apps/v1.ReplicaSet': {},
    'apps/v1.DaemonSet': {},
    'v1.Pod': { trackLifecycle: true },
    'v1.ServiceAccount': {},
  },
});
const noFilters: ExportFilters = { excluded_namespaces: [], excluded_labels: [] };
const W = { startTs: 100, endTs: 200 };

function ownerRef(kind: string, name: string, apiVersion = 'apps/v1'): OwnerReference {
  return { apiVersion, kind, name, uid: `uid-${name}`, controller: true };
}

function obj(
  gvk: string,
  nsName: string,
  opts: { rev?: number; labels?: Record<string, string>; owners?: OwnerReference[] } = {},
): KubeObject {
  const dot = gvk.lastIndexOf('.');
  const [namespace, name] = nsName.includes('/') ? nsName.split('/') : [undefined, nsName];
  return {
    apiVersion: gvk.slice(0, dot),
    kind: gvk.slice(dot + 1),
    metadata: {
      annotations: {},
      name: name!,
      ...(namespace ? { namespace } : {}),
      ...(opts.labels ? { labels: opts.labels } : {}),
      ...(opts.owners ? { ownerReferences: opts.owners } : {}),
    },
    spec: { rev: opts.rev ?? 1 },
  };
}

const deploy = (nsName: string, rev = 1, labels?: Record<string, string>) =>
  obj('apps/v1.Deployment', nsName, { rev, ...(labels ? { labels } : {}) });
const rs = (nsName: string, deployment: string) =>
  obj('apps/v1.ReplicaSet', nsName, { owners: [ownerRef('Deployment', deployment)] });
const pod = (nsName: string, owner?: OwnerReference, labels?: Record<string, string>) =>
  obj('v1.Pod', nsName, { ...(owner ? { owners: [owner] } : {}), ...(labels ? { labels } : {}) });

const ref = (gvk: string, nsName: string): ObjectRef => ({ gvk, nsName });
const applied = (ts: number, object: KubeObject, owners: ObjectRef[] = []): ObjectChange => ({
  ts,
  type: 'applied',
  object,
  owners,
});
const deleted = (ts: number, object: KubeObject): ObjectChange => ({
  ts,
  type: 'deleted',
  object,
  owners: [],
});

/** A readable view of a trace: events as `Kind ns/name#rev`, the index as the rev it hashes. */
function view(trace: Trace) {
  const name = (o: KubeObject) =>
    `${o.kind} ${refOf(o).nsName}#${(o.spec as { rev?: number } | undefined)?.rev}`;
  return trace.events.map((e) => ({
    ts: e.ts,
    applied: e.applied_objs.map(name),
    deleted: e.deleted_objs.map(name),
  }));
}

function indexOf(trace: Trace): Record<string, Record<string, bigint>> {
  const out: Record<string, Record<string, bigint>> = {};
  for (const [gvk, byName] of trace.index) out[gvk] = Object.fromEntries(byName);
  return out;
}

const hashOf = (o: KubeObject) => specHash(o.spec);

function run(
  history: ObjectChange[],
  filters: ExportFilters = noFilters,
  lifecycles: OwnerLifecycles[] = [],
) {
  return assembleFromHistory(history, W, filters, config, lifecycles);
}

// --- the fixture scenario ------------------------------------------------------------------------

interface Fixture {
  window: { startTs: number; endTs: number };
  filters: ExportFilters;
  config: unknown;
  objects: Record<string, KubeObject>;
  history: { ts: number; type: 'applied' | 'deleted'; object: string; owners?: [string, string][] }[];
  lifecycles: { owner: [string, string]; podSpecHash: string; lifecycles: unknown[] }[];
  expected: {
    events: { ts: number; applied: string[]; deleted: string[] }[];
    index: Record<string, Record<string, string>>;
    podLifecycles: { owner: [string, string]; podSpecHash: string; lifecycles: unknown[] }[];
    config: unknown;
  };
}

function lifecycleFromDoc(doc: unknown): Lifecycle {
  const d = doc as { Running?: number; Finished?: [number, number] };
  return d.Finished ? { startTs: d.Finished[0], endTs: d.Finished[1] } : { startTs: d.Running! };
}

function lifecycleToDoc(lc: Lifecycle): unknown {
  return lc.endTs === undefined ? { Running: lc.startTs } : { Finished: [lc.startTs, lc.endTs] };
}

describe('assembly of the rollout fixture', () => {
  const fixture = JSON.parse(
    readFileSync(join(import.meta.dirname, '../fixtures/assemble/rollout.json'), 'utf8'),
  ) as Fixture;
  const history = fixture.history.map((h) => ({
    ts: h.ts,
    type: h.type,
    object: fixture.objects[h.object]!,
    owners: (h.owners ?? []).map(([gvk, nsName]) => ({ gvk, nsName })),
  }));
  const lifecycles: OwnerLifecycles[] = fixture.lifecycles.map((l) => ({
    owner: { gvk: l.owner[0], nsName: l.owner[1] },
    podSpecHash: BigInt(l.podSpecHash),
    lifecycles: l.lifecycles.map(lifecycleFromDoc),
  }));
  const trackerConfig = tracerConfigFromDoc(fixture.config);
  const nameOf = new Map(Object.entries(fixture.objects).map(([n, o]) => [o, n]));

  function check(trace: Trace) {
    assert.equal(trace.version, 2);
    assert.deepEqual(
      trace.events.map((e) => ({
        ts: e.ts,
        applied: e.applied_objs.map((o) => nameOf.get(o) ?? '?'),
        deleted: e.deleted_objs.map((o) => nameOf.get(o) ?? '?'),
      })),
      fixture.expected.events,
    );
    const expectedIndex: Record<string, Record<string, bigint>> = {};
    for (const [gvk, byName] of Object.entries(fixture.expected.index)) {
      expectedIndex[gvk] = Object.fromEntries(
        Object.entries(byName).map(([nsName, version]) => [nsName, hashOf(fixture.objects[version]!)]),
      );
    }
    assert.deepEqual(indexOf(trace), expectedIndex);
    assert.deepEqual(
      [...trace.podLifecycles.values()].flatMap(({ owner, bySpecHash }) =>
        [...bySpecHash].map(([hash, lcs]) => ({
          owner: [owner.gvk, owner.nsName],
          podSpecHash: String(hash),
          lifecycles: lcs.map(lifecycleToDoc),
        })),
      ),
      fixture.expected.podLifecycles,
    );
    assert.deepEqual(trace.config, fixture.expected.config);
  }

  it('assembleFromHistory gives the expected trace', () => {
    check(assembleFromHistory(history, fixture.window, fixture.filters, trackerConfig, lifecycles));
  });

  it('assembleTrace over async streams gives the same trace, whatever the start-state order', async () => {
    const startTs = fixture.window.startTs;
    // The start state as a store would hand it: the live version of each object alive at the start.
    const live = new Map<string, ObjectChange>();
    const seen = new Map<string, bigint>();
    for (const c of history) {
      if (c.ts >= startTs) break;
      const key = `${refOf(c.object).gvk} ${refOf(c.object).nsName}`;
      if (c.type === 'deleted') {
        live.delete(key);
        seen.delete(key);
      } else if (seen.get(key) !== hashOf(c.object)) {
        live.set(key, c);
        seen.set(key, hashOf(c.object));
      }
    }
    async function* stream<T>(items: T[]): AsyncGenerator<T> {
      for (const item of items) yield item;
    }
    const trace = await assembleTrace({
      window: fixture.window,
      filters: fixture.filters,
      config: trackerConfig,
      lifecycles: stream(lifecycles),
      startState: stream([...live.values()].reverse()),
      changes: history.filter((c) => c.ts >= startTs && c.ts < fixture.window.endTs),
    });
    check(trace);
  });
});

// --- table-driven rules --------------------------------------------------------------------------

describe('window and start state', () => {
  const cases: {
    name: string;
    history: ObjectChange[];
    events: { ts: number; applied: string[]; deleted: string[] }[];
  }[] = [
    {
      name: 'empty history: one empty event at the start',
      history: [],
      events: [{ ts: 100, applied: [], deleted: [] }],
    },
    {
      name: 'the start state carries the latest version before the start',
      history: [
        applied(10, deploy('a/web', 1)),
        applied(50, deploy('a/web', 2)),
        applied(99, deploy('a/web', 3)),
      ],
      events: [{ ts: 100, applied: ['Deployment a/web#3'], deleted: [] }],
    },
    {
      name: 'objects deleted before the start are not carried',
      history: [applied(10, deploy('a/web')), applied(10, deploy('a/api')), deleted(60, deploy('a/web'))],
      events: [{ ts: 100, applied: ['Deployment a/api#1'], deleted: [] }],
    },
    {
      name: 'a change at the start goes to a second event at that second',
      history: [applied(10, deploy('a/web', 1)), applied(100, deploy('a/web', 2))],
      events: [
        { ts: 100, applied: ['Deployment a/web#1'], deleted: [] },
        { ts: 100, applied: ['Deployment a/web#2'], deleted: [] },
      ],
    },
    {
      name: 'the end is exclusive',
      history: [
        applied(199, deploy('a/web', 1)),
        applied(200, deploy('a/web', 2)),
        applied(250, deploy('a/x')),
      ],
      events: [
        { ts: 100, applied: [], deleted: [] },
        { ts: 199, applied: ['Deployment a/web#1'], deleted: [] },
      ],
    },
    {
      name: 'changes of one second share an event, in input order',
      history: [
        applied(10, deploy('a/z')),
        applied(150, deploy('a/b')),
        applied(150, deploy('a/a')),
        deleted(150, deploy('a/z')),
      ],
      events: [
        { ts: 100, applied: ['Deployment a/z#1'], deleted: [] },
        { ts: 150, applied: ['Deployment a/b#1', 'Deployment a/a#1'], deleted: ['Deployment a/z#1'] },
      ],
    },
    {
      name: 'of one object within one second only the last change counts (one stored item per second)',
      history: [
        applied(150, deploy('a/b', 1)),
        applied(150, deploy('a/a')),
        applied(150, deploy('a/b', 2)),
        deleted(160, deploy('a/c')),
        applied(170, deploy('a/c')),
        deleted(170, deploy('a/c')),
      ],
      events: [
        { ts: 100, applied: [], deleted: [] },
        { ts: 150, applied: ['Deployment a/a#1', 'Deployment a/b#2'], deleted: [] },
      ],
    },
    {
      name: 'spec-unchanged re-applies make no event; deletions of objects not alive neither',
      history: [
        applied(10, deploy('a/web', 1)),
        applied(120, deploy('a/web', 1, { touched: 'yes' })),
        deleted(130, deploy('a/ghost')),
        applied(140, deploy('a/web', 2)),
      ],
      events: [
        { ts: 100, applied: ['Deployment a/web#1'], deleted: [] },
        { ts: 140, applied: ['Deployment a/web#2'], deleted: [] },
      ],
    },
    {
      name: 'a deletion in the window, then a re-creation',
      history: [
        applied(10, deploy('a/web', 1)),
        deleted(120, deploy('a/web', 1)),
        applied(130, deploy('a/web', 2)),
      ],
      events: [
        { ts: 100, applied: ['Deployment a/web#1'], deleted: [] },
        { ts: 120, applied: [], deleted: ['Deployment a/web#1'] },
        { ts: 130, applied: ['Deployment a/web#2'], deleted: [] },
      ],
    },
    {
      name: 'same name, different kinds: never collide',
      history: [
        applied(10, obj('v1.ServiceAccount', 'prod/web')),
        applied(10, deploy('prod/web', 1)),
        deleted(150, obj('v1.ServiceAccount', 'prod/web')),
        applied(160, deploy('prod/web', 2)),
      ],
      events: [
        { ts: 100, applied: ['Deployment prod/web#1', 'ServiceAccount prod/web#1'], deleted: [] },
        { ts: 150, applied: [], deleted: ['ServiceAccount prod/web#1'] },
        { ts: 160, applied: ['Deployment prod/web#2'], deleted: [] },
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(view(run(c.history)), c.events);
    });
  }

  it('keeps objects deleted in the window in the index, with their last version', () => {
    const trace = run(
      [
        applied(10, obj('v1.ServiceAccount', 'prod/web')),
        applied(10, deploy('prod/web', 1)),
        applied(120, deploy('prod/web', 2)),
        deleted(150, deploy('prod/web', 2)),
        applied(20, deploy('prod/gone')),
      ].sort((a, b) => a.ts - b.ts),
    );
    assert.deepEqual(indexOf(trace), {
      'apps/v1.Deployment': {
        'prod/gone': hashOf(deploy('prod/gone')),
        'prod/web': hashOf(deploy('prod/web', 2)),
      },
      'v1.ServiceAccount': { 'prod/web': hashOf(obj('v1.ServiceAccount', 'prod/web')) },
    });
  });

  it('does not index objects deleted before the start', () => {
    const trace = run([applied(10, deploy('a/web')), deleted(20, deploy('a/web'))]);
    assert.deepEqual(indexOf(trace), {});
  });
});

describe('filters', () => {
  const dsOwned = pod('a/fluentd-x', ownerRef('DaemonSet', 'fluentd'));
  const history = [
    applied(10, deploy('kube-system/coredns')),
    applied(10, deploy('a/web', 1, { app: 'web', tier: 'front' })),
    applied(10, deploy('a/api', 1, { app: 'api', tier: 'back' })),
    applied(10, deploy('a/canary', 1, { app: 'web', canary: 'true' })),
    applied(10, dsOwned),
    applied(120, deploy('kube-system/metrics')),
    applied(130, deploy('a/web', 2, { app: 'web', tier: 'front' })),
    deleted(140, deploy('kube-system/coredns')),
    deleted(150, dsOwned),
  ];
  const cases: { name: string; filters: ExportFilters; start: string[]; later: string[] }[] = [
    {
      name: 'no filters (DaemonSet pods still go)',
      filters: noFilters,
      start: [
        'Deployment a/api#1',
        'Deployment a/canary#1',
        'Deployment a/web#1',
        'Deployment kube-system/coredns#1',
      ],
      later: [
        '+Deployment kube-system/metrics#1',
        '+Deployment a/web#2',
        '-Deployment kube-system/coredns#1',
      ],
    },
    {
      name: 'excluded namespace, changes and deletions included',
      filters: { excluded_namespaces: ['kube-system'], excluded_labels: [] },
      start: ['Deployment a/api#1', 'Deployment a/canary#1', 'Deployment a/web#1'],
      later: ['+Deployment a/web#2'],
    },
    {
      name: 'matchLabels',
      filters: { excluded_namespaces: ['kube-system'], excluded_labels: [{ matchLabels: { app: 'web' } }] },
      start: ['Deployment a/api#1'],
      later: [],
    },
    {
      name: 'In',
      filters: {
        excluded_namespaces: ['kube-system'],
        excluded_labels: [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['back', 'x'] }] }],
      },
      start: ['Deployment a/canary#1', 'Deployment a/web#1'],
      later: ['+Deployment a/web#2'],
    },
    {
      name: 'NotIn (matches objects without the key too)',
      filters: {
        excluded_namespaces: ['kube-system'],
        excluded_labels: [{ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }],
      },
      start: ['Deployment a/web#1'],
      later: ['+Deployment a/web#2'],
    },
    {
      name: 'Exists',
      filters: {
        excluded_namespaces: ['kube-system'],
        excluded_labels: [{ matchExpressions: [{ key: 'canary', operator: 'Exists' }] }],
      },
      start: ['Deployment a/api#1', 'Deployment a/web#1'],
      later: ['+Deployment a/web#2'],
    },
    {
      name: 'DoesNotExist',
      filters: {
        excluded_namespaces: ['kube-system'],
        excluded_labels: [{ matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] }],
      },
      start: ['Deployment a/canary#1'],
      later: [],
    },
    {
      name: 'several selectors exclude what any of them matches',
      filters: {
        excluded_namespaces: [],
        excluded_labels: [{ matchLabels: { app: 'api' } }, { matchLabels: { canary: 'true' } }],
      },
      start: ['Deployment a/web#1', 'Deployment kube-system/coredns#1'],
      later: [
        '+Deployment kube-system/metrics#1',
        '+Deployment a/web#2',
        '-Deployment kube-system/coredns#1',
      ],
    },
    {
      name: "an empty selector excludes everything (SimKube's matches)",
      filters: { excluded_namespaces: [], excluded_labels: [{}] },
      start: [],
      later: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const v = view(run(history, c.filters));
      assert.deepEqual(v[0]!.applied, c.start);
      assert.deepEqual(
        v.slice(1).flatMap((e) => [...e.applied.map((a) => `+${a}`), ...e.deleted.map((d) => `-${d}`)]),
        c.later,
      );
    });
  }

  it('drops owned objects of a kind tracked with skipOwned', () => {
    const skipConfig = tracerConfigFromDoc({ trackedObjects: { 'v1.Pod': { skipOwned: true } } });
    const trace = assembleFromHistory(
      [applied(10, pod('a/bare')), applied(10, pod('a/owned', ownerRef('Job', 'j', 'batch/v1')))],
      W,
      noFilters,
      skipConfig,
    );
    assert.deepEqual(view(trace)[0]!.applied, ['Pod a/bare#1']);
  });

  it('validates filters and names the field', () => {
    const bad: [unknown, typeof SelectorError | typeof ExportFiltersError, RegExp][] = [
      [
        { excluded_namespaces: 'kube-system' },
        ExportFiltersError,
        /^filters\.excluded_namespaces: expected an array/,
      ],
      [
        { excluded_namespaces: [1] },
        ExportFiltersError,
        /^filters\.excluded_namespaces\[0\]: expected a string/,
      ],
      [{ excluded_labels: {} }, ExportFiltersError, /^filters\.excluded_labels: expected an array/],
      [{ exclude_namespaces: [] }, ExportFiltersError, /^filters\.exclude_namespaces: unknown field/],
      [
        { excluded_labels: [{ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] }] },
        SelectorError,
        /^filters\.excluded_labels\[0\]\.matchExpressions\[0\]\.operator: unknown operator "Equals"/,
      ],
      [
        { excluded_labels: [{}, { matchExpressions: [{ key: 'a', operator: 'In' }] }] },
        SelectorError,
        /^filters\.excluded_labels\[1\]\.matchExpressions\[0\]\.values: operator In needs at least one value/,
      ],
    ];
    for (const [filters, cls, pattern] of bad) {
      assert.throws(
        () => new TraceAssembler({ window: W, filters: filters as ExportFilters, config }),
        (err: unknown) => err instanceof cls && pattern.test((err as Error).message),
        JSON.stringify(filters),
      );
    }
  });
});

describe('owner chains', () => {
  const D = ref('apps/v1.Deployment', 'a/web');
  const RS = ref('apps/v1.ReplicaSet', 'a/web-1');
  const podOfRs = (name: string) => pod(`a/${name}`, ownerRef('ReplicaSet', 'web-1'), { app: 'web' });

  const cases: {
    name: string;
    history: ObjectChange[];
    filters?: ExportFilters;
    kept: string[];
  }[] = [
    {
      name: 'Pod → ReplicaSet → Deployment with resolved chains: only the Deployment',
      history: [
        applied(10, deploy('a/web')),
        applied(11, rs('a/web-1', 'web'), [D]),
        applied(12, podOfRs('p1'), [RS, D]),
        applied(150, podOfRs('p2'), [RS, D]),
      ],
      kept: ['Deployment a/web#1'],
    },
    {
      name: 'with direct owner references only, the chain is followed through known objects',
      history: [
        applied(10, deploy('a/web')),
        applied(11, rs('a/web-1', 'web')),
        applied(12, podOfRs('p1')),
        applied(150, podOfRs('p2')),
      ],
      kept: ['Deployment a/web#1'],
    },
    {
      name: 'the start state may arrive owned-first: same verdicts',
      history: [
        applied(10, podOfRs('p1')),
        applied(11, rs('a/web-1', 'web')),
        applied(12, deploy('a/web')),
        applied(150, podOfRs('p2')),
      ],
      kept: ['Deployment a/web#1'],
    },
    {
      name: 'Deployment excluded by labels: the ReplicaSet stays so the replay still runs its pods',
      history: [
        applied(10, deploy('a/web', 1, { team: 'x' })),
        applied(11, rs('a/web-1', 'web'), [D]),
        applied(12, podOfRs('p1'), [RS, D]),
        applied(150, podOfRs('p2'), [RS, D]),
      ],
      filters: { excluded_namespaces: [], excluded_labels: [{ matchLabels: { team: 'x' } }] },
      kept: ['ReplicaSet a/web-1#1'],
    },
    {
      name: 'Deployment untracked (not in the store): the ReplicaSet is the root',
      history: [applied(11, rs('a/web-1', 'web'), [D]), applied(150, podOfRs('p2'), [RS, D])],
      kept: ['ReplicaSet a/web-1#1'],
    },
    {
      name: 'an owner created by the replay hides its dependents even when they are label-excluded',
      history: [
        applied(10, deploy('a/web')),
        applied(
          11,
          obj('apps/v1.ReplicaSet', 'a/web-1', {
            labels: { team: 'x' },
            owners: [ownerRef('Deployment', 'web')],
          }),
        ),
        applied(12, podOfRs('p1')),
      ],
      filters: { excluded_namespaces: [], excluded_labels: [{ matchLabels: { team: 'x' } }] },
      kept: ['Deployment a/web#1'],
    },
    {
      name: 'Deployment in an excluded namespace: its namespace goes entirely',
      history: [
        applied(10, deploy('a/web')),
        applied(11, rs('a/web-1', 'web'), [D]),
        applied(12, podOfRs('p1'), [RS, D]),
        applied(20, deploy('b/api')),
      ],
      filters: { excluded_namespaces: ['a'], excluded_labels: [] },
      kept: ['Deployment b/api#1'],
    },
    {
      name: 'an owner that appears inside the window drops later dependents (as in SimKube)',
      history: [applied(120, deploy('a/web')), applied(130, rs('a/web-1', 'web'), [D])],
      kept: ['Deployment a/web#1'],
    },
    {
      name: 'an owner deleted in the window still drops dependents recreated afterwards',
      history: [
        applied(10, deploy('a/web')),
        deleted(120, deploy('a/web')),
        applied(130, rs('a/web-1', 'web'), [D]),
      ],
      kept: ['Deployment a/web#1'],
    },
    {
      // Cut where the resolution first comes back to an object: x waits on y, y finds x unresolved and
      // stays, so x goes — one of the two is created, as a replay needs.
      name: 'an ownership cycle (hand-made trace) does not hang and keeps one object',
      history: [
        applied(10, obj('apps/v1.ReplicaSet', 'a/x', { owners: [ownerRef('ReplicaSet', 'y')] })),
        applied(10, obj('apps/v1.ReplicaSet', 'a/y', { owners: [ownerRef('ReplicaSet', 'x')] })),
      ],
      kept: ['ReplicaSet a/y#1'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const v = view(run(c.history, c.filters ?? noFilters));
      assert.deepEqual(
        v.flatMap((e) => e.applied),
        c.kept,
      );
    });
  }

  it('drops deletions of objects the replay never created', () => {
    const history = [
      applied(10, deploy('a/web')),
      applied(11, rs('a/web-1', 'web'), [D]),
      deleted(150, rs('a/web-1', 'web')),
      deleted(160, deploy('a/web')),
    ];
    assert.deepEqual(view(run(history)).slice(1), [
      { ts: 160, applied: [], deleted: ['Deployment a/web#1'] },
    ]);
  });
});

describe('bare pods and lifecycles', () => {
  const owner = (
    gvk: string,
    nsName: string,
    podSpecHash: bigint,
    lifecycles: Lifecycle[],
  ): OwnerLifecycles => ({
    owner: ref(gvk, nsName),
    podSpecHash,
    lifecycles,
  });

  it('bare pods finished before the start are not carried (nor their deletion); running ones are', () => {
    const history = [
      applied(10, pod('a/done')),
      applied(10, pod('a/running')),
      applied(10, pod('a/unknown')),
    ];
    const trace = run([...history, deleted(150, pod('a/done')), deleted(160, pod('a/running'))], noFilters, [
      owner('v1.Pod', 'a/done', 1n, [{ startTs: 11, endTs: 40 }]),
      owner('v1.Pod', 'a/running', 1n, [{ startTs: 11 }]),
    ]);
    assert.deepEqual(view(trace), [
      { ts: 100, applied: ['Pod a/running#1', 'Pod a/unknown#1'], deleted: [] },
      { ts: 160, applied: [], deleted: ['Pod a/running#1'] },
    ]);
    assert.deepEqual(Object.keys(indexOf(trace)['v1.Pod']!), ['a/running', 'a/unknown']);
    assert.deepEqual([...trace.podLifecycles.keys()], ['v1.Pod a/running']);
  });

  it('a bare pod that finished exactly at the start is still carried', () => {
    const trace = run([applied(10, pod('a/edge'))], noFilters, [
      owner('v1.Pod', 'a/edge', 1n, [{ startTs: 11, endTs: 100 }]),
    ]);
    assert.deepEqual(view(trace)[0]!.applied, ['Pod a/edge#1']);
    assert.deepEqual(trace.podLifecycles.get('v1.Pod a/edge')!.bySpecHash.get(1n), [
      { startTs: 100, endTs: 100 },
    ]);
  });

  it('lifecycles arriving after the changes still withdraw a finished bare pod and its deletion', () => {
    const a = new TraceAssembler({ window: W, filters: noFilters, config });
    a.addStartObject(applied(10, pod('a/done')));
    a.addChange(deleted(150, pod('a/done')));
    a.addChange(applied(170, pod('a/done')));
    a.addChange(deleted(180, pod('a/done')));
    a.addLifecycles(ref('v1.Pod', 'a/done'), 7n, [{ startTs: 11, endTs: 40 }]);
    const trace = a.finish();
    assert.deepEqual(view(trace), [
      { ts: 100, applied: [], deleted: [] },
      { ts: 170, applied: ['Pod a/done#1'], deleted: [] },
      { ts: 180, applied: [], deleted: ['Pod a/done#1'] },
    ]);
    assert.deepEqual(a.counts, { events: 3, objects: 1 });
  });

  it('keeps lifecycles of owners in the index, overlapping the window, starts clamped, ends as recorded', () => {
    const trace = run(
      [
        applied(10, deploy('a/web')),
        applied(10, obj('v1.ServiceAccount', 'a/web')),
        applied(150, deploy('a/late')),
        deleted(160, deploy('a/web')),
      ],
      noFilters,
      [
        owner('apps/v1.Deployment', 'a/web', 5n, [
          { startTs: 20, endTs: 90 },
          { startTs: 30 },
          { startTs: 95, endTs: 130 },
          { startTs: 180, endTs: 400 },
          { startTs: 200 },
        ]),
        owner('apps/v1.Deployment', 'a/web', 6n, [{ startTs: 10, endTs: 20 }]),
        owner('apps/v1.Deployment', 'a/web', 5n, [{ startTs: 150 }]),
        owner('apps/v1.Deployment', 'a/late', 5n, [{ startTs: 155, endTs: 170 }]),
        owner('apps/v1.Deployment', 'a/absent', 5n, [{ startTs: 120 }]),
        owner('apps/v1.StatefulSet', 'a/web', 5n, [{ startTs: 120 }]),
      ],
    );
    const lcs = Object.fromEntries(
      [...trace.podLifecycles].map(([key, { bySpecHash }]) => [key, Object.fromEntries(bySpecHash)]),
    );
    assert.deepEqual(lcs, {
      'apps/v1.Deployment a/web': {
        '5': [{ startTs: 100 }, { startTs: 100, endTs: 130 }, { startTs: 180, endTs: 400 }, { startTs: 150 }],
      },
      'apps/v1.Deployment a/late': { '5': [{ startTs: 155, endTs: 170 }] },
    });
  });
});

describe('input errors', () => {
  it('refuses a window whose end is not after its start', () => {
    for (const window of [
      { startTs: 100, endTs: 100 },
      { startTs: 100, endTs: 50 },
      { startTs: 1.5, endTs: 50 },
      { startTs: 100, endTs: Number.NaN },
    ]) {
      assert.throws(
        () => new TraceAssembler({ window, filters: noFilters, config }),
        (err: unknown) => err instanceof ExportWindowError && err.code === 'invalid_window',
        JSON.stringify(window),
      );
    }
  });

  it('refuses out-of-order changes and history', () => {
    const a = new TraceAssembler({ window: W, filters: noFilters, config });
    a.addChange(applied(150, deploy('a/x')));
    a.addChange(applied(150, deploy('a/y')));
    assert.throws(
      () => a.addChange(applied(149, deploy('a/z'))),
      (err: unknown) => err instanceof AssemblyOrderError && /ts 149 after ts 150/.test(err.message),
    );
    assert.throws(
      () => run([applied(20, deploy('a/x')), applied(10, deploy('a/y'))]),
      (err: unknown) => err instanceof AssemblyOrderError && /history out of order/.test(err.message),
    );
  });

  it('refuses misuse: start objects late or inside the window, changes outside it, anything after finish', () => {
    const a = new TraceAssembler({ window: W, filters: noFilters, config });
    assert.throws(() => a.addStartObject(applied(100, deploy('a/x'))), AssemblyOrderError);
    assert.throws(() => a.addStartObject(deleted(10, deploy('a/x'))), AssemblyOrderError);
    assert.throws(() => a.addChange(applied(99, deploy('a/x'))), AssemblyOrderError);
    assert.throws(() => a.addChange(applied(200, deploy('a/x'))), AssemblyOrderError);
    a.addChange(applied(120, deploy('a/x')));
    assert.throws(() => a.addStartObject(applied(10, deploy('a/y'))), /before the first in-window change/);
    a.finish();
    assert.throws(() => a.finish(), /after finish/);
    assert.throws(() => a.addChange(applied(130, deploy('a/x'))), /after finish/);
  });

  it('keeps the newer of two start versions of one object (overlapping pages)', () => {
    const a = new TraceAssembler({ window: W, filters: noFilters, config });
    a.addStartObject(applied(50, deploy('a/x', 2)));
    a.addStartObject(applied(40, deploy('a/x', 1)));
    assert.deepEqual(view(a.finish())[0]!.applied, ['Deployment a/x#2']);
  });
});

describe('counts and config', () => {
  it('counts events and indexed objects as it goes and at the end', () => {
    const a = new TraceAssembler({ window: W, filters: noFilters, config });
    a.addStartObject(applied(10, deploy('a/x')));
    assert.deepEqual(a.counts, { events: 1, objects: 0 });
    a.addChange(applied(120, deploy('a/y')));
    a.addChange(deleted(130, deploy('a/x')));
    assert.deepEqual(a.counts, { events: 3, objects: 2 });
    a.finish();
    assert.deepEqual(a.counts, { events: 3, objects: 2 });
  });

  it('writes only kinds SimKube accepts into config, while their objects stay in events', () => {
    const trace = run([applied(10, obj('v1.ServiceAccount', 'a/sa'))]);
    assert.deepEqual(Object.keys(trace.config.trackedObjects), [
      'apps/v1.Deployment',
      'apps/v1.ReplicaSet',
      'apps/v1.DaemonSet',
      'v1.Pod',
    ]);
    assert.deepEqual(view(trace)[0]!.applied, ['ServiceAccount a/sa#1']);
  });
});

// --- properties over random histories ------------------------------------------------------------

describe('assembly properties', () => {
  // A small universe where names collide across kinds and owners chain Pod → ReplicaSet → Deployment.
  const universe: KubeObject[] = [];
  for (const ns of ['a', 'b']) {
    for (let i = 0; i < 2; i++) {
      universe.push(obj('apps/v1.Deployment', `${ns}/web${i}`));
      universe.push(obj('v1.ServiceAccount', `${ns}/web${i}`));
      universe.push(
        obj('apps/v1.ReplicaSet', `${ns}/web${i}-rs`, { owners: [ownerRef('Deployment', `web${i}`)] }),
      );
      universe.push(obj('v1.Pod', `${ns}/web${i}-rs-p`, { owners: [ownerRef('ReplicaSet', `web${i}-rs`)] }));
      universe.push(obj('v1.Pod', `${ns}/bare${i}`));
    }
  }
  const keyOf = (o: KubeObject) => `${refOf(o).gvk} ${refOf(o).nsName}`;
  const history = storeConsistentHistory(universe, { maxLength: 60 });
  const filters = fc.record({
    excluded_namespaces: fc.subarray(['a', 'b']),
    excluded_labels: fc.subarray([
      { matchLabels: { team: 'x' } },
      { matchExpressions: [{ key: 'team', operator: 'Exists' as const }] },
    ]),
  });

  it('exports a replayable trace: nothing twice, no owned object with its owner, filters honoured, index complete', () => {
    fc.assert(
      fc.property(history, filters, (h, f) => {
        const trace = run(h, f);
        const [first, ...rest] = trace.events;
        assert.equal(first!.ts, W.startTs);
        let prevTs = W.startTs;
        for (const e of rest) {
          assert.ok(e.ts >= prevTs && e.ts < W.endTs, `event at ${e.ts}`);
          assert.ok(e.applied_objs.length + e.deleted_objs.length > 0, 'no empty event after the first');
          prevTs = e.ts;
        }
        // Replay the trace: a deletion always finds its object; an applied object never has an
        // owner that the replay created; excluded objects never appear.
        const replay = new Set<string>();
        const everApplied = new Map<string, KubeObject>();
        for (const e of trace.events) {
          for (const o of e.applied_objs) {
            const ns = o.metadata.namespace!;
            assert.ok(!f.excluded_namespaces.includes(ns), `${keyOf(o)} in an excluded namespace`);
            assert.ok(
              !f.excluded_labels.some((sel) => matchesSelector(o.metadata.labels, sel)),
              `${keyOf(o)} label-excluded`,
            );
            for (const owner of o.metadata.ownerReferences ?? []) {
              const ownerKey = `${owner.apiVersion}.${owner.kind} ${ns}/${owner.name}`;
              assert.ok(!everApplied.has(ownerKey), `${keyOf(o)} exported with its owner ${ownerKey}`);
            }
            replay.add(keyOf(o));
            everApplied.set(keyOf(o), o);
          }
          for (const o of e.deleted_objs) {
            assert.ok(replay.delete(keyOf(o)), `deletion of ${keyOf(o)}, which the replay does not hold`);
          }
        }
        const indexed = new Map<string, bigint>();
        for (const [gvk, byName] of trace.index)
          for (const [n, hash] of byName) indexed.set(`${gvk} ${n}`, hash);
        assert.deepEqual(
          [...indexed.keys()].sort(),
          [...everApplied.keys()].sort(),
          'index lists exactly the exported objects',
        );
        for (const [key, o] of everApplied) assert.equal(indexed.get(key), hashOf(o), key);
      }),
      { numRuns: 400 },
    );
  });

  it('gives the same trace whatever order the start state arrives in', () => {
    fc.assert(
      fc.property(history, filters, fc.integer(), (h, f, seed) => {
        const expected = run(h, f);
        const live = new Map<string, ObjectChange>();
        for (const c of h) {
          if (c.ts >= W.startTs) break;
          if (c.type === 'deleted') live.delete(keyOf(c.object));
          else live.set(keyOf(c.object), c);
        }
        const start = [...live.values()];
        // deterministic shuffle from the seed
        let s = seed;
        for (let i = start.length - 1; i > 0; i--) {
          s = (s * 1103515245 + 12345) | 0;
          const j = Math.abs(s) % (i + 1);
          [start[i], start[j]] = [start[j]!, start[i]!];
        }
        const a = new TraceAssembler({ window: W, filters: f, config });
        for (const c of start) a.addStartObject(c);
        for (const c of h) if (c.ts >= W.startTs && c.ts < W.endTs) a.addChange(c);
        assert.deepEqual(a.finish(), expected);
      }),
      { numRuns: 300 },
    );
  });
});
