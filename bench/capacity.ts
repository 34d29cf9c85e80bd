/**
 * Capacity on paper, checked by simulation: the store's real key functions (lib/store/keys.ts)
 * applied to a synthetic change stream, counting per partition the write and read units the
 * writer (lib/aws/trace-store/writer.ts) and an export spend, per second. Reports the hottest
 * partition of each kind against DynamoDB's per-partition limits (1,000 WCU/s, 3,000 RCU/s).
 *
 * Workload per cluster: objects of a 5,000-node cluster's mix (Pods 70 %, ReplicaSets 10 %,
 * ConfigMaps 8 %, Deployments 5 %, Services 4 %, others 3 %), each change a spec change of a
 * typical body (< 1 KB compressed: 1 WCU per item); 20 % of Pod changes start or finish a pod's
 * lifecycle. Per change (docs/storage.md "Writes"): event item 1 WCU, state item 1 WCU, state read
 * 1 RCU (strongly consistent BatchGetItem, per object per batch); a lifecycle start: index read
 * 1 RCU, lifecycle item 1 WCU, index entry 1 WCU; a finish: index read 1 RCU, lifecycle item 1 WCU,
 * end-hour item 1 WCU, index delete 1 WCU. An export reading the current hour at the measured read
 * rate (docs/benchmarks.md) adds its RCU to the event partitions.
 *
 * `npx tsx bench/capacity.ts` prints the markdown table of docs/storage.md "Capacity by partition".
 */
import {
  bucketOf,
  eventPk,
  lifecycleEndPk,
  lifecyclePk,
  metaPk,
  runningLifecyclePk,
  shardOf,
  statePk,
} from '../lib/store/keys.ts';

const KINDS: [string, number][] = [
  ['v1.Pod', 0.7],
  ['apps/v1.ReplicaSet', 0.1],
  ['v1.ConfigMap', 0.08],
  ['apps/v1.Deployment', 0.05],
  ['v1.Service', 0.04],
  ['batch/v1.Job', 0.03],
];
const OBJECTS_PER_CLUSTER = 50_000;
const LIFECYCLE_SHARE = 0.2;
/** Changes per batch (the forwarder's default batching); one META write per batch is not counted (cached). */
const SECONDS = 5;

interface Scenario {
  name: string;
  clusters: number;
  changesPerSec: number;
  shards: number;
  /** Export read rate in items/s (measured), one export per cluster running at once; 0 for none. */
  exportItemsPerSec: number;
}

interface Tally {
  wcu: Map<string, number>;
  rcu: Map<string, number>;
}

function add(m: Map<string, number>, key: string, units: number): void {
  m.set(key, (m.get(key) ?? 0) + units);
}

/** A deterministic stream of (kind, name) choices. */
function* picks(seed: number): Generator<{ gvk: string; nsName: string; r: number }> {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
  for (;;) {
    let u = next();
    let gvk = KINDS[KINDS.length - 1]![0];
    for (const [k, share] of KINDS) {
      if (u < share) {
        gvk = k;
        break;
      }
      u -= share;
    }
    yield {
      gvk,
      nsName: `ns-${Math.floor(next() * 50)}/obj-${Math.floor(next() * OBJECTS_PER_CLUSTER)}`,
      r: next(),
    };
  }
}

function simulate(s: Scenario, startTs: number): Tally {
  const t: Tally = { wcu: new Map(), rcu: new Map() };
  for (let c = 0; c < s.clusters; c++) {
    const cluster = `cluster-${c}`;
    const stream = picks(c + 1);
    for (let sec = 0; sec < SECONDS; sec++) {
      const ts = startTs + sec;
      for (let i = 0; i < s.changesPerSec; i++) {
        const { gvk, nsName, r } = stream.next().value!;
        add(t.wcu, eventPk(cluster, bucketOf(ts), shardOf(gvk, nsName, s.shards)), 1);
        add(t.wcu, statePk(cluster, gvk), 1);
        add(t.rcu, statePk(cluster, gvk), 1);
        if (gvk === 'v1.Pod' && r < LIFECYCLE_SHARE) {
          const owner = `apps/v1.ReplicaSet ${nsName}-rs`;
          add(t.rcu, runningLifecyclePk(cluster), 1);
          add(t.wcu, lifecyclePk(cluster, shardOf('apps/v1.ReplicaSet', owner, s.shards)), 1);
          if (r < LIFECYCLE_SHARE / 2) {
            add(t.wcu, runningLifecyclePk(cluster), 1);
          } else {
            add(t.wcu, lifecycleEndPk(cluster, bucketOf(ts)), 1);
            add(t.wcu, runningLifecyclePk(cluster), 1);
          }
        }
      }
      add(t.wcu, metaPk(cluster), 0);
      if (s.exportItemsPerSec > 0) {
        // An export of the current hour: its items read evenly over the shards, ~1 KB each,
        // strongly consistent: 1 RCU per 4 KB.
        for (let shard = 0; shard < s.shards; shard++) {
          add(t.rcu, eventPk(cluster, bucketOf(ts), shard), s.exportItemsPerSec / s.shards / 4);
        }
      }
    }
  }
  return t;
}

function hottest(m: Map<string, number>, prefix: string): { key: string; perSec: number } {
  let best = { key: '-', perSec: 0 };
  for (const [key, units] of m) {
    if (key.startsWith(prefix) && units / SECONDS > best.perSec) best = { key, perSec: units / SECONDS };
  }
  return best;
}

export function capacityTable(scenarios: Scenario[]): string {
  const startTs = 1_700_000_000;
  const rows = [
    '| scenario | partition | hottest WCU/s | of 1,000 | hottest RCU/s | of 3,000 |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const s of scenarios) {
    const t = simulate(s, startTs);
    for (const [label, prefix] of [
      ['events `EV#`', 'EV#'],
      ['state `OBJ#` (Pods)', 'OBJ#'],
      ['lifecycles `LC#`', 'LC#'],
      ['lifecycle end hours `LCE#`', 'LCE#'],
      ['running index `RUNLC#`', 'RUNLC#'],
    ] as const) {
      const w = hottest(t.wcu, prefix);
      const r = hottest(t.rcu, prefix);
      rows.push(
        `| ${s.name} | ${label} | ${Math.round(w.perSec)} | ${(w.perSec / 1000).toFixed(2)} | ${Math.round(r.perSec)} | ${(r.perSec / 3000).toFixed(2)} |`,
      );
    }
  }
  return rows.join('\n');
}

if (process.argv[1]?.endsWith('capacity.ts')) {
  const exportRate = Number(process.env.EXPORT_ITEMS_PER_SEC ?? 10_000);
  process.stdout.write(
    `${capacityTable([
      {
        name: '1,000 clusters × 100 changes/s, 4 shards',
        clusters: 1000,
        changesPerSec: 100,
        shards: 4,
        exportItemsPerSec: 0,
      },
      {
        name: '1 cluster × 5,000 changes/s, 4 shards, one export',
        clusters: 1,
        changesPerSec: 5000,
        shards: 4,
        exportItemsPerSec: exportRate,
      },
      {
        name: '1 cluster × 5,000 changes/s, 8 shards, one export',
        clusters: 1,
        changesPerSec: 5000,
        shards: 8,
        exportItemsPerSec: exportRate,
      },
    ])}\n`,
  );
}
