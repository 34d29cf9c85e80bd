/**
 * The read side of the DynamoDB trace store, for exports. Every read drops items past their
 * `expiresAtSec` itself: DynamoDB's TTL deletes lazily (within days) and dynalite never does.
 */
import { compareBytewise } from '../../ingest/names.ts';
import { decodeBody, transcodeObjectBody } from '../../store/body-codec.ts';
import type { CapturePlan } from '../../store/json-msgpack.ts';
import {
  BUCKET_SEC,
  bucketOf,
  CONFIG_LATEST_SK,
  configPk,
  eventPk,
  eventSkRange,
  lifecycleEndPk,
  lifecyclePk,
  META_LIFECYCLE_LAYOUT_SK,
  metaChangeCountSk,
  metaPk,
  padTs,
  padU64,
  parseLifecycleSk,
  runningLifecyclePk,
  shardOf,
} from '../../store/keys.ts';
import { forEachLimit, groupConsecutive, mergeSorted } from '../../store/merge.ts';
import type {
  ChangeReadOptions,
  ClusterId,
  ReadMeter,
  StoredConfig,
  StoredOwnerLifecycles,
} from '../../store/ports.ts';
import { overlapsWindow } from '../../trace/lifecycle.ts';
import type { Lifecycle, ObjectChange, ObjectRef, TraceConfigDoc, TraceWindow } from '../../trace/model.ts';
import { type ObjectPayload, payloadOf } from './bodies.ts';
import type { StoreContext } from './context.ts';
import type { Item } from './io.ts';
import { isExpired, num, parseBody, parseEventItem, s, str } from './items.ts';
import { mergedSeconds } from './merge-seconds.ts';
import { readHorizon } from './meta.ts';
import { PagePrefetch } from './prefetch.ts';

/** A stored change with the sender's seq (liveAt and checkpoints order changes of one second by it). */
export interface SeqChange {
  change: ObjectChange;
  seq: number;
}

const NOT_EXPIRED = 'attribute_not_exists(#exp) OR #exp > :now';
/**
 * Lifecycles finished up to this long after a cluster's layout record was written may lack
 * end-hour items (a batch in flight on the previous version, a sender's clock ahead).
 */
const LAYOUT_MARGIN_SEC = 900;
/** End-hour partitions queried at once (a window of a day with long pods spans hundreds). */
const LIFECYCLE_HOUR_QUERIES = 8;
/** Owners looked up at once (bare pods alive at a window's start). */
const OWNER_QUERIES = 16;

interface PodLifecycle {
  lc: Lifecycle;
  pod: string;
}

/** Pages each shard's Query runs ahead of the merge. */
const PREFETCH_PAGES = 2;
/**
 * Items per page of the window's event Queries (and the replay's), where DynamoDB's own cap is
 * 1 MB: ~0.8 MB of ~1 KB objects instead of ~1.17 MB. Measured, as the export job runs
 * (docs/benchmarks.md "Session 10", "Session 11"): peak RSS at 1,000,000 changes 170–188 against
 * 197–221 MB, at 10,000 the same (139 against 140–144 MB); export CPU within the runs' noise since
 * pages are parsed in groups (query-json.ts; before, a 0.8 MB page's text cost 2.5 ms of fresh
 * pages in V8's large-object space). Less is held in flight — `PREFETCH_PAGES` per shard of two
 * buckets, each page's bytes and parsed items — which is the likely reason, not one isolated.
 * ~1.7× the requests for the same read units (rounded up per request: < 1 RCU more per page).
 */
export const EVENT_PAGE_ITEMS = 600;
/** Changes per batch handed to the export. */
const BATCH_CHANGES = 512;

/**
 * An event item as the merge needs it: its key fields parsed, its body not decoded yet. Bodies are
 * decoded when the change is handed out (`changeOf`), not when the page arrives: a prefetched page
 * of decoded objects is ~8× its 1 MB of items in heap, and 4 shards × 2 pages ahead of 2 buckets
 * held ~100 MB of them at 100,000 changes, long-lived enough to be promoted and collected by full
 * GCs; decoded at hand-out they live for one batch (docs/benchmarks.md "export"). A blob body's
 * download is started on arrival, off the merge's path.
 */
interface PendingEvent {
  ts: number;
  seq: number;
  gvk: string;
  nsName: string;
  type: ObjectChange['type'];
  bytes?: Uint8Array;
  enc: string;
  blob?: Promise<ObjectPayload>;
}

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
    for await (const batch of this.changeBatchesWithSeq(cluster, fromTs, toTs, meter)) {
      for (const c of batch) yield c.change;
    }
  }

  /** changesBetween in batches (one await per batch instead of per change: 1 M changes are 1 M awaits). */
  async *changeBatches(
    cluster: ClusterId,
    fromTs: number,
    toTs: number,
    meter: ReadMeter,
    options: ChangeReadOptions = {},
  ): AsyncGenerator<ObjectChange[]> {
    for await (const batch of this.changeBatchesWithSeq(cluster, fromTs, toTs, meter, options)) {
      yield batch.map((c) => c.change);
    }
  }

  async *changesWithSeq(
    cluster: ClusterId,
    fromTs: number,
    toTs: number,
    meter: ReadMeter,
  ): AsyncGenerator<SeqChange> {
    for await (const batch of this.changeBatchesWithSeq(cluster, fromTs, toTs, meter)) yield* batch;
  }

  /**
   * Changes with `fromTs <= ts < toTs`, in batches: bucket by bucket, the shards of a bucket queried
   * together (and the next bucket's started meanwhile, `eventSources`), each shard's pages
   * fetched and decoded ahead of the merge; merged by ts; within a second ordered by the sender's
   * seq (the order it saw the changes), then GVK and nsName. Memory: PREFETCH_PAGES pages per
   * shard of two buckets, plus one second's changes. With `options.encodedObjects`, inline bodies
   * are handed out transcoded (`changeOf`), the plan awaited once the first pages are asked for.
   */
  async *changeBatchesWithSeq(
    cluster: ClusterId,
    fromTs: number,
    toTs: number,
    meter: ReadMeter,
    options: ChangeReadOptions = {},
  ): AsyncGenerator<SeqChange[]> {
    const decode = (items: Item[]) => this.#parseEvents(cluster, items);
    let plan: CapturePlan | undefined;
    let planKnown = options.encodedObjects === undefined;
    for await (const sources of this.eventSources(cluster, fromTs, toTs, meter, decode)) {
      let out: SeqChange[] = [];
      for await (const second of mergedSeconds(sources)) {
        // The plan is awaited once the first pages are in: the config read and they overlap.
        if (!planKnown) {
          plan = await options.encodedObjects;
          planKnown = true;
        }
        for (const r of second) {
          // An await only for a blob body: one per change would cost a microtask tick each.
          const change = changeOf(r, cluster, plan);
          out.push({ change: change instanceof Promise ? await change : change, seq: r.seq });
        }
        if (out.length >= BATCH_CHANGES) {
          yield out;
          out = [];
        }
      }
      // A bucket with no changes still settles the plan, as one with changes would have.
      if (!planKnown) {
        plan = await options.encodedObjects;
        planKnown = true;
      }
      if (out.length > 0) yield out;
    }
  }

  /**
   * The window's raw event pages with exactly the Queries and parallelism of changeBatchesWithSeq,
   * nothing decoded: the benchmark's read floor (bench/support/export-child.ts).
   */
  async *rawEventPages(
    cluster: ClusterId,
    fromTs: number,
    toTs: number,
    meter: ReadMeter,
  ): AsyncGenerator<Item[]> {
    for await (const sources of this.eventSources(cluster, fromTs, toTs, meter, (items) => items)) {
      for (const src of sources) {
        for (let page = await src.next(); page !== undefined; page = await src.next()) yield page;
      }
    }
  }

  /**
   * Per hour bucket of `[fromTs, toTs)` (from the cluster's first change on), one prefetching
   * source per shard; the next bucket's sources start when this one's are handed out, so the
   * Queries of two buckets (2 × shards) run at once and a bucket boundary costs no round trip.
   * Public for the live-set replay (replay.ts), which keeps pages as stored versions.
   */
  async *eventSources<T>(
    cluster: ClusterId,
    fromTs: number,
    toTs: number,
    meter: ReadMeter,
    map: (items: Item[]) => T[] | Promise<T[]>,
  ): AsyncGenerator<PagePrefetch<T>[]> {
    // Nothing is stored before the cluster's first change: don't walk empty buckets back to 1970.
    const { firstTs } = await readHorizon(this.#ctx, cluster, meter);
    if (firstTs === undefined) return;
    const from = Math.max(fromTs, firstTs);
    // An empty range would make `BETWEEN :lo AND :hi` invalid (lo > hi is a ValidationException).
    if (from >= toTs) return;
    const { shards } = this.#ctx.settings;
    const nowSec = this.#ctx.nowSec();
    const start = (bucket: number): PagePrefetch<T>[] => {
      const { lo, hi } = eventSkRange(Math.max(from, bucket), Math.min(toTs, bucket + BUCKET_SEC));
      return Array.from(
        { length: shards },
        (_, shard) =>
          new PagePrefetch(
            this.#ctx.io.queryPages(
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
              EVENT_PAGE_ITEMS,
            ),
            map,
            PREFETCH_PAGES,
          ),
      );
    };
    let current: PagePrefetch<T>[] | undefined = start(bucketOf(from));
    try {
      for (let bucket = bucketOf(from); bucket < toTs; bucket += BUCKET_SEC) {
        const next: PagePrefetch<T>[] | undefined =
          bucket + BUCKET_SEC < toTs ? start(bucket + BUCKET_SEC) : undefined;
        const sources: PagePrefetch<T>[] = current!;
        current = next;
        yield sources;
      }
    } finally {
      // Stopped early (a failure downstream): let no Query run on.
      for (const src of current ?? []) src.close();
    }
  }

  /** Event items to pending events (bodies left encoded; blob bodies' downloads started). */
  #parseEvents(cluster: ClusterId, items: Item[]): PendingEvent[] {
    const out: PendingEvent[] = new Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const r = parseEventItem(items[i]!);
      const e: PendingEvent = {
        ts: r.ts,
        seq: r.seq,
        gvk: r.gvk,
        nsName: r.nsName,
        type: r.type,
        enc: r.body.enc,
      };
      if (r.body.bytes !== undefined) e.bytes = r.body.bytes;
      else {
        e.blob = this.#ctx.bodies.loadPayload(cluster, r.body);
        // Awaited when handed out; a failure before then must not go unhandled meanwhile.
        e.blob.catch(() => undefined);
      }
      out[i] = e;
    }
    return out;
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
    if (window !== undefined) {
      const layout = await this.#ctx.io.get({ pk: metaPk(cluster), sk: META_LIFECYCLE_LAYOUT_SK }, meter);
      const sinceSec = layout === undefined ? undefined : num(layout, 'sinceSec');
      // Lifecycles finished before `sinceSec` (ingest time) may lack end-hour items: a window
      // starting before it (plus the margin) is read the old way, whole.
      if (sinceSec !== undefined && (sinceSec === 0 || window.startTs >= sinceSec + LAYOUT_MARGIN_SEC)) {
        yield* this.#lifecyclesByWindow(cluster, window, num(layout!, 'maxDurationSec') ?? 0, meter);
        return;
      }
    }
    yield* this.#allLifecycles(cluster, window, meter);
  }

  /**
   * Lifecycles overlapping the window from the window's own partitions (docs/storage.md "Lifecycles
   * by window"): the running ones from the running-lifecycle index (those started before the
   * window's end), the finished ones from the end-hour partitions of the window's first hour up to
   * the hour (end − 1 + longest duration) — no later end can belong to a lifecycle that started
   * before the end — each read only up to start < end. Same groups and order as the whole read.
   */
  async *#lifecyclesByWindow(
    cluster: ClusterId,
    window: TraceWindow,
    maxDurationSec: number,
    meter: ReadMeter,
  ): AsyncGenerator<StoredOwnerLifecycles> {
    const io = this.#ctx.io;
    const nowSec = this.#ctx.nowSec();
    const groups = new Map<
      string,
      { owner: ObjectRef; podSpecHash: bigint; byPodStart: Map<string, PodLifecycle> }
    >();
    const add = (gvk: string, nsName: string, hash: bigint, pod: string, lc: Lifecycle) => {
      if (!overlapsWindow(lc, window)) return;
      const key = `${gvk} ${nsName} ${padU64(hash)}`;
      let group = groups.get(key);
      if (!group) {
        group = { owner: { gvk, nsName }, podSpecHash: hash, byPodStart: new Map() };
        groups.set(key, group);
      }
      const id = `${pod} ${lc.startTs}`;
      // A crash between a Finished write and its index entry's delete leaves both: finished wins.
      const known = group.byPodStart.get(id);
      if (!known || known.lc.endTs === undefined) group.byPodStart.set(id, { lc, pod });
    };
    // Running-index items and end-hour items carry the same attributes; only the latter an end.
    const addItem = (item: Item, finished: boolean) => {
      const startTs = num(item, 'startTs');
      const endTs = finished ? num(item, 'endTs') : undefined;
      const gvk = str(item, 'ownerGvk');
      const nsName = str(item, 'ownerNsName');
      const hash = str(item, 'podSpecHash');
      const pod = str(item, 'pod');
      if (startTs === undefined || (finished && endTs === undefined) || !gvk || !nsName || !hash || !pod) {
        return;
      }
      add(gvk, nsName, BigInt(hash), pod, endTs === undefined ? { startTs } : { startTs, endTs });
    };
    for await (const item of io.query(
      {
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': s(runningLifecyclePk(cluster)) },
      },
      meter,
    )) {
      addItem(item, false);
    }
    const hours: number[] = [];
    const lastHour = bucketOf(Math.min(window.endTs - 1 + maxDurationSec, nowSec));
    for (let h = bucketOf(window.startTs); h <= lastHour; h += BUCKET_SEC) hours.push(h);
    const pages: Item[][] = [];
    await forEachLimit(hours, LIFECYCLE_HOUR_QUERIES, async (hour) => {
      for await (const page of io.queryPages(
        {
          KeyConditionExpression: 'pk = :pk AND sk < :hi',
          FilterExpression: NOT_EXPIRED,
          ExpressionAttributeNames: { '#exp': 'expiresAtSec' },
          ExpressionAttributeValues: {
            ':pk': s(lifecycleEndPk(cluster, hour)),
            ':hi': s(padTs(window.endTs)),
            ':now': { N: String(nowSec) },
          },
        },
        meter,
      )) {
        pages.push(page);
      }
    });
    for (const page of pages) for (const item of page) addItem(item, true);
    const keys = [...groups.keys()].sort(compareBytewise);
    for (const key of keys) {
      const group = groups.get(key)!;
      const entries = [...group.byPodStart.values()];
      entries.sort((a, b) => a.lc.startTs - b.lc.startTs || compareBytewise(a.pod, b.pod));
      yield { owner: group.owner, podSpecHash: group.podSpecHash, lifecycles: entries.map((e) => e.lc) };
    }
  }

  /**
   * Every stored lifecycle of these owners (one Query each, on the owner's shard, by key prefix):
   * for bare pods alive at a window's start, whose lifecycles before the window say whether they
   * finished (lib/trace/assemble.ts).
   */
  async *lifecyclesOf(
    cluster: ClusterId,
    owners: ObjectRef[],
    meter: ReadMeter,
  ): AsyncGenerator<StoredOwnerLifecycles> {
    const nowSec = this.#ctx.nowSec();
    const found: StoredOwnerLifecycles[][] = owners.map(() => []);
    await forEachLimit(
      owners.map((owner, i) => ({ owner, i })),
      OWNER_QUERIES,
      async ({ owner, i }) => {
        const shard = shardOf(owner.gvk, owner.nsName, this.#ctx.settings.shards);
        const byHash = new Map<bigint, PodLifecycle[]>();
        for await (const item of this.#ctx.io.query(
          {
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            FilterExpression: NOT_EXPIRED,
            ExpressionAttributeNames: { '#exp': 'expiresAtSec' },
            ExpressionAttributeValues: {
              ':pk': s(lifecyclePk(cluster, shard)),
              ':prefix': s(`${owner.gvk} ${owner.nsName} `),
              ':now': { N: String(nowSec) },
            },
          },
          meter,
        )) {
          const k = parseLifecycleSk(str(item, 'sk') ?? '');
          const end = num(item, 'endTs');
          const lc: Lifecycle = {
            startTs: num(item, 'startTs') ?? k.startTs,
            ...(end !== undefined ? { endTs: end } : {}),
          };
          const list = byHash.get(k.podSpecHash) ?? [];
          list.push({ lc, pod: k.pod });
          byHash.set(k.podSpecHash, list);
        }
        for (const [podSpecHash, list] of byHash) {
          list.sort((a, b) => a.lc.startTs - b.lc.startTs || compareBytewise(a.pod, b.pod));
          found[i]!.push({ owner, podSpecHash, lifecycles: list.map((e) => e.lc) });
        }
      },
    );
    for (const list of found) yield* list;
  }

  /** Every lifecycle item of the cluster (its `LC#` partitions whole), filtered to the window if given. */
  async *#allLifecycles(
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

  /**
   * The changes posted for `[fromTs, toTs)` by the hourly counts (keys.ts `metaChangeCountSk`),
   * hours cut by the window counted pro rata: an estimate for sizing an export. One Query.
   */
  async estimateChanges(cluster: ClusterId, window: TraceWindow, meter: ReadMeter): Promise<number> {
    let total = 0;
    for await (const item of this.#ctx.io.query(
      {
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
        ExpressionAttributeValues: {
          ':pk': s(metaPk(cluster)),
          ':lo': s(metaChangeCountSk(bucketOf(window.startTs))),
          ':hi': s(metaChangeCountSk(bucketOf(window.endTs - 1))),
        },
        ConsistentRead: false,
      },
      meter,
    )) {
      const hour = Number((str(item, 'sk') ?? '').slice(2));
      const changes = num(item, 'changes') ?? 0;
      const overlap = Math.min(window.endTs, hour + BUCKET_SEC) - Math.max(window.startTs, hour);
      total += (changes * Math.max(0, overlap)) / BUCKET_SEC;
    }
    return Math.round(total);
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

/**
 * The change of a pending event, its body decoded now (an inline one; transcoded with a `plan`,
 * when it can be) or downloaded (a blob).
 */
function changeOf(
  e: PendingEvent,
  cluster: ClusterId,
  plan?: CapturePlan,
): ObjectChange | Promise<ObjectChange> {
  const of = (payload: ObjectPayload): ObjectChange => ({
    ts: e.ts,
    type: e.type,
    object: payload.o,
    owners: payload.w,
  });
  if (e.bytes !== undefined) {
    const transcoded = plan && transcodeObjectBody(e.bytes, e.enc, plan);
    return of(transcoded || payloadOf(decodeBody(e.bytes, e.enc), cluster));
  }
  return e.blob!.then(of);
}
