/**
 * The read side of the DynamoDB trace store, for exports. Every read drops items past their
 * `expiresAtSec` itself: DynamoDB's TTL deletes lazily (within days) and dynalite never does.
 */
import { compareBytewise } from '../../ingest/names.ts';
import { decodeBody } from '../../store/body-codec.ts';
import {
  BUCKET_SEC,
  bucketOf,
  CONFIG_LATEST_SK,
  configPk,
  eventPk,
  eventSkRange,
  lifecyclePk,
  padTs,
  parseLifecycleSk,
} from '../../store/keys.ts';
import { groupConsecutive, mergeSorted } from '../../store/merge.ts';
import type { ClusterId, ReadMeter, StoredConfig, StoredOwnerLifecycles } from '../../store/ports.ts';
import { overlapsWindow } from '../../trace/lifecycle.ts';
import type { Lifecycle, ObjectChange, TraceConfigDoc, TraceWindow } from '../../trace/model.ts';
import type { StoreContext } from './context.ts';
import type { Item } from './io.ts';
import { isExpired, num, parseBody, parseEventItem, s, str } from './items.ts';
import { readHorizon } from './meta.ts';

/** A stored change with the sender's seq (liveAt and checkpoints order changes of one second by it). */
export interface SeqChange {
  change: ObjectChange;
  seq: number;
}

const NOT_EXPIRED = 'attribute_not_exists(#exp) OR #exp > :now';

export class TraceReaderCore {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async *changesBetween(
    cluster: ClusterId,
    fromTs: number,
    toTs: number,
    meter: ReadMeter,
  ): AsyncGenerator<ObjectChange> {
    for await (const c of this.changesWithSeq(cluster, fromTs, toTs, meter)) yield c.change;
  }

  /**
   * Changes with `fromTs <= ts < toTs`: bucket by bucket, the shards of a bucket queried together
   * and merged by ts; within a second ordered by the sender's seq (the order it saw the changes),
   * then GVK and nsName. Holds one page per shard plus one second's changes in memory.
   */
  async *changesWithSeq(
    cluster: ClusterId,
    fromTs: number,
    toTs: number,
    meter: ReadMeter,
  ): AsyncGenerator<SeqChange> {
    // Nothing is stored before the cluster's first change: don't walk empty buckets back to 1970.
    const { firstTs } = await readHorizon(this.#ctx, cluster, meter);
    if (firstTs === undefined) return;
    const from = Math.max(fromTs, firstTs);
    // An empty range would make `BETWEEN :lo AND :hi` invalid (lo > hi is a ValidationException).
    if (from >= toTs) return;
    const { shards } = this.#ctx.settings;
    const nowSec = this.#ctx.nowSec();
    for (let bucket = bucketOf(from); bucket < toTs; bucket += BUCKET_SEC) {
      const { lo, hi } = eventSkRange(Math.max(from, bucket), Math.min(toTs, bucket + BUCKET_SEC));
      const sources = Array.from({ length: shards }, (_, shard) =>
        this.#ctx.io.query(
          {
            KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
            FilterExpression: NOT_EXPIRED,
            ExpressionAttributeNames: { '#exp': 'expiresAtSec' },
            ExpressionAttributeValues: {
              ':pk': s(eventPk(cluster, bucket, shard)),
              ':lo': s(lo),
              ':hi': s(hi),
              ':now': { N: String(nowSec) },
            },
          },
          meter,
        ),
      );
      // The first 10 characters of an event sk are its zero-padded second.
      const bySecond = groupConsecutive(
        mergeSorted(sources, (a, b) => compareTsPrefix(str(a, 'sk') ?? '', str(b, 'sk') ?? '')),
        (item) => (str(item, 'sk') ?? '').slice(0, 10),
      );
      for await (const second of bySecond) {
        const records = second.map(parseEventItem);
        records.sort(
          (a, b) => a.seq - b.seq || compareBytewise(a.gvk, b.gvk) || compareBytewise(a.nsName, b.nsName),
        );
        for (const r of records) {
          const payload = await this.#ctx.bodies.loadPayload(cluster, r.body);
          yield { change: { ts: r.ts, type: r.type, object: payload.o, owners: payload.w }, seq: r.seq };
        }
      }
    }
  }

  /**
   * Lifecycles by owner, then pod-spec hash (both in key order, shards merged), each list in launch
   * order (start, then pod id). With `window`, only lifecycles overlapping it, and groups left empty
   * are skipped.
   */
  async *lifecycles(
    cluster: ClusterId,
    window: TraceWindow | undefined,
    meter: ReadMeter,
  ): AsyncGenerator<StoredOwnerLifecycles> {
    const nowSec = this.#ctx.nowSec();
    const sources = Array.from({ length: this.#ctx.settings.shards }, (_, shard) =>
      this.#ctx.io.query(
        {
          KeyConditionExpression: 'pk = :pk',
          FilterExpression: NOT_EXPIRED,
          ExpressionAttributeNames: { '#exp': 'expiresAtSec' },
          ExpressionAttributeValues: { ':pk': s(lifecyclePk(cluster, shard)), ':now': { N: String(nowSec) } },
        },
        meter,
      ),
    );
    const groupKey = (item: Item) => {
      const sk = str(item, 'sk') ?? '';
      const k = parseLifecycleSk(sk);
      return `${k.gvk} ${k.nsName} ${k.podSpecHash}`;
    };
    const merged = mergeSorted(sources, (a, b) => compareBytewise(str(a, 'sk') ?? '', str(b, 'sk') ?? ''));
    for await (const group of groupConsecutive(merged, groupKey)) {
      const first = parseLifecycleSk(str(group[0]!, 'sk') ?? '');
      const entries = group.map((item) => {
        const end = num(item, 'endTs');
        const lc: Lifecycle = {
          startTs: num(item, 'startTs') ?? 0,
          ...(end !== undefined ? { endTs: end } : {}),
        };
        return { lc, pod: parseLifecycleSk(str(item, 'sk') ?? '').pod };
      });
      entries.sort((a, b) => a.lc.startTs - b.lc.startTs || compareBytewise(a.pod, b.pod));
      const lifecycles = entries
        .map((e) => e.lc)
        .filter((lc) => window === undefined || overlapsWindow(lc, window));
      if (lifecycles.length === 0) continue;
      yield { owner: { gvk: first.gvk, nsName: first.nsName }, podSpecHash: first.podSpecHash, lifecycles };
    }
  }

  /** The latest config posted at or before `atTs`; the never-expiring latest covers expired history. */
  async configAt(cluster: ClusterId, atTs: number, meter: ReadMeter): Promise<StoredConfig | undefined> {
    const nowSec = this.#ctx.nowSec();
    const pk = configPk(cluster);
    for await (const item of this.#ctx.io.query(
      {
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
        ExpressionAttributeValues: { ':pk': s(pk), ':lo': s(padTs(0)), ':hi': s(padTs(atTs)) },
        ScanIndexForward: false,
        Limit: 1,
      },
      meter,
    )) {
      if (!isExpired(item, nowSec)) return configOf(item);
    }
    const latest = await this.#ctx.io.get({ pk, sk: CONFIG_LATEST_SK }, meter);
    if (latest && (num(latest, 'ts') ?? Number.POSITIVE_INFINITY) <= atTs) return configOf(latest);
    return undefined;
  }
}

function configOf(item: Item): StoredConfig {
  const body = parseBody(item);
  const config = body?.bytes ? (decodeBody(body.bytes, body.enc) as TraceConfigDoc) : { trackedObjects: {} };
  return { ts: num(item, 'ts') ?? 0, config };
}

/** Event sort keys start with the zero-padded second: merge shards on that alone. */
function compareTsPrefix(a: string, b: string): number {
  const x = a.slice(0, 10);
  const y = b.slice(0, 10);
  return x < y ? -1 : x > y ? 1 : 0;
}
