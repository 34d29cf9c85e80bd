/**
 * The loop of `sktrace tail`, as states and one pure step (like the forwarder's watcher):
 *
 *   following(cursor) --page--> following(page.cursor)       prints the page's new changes
 *   following(cursor) --retryable failure--> following(cursor)  the same cursor after a pause:
 *                                                             nothing lost, nothing repeated
 *   following(cursor) --410 cursor_expired / 4xx--> stopped(error)
 *
 * A change is identified by (ts, kind, name, seq); one the feed lists twice (an ingest batch
 * retried after its feed record was stored, lib/store/feed.ts) is printed once: the last
 * `RECENT_KEPT` identities are remembered.
 */
import type { FeedChange } from '../store/ports.ts';

export const RECENT_KEPT = 10_000;

export type TailState =
  | { phase: 'following'; cursor: string | undefined; recent: string[]; recentSet: Set<string> }
  | { phase: 'stopped'; cursor: string | undefined; error: string };

export type TailInput =
  | { type: 'page'; changes: FeedChange[]; cursor: string }
  | { type: 'failed'; retryable: boolean; message: string };

export function initialTail(cursor?: string): TailState {
  return { phase: 'following', cursor, recent: [], recentSet: new Set() };
}

export function changeId(c: Pick<FeedChange, 'ts' | 'gvk' | 'nsName' | 'seq'>): string {
  return `${c.ts} ${c.gvk} ${c.nsName} ${c.seq}`;
}

/** One step: the next state and the changes to print. Mutates nothing it was given but the recent list it owns. */
export function stepTail(state: TailState, input: TailInput): { state: TailState; print: FeedChange[] } {
  if (state.phase === 'stopped') return { state, print: [] };
  if (input.type === 'failed') {
    if (input.retryable) return { state, print: [] };
    return { state: { phase: 'stopped', cursor: state.cursor, error: input.message }, print: [] };
  }
  const print: FeedChange[] = [];
  const recent = state.recent;
  const recentSet = state.recentSet;
  for (const c of input.changes) {
    const id = changeId(c);
    if (recentSet.has(id)) continue;
    print.push(c);
    recent.push(id);
    recentSet.add(id);
    if (recent.length > RECENT_KEPT) recentSet.delete(recent.shift()!);
  }
  return { state: { phase: 'following', cursor: input.cursor, recent, recentSet }, print };
}

export const TAIL_HEADER = `${'TIME'.padEnd(20)}  ${'CHANGE'.padEnd(7)}  ${'KIND'.padEnd(24)}  ${'NAMESPACE'.padEnd(16)}  NAME`;

/** One line per change, like `kubectl get -w`: when, what happened, kind, namespace, name. */
export function formatChangeLine(c: FeedChange): string {
  const at = c.nsName.indexOf('/');
  const [namespace, name] = at < 0 ? ['', c.nsName] : [c.nsName.slice(0, at), c.nsName.slice(at + 1)];
  const time = new Date(c.ts * 1000).toISOString().replace('.000Z', 'Z');
  return `${time.padEnd(20)}  ${c.type.padEnd(7)}  ${c.gvk.padEnd(24)}  ${(namespace || '-').padEnd(16)}  ${name}`;
}
