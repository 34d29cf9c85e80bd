/**
 * Traces built for the round-trip tests, shaped like SimKube's exports: several kinds and
 * namespaces, labels, spec changes, deletions and a re-creation, bare pods and a CronJob with pod
 * lifecycles. Built in code (never copied from ../shared), with an index of SimKube's spec hashes.
 */
import { refOf } from '../../lib/trace/gvk.ts';
import { specHash } from '../../lib/trace/hash.ts';
import type { KubeObject, Lifecycle, PodLifecycles, Trace, TraceEvent } from '../../lib/trace/model.ts';
import { objKey } from '../../lib/trace/model.ts';

export const T0 = 1_750_000_000;

export function deploymentObj(
  name: string,
  namespace: string,
  spec: { replicas: number; image?: string },
  labels: Record<string, string> = { app: name },
): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels, annotations: { team: 'platform' } },
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            { name: 'main', image: spec.image ?? 'nginx:1.27', resources: { requests: { cpu: '100m' } } },
          ],
        },
      },
    },
  };
}

function cronJob(name: string, namespace: string, schedule: string): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      schedule,
      jobTemplate: {
        spec: {
          template: { spec: { restartPolicy: 'Never', containers: [{ name: 'job', image: 'busybox' }] } },
        },
      },
    },
  };
}

function barePod(name: string, namespace: string, sleep: number): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { run: name } },
    spec: {
      restartPolicy: 'Never',
      containers: [{ name: 'main', image: 'busybox', args: ['sleep', String(sleep)] }],
    },
  };
}

/** A kind without pod templates: tracked, in the events, but left out of an exported config. */
function service(name: string, namespace: string, port: number): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { selector: { app: name }, ports: [{ port, protocol: 'TCP' }] },
  };
}

export interface BuildOptions {
  /** SimKube's own export shape: an empty first event, then the objects at the same second. */
  emptyFirstEvent?: boolean;
}

/** Events → index (spec hash of each object's last applied version), as SimKube writes it. */
function indexOf(events: TraceEvent[]): Trace['index'] {
  const index: Trace['index'] = new Map();
  for (const e of events) {
    for (const obj of e.applied_objs) {
      const { gvk, nsName } = refOf(obj);
      let byName = index.get(gvk);
      if (!byName) {
        byName = new Map();
        index.set(gvk, byName);
      }
      byName.set(nsName, specHash(obj.spec));
    }
  }
  return index;
}

export function generatedTrace(options: BuildOptions = {}): Trace {
  const start: KubeObject[] = [
    deploymentObj('web', 'shop', { replicas: 1 }, { app: 'web', tier: 'front' }),
    deploymentObj('api', 'shop', { replicas: 2 }, { app: 'api', tier: 'back' }),
    deploymentObj('db', 'data', { replicas: 1, image: 'postgres:16' }, { app: 'db', tier: 'back' }),
    cronJob('nightly', 'ops', '0 3 * * *'),
    service('web', 'shop', 80),
  ];
  const events: TraceEvent[] = [];
  if (options.emptyFirstEvent) events.push({ ts: T0, applied_objs: [], deleted_objs: [] });
  events.push({ ts: T0, applied_objs: start, deleted_objs: [] });
  const at = (dt: number, applied: KubeObject[], deleted: KubeObject[] = []) =>
    events.push({ ts: T0 + dt, applied_objs: applied, deleted_objs: deleted });
  at(10, [deploymentObj('web', 'shop', { replicas: 2 }, { app: 'web', tier: 'front' })]);
  at(20, [barePod('bare-1', 'shop', 30)]);
  at(
    25,
    [],
    [deploymentObj('db', 'data', { replicas: 1, image: 'postgres:16' }, { app: 'db', tier: 'back' })],
  );
  at(40, [
    deploymentObj('web', 'shop', { replicas: 3 }, { app: 'web', tier: 'front' }),
    deploymentObj('api', 'shop', { replicas: 2, image: 'nginx:1.28' }, { app: 'api', tier: 'back' }),
  ]);
  at(60, [barePod('bare-2', 'shop', 3600)]);
  at(61, [], [barePod('bare-1', 'shop', 30)]);
  at(80, [deploymentObj('db', 'data', { replicas: 2, image: 'postgres:17' }, { app: 'db', tier: 'back' })]);
  at(90, [deploymentObj('canary', 'shop', { replicas: 1 }, { app: 'canary', canary: 'yes' })]);
  at(100, [service('web', 'shop', 8080)]);

  const lifecycles: PodLifecycles = new Map();
  const add = (gvk: string, nsName: string, hash: bigint, list: Lifecycle[]) => {
    const owner = { gvk, nsName };
    const key = objKey(owner);
    let entry = lifecycles.get(key);
    if (!entry) {
      entry = { owner, bySpecHash: new Map() };
      lifecycles.set(key, entry);
    }
    entry.bySpecHash.set(hash, list);
  };
  add('batch/v1.CronJob', 'ops/nightly', 11_111_111_111_111_111_111n, [
    { startTs: T0 + 5, endTs: T0 + 15 },
    { startTs: T0 + 65, endTs: T0 + 75 },
  ]);
  add('apps/v1.Deployment', 'shop/web', 22_222n, [{ startTs: T0 + 3 }, { startTs: T0 + 12, endTs: T0 + 45 }]);
  add('apps/v1.Deployment', 'shop/web', 33_333n, [{ startTs: T0 + 41 }, { startTs: T0 + 41 }]);
  add('v1.Pod', 'shop/bare-1', 44_444n, [{ startTs: T0 + 21, endTs: T0 + 50 }]);
  add('v1.Pod', 'shop/bare-2', 44_444n, [{ startTs: T0 + 62 }]);

  return {
    version: 2,
    config: {
      trackedObjects: {
        'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/template'], trackLifecycle: true },
        'batch/v1.CronJob': {
          podSpecTemplatePaths: ['/spec/jobTemplate/spec/template'],
          trackLifecycle: true,
        },
        'v1.Pod': { podSpecTemplatePaths: [''], trackLifecycle: true },
        'v1.Service': {},
      },
    },
    events,
    index: indexOf(events),
    podLifecycles: lifecycles,
  };
}
