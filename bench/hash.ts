/**
 * Spec hash cost in ms per MB of the spec's JSON size (time per unit, so lower is better like every
 * figure in bench/results.json; 1000 / it is the throughput in MB/s) against `JSON.stringify` of the same object,
 * the floor: any hash must at least walk the object and touch every string once.
 * Also compares hashing the whole byte stream at the end with compressing it as it fills
 * (`flushBytes`), the choice `lib/trace/hash.ts` had to make.
 *
 * Run alone: `npx node --import tsx bench/hash.ts`. `benchHash()` is for a bench runner.
 */
import { pathToFileURL } from 'node:url';
import { createJsonHasher, type JsonHasherOptions } from '../lib/trace/hash.ts';
import { type BenchResult, formatTable, resultOf } from './result.ts';

/** Re-exported for benchmarks written against the type's first home. */
export type { BenchResult } from './result.ts';

const RUNS = 7;
const RUN_MS = 150;

/** A Deployment spec as a cluster returns it, with `containers` containers of `envVars` env vars each. */
export function deploymentSpec(containers: number, envVars: number): Record<string, unknown> {
  const container = (i: number) => ({
    name: `app-${i}`,
    image: `registry.example.com/team/service-${i}:v1.24.${i}`,
    imagePullPolicy: 'IfNotPresent',
    args: ['--config=/etc/app/config.yaml', `--port=${8080 + i}`, '--log-level=info'],
    env: Array.from({ length: envVars }, (_, j) =>
      j % 3 === 0
        ? { name: `SECRET_${j}`, valueFrom: { secretKeyRef: { name: 'app-secrets', key: `key-${j}` } } }
        : { name: `SETTING_${i}_${j}`, value: `value-${j}-${'x'.repeat(j % 7)}` },
    ),
    ports: [{ containerPort: 8080 + i, name: 'http', protocol: 'TCP' }],
    resources: { limits: { cpu: '500m', memory: '512Mi' }, requests: { cpu: '100m', memory: '128Mi' } },
    livenessProbe: {
      httpGet: { path: '/healthz', port: 8080 + i, scheme: 'HTTP' },
      initialDelaySeconds: 10,
      periodSeconds: 10,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 3,
    },
    readinessProbe: {
      httpGet: { path: '/ready', port: 8080 + i, scheme: 'HTTP' },
      periodSeconds: 5,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 3,
    },
    volumeMounts: [
      { name: 'config', mountPath: '/etc/app', readOnly: true },
      {
        name: 'kube-api-access-x7k2p',
        mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
        readOnly: true,
      },
    ],
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
  });
  return {
    replicas: 3,
    revisionHistoryLimit: 10,
    progressDeadlineSeconds: 600,
    selector: { matchLabels: { app: 'service', tier: 'backend' } },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
    template: {
      metadata: {
        labels: { app: 'service', tier: 'backend', 'app.kubernetes.io/version': '1.24' },
        annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090' },
      },
      spec: {
        containers: Array.from({ length: containers }, (_, i) => container(i)),
        dnsPolicy: 'ClusterFirst',
        restartPolicy: 'Always',
        schedulerName: 'default-scheduler',
        securityContext: { runAsNonRoot: true, runAsUser: 1000, fsGroup: 2000 },
        serviceAccountName: 'service',
        terminationGracePeriodSeconds: 30,
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'backend', effect: 'NoSchedule' }],
        volumes: [{ name: 'config', configMap: { name: 'service-config', defaultMode: 420 } }],
      },
    },
  };
}

/** ms per MB of `fn` over an input of `bytes` bytes: one figure per run of about RUN_MS. */
function msPerMb(fn: () => unknown, bytes: number): number[] {
  // Warm-up: let the JIT settle before the timed runs.
  const warmEnd = performance.now() + RUN_MS;
  while (performance.now() < warmEnd) fn();
  const figures: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    let n = 0;
    const start = performance.now();
    let elapsed = 0;
    do {
      for (let i = 0; i < 16; i++) fn();
      n += 16;
      elapsed = performance.now() - start;
    } while (elapsed < RUN_MS);
    figures.push(elapsed / ((bytes * n) / 1e6));
  }
  return figures;
}

export async function benchHash(): Promise<BenchResult[]> {
  const objects = [
    { object: 'deployment-spec-3KB', spec: deploymentSpec(1, 18) },
    { object: 'deployment-spec-30KB', spec: deploymentSpec(8, 45) },
  ];
  const variants: { variant: string; options: JsonHasherOptions }[] = [
    { variant: 'whole-buffer', options: {} },
    { variant: 'stream-4KB', options: { flushBytes: 4096, initialBytes: 8192 } },
    { variant: 'stream-64KB', options: { flushBytes: 65536, initialBytes: 131072 } },
  ];
  const results: BenchResult[] = [];
  for (const { object, spec } of objects) {
    const bytes = JSON.stringify(spec).length;
    const floor = msPerMb(() => JSON.stringify(spec), bytes);
    for (const { variant, options } of variants) {
      const hasher = createJsonHasher(options);
      const figures = msPerMb(() => hasher.hash(spec), bytes);
      results.push(resultOf('hash', { object, json_bytes: bytes, variant }, 'ms/MB', figures, floor));
    }
  }
  return results;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void benchHash().then((results) => {
    process.stdout.write(
      `spec hash cost (median of ${RUNS} runs; ratio = our time per MB / JSON.stringify's)\n`,
    );
    process.stdout.write(`${formatTable(results)}\n`);
  });
}
