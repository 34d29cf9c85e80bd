/**
 * The forwarder on a big cluster (issue #11): a real `sktrace forward` process (the image's bundle
 * and V8 flags) against the simulated API server holding `pods` realistic pods (~9 KB of JSON each:
 * managedFields, status, env) under `pods / 5` ReplicaSets, each owned by a Deployment, with etcd
 * compacting every `compactionIntervalMs` and an endpoint that takes `changesPerSec` changes per
 * second, while 20 pod status updates a second keep the revision moving (so compaction passes the
 * list's snapshot). It tracks Pods (owner chains resolved through the owner indexes).
 *
 * Rows:
 * - `forwarder_memory` (kind Pod): RSS once the list is delivered (median of samples) and its peak
 *   during the list, ratio to the idle RSS of the same bundle against an empty cluster; and the
 *   heap after a forced full GC. An `objects: 0` row gives the idle RSS, ratio to a bare Node
 *   process serving HTTP (the floor no Node program goes below).
 * - `forwarder_scale`: seconds until the whole list is delivered, ratio to pods / changesPerSec
 *   (the endpoint's own time, the floor); params give full list passes (relists; must be 1), API
 *   requests and TCP connections (counted by the simulated server), owner GETs.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeSim } from '../../tests/kube-sim/server.ts';
import { deployment, realisticPod, replicaSetFor, runningStatus } from '../../tests/kube-sim/workload.ts';
import { type BenchResult, median, resultOf, sig } from '../result.ts';
import { imageNodeFlags, startForwarder } from './child.ts';
import { CountingIngest } from './counting-ingest.ts';
import { procSample, sleep, until } from './proc.ts';

export interface ScaleOptions {
  pods: number;
  entry: string;
  compactionIntervalMs: number;
  changesPerSec: number;
  log: (line: string) => void;
}

const MIB = 2 ** 20;
/** lib/forwarder/watcher.ts RelistCause, as the relists_total metric labels them. */
const RELIST_CAUSES = ['initial', 'gone', 'expired', 'unparsable', 'stalled', 'removed'] as const;
const PODS_PER_OWNER = 5;
const POD_CONFIG = 'trackedObjects:\n  v1.Pod: {}\n';

/** RSS of a bare Node 22 process serving HTTP (an idle server and a timer), after 3 s. */
async function bareNodeRssMiB(): Promise<number> {
  const child = spawn(
    process.execPath,
    ['-e', "require('node:http').createServer().listen(0,'127.0.0.1');setInterval(()=>{},1000)"],
    { stdio: 'ignore' },
  );
  try {
    await sleep(3000);
    return (await procSample(child.pid!)).rssBytes / MIB;
  } finally {
    child.kill();
  }
}

export async function benchScale(o: ScaleOptions): Promise<{ memory: BenchResult[]; scale: BenchResult[] }> {
  const flags = imageNodeFlags();
  const dir = await mkdtemp(join(tmpdir(), 'sktrace-bench-scale-'));
  const sim = await KubeSim.start({ compactionIntervalMs: o.compactionIntervalMs, requestLogLimit: 10_000 });
  const ingest = await CountingIngest.start({ changesPerSec: o.changesPerSec });
  const kubeconfigPath = await sim.writeKubeconfig(dir);
  const start = (inspect: boolean) =>
    startForwarder({
      entry: o.entry,
      dir,
      configYaml: POD_CONFIG,
      endpoint: ingest.url,
      cluster: 'bench',
      kubeconfigPath,
      inspect,
      nodeArgs: flags,
    });
  try {
    // Idle: the bundle against an empty cluster, and the bare Node floor.
    const bare: number[] = [];
    const idle: number[] = [];
    for (let run = 0; run < 3; run++) {
      bare.push(await bareNodeRssMiB());
      const fw = await start(false);
      await until(async () => (await fw.metric('sktrace_forwarder_kind_listed')) === 1, 60_000, 'idle list');
      await sleep(3000);
      idle.push((await fw.sample()).rssBytes / MIB);
      await fw.close();
    }
    o.log(
      `forwarder_memory: idle RSS ${median(idle).toFixed(1)} MiB; bare Node ${median(bare).toFixed(1)} MiB`,
    );

    const owners = Math.ceil(o.pods / PODS_PER_OWNER);
    const builtAt = performance.now();
    const podNames: string[] = [];
    for (let d = 0; d < owners; d++) {
      const dep = sim.apply(deployment(`ns-${d % 100}`, `app-${d}`));
      const rs = sim.apply(replicaSetFor(dep, 'x5d4f'));
      for (let p = 0; p < PODS_PER_OWNER && d * PODS_PER_OWNER + p < o.pods; p++) {
        const pod = sim.apply(realisticPod(rs, { envBytes: 1024 }));
        podNames.push(`${pod.metadata.namespace}/${pod.metadata.name}`);
      }
    }
    const podBytes = JSON.stringify(sim.list('v1.Pod')[0]).length;
    o.log(
      `forwarder_scale: ${o.pods} pods (${podBytes} B each), ${owners} ReplicaSets and Deployments built in ${((performance.now() - builtAt) / 1000).toFixed(0)} s`,
    );
    const requestsBefore = sim.requestCount;
    const connectionsBefore = sim.connectionCount;
    // A live cluster writes all the time (kubelets update pod status): without writes, compaction
    // would never pass the list's snapshot revision. 20 status updates per second, status only,
    // so they are watch events the forwarder reads and dedupes.
    let churned = 0;
    const churn = setInterval(() => {
      for (let k = 0; k < 2; k++) {
        const nsName = podNames[(churned * 7919) % podNames.length]!;
        sim.patchStatus('v1.Pod', nsName, runningStatus(1_700_000_000 + ++churned));
      }
    }, 100);
    const loadBefore = loadavg()[0]!;
    const fw = await start(true);
    const startedAt = performance.now();
    let peakMiB = 0;
    await until(
      async () => {
        peakMiB = Math.max(peakMiB, (await fw.sample()).rssBytes / MIB);
        return ingest.counts.relist > 0 && ingest.counts.applied >= o.pods;
      },
      1_800_000,
      'the pods list delivered',
      500,
    );
    const listSec = (performance.now() - startedAt) / 1000;
    clearInterval(churn);
    const rss: number[] = [];
    for (let i = 0; i < 5; i++) {
      await sleep(300);
      rss.push((await fw.sample()).rssBytes / MIB);
    }
    const gc = await fw.memoryAfterGc();
    // The pods' own list passes (the owner indexes' lists are counted under `<gvk> owners`).
    const relists = await fw.metric('sktrace_forwarder_relists_total', 'gvk="v1.Pod"');
    const expired = await fw.metric('sktrace_forwarder_relists_total', 'cause="expired"');
    // Why each pass of the pods happened (watcher.ts RelistCause): `initial` is the one expected.
    const causes: string[] = [];
    for (const cause of RELIST_CAUSES) {
      const n = await fw.metric('sktrace_forwarder_relists_total', ['gvk="v1.Pod"', `cause="${cause}"`]);
      if (n > 0) causes.push(`${cause}:${n}`);
    }
    const loadAfter = loadavg()[0]!;
    const ownerGets = await fw.metric('sktrace_forwarder_owner_gets_total');
    const requests = sim.requestCount - requestsBefore;
    const connections = sim.connectionCount - connectionsBefore;
    await fw.close();
    o.log(
      `forwarder_scale: list delivered in ${listSec.toFixed(0)} s (load average ${loadBefore.toFixed(1)} -> ${loadAfter.toFixed(1)}); ${relists} list passes (${causes.join(', ')}), ${requests} API requests on ${connections} TCP connections, ${ownerGets} owner GETs; RSS ${median(rss).toFixed(1)} MiB (peak ${peakMiB.toFixed(1)}), heap after GC ${(gc.heapUsedBytes / MIB).toFixed(1)} MiB, external ${(gc.externalBytes / MIB).toFixed(1)} MiB, RSS after GC ${(gc.rssBytes / MIB).toFixed(1)} MiB`,
    );
    const memParams = { variant: 'bundle', kind: 'Pod', objects: o.pods, owners, pod_bytes: podBytes };
    const memory = [
      resultOf(
        'forwarder_memory',
        { variant: 'bundle', kind: 'none', objects: 0, measure: 'rss_idle' },
        'MiB VmRSS idle (ratio to a bare Node 22 HTTP server)',
        idle,
        bare,
      ),
      resultOf(
        'forwarder_memory',
        { ...memParams, measure: 'rss', peak_rss_mib: sig(peakMiB) },
        'MiB VmRSS once the list is delivered (ratio to idle)',
        rss,
        idle,
      ),
      resultOf(
        'forwarder_memory',
        { ...memParams, measure: 'heap_after_gc', rss_after_gc_mib: sig(gc.rssBytes / MIB) },
        'MiB V8 heap used after a forced full GC (ratio to idle RSS)',
        [gc.heapUsedBytes / MIB],
        idle,
      ),
    ];
    const scale = [
      resultOf(
        'forwarder_scale',
        {
          variant: 'bundle',
          pods: o.pods,
          owners,
          compaction_interval_s: o.compactionIntervalMs / 1000,
          endpoint_changes_per_s: o.changesPerSec,
          status_updates_per_s: 20,
          full_list_passes: relists,
          expired_continue_passes: expired,
          list_pass_causes: causes.join(','),
          load_avg_1m: `${loadBefore.toFixed(1)}-${loadAfter.toFixed(1)}`,
          api_requests: requests,
          tcp_connections: connections,
          owner_gets: ownerGets,
          peak_rss_mib: sig(peakMiB),
        },
        's until the whole list is delivered (ratio to pods / endpoint rate)',
        [listSec],
        [o.pods / o.changesPerSec],
      ),
    ];
    return { memory, scale };
  } finally {
    await ingest.close();
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  }
}
