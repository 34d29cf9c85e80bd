/**
 * The shards' event pages of one hour bucket merged into the order an export applies changes: by
 * ts, within a second by the sender's seq, then GVK and nsName (bytewise), ties in source order.
 * The window's reader (reader.ts `changeBatchesWithSeq`) and the live-set replay (replay.ts) must
 * merge alike — a replay applied in another order could let an older version win — so both take
 * their seconds from here.
 */
import { compareBytewise } from '../../ingest/names.ts';
import type { PagePrefetch } from './prefetch.ts';

/** What the order needs of a stored change. */
export interface MergeKey {
  ts: number;
  seq: number;
  gvk: string;
  nsName: string;
}

/** Each second's entries of `sources`, in export order, one array per second. */
export async function* mergedSeconds<T extends MergeKey>(sources: PagePrefetch<T>[]): AsyncGenerator<T[]> {
  const cursors = sources.map((src) => ({ src, page: [] as T[], i: 0, done: false }));
  const fill = async (c: (typeof cursors)[number]): Promise<void> => {
    while (c.i >= c.page.length && !c.done) {
      const page = await c.src.next();
      if (page === undefined) c.done = true;
      else {
        c.page = page;
        c.i = 0;
      }
    }
  };
  await Promise.all(cursors.map(fill));
  for (;;) {
    let minTs = Number.POSITIVE_INFINITY;
    for (const c of cursors) if (!c.done && c.page[c.i]!.ts < minTs) minTs = c.page[c.i]!.ts;
    if (minTs === Number.POSITIVE_INFINITY) return;
    const second: T[] = [];
    for (const c of cursors) {
      while (!c.done && c.page[c.i]!.ts === minTs) {
        second.push(c.page[c.i++]!);
        if (c.i >= c.page.length) await fill(c);
      }
    }
    if (second.length > 1) {
      second.sort(
        (a, b) => a.seq - b.seq || compareBytewise(a.gvk, b.gvk) || compareBytewise(a.nsName, b.nsName),
      );
    }
    yield second;
  }
}
