/**
 * Per-cluster metadata kept beside the data (partition `META#<cluster>`):
 * - `FIRST`: the oldest change ts ever ingested (history starts there);
 * - `EXP#<hour>`: for history items expiring within that hour, the latest ts they hold, rounded up
 *   to the end of its hour. Once that hour has begun, items up to that ts may be gone, so history
 *   is complete only after it: the retention horizon is `max(FIRST, max over begun hours of EXP + 1)`;
 * - `KIND#<gvk>`: the kinds with state items (the checkpointer reads the live set kind by kind);
 * - `LATE#<ingestSec>#<minTs>`: batches holding changes older than the late margin (imports, long
 *   outages): checkpoints built before they arrived may lack those changes and are skipped.
 * Watermarks only move one way, so the writer caches what it has stored and skips writes that
 * would not change anything: in steady state this is about one write per cluster per hour.
 *
 * Plus the cluster registry (partition `CLUSTERS`, one item per cluster, sort key the cluster id):
 * the scheduled checkpoint function lists it with one Query instead of a Scan or a configured
 * list that can miss a cluster. Written like `KIND#…`: a conditional first write per cluster per
 * container, so it costs nothing per batch afterwards.
 */

import { isValidClusterId } from '../../ingest/names.ts';
import { StoreError } from '../../store/errors.ts';
import { META_FIRST_SK, metaExpirySk, metaKindSk, metaLateSk, metaPk, padTs } from '../../store/keys.ts';
import type { ClusterId, ReadMeter, RetentionHorizon } from '../../store/ports.ts';
import type { Gvk } from '../../trace/model.ts';
import { itemAbsent, numberAbsentOr } from './conditions.ts';
import type { StoreContext } from './context.ts';
import type { CapacityMeter } from './io.ts';
import { n, num, s, str } from './items.ts';

const DAY_SEC = 86_400;
const HOUR_SEC = 3_600;
/** Granularity of expiry watermarks: an hour of expiry times per item (24 small items a day per cluster). */
const EXPIRY_BUCKET_SEC = HOUR_SEC;

/**
 * Partition of the cluster registry. No `#`, so it can equal no other item's key (every other
 * partition key is `<TYPE>#…`); its items never expire: a cluster stays checkpointed while its
 * live objects' state items (which never expire either) can still be exported.
 */
export const CLUSTER_REGISTRY_PK = 'CLUSTERS';

export interface BatchMetaInput {
  /** ts of every change that may write history (applied, deleted, relist pages, finished lifecycles). */
  historyTs: { ts: number; expiresAtSec: number }[];
  /** The oldest change ts of the batch that can become an event. */
  minEventTs: number | undefined;
  kinds: Set<Gvk>;
  nowSec: number;
}

export class ClusterMeta {
  readonly #ctx: StoreContext;
  readonly #first = new Map<ClusterId, number>();
  readonly #expiry = new Map<string, number>();
  readonly #kinds = new Set<string>();
  readonly #registered = new Set<ClusterId>();

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  /** Records what a batch is about to write. Runs before the data writes, so no reader sees untracked history. */
  async recordBatch(cluster: ClusterId, input: BatchMetaInput, meter: CapacityMeter): Promise<void> {
    const io = this.#ctx.io;
    const pk = metaPk(cluster);
    const writes: Promise<unknown>[] = [];

    // Before any data, like the rest of the metadata: a cluster with history is always listed.
    if (!this.#registered.has(cluster)) {
      writes.push(
        io.put({ pk: s(CLUSTER_REGISTRY_PK), sk: s(cluster) }, itemAbsent(), meter).then(() => {
          this.#registered.add(cluster);
        }),
      );
    }

    for (const gvk of input.kinds) {
      const cacheKey = `${cluster} ${gvk}`;
      if (this.#kinds.has(cacheKey)) continue;
      writes.push(
        io.put({ pk: s(pk), sk: s(metaKindSk(gvk)), gvk: s(gvk) }, itemAbsent(), meter).then(() => {
          this.#kinds.add(cacheKey);
        }),
      );
    }

    if (input.minEventTs !== undefined) {
      const minTs = input.minEventTs;
      const cached = this.#first.get(cluster);
      if (cached === undefined || cached > minTs) {
        writes.push(
          io
            .update(
              { pk, sk: META_FIRST_SK },
              {
                expression: 'SET #firstTs = :firstTs',
                names: { '#firstTs': 'firstTs' },
                values: { ':firstTs': n(minTs) },
              },
              numberAbsentOr('firstTs', '>', minTs),
              meter,
            )
            .then(() => {
              // Either way the stored value is now <= minTs.
              this.#first.set(cluster, minTs);
            }),
        );
      }
      // Late batch: record it for the checkpoint validity check.
      if (minTs < input.nowSec - this.#ctx.settings.lateMarginSec) {
        writes.push(
          io.put(
            {
              pk: s(pk),
              sk: s(metaLateSk(input.nowSec, minTs)),
              minTs: n(minTs),
              expiresAtSec: n(input.nowSec + Math.round(this.#ctx.settings.retentionDays * DAY_SEC)),
            },
            undefined,
            meter,
          ),
        );
      }
    }

    const perDay = new Map<number, number>();
    for (const { ts, expiresAtSec } of input.historyTs) {
      const day = Math.floor(expiresAtSec / EXPIRY_BUCKET_SEC) * EXPIRY_BUCKET_SEC;
      const upTo = (Math.floor(ts / HOUR_SEC) + 1) * HOUR_SEC - 1;
      perDay.set(day, Math.max(perDay.get(day) ?? -1, upTo));
    }
    for (const [day, upTo] of perDay) {
      const cacheKey = `${cluster} ${day}`;
      if ((this.#expiry.get(cacheKey) ?? -1) >= upTo) continue;
      writes.push(
        io
          .update(
            { pk, sk: metaExpirySk(day) },
            {
              expression: 'SET #maxTs = :maxTs',
              names: { '#maxTs': 'maxTs' },
              values: { ':maxTs': n(upTo) },
            },
            numberAbsentOr('maxTs', '<', upTo),
            meter,
          )
          .then(() => {
            this.#expiry.set(cacheKey, upTo);
          }),
      );
    }
    await Promise.all(writes);
  }
}

export async function readHorizon(
  ctx: StoreContext,
  cluster: ClusterId,
  meter: ReadMeter,
): Promise<RetentionHorizon> {
  const pk = metaPk(cluster);
  const first = await ctx.io.get({ pk, sk: META_FIRST_SK }, meter);
  const firstTs = first ? num(first, 'firstTs') : undefined;
  if (firstTs === undefined) return {};
  const nowSec = ctx.nowSec();
  let expiredUpTo = -1;
  for await (const item of ctx.io.query(
    {
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
      ExpressionAttributeValues: { ':pk': s(pk), ':lo': s(metaExpirySk(0)), ':hi': s(metaExpirySk(nowSec)) },
    },
    meter,
  )) {
    expiredUpTo = Math.max(expiredUpTo, num(item, 'maxTs') ?? -1);
  }
  return { firstTs, horizonTs: Math.max(firstTs, expiredUpTo + 1) };
}

export async function readKinds(ctx: StoreContext, cluster: ClusterId, meter: ReadMeter): Promise<Gvk[]> {
  const kinds: Gvk[] = [];
  for await (const item of ctx.io.query(
    {
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': s(metaPk(cluster)), ':prefix': s('KIND#') },
    },
    meter,
  )) {
    const gvk = str(item, 'gvk');
    if (gvk !== undefined) kinds.push(gvk);
  }
  return kinds;
}

/** Late batches ingested at or after `sinceSec`, with the oldest change ts each held. */
export async function readLateBatches(
  ctx: StoreContext,
  cluster: ClusterId,
  sinceSec: number,
  meter: ReadMeter,
): Promise<{ ingestSec: number; minTs: number }[]> {
  const out: { ingestSec: number; minTs: number }[] = [];
  for await (const item of ctx.io.query(
    {
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
      ExpressionAttributeValues: {
        ':pk': s(metaPk(cluster)),
        ':lo': s(`LATE#${padTs(Math.max(0, sinceSec))}`),
        ':hi': s('LATE#~'),
      },
    },
    meter,
  )) {
    const sk = str(item, 'sk') ?? '';
    out.push({ ingestSec: Number(sk.slice(5, 15)), minTs: num(item, 'minTs') ?? 0 });
  }
  return out;
}

/** The cluster registry, by id (one Query on one small partition). */
export async function readClusters(ctx: StoreContext, meter: ReadMeter): Promise<ClusterId[]> {
  const clusters: ClusterId[] = [];
  for await (const item of ctx.io.query(
    {
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': s(CLUSTER_REGISTRY_PK) },
    },
    meter,
  )) {
    const cluster = str(item, 'sk');
    // Only the writer adds items, after assertCluster; anything else was put there by hand and
    // would scope keys wrongly, so it stops the caller rather than being skipped unseen.
    if (!isValidClusterId(cluster)) {
      throw new StoreError('store_corrupt_item', `cluster registry item "${cluster}" is not a cluster id`, {
        pk: CLUSTER_REGISTRY_PK,
        sk: cluster,
      });
    }
    clusters.push(cluster);
  }
  return clusters;
}
