/**
 * The demo's cluster: the simulated API server (tests/kube-sim) driven the way the Deployment,
 * ReplicaSet, StatefulSet, CronJob and Job controllers and the kubelet would drive a real one, and
 * the ground truth the exported trace is checked against: what was deleted, and which pod
 * lifecycles each owner must end up with.
 */

import { gvkOf, nsNameOf } from '../../lib/trace/gvk.ts';
import { specHash } from '../../lib/trace/hash.ts';
import type { KubeObject, NsName } from '../../lib/trace/model.ts';
import { objKey } from '../../lib/trace/model.ts';
import { KubeSim } from '../../tests/kube-sim/server.ts';
import {
  cronJob,
  deployment,
  finishedStatus,
  jobFor,
  pendingStatus,
  podFor,
  replicaSetFor,
  runningStatus,
  serviceAccount,
  statefulSet,
} from '../../tests/kube-sim/workload.ts';

export const DEPLOYMENT = 'apps/v1.Deployment';
export const REPLICASET = 'apps/v1.ReplicaSet';
export const STATEFULSET = 'apps/v1.StatefulSet';
export const CRONJOB = 'batch/v1.CronJob';
export const JOB = 'batch/v1.Job';
export const POD = 'v1.Pod';
export const SERVICEACCOUNT = 'v1.ServiceAccount';

/** The tracer config the demo's forwarder runs with (SimKube's format). */
export const TRACER_CONFIG = `# sktrace demo: SimKube tracer config
trackedObjects:
  ${DEPLOYMENT}:
    trackLifecycle: true
  ${STATEFULSET}: {}
  ${CRONJOB}:
    trackLifecycle: true
  # Jobs are tracked too, but a CronJob's Jobs are left out of exports: the CronJob is in the
  # trace and its replay creates them (an owner up the chain in the trace drops the object).
  ${JOB}: {}
  # A kind without a pod template: kept in the events, left out of the exported config.
  ${SERVICEACCOUNT}: {}
`;

export const TRACKED_KINDS = [DEPLOYMENT, STATEFULSET, CRONJOB, JOB, SERVICEACCOUNT] as const;
/** Kinds whose pods' lifecycles are recorded (trackLifecycle in TRACER_CONFIG). */
const LIFECYCLE_KINDS = new Set<string>([DEPLOYMENT, CRONJOB]);

/** What a pod's lifecycle must look like in the trace. */
export interface ExpectedLifecycle {
  pod: NsName;
  startTs: number;
  /** Exact when the kubelet reported it; a lower bound when the pod was deleted while running. */
  endTs?: number;
  endExact: boolean;
  /** Deleted while the forwarder was down: its end is the time of the restarted forwarder's pods relist. */
  deletedWhileDown?: boolean;
}

const nowSec = (): number => Math.floor(Date.now() / 1000);

/** A pod-template-hash-like suffix (the Deployment controller's is a hash of the template too). */
function templateHash(template: unknown): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let n = specHash(template);
  let s = '';
  for (let i = 0; i < 10; i++) {
    s += alphabet[Number(n % BigInt(alphabet.length))];
    n /= BigInt(alphabet.length);
  }
  return s;
}

function copy(obj: KubeObject): KubeObject {
  // Objects KubeSim returns are deep-frozen.
  return structuredClone(obj);
}

export class DemoCluster {
  readonly sim: KubeSim;
  /** `gvk nsName` of tracked objects deleted during the demo. */
  readonly deleted = new Set<string>();
  /** Expected lifecycles per owner key (`gvk nsName`). */
  readonly lifecycles = new Map<string, ExpectedLifecycle[]>();
  /** Set while the forwarder is down: deletions of running pods then end at the relist. */
  forwarderDown = false;
  readonly #podOwners = new Map<NsName, string | undefined>();

  private constructor(sim: KubeSim) {
    this.sim = sim;
  }

  static async start(): Promise<DemoCluster> {
    return new DemoCluster(await KubeSim.start());
  }

  close(): Promise<void> {
    return this.sim.close();
  }

  // ---- pods and their lifecycles ----

  #lifecycleOwner(pod: KubeObject): string | undefined {
    // Nearest owner up the chain tracked with trackLifecycle (Pod → ReplicaSet → Deployment,
    // Pod → Job → CronJob), as SimKube's record_pod_lifecycle.
    let cur: KubeObject | undefined = pod;
    while (cur) {
      const ref = cur.metadata.ownerReferences?.[0];
      if (!ref) return undefined;
      const gvk = `${ref.apiVersion}.${ref.kind}`;
      const ns = cur.metadata.namespace;
      const nsName = ns ? `${ns}/${ref.name}` : ref.name;
      if (LIFECYCLE_KINDS.has(gvk)) return objKey({ gvk, nsName });
      cur = this.sim.get(gvk, nsName);
    }
    return undefined;
  }

  #expect(pod: KubeObject): ExpectedLifecycle | undefined {
    // Remembered from the pod's start: its owners may be gone by its deletion (cascading delete).
    const nsName = nsNameOf(pod);
    const owner = this.#podOwners.get(nsName) ?? this.#lifecycleOwner(pod);
    this.#podOwners.set(nsName, owner);
    if (!owner) return undefined;
    const list = this.lifecycles.get(owner) ?? [];
    this.lifecycles.set(owner, list);
    let lc = list.find((l) => l.pod === nsName);
    if (!lc) {
      lc = { pod: nsName, startTs: 0, endExact: false };
      list.push(lc);
    }
    return lc;
  }

  /** A pod of `owner`: scheduled (Pending), then its containers start now. */
  startPod(owner: KubeObject, opts: { name?: string } = {}): KubeObject {
    const created = this.sim.apply(podFor(owner, { ...opts, status: pendingStatus() }));
    const startTs = nowSec();
    const running = this.sim.patchStatus(POD, nsNameOf(created), runningStatus(startTs));
    const lc = this.#expect(running);
    if (lc) lc.startTs = startTs;
    return running;
  }

  /** The pod's containers all exit 0 now (a Job's pod). */
  finishPod(nsName: NsName): void {
    const pod = this.sim.get(POD, nsName)!;
    const status = pod.status as { containerStatuses: Array<{ state: { running?: { startedAt: string } } }> };
    const startedAt = status.containerStatuses[0]?.state.running?.startedAt ?? new Date().toISOString();
    const endTs = nowSec();
    this.sim.patchStatus(POD, nsName, finishedStatus(startedAt, endTs));
    const lc = this.#expect(pod);
    if (lc) Object.assign(lc, { endTs, endExact: true });
  }

  deletePod(nsName: NsName): void {
    const pod = this.sim.get(POD, nsName);
    if (!pod) return;
    this.sim.delete(POD, nsName);
    const lc = this.#expect(pod);
    // A running pod deleted is finished at its deletion (seen by the watch), or at the relist
    // when the forwarder was down: only a lower bound is known here.
    if (lc && lc.endTs === undefined) {
      Object.assign(lc, { endTs: nowSec(), endExact: false, deletedWhileDown: this.forwarderDown });
    }
  }

  podsOf(owner: KubeObject): KubeObject[] {
    const uid = owner.metadata.uid;
    return this.sim
      .list(POD)
      .filter((p) => p.metadata.namespace === owner.metadata.namespace)
      .filter((p) => p.metadata.ownerReferences?.some((r) => r.uid === uid));
  }

  #deleteTracked(obj: KubeObject): void {
    const gvk = gvkOf(obj);
    this.sim.delete(gvk, nsNameOf(obj));
    if ((TRACKED_KINDS as readonly string[]).includes(gvk))
      this.deleted.add(objKey({ gvk, nsName: nsNameOf(obj) }));
  }

  // ---- Deployments ----

  #currentReplicaSet(d: KubeObject): KubeObject | undefined {
    const hash = templateHash((d.spec as { template: unknown }).template);
    return this.sim.get(REPLICASET, `${d.metadata.namespace}/${d.metadata.name}-${hash}`);
  }

  /** A Deployment, its ReplicaSet and `replicas` running pods. */
  createDeployment(ns: string, name: string, replicas: number, image: string): { rs: string; pods: number } {
    const d = this.sim.apply(deployment(ns, name, { replicas, image }));
    const rs = this.sim.apply(replicaSetFor(d, templateHash((d.spec as { template: unknown }).template)));
    for (let i = 0; i < replicas; i++) this.startPod(rs);
    return { rs: rs.metadata.name!, pods: replicas };
  }

  /** New replica count: the Deployment, its ReplicaSet, pods started or deleted. */
  scaleDeployment(ns: string, name: string, replicas: number): { from: number } {
    const d = copy(this.sim.get(DEPLOYMENT, `${ns}/${name}`)!);
    const spec = d.spec as { replicas: number };
    const from = spec.replicas;
    spec.replicas = replicas;
    const stored = this.sim.apply(d);
    const rs = copy(this.#currentReplicaSet(stored)!);
    (rs.spec as { replicas: number }).replicas = replicas;
    const rsStored = this.sim.apply(rs);
    const pods = this.podsOf(rsStored);
    for (let i = pods.length; i < replicas; i++) this.startPod(rsStored);
    for (const p of pods.slice(replicas)) this.deletePod(nsNameOf(p));
    return { from };
  }

  /** A new pod template (image): a new ReplicaSet takes every replica, the old one scales to 0. */
  rollDeployment(ns: string, name: string, image: string): { from: string; to: string } {
    const d = copy(this.sim.get(DEPLOYMENT, `${ns}/${name}`)!);
    const oldRs = this.#currentReplicaSet(d)!;
    const spec = d.spec as { replicas: number; template: { spec: { containers: Array<{ image: string }> } } };
    for (const c of spec.template.spec.containers) c.image = image;
    const stored = this.sim.apply(d);
    const newRs = this.sim.apply(
      replicaSetFor(stored, templateHash((stored.spec as { template: unknown }).template)),
    );
    for (let i = 0; i < spec.replicas; i++) this.startPod(newRs);
    const old = copy(oldRs);
    (old.spec as { replicas: number }).replicas = 0;
    this.sim.apply(old);
    for (const p of this.podsOf(oldRs)) this.deletePod(nsNameOf(p));
    return { from: oldRs.metadata.name!, to: newRs.metadata.name! };
  }

  /** Status-only updates, as the Deployment controller writes on every pod change: no spec change. */
  churnDeploymentStatus(ns: string, name: string, times: number): void {
    const d = this.sim.get(DEPLOYMENT, `${ns}/${name}`)!;
    const replicas = (d.spec as { replicas: number }).replicas;
    for (let i = 0; i < times; i++) {
      this.sim.patchStatus(DEPLOYMENT, `${ns}/${name}`, {
        observedGeneration: d.metadata.generation,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: (i % replicas) + 1,
        availableReplicas: (i % replicas) + 1,
        conditions: [
          {
            type: 'Available',
            status: i % replicas === replicas - 1 ? 'True' : 'False',
            lastUpdateTime: new Date().toISOString(),
            reason: 'MinimumReplicasAvailable',
          },
        ],
      });
    }
  }

  /** Background cascading deletion: the Deployment, then its ReplicaSets, then their pods. */
  deleteDeployment(ns: string, name: string): number {
    const d = this.sim.get(DEPLOYMENT, `${ns}/${name}`)!;
    this.#deleteTracked(d);
    let pods = 0;
    for (const rs of this.sim.list(REPLICASET)) {
      if (!rs.metadata.ownerReferences?.some((r) => r.uid === d.metadata.uid)) continue;
      this.sim.delete(REPLICASET, nsNameOf(rs));
      for (const p of this.podsOf(rs)) {
        this.deletePod(nsNameOf(p));
        pods++;
      }
    }
    return pods;
  }

  // ---- StatefulSets ----

  createStatefulSet(ns: string, name: string, replicas: number): void {
    const s = this.sim.apply(statefulSet(ns, name, { replicas, image: 'postgres:16' }));
    for (let i = 0; i < replicas; i++) this.startPod(s, { name: `${name}-${i}` });
  }

  deleteStatefulSet(ns: string, name: string): void {
    const s = this.sim.get(STATEFULSET, `${ns}/${name}`)!;
    this.#deleteTracked(s);
    for (const p of this.podsOf(s)) this.deletePod(nsNameOf(p));
  }

  // ---- CronJobs and Jobs ----

  createCronJob(ns: string, name: string): void {
    this.sim.apply(
      cronJob(ns, name, {
        schedule: '* * * * *',
        image: 'busybox:1.36',
        command: ['sh', '-c', 'make report'],
      }),
    );
  }

  /** The CronJob controller starts a Job for `scheduledAtSec`; the Job controller its pod, which starts. */
  startJob(ns: string, cronJobName: string, scheduledAtSec: number): { job: string; pod: string } {
    const cj = this.sim.get(CRONJOB, `${ns}/${cronJobName}`)!;
    const job = this.sim.apply(jobFor(cj, { scheduledAtSec }));
    const pod = this.startPod(job, {
      name: `${job.metadata.name}-${templateHash(scheduledAtSec).slice(0, 5)}`,
    });
    return { job: nsNameOf(job), pod: nsNameOf(pod) };
  }

  /** The pod's container exits 0; the Job completes. */
  finishJob(job: NsName, pod: NsName): void {
    this.finishPod(pod);
    this.sim.patchStatus(JOB, job, {
      succeeded: 1,
      conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: new Date().toISOString() }],
    });
  }

  /** successfulJobsHistoryLimit: the CronJob controller deletes an old Job, and its pod with it. */
  deleteJob(job: NsName): void {
    const j = this.sim.get(JOB, job)!;
    this.#deleteTracked(j);
    for (const p of this.podsOf(j)) this.deletePod(nsNameOf(p));
  }

  // ---- ServiceAccounts ----

  createServiceAccount(ns: string, name: string): void {
    this.sim.apply(serviceAccount(ns, name));
  }

  deleteServiceAccount(ns: string, name: string): void {
    this.#deleteTracked(this.sim.get(SERVICEACCOUNT, `${ns}/${name}`)!);
  }
}
