/**
 * The pod-lifecycle read of an export alone (`lifecycles(cluster, window)`), by its read units:
 * one cluster with only the window's lifecycles (`lifecycle_history` 0x) and one with ten times as
 * many older ones, finished over the week before the window (10x). The window's lifecycles go
 * through `applyBatch`; the older ones are bulk-loaded as the very items the writer makes for a
 * finished lifecycle (the owner-keyed item and the end-hour item), with BatchWriteItem.
 * Floor: the 0x read. The whole read (every lifecycle item, what every export paid before) is in
 * the 10x row's params for scale.
 */
import {
  BatchWriteItemCommand,
  type BatchWriteItemCommandOutput,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import type { LifecycleChange } from '../../lib/ingest/wire.ts';
import {
  bucketOf,
  lifecycleEndPk,
  lifecycleEndSk,
  lifecyclePk,
  lifecycleSk,
  shardOf,
} from '../../lib/store/keys.ts';
import type { ReadMeter } from '../../lib/store/ports.ts';
import { type BenchResult, resultOf } from '../result.ts';
import { BENCH_RETENTION_DAYS, BENCH_SHARDS, benchTraceStore, type ChildAws } from './aws.ts';

const HOUR = 3600;
const OWNER_GVK = 'apps/v1.ReplicaSet';

function owner(i: number): string {
  return `bench/rs-${String(i % 200).padStart(4, '0')}`;
}

export async function benchLifecycles(
  aws: ChildAws,
  startTs: number,
  quick: boolean,
  log: (line: string) => void,
): Promise<BenchResult[]> {
  const inWindow = quick ? 200 : 2000;
  const store = benchTraceStore(aws);
  const nowSec = Math.floor(Date.now() / 1000);
  const window = { startTs, endTs: startTs + HOUR };
  const windowLifecycles = (): LifecycleChange[] =>
    Array.from({ length: inWindow }, (_, i) => {
      const start = startTs - 600 + Math.floor((i * HOUR) / inWindow);
      return {
        type: 'lifecycle',
        ts: start,
        owner: { gvk: OWNER_GVK, ns_name: owner(i) },
        pod: `bench/pod-w${i}`,
        pod_spec_hash: String(1000 + (i % 7)),
        start_ts: start,
        // A quarter still running; the rest ran 20 minutes.
        ...(i % 4 === 0 ? {} : { end_ts: start + 1200 }),
      };
    });
  const measured = new Map<string, { units: number[]; whole: number }>();
  for (const history of [0, 10]) {
    // Named by the run's clock: a kept seed cache (BENCH_EXPORT_DATA_DIR) must not mix two runs' lifecycles.
    const cluster = `lifecycles-h${history}-${nowSec}`;
    const changes = windowLifecycles();
    for (let i = 0; i < changes.length; i += 500) {
      await store.applyBatch(cluster, { changes: changes.slice(i, i + 500) }, { nowSec });
    }
    const older = history * inWindow;
    const requests: WriteRequest[] = [];
    for (let i = 0; i < older; i++) {
      const start = startTs - 7 * 86_400 + Math.floor((i * 6 * 86_400) / older);
      const end = start + 1200;
      const o = owner(i);
      const hash = BigInt(1000 + (i % 7));
      const pod = `bench/pod-o${i}`;
      const expiresAtSec = { N: String(Math.max(end, nowSec) + BENCH_RETENTION_DAYS * 86_400) };
      requests.push({
        PutRequest: {
          Item: {
            pk: { S: lifecyclePk(cluster, shardOf(OWNER_GVK, o, BENCH_SHARDS)) },
            sk: { S: lifecycleSk(OWNER_GVK, o, hash, pod, start) },
            startTs: { N: String(start) },
            endTs: { N: String(end) },
            ts: { N: String(end) },
            expiresAtSec,
          },
        },
      });
      requests.push({
        PutRequest: {
          Item: {
            pk: { S: lifecycleEndPk(cluster, bucketOf(end)) },
            sk: { S: lifecycleEndSk(start, OWNER_GVK, o, hash, pod) },
            ownerGvk: { S: OWNER_GVK },
            ownerNsName: { S: o },
            podSpecHash: { S: hash.toString() },
            pod: { S: pod },
            startTs: { N: String(start) },
            endTs: { N: String(end) },
            expiresAtSec,
          },
        },
      });
    }
    for (let i = 0; i < requests.length; i += 25) {
      let pending: WriteRequest[] | undefined = requests.slice(i, i + 25);
      while (pending && pending.length > 0) {
        const out: BatchWriteItemCommandOutput = await aws.dynamo.send(
          new BatchWriteItemCommand({ RequestItems: { [aws.tableName]: pending } }),
        );
        pending = out.UnprocessedItems?.[aws.tableName];
      }
    }
    const units: number[] = [];
    let groups = 0;
    for (let r = 0; r < 5; r++) {
      const meter: ReadMeter = { readUnits: 0 };
      groups = 0;
      for await (const _ of store.lifecycles(cluster, window, meter)) groups++;
      units.push(meter.readUnits);
    }
    const wholeMeter: ReadMeter = { readUnits: 0 };
    for await (const _ of store.lifecycles(cluster, undefined, wholeMeter)) {
      /* the whole read, for scale */
    }
    measured.set(`${history}x`, { units, whole: wholeMeter.readUnits });
    log(
      `lifecycles ${inWindow} in the window, ${older} older: ${units[0]} RCU by window (${groups} groups), ${wholeMeter.readUnits} RCU whole`,
    );
  }
  const base = measured.get('0x')!;
  return ['0x', '10x'].map((h) => {
    const m = measured.get(h)!;
    return resultOf(
      'export',
      {
        metric: 'lifecycle_read_units',
        lifecycle_history: h,
        window_lifecycles: inWindow,
        whole_read_rcu: m.whole,
      },
      'RCU',
      m.units,
      base.units,
    );
  });
}
