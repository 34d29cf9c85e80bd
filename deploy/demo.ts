/**
 * `npm run demo [-- --output FILE] [--keep]`: the whole sktrace flow on this machine, with no
 * cluster and no cloud, in well under a minute.
 *
 * 1. the local stack (`sktrace serve` in-process: dynalite, s3rver, the Lambda handlers behind the
 *    API Gateway emulation) and a simulated Kubernetes API server (tests/kube-sim);
 * 2. the real forwarder, `sktrace forward`, as a child process watching the simulated cluster;
 * 3. a scripted workload: Deployments created (ReplicaSets, running pods), scaled, rolled to a new
 *    template and deleted; a StatefulSet; a CronJob whose Jobs' pods run and finish; status-only
 *    churn; and a forwarder restart in the middle, with changes and deletions made while it is down;
 * 4. once the store holds everything, an export of the window through the API, downloaded through
 *    its signed URL;
 * 5. `sktrace inspect` of the file, and checks of the trace against the cluster's ground truth.
 *
 * The last line printed is the path of the trace file, alone. Exit 0 when every check passes.
 * Traces have one-second resolution (SimKube's): steps whose order matters are a second apart.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ApiClient } from '../lib/cli/client.ts';
import { main as sktrace } from '../lib/cli/main.ts';
import { type LocalStack, startLocalStack } from '../lib/local/serve.ts';
import { exportTrace } from '../lib/roundtrip/transfer.ts';
import { refOf } from '../lib/trace/gvk.ts';
import { specHash } from '../lib/trace/hash.ts';
import { objKey } from '../lib/trace/model.ts';
import { sanitizeObject } from '../lib/trace/sanitize.ts';
import { type Check, checkTrace } from './demo/checks.ts';
import { DEPLOYMENT, DemoCluster, TRACER_CONFIG, TRACKED_KINDS } from './demo/cluster.ts';
import { ForwarderProcess, metricTotal, sleep } from './demo/forwarder.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLUSTER = 'demo';
const EXCLUDED_NAMESPACES = ['kube-system'];
const SETTLE_TIMEOUT_MS = 30_000;

const startedMs = Date.now();
const nowSec = (): number => Math.floor(Date.now() / 1000);

function say(line: string): void {
  const s = ((Date.now() - startedMs) / 1000).toFixed(1).padStart(5);
  process.stdout.write(`[${s}s] ${line}\n`);
}

/** Sleeps to just past the next second boundary: the next change lands in a later trace second. */
async function nextSecond(): Promise<void> {
  await sleep(1000 - (Date.now() % 1000) + 30);
}

interface Running {
  stack?: LocalStack;
  cluster?: DemoCluster;
  forwarders: ForwarderProcess[];
  dir?: string;
  keep: boolean;
}
const running: Running = { forwarders: [], keep: false };

// No orphans: whatever happens, the forwarder children die with the demo.
process.on('exit', () => {
  for (const f of running.forwarders) f.kill();
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping the demo\n`);
    void shutdown(!running.keep).finally(() => process.exit(130));
  });
}

async function shutdown(removeDir: boolean): Promise<void> {
  await Promise.allSettled(running.forwarders.map((f) => f.stop(5_000)));
  await running.stack?.close().catch(() => undefined);
  await running.cluster?.close().catch(() => undefined);
  if (removeDir && running.dir) await rm(running.dir, { recursive: true, force: true });
}

/**
 * Waits until the forwarder holds nothing and the store mirrors the cluster: every tracked object
 * alive with its current spec, every expected pod lifecycle recorded with its end when it has one.
 */
async function settled(fwd: ForwarderProcess, stack: LocalStack, cluster: DemoCluster): Promise<boolean> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await isSettled(fwd, stack, cluster)) return true;
    await sleep(150);
  }
  return false;
}

async function isSettled(fwd: ForwarderProcess, stack: LocalStack, cluster: DemoCluster): Promise<boolean> {
  const metrics = await fwd.metrics();
  if (metricTotal(metrics, 'sktrace_forwarder_queue_changes') !== 0) return false;
  const want = new Map<string, bigint>();
  for (const gvk of TRACKED_KINDS) {
    for (const obj of cluster.sim.list(gvk)) want.set(objKey(refOf(obj)), specHash(sanitizeObject(obj).spec));
  }
  const live = await stack.store.liveAt(CLUSTER, nowSec() + 1);
  if (live.objects.length !== want.size) return false;
  for (const { object } of live.objects) {
    if (want.get(objKey(refOf(object))) !== specHash(object.spec)) return false;
  }
  const got = new Map<string, { all: number; finished: number }>();
  for await (const entry of stack.store.lifecycles(CLUSTER)) {
    const key = objKey(entry.owner);
    const n = got.get(key) ?? { all: 0, finished: 0 };
    n.all += entry.lifecycles.length;
    n.finished += entry.lifecycles.filter((l) => l.endTs !== undefined).length;
    got.set(key, n);
  }
  for (const [owner, lcs] of cluster.lifecycles) {
    const n = got.get(owner);
    const finished = lcs.filter((l) => l.endTs !== undefined).length;
    // Pods deleted while the forwarder was down are finished by the store from its pods relist.
    if (n?.all !== lcs.length || n.finished !== finished) return false;
  }
  return true;
}

async function run(options: { output?: string; keep: boolean }): Promise<number> {
  say('sktrace demo: local stack + simulated cluster + the real forwarder → export → inspect → checks');
  const dir = await mkdtemp(join(tmpdir(), 'sktrace-demo-'));
  running.dir = dir;
  running.keep = options.keep;
  const stack = await startLocalStack({ port: 0, dataDir: join(dir, 'store'), logLevel: 'SILENT' });
  running.stack = stack;
  say(
    `local stack at ${stack.url} (DynamoDB: dynalite ${stack.endpoints.dynamo}, S3: s3rver ${stack.endpoints.s3})`,
  );
  const cluster = await DemoCluster.start();
  running.cluster = cluster;
  const { sim } = cluster;
  const kubeconfigPath = await sim.writeKubeconfig(dir);
  const configPath = join(dir, 'tracer-config.yaml');
  await writeFile(configPath, TRACER_CONFIG);
  say(`simulated Kubernetes API server at ${sim.url} (kubeconfig ${kubeconfigPath})`);

  const windowStartTs = nowSec();
  // Already in the cluster before the forwarder starts: its first list picks them up.
  cluster.createDeployment('kube-system', 'coredns', 2, 'registry.k8s.io/coredns/coredns:v1.11.1');
  cluster.createServiceAccount('shop', 'api-caller');
  say('cluster before tracing: Deployment kube-system/coredns (2 pods), ServiceAccount shop/api-caller');

  let forwarderCount = 0;
  const startForwarder = async (): Promise<ForwarderProcess> => {
    const n = ++forwarderCount;
    const t = Date.now();
    const fwd = ForwarderProcess.start({
      root: ROOT,
      configPath,
      kubeconfigPath,
      endpoint: stack.url,
      cluster: CLUSTER,
      token: stack.token,
      logPath: join(dir, `forwarder-${n}.log`),
      onProblem: (line) => say(`  forwarder #${n} logged: ${line}`),
    });
    running.forwarders.push(fwd);
    await fwd.waitReady(45_000);
    const m = await fwd.metrics();
    say(
      `forwarder #${n} (pid ${fwd.proc.pid}) ready in ${((Date.now() - t) / 1000).toFixed(1)} s: ` +
        `listed ${metricTotal(m, 'sktrace_forwarder_kind_listed')} kinds (the pod watch included), ${metricTotal(m, 'sktrace_forwarder_listed_objects_total')} objects`,
    );
    return fwd;
  };
  const waitDelivered = async (fwd: ForwarderProcess, what: string): Promise<boolean> => {
    const ok = await settled(fwd, stack, cluster);
    if (!ok)
      say(`✗ ${what}: the store did not catch up with the cluster within ${SETTLE_TIMEOUT_MS / 1000} s`);
    return ok;
  };

  let fwd = await startForwarder();
  let delivered = true;
  await nextSecond();

  // ---- Deployments, a StatefulSet ----
  const web = cluster.createDeployment('shop', 'web', 3, 'nginx:1.27');
  cluster.createDeployment('shop', 'api', 2, 'ghcr.io/example/api:2.4.0');
  cluster.createStatefulSet('shop', 'db', 1);
  say(
    `created Deployment shop/web (ReplicaSet ${web.rs}, 3 pods running), shop/api (2 pods), StatefulSet shop/db (pod db-0)`,
  );
  delivered = (await waitDelivered(fwd, 'create')) && delivered;
  await nextSecond();

  cluster.scaleDeployment('shop', 'web', 5);
  say('scaled shop/web 3 → 5 replicas (2 more pods running)');
  delivered = (await waitDelivered(fwd, 'scale')) && delivered;
  await nextSecond();

  const churnBefore = metricTotal(await fwd.metrics(), 'sktrace_forwarder_changes_deduplicated_total');
  const statusUpdates = 20;
  cluster.churnDeploymentStatus('shop', 'web', statusUpdates);
  say(
    `status-only churn: ${statusUpdates} status updates of shop/web (readyReplicas, conditions), spec unchanged`,
  );
  await nextSecond();

  const roll = cluster.rollDeployment('shop', 'web', 'nginx:1.28');
  say(
    `rolled shop/web to nginx:1.28: new ReplicaSet ${roll.to} (5 pods), ${roll.from} scaled to 0, its 5 pods deleted`,
  );
  delivered = (await waitDelivered(fwd, 'roll')) && delivered;
  await nextSecond();

  // ---- A CronJob: Jobs whose pods run and finish ----
  cluster.createCronJob('batch', 'report');
  const base = nowSec();
  const job1 = cluster.startJob('batch', 'report', base - (base % 60));
  say(`created CronJob batch/report; it started Job ${job1.job} (pod ${job1.pod} running)`);
  await nextSecond();
  cluster.finishJob(job1.job, job1.pod);
  const job2 = cluster.startJob('batch', 'report', base - (base % 60) + 60);
  say(`${job1.pod} finished (exit 0), Job complete; next Job ${job2.job} started`);
  await nextSecond();
  cluster.finishJob(job2.job, job2.pod);
  say(`${job2.pod} finished`);
  delivered = (await waitDelivered(fwd, 'cronjob')) && delivered;
  const deduplicated =
    metricTotal(await fwd.metrics(), 'sktrace_forwarder_changes_deduplicated_total') - churnBefore;
  const sent = metricTotal(await fwd.metrics(), 'sktrace_forwarder_changes_sent_total');
  say(
    `forwarder #1 delivered ${sent} changes; ${deduplicated} spec-unchanged updates never left the cluster`,
  );

  // ---- Restart: changes and deletions while the forwarder is down ----
  const exitCode = await fwd.stop();
  say(`SIGTERM forwarder #1: flushed and exited with code ${exitCode}`);
  cluster.forwarderDown = true;
  const deletedBefore = new Set(cluster.deleted);
  const apiPods = cluster.deleteDeployment('shop', 'api');
  cluster.deleteJob(job1.job);
  cluster.scaleDeployment('shop', 'web', 4);
  cluster.deleteServiceAccount('shop', 'api-caller');
  cluster.createServiceAccount('shop', 'reporter');
  say(
    `while it is down: deleted Deployment shop/api (its ReplicaSet and ${apiPods} pods with it), Job ${job1.job} (history limit), ` +
      'ServiceAccount shop/api-caller; scaled shop/web 5 → 4; created ServiceAccount shop/reporter',
  );
  const deletedWhileDown = new Set([...cluster.deleted].filter((k) => !deletedBefore.has(k)));
  await nextSecond();
  fwd = await startForwarder();
  cluster.forwarderDown = false;
  delivered = (await waitDelivered(fwd, 'relist')) && delivered;
  say(
    'the relist reconciled the store: deletions made while the forwarder was down are recorded, kind by kind',
  );
  await nextSecond();

  // ---- After the restart ----
  const job3 = cluster.startJob('batch', 'report', base - (base % 60) + 120);
  say(`Job ${job3.job} started (pod ${job3.pod})`);
  await nextSecond();
  cluster.finishJob(job3.job, job3.pod);
  cluster.deleteStatefulSet('shop', 'db');
  say(`${job3.pod} finished; deleted StatefulSet shop/db (pod db-0 with it)`);
  delivered = (await waitDelivered(fwd, 'final')) && delivered;
  say(`store in step with the cluster${delivered ? '' : ' (NOT at every step: see ✗ above)'}`);
  await fwd.stop();

  // ---- Export the window through the API, download through the signed URL ----
  const window = { startTs: windowStartTs, endTs: nowSec() + 1 };
  const client = new ApiClient({ endpoint: stack.url, token: stack.token });
  const { job, bytes, trace } = await exportTrace(client, CLUSTER, window, {
    excluded_namespaces: EXCLUDED_NAMESPACES,
    excluded_labels: [],
  });
  const output = resolve(options.output ?? join(tmpdir(), `sktrace-demo-${window.startTs}.sktrace`));
  await writeFile(output, bytes);
  const url = job.url ?? '';
  say(
    `export ${job.id} of [${window.startTs}, ${window.endTs}) excluding ${EXCLUDED_NAMESPACES.join(',')}: ` +
      `${job.status}, ${job.counts?.events} events, ${job.counts?.objects} objects, ${bytes.length} bytes`,
  );
  say(`downloaded through the signed URL ${url.length > 90 ? `${url.slice(0, 90)}…` : url}`);

  // ---- sktrace inspect, then the checks ----
  say(`sktrace inspect ${output}`);
  const inspectCode = await sktrace(['inspect', output]);
  const checks: Check[] = checkTrace({
    trace,
    cluster,
    window,
    excludedNamespaces: EXCLUDED_NAMESPACES,
    deletedWhileDown,
    churn: {
      key: objKey({ gvk: DEPLOYMENT, nsName: 'shop/web' }),
      // created, scaled to 5, rolled, scaled to 4 while the forwarder was down
      specVersions: 4,
      statusUpdates,
      deduplicated,
    },
  });
  checks.unshift({
    ok: delivered && inspectCode === 0,
    text: 'the forwarder delivered every change; inspect read the file',
  });
  say('checks against the simulated cluster:');
  for (const c of checks) process.stdout.write(`  ${c.ok ? '✓' : '✗'} ${c.text}\n`);
  const failed = checks.filter((c) => !c.ok).length;

  await shutdown(!options.keep && failed === 0);
  const wallSec = ((Date.now() - startedMs) / 1000).toFixed(1);
  if (failed === 0) {
    say(
      `done in ${wallSec} s: traced a scripted workload through the real forwarder (restarted once), ` +
        `stored it in the local DynamoDB/S3, exported it as a SimKube trace; ${checks.length} checks passed` +
        (options.keep ? ` (work dir kept: ${dir})` : ''),
    );
    say('replay it with SimKube: skctl run --trace-path file://<path below>');
  } else {
    say(`✗ ${failed} of ${checks.length} checks failed after ${wallSec} s; logs and data kept in ${dir}`);
  }
  process.stdout.write(`${output}\n`);
  return failed === 0 ? 0 : 1;
}

const { values } = parseArgs({
  options: {
    output: { type: 'string', short: 'o' },
    keep: { type: 'boolean', default: false },
  },
});
try {
  process.exitCode = await run({
    keep: values.keep === true,
    ...(values.output ? { output: values.output } : {}),
  });
} catch (err) {
  process.stderr.write(`demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  if (running.dir) process.stderr.write(`logs and data kept in ${running.dir}\n`);
  await shutdown(false);
  process.exitCode = 1;
}
// Keep-alive sockets of the SDK clients must not hold the process once everything is closed.
setTimeout(() => process.exit(), 2000).unref();
