import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KubeSim } from '../kube-sim/server.ts';
import {
  cronJob,
  deployment,
  finishedStatus,
  jobFor,
  pendingStatus,
  pod,
  podFor,
  replicaSetFor,
  runningStatus,
} from '../kube-sim/workload.ts';

let sim: KubeSim;
before(async () => {
  sim = await KubeSim.start();
});
after(() => sim.close());

interface Container {
  name: string;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes: Array<{ name: string }>;
  nodeName: string;
  serviceAccountName: string;
}

test('a Deployment → ReplicaSet → Pod chain points at the stored owners by uid', () => {
  const d = sim.apply(deployment('ns', 'web', { replicas: 2, labels: { app: 'web' } }));
  const rs = sim.apply(replicaSetFor(d, '5d4f8'));
  const p = sim.apply(podFor(rs, { suffix: 'abcde', nodeName: 'node-7' }));
  assert.equal(rs.metadata.name, 'web-5d4f8');
  assert.deepEqual(rs.metadata.ownerReferences, [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'web',
      uid: d.metadata.uid,
      controller: true,
      blockOwnerDeletion: true,
    },
  ]);
  assert.deepEqual((rs.spec as { selector: unknown }).selector, {
    matchLabels: { app: 'web', 'pod-template-hash': '5d4f8' },
  });
  assert.equal(p.metadata.name, 'web-5d4f8-abcde');
  assert.deepEqual(p.metadata.labels, { app: 'web', 'pod-template-hash': '5d4f8' });
  assert.equal(p.metadata.ownerReferences?.[0]?.uid, rs.metadata.uid);
  const spec = p.spec as PodSpec;
  assert.equal(spec.nodeName, 'node-7');
  assert.equal(spec.serviceAccountName, 'default');
  // The service-account token volume is mounted in every container, as admission adds it.
  const tokenVolume = spec.volumes.find((v) => v.name.startsWith('kube-api-access-'));
  assert.ok(tokenVolume);
  assert.deepEqual(
    spec.containers.map((c) => c.volumeMounts?.map((m) => m.name)),
    [[tokenVolume.name]],
  );
});

test('owners that were never stored are refused', () => {
  assert.throws(() => replicaSetFor(deployment('ns', 'x'), 'h'), /no metadata\.uid/);
});

test('a CronJob → Job → Pod chain with init containers', () => {
  const cj = sim.apply(cronJob('batch', 'nightly', { schedule: '0 3 * * *', initContainers: ['setup'] }));
  const job = sim.apply(jobFor(cj, { scheduledAtSec: 1_700_000_040 }));
  assert.equal(job.metadata.name, `nightly-${Math.floor(1_700_000_040 / 60)}`);
  assert.equal(job.metadata.ownerReferences?.[0]?.kind, 'CronJob');
  const p = sim.apply(podFor(job));
  assert.ok(p.metadata.name?.startsWith(`${job.metadata.name}-`));
  assert.equal(p.metadata.labels?.['job-name'], job.metadata.name);
  const spec = p.spec as PodSpec & { restartPolicy: string };
  assert.equal(spec.restartPolicy, 'OnFailure');
  assert.deepEqual(
    spec.initContainers?.map((c) => c.name),
    ['setup'],
  );
});

test('status helpers give kubelet-shaped container states with RFC 3339 times', () => {
  const running = runningStatus(1_700_000_000, {
    initContainers: [{ name: 'setup', startedAt: 1_699_999_990, finishedAt: 1_699_999_995 }],
  }) as {
    phase: string;
    startTime: string;
    containerStatuses: Array<{ state: { running?: { startedAt: string } } }>;
    initContainerStatuses: Array<{
      state: { terminated: { startedAt: string; finishedAt: string; exitCode: number } };
    }>;
  };
  assert.equal(running.phase, 'Running');
  assert.equal(running.startTime, '2023-11-14T22:13:10Z');
  assert.deepEqual(running.containerStatuses[0]?.state, { running: { startedAt: '2023-11-14T22:13:20Z' } });
  assert.deepEqual(running.initContainerStatuses[0]?.state.terminated, {
    ...running.initContainerStatuses[0]?.state.terminated,
    exitCode: 0,
    startedAt: '2023-11-14T22:13:10Z',
    finishedAt: '2023-11-14T22:13:15Z',
  });

  const failed = finishedStatus('2024-01-01T00:00:00Z', '2024-01-01T00:05:00Z', {
    exitCode: 2,
    containers: ['a', 'b'],
  }) as {
    phase: string;
    containerStatuses: Array<{
      name: string;
      state: { terminated: { exitCode: number; reason: string; finishedAt: string } };
    }>;
  };
  assert.equal(failed.phase, 'Failed');
  assert.deepEqual(
    failed.containerStatuses.map((c) => [
      c.name,
      c.state.terminated.exitCode,
      c.state.terminated.reason,
      c.state.terminated.finishedAt,
    ]),
    [
      ['a', 2, 'Error', '2024-01-01T00:05:00Z'],
      ['b', 2, 'Error', '2024-01-01T00:05:00Z'],
    ],
  );
  assert.equal((pendingStatus() as { phase: string }).phase, 'Pending');
});

test('patchStatus moves a pod along its lifecycle without touching spec or generation', () => {
  const p = sim.apply(pod('ns', 'bare', { status: pendingStatus() }));
  const running = sim.patchStatus('v1.Pod', 'ns/bare', runningStatus(1_700_000_000));
  const done = sim.patchStatus('v1.Pod', 'ns/bare', finishedStatus(1_700_000_000, 1_700_000_100));
  assert.deepEqual(done.spec, p.spec);
  assert.equal(done.metadata.generation, p.metadata.generation);
  assert.ok(Number(done.metadata.resourceVersion) > Number(running.metadata.resourceVersion));
  assert.equal((done.status as { phase: string }).phase, 'Succeeded');
});
