/**
 * The change feed: the order in which changes *landed* in the store, for `sktrace tail` and
 * `GET /v1/clusters/{cluster}/changes?after=CURSOR`. Pure rules; the DynamoDB adapter is
 * lib/aws/trace-store/feed.ts.
 *
 * Why a feed and not the event items themselves: event items are keyed by the change's own second
 * (`EV#<cluster>#<hour>#<shard>`, sort `ts gvk nsName`), and a change may land long after its second
 * (a forwarder's batch lingers, retries, outages, imports). A cursor over event time would either
 * miss a change stored late for a second it already passed, or have to re-read every partition of
 * the last minutes on every poll (DynamoDB bills what a Query reads, not what its filter keeps).
 * So each ingest batch, once its event items are written, writes one feed record per 200 events
 * (keyed by its ingest time in ms), naming the event items it wrote: `shard`, event sort key and
 * `seq`. A reader follows the records in ingest order and fetches the events they name.
 *
 * Rules:
 * - Record key: pk `FEED#<cluster>#<ingest hour>`, sk `<ingestMs:13>#<nonce:8 hex>`; the nonce keeps
 *   two batches of one millisecond apart.
 * - The cursor is the sk of the last record delivered (`c1:` + sk). `<ms>#~` means "everything
 *   stamped at or before ms": `~` sorts above every hex nonce.
 * - A record is stamped just before its PutItem; another writer's record stamped earlier may still
 *   be in flight. A reader therefore only follows records stamped at least `settleMs` ago, and a
 *   writer whose PutItem took longer than half of that writes the record again with a fresh stamp
 *   (a late record is then seen twice rather than never). Readers drop a repeat they hold.
 * - The record is written after the batch's events, and a retried batch lists the changes an earlier
 *   attempt already stored (their state holds the change's own ts and seq), so a batch that failed
 *   between its events and its record loses nothing. A batch retried after its record was stored
 *   (the response was lost) lists its changes again: delivered twice, told apart by (ts, kind,
 *   name, seq) — `sktrace tail` drops such repeats within its run.
 * - A record names an event slot, whose item holds the last change of that second (SimKube's one
 *   event per object per second); a reader delivers it only if its `seq` is the one named, so a
 *   change overwritten in its second by a later one is delivered once, as the later one.
 * - Records expire after `FEED_RETENTION_SEC`; a cursor older than that is refused (410, as a
 *   Kubernetes watch whose resourceVersion is too old): the caller restarts from now.
 */
import { StoreError } from './errors.ts';

/** Event keys per feed record: a record stays a few KB (a few write units) and a page of changes bounded. */
export const FEED_CHUNK = 200;
export const FEED_RETENTION_SEC = 86_400;
/** Readers follow records stamped at least this long ago (the longest a record's PutItem may take). */
export const DEFAULT_SETTLE_MS = 5_000;
const FEED_HOUR_MS = 3_600_000;
const MS_WIDTH = 13;
const CURSOR_PREFIX = 'c1:';
const SK_PATTERN = /^\d{13}#(?:[0-9a-f]{8}|~)$/;

/** One event item a feed record names. */
export interface FeedEntry {
  shard: number;
  /** Event sort key: `<ts:10> <gvk> <nsName>`. */
  sk: string;
  seq: number;
}

export function feedHourOf(ms: number): number {
  return Math.floor(ms / FEED_HOUR_MS) * FEED_HOUR_MS;
}

export function feedPk(cluster: string, hourStartMs: number): string {
  return `FEED#${cluster}#${hourStartMs}`;
}

export function feedSk(ms: number, nonce: string): string {
  return `${String(ms).padStart(MS_WIDTH, '0')}#${nonce}`;
}

/** The position after every record stamped at or before `ms`. */
export function feedPositionAt(ms: number): string {
  return feedSk(ms, '~');
}

export function feedMsOf(sk: string): number {
  return Number(sk.slice(0, MS_WIDTH));
}

export function formatCursor(sk: string): string {
  return `${CURSOR_PREFIX}${sk}`;
}

/** A cursor that is not one this API handed out. */
export class CursorError extends StoreError {
  constructor(message: string, cursor: string, code = 'invalid_cursor') {
    super(code, message, { field: 'after', cursor });
    this.name = 'CursorError';
  }
}

/**
 * The sk a cursor stands for. `now` (or nothing) is "from now on": the position after every record
 * a reader may already follow. Refuses malformed cursors, cursors from the future, and cursors
 * older than the feed's retention (`cursor_expired`: records after it may be gone).
 */
export function parseCursor(cursor: string | undefined, nowMs: number, settleMs: number): string {
  if (cursor === undefined || cursor === '' || cursor === 'now') return feedPositionAt(nowMs - settleMs);
  const sk = cursor.startsWith(CURSOR_PREFIX) ? cursor.slice(CURSOR_PREFIX.length) : undefined;
  if (sk === undefined || !SK_PATTERN.test(sk)) {
    throw new CursorError(
      `after ${JSON.stringify(cursor.slice(0, 80))} is not a cursor from this API (or "now")`,
      cursor,
    );
  }
  const ms = feedMsOf(sk);
  if (ms > nowMs + 60_000) {
    throw new CursorError(`after ${cursor} is in the future: it was not handed out by this API`, cursor);
  }
  if (ms < nowMs - FEED_RETENTION_SEC * 1000) {
    throw new CursorError(
      `after ${cursor} is older than the change feed's ${FEED_RETENTION_SEC / 3600} h: restart from now`,
      cursor,
      'cursor_expired',
    );
  }
  return sk;
}

/** Feed record body: one `shard\tseq\tsk` line per event (sks hold no tab or newline: names are validated). */
export function encodeFeedEntries(entries: readonly FeedEntry[]): string {
  return entries.map((e) => `${e.shard}\t${e.seq}\t${e.sk}`).join('\n');
}

export function decodeFeedEntries(text: string): FeedEntry[] {
  if (text === '') return [];
  return text.split('\n').map((line) => {
    const [shard, seq, sk] = line.split('\t');
    if (shard === undefined || seq === undefined || sk === undefined) {
      throw new StoreError('store_corrupt_item', `feed entry ${JSON.stringify(line)} is not "shard seq sk"`, {
        line,
      });
    }
    return { shard: Number(shard), seq: Number(seq), sk };
  });
}
