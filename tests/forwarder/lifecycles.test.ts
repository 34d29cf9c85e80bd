import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PodLifecycles } from '../../lib/forwarder/lifecycles.ts';
import type { Change, LifecycleChange, RelistChange } from '../../lib/ingest/wire.ts';
import { parseTracerConfig } from '../../lib/trace/config.ts';
import type { KubeObject, OwnerReference } from '../../lib/trace/model.ts';
import { podSpecHash } from '../../lib/trace/podspec.ts';
import { fakeContext } from './support/context.ts';

const T = 1_700_000_000;
const iso = (s: number) => new Date(s * 1000).toISOString();
const running = (start: number) => ({
  containerStatuses: [{ name: 'c', state: { running: { startedAt: iso(start) } } }],
});
const finished = (start: number, end: number) => ({
  containerStatuses: [
    { name: 'c', state: { terminated: { startedAt: iso(start), finishedAt: iso(end), exitCode: 0 } } },
  ],
});
const pending = () => ({
  containerStatuses: [{ name: 'c', state: { waiting: { reason: 'ContainerCreating' } } }],
});

const ref = (apiVersion: string, kind: string, name: string): OwnerReference => ({
  apiVersion,
  kind,
  name,
  uid: `uid-${name}`,
  controller: true,
});
const meta = (name: string, owners: OwnerReference[] = []) => ({
  namespace: 'ns',
  name,
  uid: `uid-${name}`,
  ...(owners.length ? { ownerReferences: owners } : {}),
});
const pod = (name: string, status: unknown, owners: OwnerReference[] = []): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: meta(name, owners),
  spec: { containers: [{ name: 'c', image: 'busybox' }], nodeName: 'node-1' },
  status,
});
const cronJob: KubeObject = { apiVersion: 'batch/v1', kind: 'CronJob', metadata: meta('nightly'), spec: {} };
const job: KubeObject = {
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: meta('nightly-1', [ref('batch/v1', 'CronJob', 'nightly')]),
  spec: {},
};
const jobPod = (status: unknown) => pod('nightly-1-x', status, [ref('batch/v1', 'Job', 'nightly-1')]);

const lifecyclesSent = (sent: readonly Change[]) =>
  sent.filter((c): c is LifecycleChange => c.type === 'lifecycle');
const lc = (c: LifecycleChange) =>
  `${c.owner.gvk} ${c.owner.ns_name} ${c.pod} ${c.start_ts}${c.end_ts === undefined ? '' : `-${c.end_ts}`}`;

function setup(config: string) {
  const ctx = fakeContext([cronJob, job]);
  ctx.clock.ms = (T + 1000) * 1000;
  return { ctx, lifecycles: new PodLifecycles(parseTracerConfig(config), ctx) };
}

test('only transitions are sent: Running, then Finished with the same start', async () => {
  const { ctx, lifecycles } = setup('trackedObjects:\n  batch/v1.CronJob:\n    trackLifecycle: true\n');
  const statuses = [
    pending(),
    running(T),
    running(T),
    running(T + 5) /* a restart: not an advance */,
    finished(T, T + 60),
    finished(T, T + 60),
  ];
  for (const status of statuses)
    await lifecycles.handle({ type: 'applied', object: jobPod(status), listed: false });
  assert.deepEqual((ctx.sent as LifecycleChange[]).map(lc), [
    'batch/v1.CronJob ns/nightly ns/nightly-1-x 1700000000',
    'batch/v1.CronJob ns/nightly ns/nightly-1-x 1700000000-1700000060',
  ]);
  const [a, b] = ctx.sent as LifecycleChange[];
  assert.equal(a!.pod_spec_hash, podSpecHash(jobPod(undefined).spec).toString());
  assert.equal(a!.pod_spec_hash, b!.pod_spec_hash);
  assert.equal(a!.ts, T + 1000);
  // A finished pod's deletion sends nothing more, and forgets it.
  await lifecycles.handle({ type: 'deleted', object: jobPod(finished(T, T + 60)) });
  assert.equal(ctx.sent.length, 2);
  assert.equal(lifecycles.size, 0);
});

test('the lifecycle owner: nearest tracked owner, a bare pod itself, or none', async () => {
  const cases: Array<{ name: string; config: string; pod: KubeObject; want: string[] }> = [
    {
      name: 'CronJob two levels up',
      config: 'trackedObjects:\n  batch/v1.CronJob:\n    trackLifecycle: true\n',
      pod: jobPod(running(T)),
      want: ['batch/v1.CronJob ns/nightly ns/nightly-1-x 1700000000'],
    },
    {
      name: 'Job and CronJob both tracked: the nearest wins',
      config:
        'trackedObjects:\n  batch/v1.CronJob:\n    trackLifecycle: true\n  batch/v1.Job:\n    trackLifecycle: true\n',
      pod: jobPod(running(T)),
      want: ['batch/v1.Job ns/nightly-1 ns/nightly-1-x 1700000000'],
    },
    {
      name: 'tracked without trackLifecycle: no lifecycle',
      config: 'trackedObjects:\n  batch/v1.CronJob: {}\n  apps/v1.Deployment:\n    trackLifecycle: true\n',
      pod: jobPod(running(T)),
      want: [],
    },
    {
      name: 'bare pod with Pods tracking lifecycles: its own owner',
      config: 'trackedObjects:\n  v1.Pod:\n    trackLifecycle: true\n',
      pod: pod('bare', running(T)),
      want: ['v1.Pod ns/bare ns/bare 1700000000'],
    },
    {
      name: 'owned pod with only Pods tracking lifecycles: none',
      config: 'trackedObjects:\n  v1.Pod:\n    trackLifecycle: true\n',
      pod: jobPod(running(T)),
      want: [],
    },
  ];
  for (const c of cases) {
    const { ctx, lifecycles } = setup(c.config);
    await lifecycles.handle({ type: 'applied', object: c.pod, listed: false });
    assert.deepEqual((ctx.sent as LifecycleChange[]).map(lc), c.want, c.name);
  }
});

test('deleted while running: Finished at the deletion time, same start', async () => {
  const { ctx, lifecycles } = setup('trackedObjects:\n  v1.Pod:\n    trackLifecycle: true\n');
  await lifecycles.handle({ type: 'applied', object: pod('bare', running(T)), listed: false });
  ctx.clock.ms = (T + 42) * 1000;
  await lifecycles.handle({ type: 'deleted', object: pod('bare', running(T)) });
  assert.deepEqual((ctx.sent as LifecycleChange[]).map(lc), [
    'v1.Pod ns/bare ns/bare 1700000000',
    'v1.Pod ns/bare ns/bare 1700000000-1700000042',
  ]);
  assert.equal(lifecycles.size, 0);
});

test('a pod that vanished while the watch was down is Finished at the relist time', async () => {
  const { ctx, lifecycles } = setup('trackedObjects:\n  v1.Pod:\n    trackLifecycle: true\n');
  await lifecycles.handle({ type: 'applied', object: pod('gone', running(T)), listed: true });
  await lifecycles.handle({ type: 'applied', object: pod('done', finished(T, T + 1)), listed: true });
  await lifecycles.handle({ type: 'applied', object: pod('stays', running(T)), listed: true });
  ctx.sent.length = 0;
  ctx.clock.ms = (T + 300) * 1000;
  await lifecycles.handle({ type: 'applied', object: pod('stays', running(T)), listed: true });
  await lifecycles.handle({ type: 'relisted', nsNames: ['ns/stays'], resourceVersion: '9' });
  assert.deepEqual(lifecyclesSent(ctx.sent).map(lc), ['v1.Pod ns/gone ns/gone 1700000000-1700000300']);
  assert.equal(lifecycles.size, 1);
});

test('after a relist, pods pages let the store finish what a previous process left running', async () => {
  // A fresh process (a restart) knows none of its predecessor's pods: only the store can finish
  // the lifecycles of pods that vanished meanwhile, from pages of the pods listed now.
  const ctx = fakeContext([cronJob, job], 2);
  ctx.clock.ms = (T + 1000) * 1000;
  const lifecycles = new PodLifecycles(
    parseTracerConfig('trackedObjects:\n  v1.Pod:\n    trackLifecycle: true\n'),
    ctx,
  );
  await lifecycles.handle({ type: 'applied', object: pod('b', running(T)), listed: true });
  await lifecycles.handle({
    type: 'relisted',
    nsNames: ['ns/c', 'ns/b', 'ns/a'],
    resourceVersion: '3',
  });
  const pages = ctx.sent.filter((c): c is RelistChange => c.type === 'relist');
  assert.deepEqual(
    pages.map((p) => [p.gvk, p.after, p.through, p.ns_names, p.lifecycles, p.ts]),
    [
      ['v1.Pod', null, 'ns/b', ['ns/a', 'ns/b'], true, T + 1000],
      ['v1.Pod', 'ns/b', null, ['ns/c'], true, T + 1000],
    ],
  );
  // After the pod's own Running change: the store sees the listed pod running before the page.
  assert.equal(ctx.sent[0]?.type, 'lifecycle');
});

test('a refused send is not remembered: the transition is sent again later', async () => {
  const { ctx, lifecycles } = setup('trackedObjects:\n  v1.Pod:\n    trackLifecycle: true\n');
  ctx.accepting.value = false;
  assert.equal(
    await lifecycles.handle({ type: 'applied', object: pod('bare', running(T)), listed: false }),
    false,
  );
  ctx.accepting.value = true;
  assert.equal(
    await lifecycles.handle({ type: 'applied', object: pod('bare', running(T)), listed: true }),
    true,
  );
  assert.deepEqual((ctx.sent as LifecycleChange[]).map(lc), ['v1.Pod ns/bare ns/bare 1700000000']);
  // A deletion refused keeps the pod, so the next relist still finishes it.
  ctx.accepting.value = false;
  assert.equal(await lifecycles.handle({ type: 'deleted', object: pod('bare', running(T)) }), false);
  ctx.accepting.value = true;
  await lifecycles.handle({ type: 'relisted', nsNames: [], resourceVersion: '5' });
  assert.equal(lifecyclesSent(ctx.sent).at(-1)?.end_ts, T + 1000);
});

// SimKube sk-tracer store.rs `record_pod_lifecycle`: the first owner up the chain that is in the
// trace (its index) and whose kind tracks lifecycles. A skipOwned ReplicaSet with an owner is not
// in the trace, so the lifecycle goes to its Deployment. (Before the fix: under the ReplicaSet.)
test('the lifecycle owner is the first owner in the trace: a skipped ReplicaSet gives way to its Deployment', async () => {
  const deployment: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta('web'),
    spec: {},
  };
  const rs: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: meta('web-1', [ref('apps/v1', 'Deployment', 'web')]),
    spec: {},
  };
  const bareRs: KubeObject = { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: meta('solo'), spec: {} };
  const cases = [
    {
      config:
        'trackedObjects:\n  apps/v1.ReplicaSet:\n    trackLifecycle: true\n    skipOwned: true\n  apps/v1.Deployment:\n    trackLifecycle: true\n',
      pod: pod('web-1-a', running(T), [ref('apps/v1', 'ReplicaSet', 'web-1')]),
      want: 'apps/v1.Deployment ns/web',
    },
    {
      // Not skipped: the nearest owner, as before.
      config:
        'trackedObjects:\n  apps/v1.ReplicaSet:\n    trackLifecycle: true\n  apps/v1.Deployment:\n    trackLifecycle: true\n',
      pod: pod('web-1-b', running(T), [ref('apps/v1', 'ReplicaSet', 'web-1')]),
      want: 'apps/v1.ReplicaSet ns/web-1',
    },
    {
      // skipOwned, but this ReplicaSet has no owner: it is in the trace.
      config: 'trackedObjects:\n  apps/v1.ReplicaSet:\n    trackLifecycle: true\n    skipOwned: true\n',
      pod: pod('solo-a', running(T), [ref('apps/v1', 'ReplicaSet', 'solo')]),
      want: 'apps/v1.ReplicaSet ns/solo',
    },
    {
      // The Deployment is in the trace but does not track lifecycles; the RS is skipped: none.
      config:
        'trackedObjects:\n  apps/v1.ReplicaSet:\n    trackLifecycle: true\n    skipOwned: true\n  apps/v1.Deployment: {}\n',
      pod: pod('web-1-c', running(T), [ref('apps/v1', 'ReplicaSet', 'web-1')]),
      want: undefined,
    },
  ];
  for (const c of cases) {
    const ctx = fakeContext([deployment, rs, bareRs]);
    ctx.clock.ms = (T + 1000) * 1000;
    const lifecycles = new PodLifecycles(parseTracerConfig(c.config), ctx);
    await lifecycles.handle({ type: 'applied', object: c.pod, listed: false });
    const sent = lifecyclesSent(ctx.sent);
    assert.deepEqual(
      sent.map((s) => `${s.owner.gvk} ${s.owner.ns_name}`),
      c.want === undefined ? [] : [c.want],
      c.config,
    );
  }
});
