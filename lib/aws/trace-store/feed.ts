/**
 * The change feed on DynamoDB (rules in lib/store/feed.ts, layout in docs/storage.md): the writer
 * records, per ingest batch, which event items it stored; the reader follows those records in
 * ingest order and reads the events they name.
 */
import { randomBytes } from 'node:crypto';
import { compareBytewise } from '../../ingest/names.ts';
import {
  decodeFeedEntries,
  encodeFeedEntries,
  FEED_CHUNK,
  FEED_RETENTION_SEC,
  type FeedEntry,
  feedHourOf,
  feedMsOf,
  feedPk,
  feedPositionAt,
  feedSk,
} from '../../store/feed.ts';
import { bucketOf, eventPk, parseEventSk } from '../../store/keys.ts';
import type { ClusterId, FeedChange, FeedPage, FeedQuery, ReadMeter } from '../../store/ports.ts';
import type { StoreContext } from './context.ts';
import type { CapacityMeter, Item } from './io.ts';
import { isExpired, n, parseEventItem, s, str } from './items.ts';

/** Writes the feed records of one batch (after its events); slow writes are stamped again. */
export async function writeFeed(
  ctx: StoreContext,
  cluster: ClusterId,
  entries: readonly FeedEntry[],
  meter: CapacityMeter,
): Promise<void> {
  const { settleMs } = ctx.settings;
  // A batch's objects are written in parallel: its record lists them in change order instead
  // (second, then the sender's seq, then kind and name — the order exports use).
  // One entry per event slot and seq: a relist page of a second in which the batch also deleted an
  // object finds it dead at that second and lists it again.
  const unique = [...new Map(entries.map((e) => [`${e.shard} ${e.seq} ${e.sk}`, e])).values()];
  const ordered = unique.sort(
    (a, b) =>
      compareBytewise(a.sk.slice(0, 10), b.sk.slice(0, 10)) || a.seq - b.seq || compareBytewise(a.sk, b.sk),
  );
  for (let i = 0; i < ordered.length; i += FEED_CHUNK) {
    const ev = encodeFeedEntries(ordered.slice(i, i + FEED_CHUNK));
    for (let attempt = 0; attempt < 3; attempt++) {
      const stampMs = ctx.nowMs();
      await ctx.io.put(
        {
          pk: s(feedPk(cluster, feedHourOf(stampMs))),
          sk: s(feedSk(stampMs, randomBytes(4).toString('hex'))),
          ev: s(ev),
          expiresAtSec: n(Math.floor(stampMs / 1000) + FEED_RETENTION_SEC),
        },
        undefined,
        meter,
      );
      // A reader may already have passed a stamp older than settleMs/2 by the time this record is
      // visible: stamp it again, now (a reader drops the repeat). Bounded: a store this slow fails
      // the batch on its own soon enough.
      if (ctx.nowMs() - stampMs <= settleMs / 2) break;
    }
  }
}

/**
 * Changes after `afterSk`, in the order they landed, up to records stamped `settleMs` before now.
 * Stops after the record that reaches `limit` changes (records are never split, so the cursor
 * always names a record boundary).
 */
export async function readFeed(
  ctx: StoreContext,
  cluster: ClusterId,
  afterSk: string,
  query: FeedQuery,
  meter: ReadMeter,
): Promise<FeedPage> {
  const nowMs = ctx.nowMs();
  const nowSec = Math.floor(nowMs / 1000);
  const untilMs = nowMs - ctx.settings.settleMs;
  const until = feedPositionAt(untilMs);
  const limit = query.limit;
  const changes: FeedChange[] = [];
  let cursor = afterSk;
  if (afterSk >= until) return { changes, cursorSk: afterSk, caughtUp: true };
  for (let hour = feedHourOf(feedMsOf(afterSk)); hour <= feedHourOf(untilMs); hour += 3_600_000) {
    for await (const record of ctx.io.query(
      {
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
        ExpressionAttributeValues: { ':pk': s(feedPk(cluster, hour)), ':lo': s(afterSk), ':hi': s(until) },
      },
      meter,
    )) {
      const sk = str(record, 'sk') ?? '';
      if (sk <= afterSk || isExpired(record, nowSec)) continue;
      changes.push(
        ...(await readEntries(ctx, cluster, decodeFeedEntries(str(record, 'ev') ?? ''), query, meter)),
      );
      cursor = sk;
      if (changes.length >= limit) return { changes, cursorSk: cursor, caughtUp: false };
    }
  }
  // Every record up to `until` is read: the next page starts there even if the last ones were empty.
  return { changes, cursorSk: until > cursor ? until : cursor, caughtUp: true };
}

async function readEntries(
  ctx: StoreContext,
  cluster: ClusterId,
  entries: FeedEntry[],
  query: FeedQuery,
  meter: ReadMeter,
): Promise<FeedChange[]> {
  const unique = [...new Map(entries.map((e) => [`${e.shard} ${e.seq} ${e.sk}`, e])).values()];
  const wanted = unique.filter((e) => {
    const { gvk, nsName } = parseEventSk(e.sk);
    if (query.gvk !== undefined && gvk !== query.gvk) return false;
    if (query.namespace !== undefined && !nsName.startsWith(`${query.namespace}/`)) return false;
    return true;
  });
  if (wanted.length === 0) return [];
  const keyOf = (e: FeedEntry) => ({
    pk: eventPk(cluster, bucketOf(parseEventSk(e.sk).ts), e.shard),
    sk: e.sk,
  });
  const items = await ctx.io.batchGet(wanted.map(keyOf), meter);
  const nowSec = ctx.nowSec();
  const out: FeedChange[] = [];
  for (const e of wanted) {
    const key = keyOf(e);
    const item: Item | undefined = items.get(`${key.pk}\0${key.sk}`);
    // Absent or expired: gone with retention. Another seq: a later change of that second replaced
    // it, and that change is delivered by its own record.
    if (!item || isExpired(item, nowSec)) continue;
    const rec = parseEventItem(item);
    if (rec.seq !== e.seq) continue;
    const payload = await ctx.bodies.loadPayload(cluster, rec.body);
    out.push({
      ts: rec.ts,
      type: rec.type,
      gvk: rec.gvk,
      nsName: rec.nsName,
      seq: rec.seq,
      object: payload.o,
    });
  }
  return out;
}
