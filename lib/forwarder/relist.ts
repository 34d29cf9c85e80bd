/**
 * Relist pages: after a (re)list of one kind, the forwarder tells the store which objects of
 * that kind exist, as pages tiling the whole nsName key space (wire.ts `RelistChange`), so the
 * store deletes exactly the objects of that kind that vanished while nobody watched. Pages are
 * bounded in size so that a kind with 100k objects still fits in ingest batches.
 */
import { compareUtf8 } from '../trace/hash.ts';
import type { Gvk, NsName } from '../trace/model.ts';

export interface RelistPage {
  gvk: Gvk;
  after: NsName | null;
  through: NsName | null;
  nsNames: NsName[];
}

/**
 * Splits the complete, sorted, de-duplicated set of live nsNames of `gvk` into pages of at most
 * `pageSize` names that tile `(null, null)`: the first page starts at the beginning of the key
 * space, each next one right after the previous one's last name, and the last one runs to the
 * end. An empty kind is one page with no names (every object of the kind is gone).
 */
export function relistPages(gvk: Gvk, sortedNsNames: readonly NsName[], pageSize: number): RelistPage[] {
  if (pageSize < 1) throw new RangeError(`relist page size must be at least 1, got ${pageSize}`);
  const pages: RelistPage[] = [];
  let after: NsName | null = null;
  for (let i = 0; i < sortedNsNames.length; i += pageSize) {
    const nsNames = sortedNsNames.slice(i, i + pageSize);
    const last = i + pageSize >= sortedNsNames.length;
    const through: NsName | null = last ? null : nsNames[nsNames.length - 1]!;
    pages.push({ gvk, after, through, nsNames });
    after = through;
  }
  if (pages.length === 0) pages.push({ gvk, after: null, through: null, nsNames: [] });
  return pages;
}

/**
 * Sorts byte-wise (UTF-8, the order of the wire format's `(after, through]` ranges) and drops
 * duplicates (a paged list never repeats a name, but be safe).
 */
export function sortNsNames(nsNames: Iterable<NsName>): NsName[] {
  return [...new Set(nsNames)].sort(compareUtf8);
}
