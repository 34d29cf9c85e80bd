/**
 * Merging of sorted streams: the event and lifecycle partitions are sharded, each shard's Query
 * returns its items in key order, and readers want one ordered stream. Shard counts are small
 * (tens), so the smallest head is found by a linear scan; every source is pulled one item ahead,
 * so memory holds one page per shard.
 */
export async function* mergeSorted<T>(
  sources: AsyncIterable<T>[],
  compare: (a: T, b: T) => number,
): AsyncGenerator<T> {
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  const heads: (IteratorResult<T> | undefined)[] = await Promise.all(iterators.map((it) => it.next()));
  try {
    for (;;) {
      let best = -1;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        if (h === undefined || h.done) continue;
        const current = heads[best];
        if (best < 0 || (current !== undefined && !current.done && compare(h.value, current.value) < 0))
          best = i;
      }
      if (best < 0) return;
      const head = heads[best] as IteratorYieldResult<T>;
      yield head.value;
      heads[best] = await iterators[best]!.next();
    }
  } finally {
    await Promise.all(
      iterators.map((it, i) => (heads[i] !== undefined && !heads[i]!.done ? it.return?.() : undefined)),
    );
  }
}

/** Groups consecutive items with the same key (the input is sorted by that key). */
export async function* groupConsecutive<T>(
  source: AsyncIterable<T>,
  keyOf: (item: T) => string,
): AsyncGenerator<T[]> {
  let group: T[] = [];
  let groupKey: string | undefined;
  for await (const item of source) {
    const key = keyOf(item);
    if (groupKey !== undefined && key !== groupKey) {
      yield group;
      group = [];
    }
    groupKey = key;
    group.push(item);
  }
  if (group.length > 0) yield group;
}

/** Runs `fn` on every item with at most `limit` in flight; rejects with the first failure after all settle. */
export async function forEachLimit<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}
