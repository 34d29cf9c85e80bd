/**
 * Lists and their pages, as kube-apiserver serves them from etcd (api-concepts, "Retrieving large
 * results sets in chunks"): items in key order, `limit` items per page, and a `continue` token
 * that pins the page sequence to the first page's resourceVersion.
 *
 * The token is the apiserver's own format (k8s.io/apiserver/pkg/storage/continue.go): unpadded
 * base64url of `{"v":"meta.k8s.io/v1","rv":<list rv>,"start":"<next key relative to the list's key
 * prefix>"}`, where the next key is the page's last key plus "\u0000". `rv: -1` is the token a 410
 * answer hands out to continue inconsistently at the latest revision.
 */
import type { ObjectMatcher } from './selectors.ts';
import type { ResourceState, SimStore, StoredVersion } from './store.ts';
import { lowerBound } from './store.ts';

export interface ContinueToken {
  rv: number;
  /** Absolute start key (inclusive), e.g. `ns/name\u0000`. */
  startKey: string;
}

export class ContinueTokenError extends Error {}

export function encodeContinue(rv: number, startKey: string, keyPrefix: string): string {
  const start = startKey.slice(keyPrefix.length);
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64url');
}

export function decodeContinue(token: string, keyPrefix: string): ContinueToken {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch (err) {
    throw new ContinueTokenError(`continue key is not valid: ${(err as Error).message}`);
  }
  const c = parsed as { v?: unknown; rv?: unknown; start?: unknown };
  if (c === null || typeof c !== 'object' || c.v !== 'meta.k8s.io/v1') {
    throw new ContinueTokenError(`continue key is not valid: server does not recognize this encoded version`);
  }
  if (typeof c.rv !== 'number' || !Number.isInteger(c.rv) || c.rv === 0) {
    throw new ContinueTokenError(
      'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
    );
  }
  if (typeof c.start !== 'string' || c.start === '') {
    throw new ContinueTokenError(
      'continue key is not valid: encoded start key empty (version meta.k8s.io/v1)',
    );
  }
  // The apiserver path.Clean()s the key so a token cannot range outside the list's prefix.
  if (c.start.includes('..') || c.start.startsWith('/')) {
    throw new ContinueTokenError(`continue key is not valid: ${c.start}`);
  }
  return { rv: c.rv, startKey: keyPrefix + c.start };
}

export interface ListQuery {
  res: ResourceState;
  /** Key prefix of the list: `ns/` for a namespaced list in one namespace, '' otherwise. */
  keyPrefix: string;
  match: ObjectMatcher;
  /** Label or field selector present: remainingItemCount is then unknown and omitted. */
  filtered: boolean;
  /** Revision to read at; the latest when undefined. Must not be compacted. */
  atRv?: number;
  /** Inclusive start key (from a continue token). */
  startKey?: string;
  limit?: number;
}

export interface ListPage {
  items: StoredVersion[];
  /** Set when more keys follow: the next page's start key. */
  nextKey?: string;
  remainingItemCount?: number;
}

export function listPage(store: SimStore, q: ListQuery): ListPage {
  const { res, keyPrefix } = q;
  const overlay =
    q.atRv !== undefined && q.atRv < store.currentRv
      ? store.overlayAt(res, q.atRv)
      : new Map<string, undefined>();
  const from = q.startKey !== undefined && q.startKey > keyPrefix ? q.startKey : keyPrefix;
  const current = res.sortedKeys();
  const changed = [...overlay.keys()].filter((k) => k >= from && k.startsWith(keyPrefix)).sort();
  let i = lowerBound(current, from);
  let j = 0;

  /** Next key of the snapshot in key order with its version, or undefined at the end of the prefix. */
  const next = (): [string, StoredVersion] | undefined => {
    for (;;) {
      const a = i < current.length && current[i]!.startsWith(keyPrefix) ? current[i] : undefined;
      const b = j < changed.length ? changed[j] : undefined;
      if (a === undefined && b === undefined) return undefined;
      let key: string;
      if (b === undefined || (a !== undefined && a < b)) {
        key = a!;
        i++;
      } else {
        key = b;
        j++;
        if (a === b) i++;
      }
      const version = overlay.has(key) ? overlay.get(key) : res.objects.get(key);
      if (version) return [key, version];
    }
  };

  const items: StoredVersion[] = [];
  const limit = q.limit && q.limit > 0 ? q.limit : Number.POSITIVE_INFINITY;
  let lastKey: string | undefined;
  let entry = next();
  while (entry && items.length < limit) {
    lastKey = entry[0];
    if (q.match(entry[1].object)) items.push(entry[1]);
    entry = next();
  }
  if (!entry) return { items };
  // More keys follow (matching or not: etcd's `more` flag knows nothing of selectors, so a
  // selector list can end with an empty page).
  const page: ListPage = { items, nextKey: `${lastKey}\u0000` };
  if (!q.filtered) {
    // Counted from the sorted keys and the overlay, not by walking what remains: etcd answers the
    // count with the range, and the apiserver sets remainingItemCount = count - limit, only when
    // the list has no selector (k8s.io/apiserver pkg/storage/etcd3/store.go, GetList). Walking
    // 100,000 keys per page made each page of a big list cost the simulator O(n) — the
    // forwarder_scale bench's list then waited on the simulator, not on its endpoint.
    const at = entry[0];
    const end = keyPrefix === '' ? current.length : lowerBound(current, `${keyPrefix}\uffff`);
    let remaining = Math.max(0, end - lowerBound(current, at));
    for (const k of changed) {
      if (k < at) continue;
      remaining += (overlay.get(k) !== undefined ? 1 : 0) - (res.objects.has(k) ? 1 : 0);
    }
    page.remainingItemCount = remaining;
  }
  return page;
}
