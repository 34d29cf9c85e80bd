/**
 * Builders of realistic workload objects for the simulated cluster: what the Deployment,
 * ReplicaSet, CronJob and Job controllers and the kubelet would write. Owners must be the objects
 * `KubeSim.apply()` returned (they carry the uid ownerReferences point to).
 *
 * Pods look like admitted, scheduled pods: defaulted fields, the service-account token volume
 * `kube-api-access-xxxxx` mounted in every container, `serviceAccount(Name)` and `nodeName` set —
 * the fields SimKube's stable pod-spec hash must ignore. Names and suffixes are deterministic
 * (a counter rendered in the alphabet of k8s.io/apimachinery/pkg/util/rand.String).
 */
import { SktraceError } from '../../lib/errors.ts';
import type { KubeObject, OwnerReference } from '../../lib/trace/model.ts';
import { rfc3339 } from './store.ts';

/** A time as unix seconds, or already an RFC 3339 string. */
export type TimeInput = number | string;

function time(t: TimeInput): string {
  return typeof t === 'number' ? rfc3339(t * 1000) : t;
}

/** Objects here are JSON data; a JSON round trip copies them faster than structuredClone. */
function jsonClone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

const ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';
let counter = 0;

/** The next 5-character suffix (`xk2b9`-like), deterministic per process. */
export function nextSuffix(): string {
  let n = counter++ * 7919 + 104_729; // spread consecutive values over the alphabet
  let s = '';
  for (let i = 0; i < 5; i++) {
    s += ALPHANUMS[n % ALPHANUMS.length];
    n = Math.floor(n / ALPHANUMS.length);
  }
  return s;
}

export interface WorkloadOptions {
  replicas?: number;
  image?: string;
  /** Pod labels (also the selector); default `{app: name}`. */
  labels?: Record<string, string>;
  /** Container names; default ['app']. */
  containers?: string[];
  initContainers?: string[];
}

interface PodTemplate {
  metadata: { labels: Record<string, string>; creationTimestamp?: null };
  spec: Record<string, unknown>;
}

function container(name: string, image: string, withPort: boolean): Record<string, unknown> {
  return {
    name,
    image,
    ...(withPort ? { ports: [{ containerPort: 8080, protocol: 'TCP' }] } : {}),
    resources: { requests: { cpu: '100m', memory: '128Mi' } },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: 'IfNotPresent',
  };
}

/** A pod template with the defaults the apiserver fills in (as stored in Deployments and Jobs). */
export function podTemplate(
  labels: Record<string, string>,
  opts: WorkloadOptions = {},
  restartPolicy = 'Always',
): PodTemplate {
  const image = opts.image ?? 'registry.k8s.io/pause:3.9';
  return {
    metadata: { labels: { ...labels } },
    spec: {
      ...(opts.initContainers?.length
        ? { initContainers: opts.initContainers.map((n) => container(n, image, false)) }
        : {}),
      containers: (opts.containers ?? ['app']).map((n) => container(n, image, restartPolicy === 'Always')),
      restartPolicy,
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      securityContext: {},
      schedulerName: 'default-scheduler',
    },
  };
}

export function namespace(name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name }, spec: { finalizers: ['kubernetes'] } };
}

export function configMap(ns: string, name: string, data: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: ns, name }, data };
}

export function serviceAccount(ns: string, name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { namespace: ns, name } };
}

export function deployment(ns: string, name: string, opts: WorkloadOptions = {}): KubeObject {
  const labels = opts.labels ?? { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { namespace: ns, name, labels: { ...labels } },
    spec: {
      replicas: opts.replicas ?? 1,
      selector: { matchLabels: { ...labels } },
      template: podTemplate(labels, opts),
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
    },
  };
}

export function statefulSet(ns: string, name: string, opts: WorkloadOptions = {}): KubeObject {
  const labels = opts.labels ?? { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { namespace: ns, name, labels: { ...labels } },
    spec: {
      replicas: opts.replicas ?? 1,
      selector: { matchLabels: { ...labels } },
      serviceName: name,
      template: podTemplate(labels, opts),
      podManagementPolicy: 'OrderedReady',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
    },
  };
}

export function daemonSet(ns: string, name: string, opts: WorkloadOptions = {}): KubeObject {
  const labels = opts.labels ?? { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { namespace: ns, name, labels: { ...labels } },
    spec: {
      selector: { matchLabels: { ...labels } },
      template: podTemplate(labels, opts),
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
    },
  };
}

/** A controller ownerReference to `owner`, which must be a stored object (it has a uid). */
export function controllerRef(owner: KubeObject): OwnerReference {
  const uid = owner.metadata.uid;
  if (typeof uid !== 'string' || uid === '') {
    throw new SktraceError(
      'kube_sim_owner_without_uid',
      `owner ${owner.kind} ${owner.metadata.name} has no metadata.uid: pass the object KubeSim.apply() returned`,
      { kind: owner.kind, name: owner.metadata.name },
    );
  }
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name ?? '',
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

function templateOf(owner: KubeObject): PodTemplate {
  const spec = owner.spec as Record<string, unknown> | undefined;
  const template =
    owner.kind === 'CronJob'
      ? ((spec?.jobTemplate as { spec?: { template?: unknown } } | undefined)?.spec?.template as PodTemplate)
      : (spec?.template as PodTemplate | undefined);
  if (!template) {
    throw new SktraceError(
      'kube_sim_no_template',
      `${owner.kind} ${owner.metadata.name} has no pod template`,
      {
        kind: owner.kind,
      },
    );
  }
  return jsonClone(template);
}

/**
 * The ReplicaSet the Deployment controller creates for `deployment`'s current template: named
 * `<deployment>-<hash>`, labelled and selected by `pod-template-hash`, owned by the Deployment.
 */
export function replicaSetFor(
  deployment: KubeObject,
  hash: string,
  opts: { replicas?: number } = {},
): KubeObject {
  const spec = deployment.spec as { replicas?: number; selector: { matchLabels: Record<string, string> } };
  const template = templateOf(deployment);
  template.metadata.labels = { ...template.metadata.labels, 'pod-template-hash': hash };
  const name = `${deployment.metadata.name}-${hash}`;
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      namespace: deployment.metadata.namespace,
      name,
      labels: { ...template.metadata.labels },
      annotations: { 'deployment.kubernetes.io/desired-replicas': String(spec.replicas ?? 1) },
      ownerReferences: [controllerRef(deployment)],
    },
    spec: {
      replicas: opts.replicas ?? spec.replicas ?? 1,
      selector: { matchLabels: { ...spec.selector.matchLabels, 'pod-template-hash': hash } },
      template,
    },
  };
}

export function cronJob(
  ns: string,
  name: string,
  opts: WorkloadOptions & { schedule?: string; command?: string[] } = {},
): KubeObject {
  const template = podTemplate(opts.labels ?? {}, opts, 'OnFailure');
  if (opts.command) {
    for (const c of template.spec.containers as Array<Record<string, unknown>>) c.command = [...opts.command];
  }
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { namespace: ns, name },
    spec: {
      schedule: opts.schedule ?? '*/5 * * * *',
      concurrencyPolicy: 'Allow',
      suspend: false,
      jobTemplate: { metadata: {}, spec: { backoffLimit: 6, completionMode: 'NonIndexed', template } },
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 1,
    },
  };
}

/**
 * The Job the CronJob controller starts for a scheduled time: named `<cronjob>-<minutes since the
 * epoch>` (cronjob_controllerv2 getJobName), owned by the CronJob.
 */
export function jobFor(cronJob: KubeObject, opts: { scheduledAtSec?: number } = {}): KubeObject {
  const scheduledAtSec = opts.scheduledAtSec ?? 1_700_000_000 + counter++ * 300;
  const jobTemplate = (cronJob.spec as { jobTemplate: { spec: Record<string, unknown> } }).jobTemplate;
  const spec = jsonClone(jobTemplate.spec) as { template: PodTemplate } & Record<string, unknown>;
  const name = `${cronJob.metadata.name}-${Math.floor(scheduledAtSec / 60)}`;
  spec.template.metadata.labels = {
    ...spec.template.metadata.labels,
    'batch.kubernetes.io/job-name': name,
    'job-name': name,
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      namespace: cronJob.metadata.namespace,
      name,
      annotations: { 'batch.kubernetes.io/cronjob-scheduled-timestamp': time(scheduledAtSec) },
      ownerReferences: [controllerRef(cronJob)],
    },
    spec: { parallelism: 1, completions: 1, ...spec },
  };
}

export interface PodOptions {
  /** Full name; default `<owner>-<suffix>` (bare pods: required through `pod()`). */
  name?: string;
  suffix?: string;
  nodeName?: string;
  status?: unknown;
}

function scheduledPodSpec(template: PodTemplate, nodeName: string): Record<string, unknown> {
  // The ServiceAccount admission plugin adds the projected token volume and mounts it everywhere.
  const volume = `kube-api-access-${nextSuffix()}`;
  const mount = { name: volume, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' };
  const spec = jsonClone(template.spec) as Record<string, unknown>;
  for (const list of ['initContainers', 'containers']) {
    const containers = spec[list] as Array<Record<string, unknown>> | undefined;
    for (const c of containers ?? []) {
      c.volumeMounts = [...((c.volumeMounts as unknown[] | undefined) ?? []), mount];
    }
  }
  return {
    ...spec,
    volumes: [
      ...((spec.volumes as unknown[] | undefined) ?? []),
      {
        name: volume,
        projected: {
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            {
              downwardAPI: {
                items: [
                  { path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
                ],
              },
            },
          ],
          defaultMode: 420,
        },
      },
    ],
    serviceAccountName: 'default',
    serviceAccount: 'default',
    nodeName,
    enableServiceLinks: true,
    preemptionPolicy: 'PreemptLowerPriority',
    priority: 0,
    tolerations: [
      {
        key: 'node.kubernetes.io/not-ready',
        operator: 'Exists',
        effect: 'NoExecute',
        tolerationSeconds: 300,
      },
      {
        key: 'node.kubernetes.io/unreachable',
        operator: 'Exists',
        effect: 'NoExecute',
        tolerationSeconds: 300,
      },
    ],
  };
}

/** A pod created by `owner`'s controller from its template, scheduled on a node. */
export function podFor(owner: KubeObject, opts: PodOptions = {}): KubeObject {
  const template = templateOf(owner);
  const name = opts.name ?? `${owner.metadata.name}-${opts.suffix ?? nextSuffix()}`;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace: owner.metadata.namespace,
      name,
      labels: { ...template.metadata.labels },
      ownerReferences: [controllerRef(owner)],
    },
    spec: scheduledPodSpec(template, opts.nodeName ?? 'node-1'),
    ...(opts.status !== undefined ? { status: opts.status } : {}),
  };
}

/** A pod nobody owns (its own lifecycle owner in a trace). */
export function pod(
  ns: string,
  name: string,
  opts: WorkloadOptions & Omit<PodOptions, 'name' | 'suffix'> = {},
): KubeObject {
  const template = podTemplate(opts.labels ?? { run: name }, opts, 'Always');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: ns, name, labels: { ...template.metadata.labels } },
    spec: scheduledPodSpec(template, opts.nodeName ?? 'node-1'),
    ...(opts.status !== undefined ? { status: opts.status } : {}),
  };
}

export interface StatusOptions {
  /** Regular container names; default ['app']. */
  containers?: string[];
  /** Init containers, each terminated (Completed) with its own times. */
  initContainers?: Array<{ name: string; startedAt: TimeInput; finishedAt: TimeInput }>;
  nodeName?: string;
}

function containerIds(name: string): Record<string, string> {
  return {
    image: 'registry.k8s.io/pause:3.9',
    imageID: 'registry.k8s.io/pause@sha256:7031c1b283388d2c2e09b57badb803c05ebed362dc88d84b480cc47f72a21097',
    containerID: `containerd://${Buffer.from(`${name}-${nextSuffix()}`).toString('hex').padEnd(64, '0').slice(0, 64)}`,
  };
}

function initStatuses(opts: StatusOptions): Record<string, unknown> {
  if (!opts.initContainers?.length) return {};
  return {
    initContainerStatuses: opts.initContainers.map((c) => {
      const ids = containerIds(c.name);
      return {
        name: c.name,
        state: {
          terminated: {
            exitCode: 0,
            reason: 'Completed',
            startedAt: time(c.startedAt),
            finishedAt: time(c.finishedAt),
            containerID: ids.containerID,
          },
        },
        lastState: {},
        ready: true,
        restartCount: 0,
        ...ids,
        started: false,
      };
    }),
  };
}

function podConditions(ready: boolean, at: string): unknown[] {
  const s = ready ? 'True' : 'False';
  return [
    { type: 'PodReadyToStartContainers', status: 'True', lastProbeTime: null, lastTransitionTime: at },
    { type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: at },
    { type: 'Ready', status: s, lastProbeTime: null, lastTransitionTime: at },
    { type: 'ContainersReady', status: s, lastProbeTime: null, lastTransitionTime: at },
    { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: at },
  ];
}

/** Scheduled, containers not started yet (no lifecycle start). */
export function pendingStatus(opts: StatusOptions = {}): unknown {
  return {
    phase: 'Pending',
    qosClass: 'Burstable',
    containerStatuses: (opts.containers ?? ['app']).map((name) => ({
      name,
      state: { waiting: { reason: 'ContainerCreating' } },
      lastState: {},
      ready: false,
      restartCount: 0,
      image: 'registry.k8s.io/pause:3.9',
      imageID: '',
      started: false,
    })),
  };
}

/** Every regular container running since `startedAt`. */
export function runningStatus(startedAt: TimeInput, opts: StatusOptions = {}): unknown {
  const at = time(startedAt);
  return {
    phase: 'Running',
    conditions: podConditions(true, at),
    hostIP: '10.0.0.10',
    podIP: '10.244.0.17',
    podIPs: [{ ip: '10.244.0.17' }],
    startTime: time(opts.initContainers?.[0]?.startedAt ?? startedAt),
    ...initStatuses(opts),
    containerStatuses: (opts.containers ?? ['app']).map((name) => ({
      name,
      state: { running: { startedAt: at } },
      lastState: {},
      ready: true,
      restartCount: 0,
      ...containerIds(name),
      started: true,
    })),
    qosClass: 'Burstable',
  };
}

/** Every regular container terminated: Succeeded for exit code 0, Failed otherwise. */
export function finishedStatus(
  startedAt: TimeInput,
  finishedAt: TimeInput,
  opts: StatusOptions & { exitCode?: number } = {},
): unknown {
  const exitCode = opts.exitCode ?? 0;
  const end = time(finishedAt);
  return {
    phase: exitCode === 0 ? 'Succeeded' : 'Failed',
    conditions: podConditions(false, end),
    hostIP: '10.0.0.10',
    podIP: '10.244.0.17',
    podIPs: [{ ip: '10.244.0.17' }],
    startTime: time(opts.initContainers?.[0]?.startedAt ?? startedAt),
    ...initStatuses(opts),
    containerStatuses: (opts.containers ?? ['app']).map((name) => {
      const ids = containerIds(name);
      return {
        name,
        state: {
          terminated: {
            exitCode,
            reason: exitCode === 0 ? 'Completed' : 'Error',
            startedAt: time(startedAt),
            finishedAt: end,
            containerID: ids.containerID,
          },
        },
        lastState: {},
        ready: false,
        restartCount: 0,
        ...ids,
        started: false,
      };
    }),
    qosClass: 'Burstable',
  };
}

/**
 * managedFields as the apiserver records them (FieldsV1: every set field as `f:<name>`, list
 * items keyed `k:{"name":…}`): they mirror the object's shape, so they roughly double the size
 * of a real pod and are most of what a tracer must not send.
 */
export function fieldsV1(value: unknown): unknown {
  if (Array.isArray(value)) {
    const out: Record<string, unknown> = {};
    for (const item of value) {
      const key =
        item && typeof item === 'object' && 'name' in item
          ? `k:${JSON.stringify({ name: (item as { name: unknown }).name })}`
          : `v:${JSON.stringify(item)}`;
      out[key] = fieldsV1(item);
    }
    return out;
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = { '.': {} };
    for (const [k, v] of Object.entries(value)) out[`f:${k}`] = fieldsV1(v);
    return out;
  }
  return {};
}

/**
 * A pod as a real cluster stores it, 5–20 KB of JSON: `envBytes` of environment variables (1.5 KB
 * by default, as the issue's 12,000-pod test had), managedFields for the controller's create and
 * the kubelet's status updates, a running status with conditions and container statuses.
 */
export function realisticPod(
  owner: KubeObject,
  opts: PodOptions & { envBytes?: number; startedAtSec?: number } = {},
): KubeObject {
  const p = podFor(owner, opts);
  const envBytes = opts.envBytes ?? 1536;
  const env: Array<{ name: string; value: string }> = [];
  for (let i = 0, size = 0; size < envBytes; i++) {
    const e = { name: `SETTING_${i}`, value: `value-${i}-${'x'.repeat(40)}` };
    env.push(e);
    size += e.name.length + e.value.length + 20;
  }
  const spec = p.spec as { containers: Array<Record<string, unknown>> };
  for (const c of spec.containers) c.env = env;
  const startedAt = opts.startedAtSec ?? 1_700_000_000;
  const status =
    opts.status ??
    (runningStatus(startedAt, { containers: spec.containers.map((c) => String(c.name)) }) as Record<
      string,
      unknown
    >);
  const metadata = p.metadata as Record<string, unknown>;
  metadata.annotations = {
    'kubectl.kubernetes.io/restartedAt': rfc3339(startedAt * 1000),
    'prometheus.io/scrape': 'true',
    'prometheus.io/port': '8080',
  };
  metadata.managedFields = [
    {
      manager: 'kube-controller-manager',
      operation: 'Update',
      apiVersion: 'v1',
      time: rfc3339(startedAt * 1000),
      fieldsType: 'FieldsV1',
      fieldsV1: fieldsV1({
        metadata: { labels: metadata.labels, ownerReferences: metadata.ownerReferences },
        spec,
      }),
    },
    {
      manager: 'kubelet',
      operation: 'Update',
      apiVersion: 'v1',
      time: rfc3339(startedAt * 1000),
      fieldsType: 'FieldsV1',
      fieldsV1: fieldsV1({ status }),
      subresource: 'status',
    },
  ];
  return { ...p, status };
}
