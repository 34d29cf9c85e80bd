/**
 * The chaos oracle: compares an exported trace with the ground truth of the workload.
 *
 * A Kubernetes watch delivers every change of its kind in order, unless it has to relist (410
 * Gone, a forwarder start, a stalled kind): versions that came and went while a kind was not being
 * watched are legitimately unseen, and the relist gives the state at its time. So the harness
 * records "blind" intervals per kind — from a fault that may cost a relist (a kill, a compaction,
 * an endpoint down long enough to stall) until the kind was listed again — and the rules are:
 *
 * - no change lost: every version (or deletion) of an object that was current at some moment
 *   outside the blind intervals of its kind appears in the trace, except (a) one observable only
 *   within the second in which the object's next change happened (the store keeps one item per
 *   object per second, the last change winning; `coalesced`), and (b) a deletion of an object the
 *   trace never showed alive (nothing to delete). The last entry of every object always appears
 *   (after any downtime, at least the final state), and the trace's last entry of every object is
 *   the cluster's final state;
 * - nothing duplicated: no two consecutive entries of an object with the same spec hash;
 * - no spurious deletion: every deletion in the trace matches a real deletion of that object (kind
 *   and name) that came after the object's previous version in the trace and no later than the
 *   deletion's second (a relist deletes at the relist time what vanished while the watch was down);
 * - order: an object's entries follow the order of its real history (no stale version re-applied);
 * - time: every matched entry carries the second the forwarder can have seen its change in — for a
 *   change made while its kind was watched, between the change and the change + STAMP_SLACK_MS;
 *   for one made while blind, not before the change and not after the blind interval's end +
 *   slack. SimKube replays by these timestamps: a trace stamped late is wrong even when complete.
 */

import { gvkOf, nsNameOf } from '../../lib/trace/gvk.ts';
import { specHash } from '../../lib/trace/hash.ts';
import type { Trace } from '../../lib/trace/model.ts';

export const DELETED = 'deleted';

/**
 * One version (its spec hash) or a deletion (`DELETED`), with the time it happened: `atMs` right
 * after the API server applied it, `beforeMs` (default `atMs`) right before — the watch event is
 * written in between, so no forwarder can stamp the change before `beforeMs`.
 */
export interface TruthEntry {
  hash: string;
  atMs: number;
  beforeMs?: number;
}

/** One entry of an object in the exported trace, at second `ts`. */
export interface TraceEntry {
  hash: string;
  ts: number;
}

/** A time range during which versions of `gvk` (every kind when absent) may go unseen. */
export interface Blind {
  gvk?: string;
  fromMs: number;
  toMs: number;
  why: string;
}

export interface Verdict {
  ok: boolean;
  /** Entries of the ground truth (versions and deletions). */
  changes: number;
  /** Of those, the ones the trace must hold. */
  required: number;
  /** Entries of the trace matched to the ground truth. */
  matched: number;
  lost: string[];
  duplicated: string[];
  spuriousDeletions: string[];
  outOfOrder: string[];
  unknown: string[];
  finalMismatch: string[];
  /** Matched entries stamped at a second their change cannot have been seen in. */
  mistimed: string[];
}

/** The verdict's lists of failures: the ways a trace can be wrong. */
export const FAILURES = [
  'lost',
  'duplicated',
  'spuriousDeletions',
  'outOfOrder',
  'unknown',
  'finalMismatch',
  'mistimed',
] as const satisfies readonly (keyof Verdict)[];
export type Failure = (typeof FAILURES)[number];

/** The failures a verdict holds (non-empty lists), in FAILURES order. */
export const failuresOf = (v: Verdict): Failure[] => FAILURES.filter((k) => v[k].length > 0);

export const truthKey = (gvk: string, nsName: string) => `${gvk} ${nsName}`;

/** An object's entries in the trace: applied versions by spec hash, deletions as `DELETED`. */
export function traceEntries(trace: Trace): Map<string, TraceEntry[]> {
  const out = new Map<string, TraceEntry[]>();
  const push = (key: string, e: TraceEntry) => {
    let list = out.get(key);
    if (!list) {
      list = [];
      out.set(key, list);
    }
    list.push(e);
  };
  for (const ev of trace.events) {
    // Within one event deletions and applies of one object cannot both appear (one item per
    // object per second), so their order inside the event does not matter.
    for (const o of ev.deleted_objs) push(truthKey(gvkOf(o), nsNameOf(o)), { hash: DELETED, ts: ev.ts });
    for (const o of ev.applied_objs)
      push(truthKey(gvkOf(o), nsNameOf(o)), { hash: specHash(o.spec ?? null).toString(), ts: ev.ts });
  }
  return out;
}

/** What is left of [from, to) after removing the intervals in `blind`, in order. */
export function observable(fromMs: number, toMs: number, blind: readonly Blind[]): Array<[number, number]> {
  const cuts = blind
    .filter((b) => b.toMs > fromMs && b.fromMs < toMs)
    .map((b) => [Math.max(b.fromMs, fromMs), Math.min(b.toMs, toMs)] as const)
    .sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  let at = fromMs;
  for (const [f, t] of cuts) {
    if (f > at) out.push([at, f]);
    at = Math.max(at, t);
  }
  if (toMs > at) out.push([at, toMs]);
  return out;
}

/**
 * Slack between the moment the workload records a change and the moment the forwarder stamps it:
 * the watch event's trip over loopback to the forwarder child and that process's event loop
 * (stamped on receipt, lib/forwarder/changes.ts). Measured by the harness from the `seq` of every
 * landed change (the stamp in µs) against the truth (`notes.stampLagMs`), with the five fast cases
 * running at once on the shared 2-core machine: at load average 9, p99 76–145 ms and max 145 ms;
 * at load average 20, p99 63–589 ms and max 589 ms; never negative. 1 s covers the worst seen with
 * room (the lag is scheduling delay, and grows with the machine's load), and is still below what a
 * wrong stamp costs: a stamp taken when the batch is sent, behind a retry (a 429's Retry-After of
 * 1 s, an 800 ms timeout), is later than that. A change at x.95 s may be stamped x+1 or x+2.
 */
export const STAMP_SLACK_MS = 1_000;

/**
 * Whether `atMs` lies in a blind interval; if so, when the run of overlapping blind intervals
 * around it ends (a change made while a kind was not watched is stamped when it is next read: a
 * relist, a resumed watch).
 */
export function blindUntil(atMs: number, blind: readonly Blind[]): number | undefined {
  let until: number | undefined;
  for (let grew = true; grew; ) {
    grew = false;
    const at = until ?? atMs;
    for (const b of blind) {
      if (b.fromMs <= at && b.toMs > at && b.toMs > (until ?? Number.NEGATIVE_INFINITY)) {
        until = b.toMs;
        grew = true;
      }
    }
  }
  return until;
}

/**
 * Why a trace entry at second `ts` cannot be the stamp of truth entry `t`, or undefined when it
 * can. The forwarder stamps a change from its clock when it reads it, so the stamp lies in
 * [beforeMs, atMs + slack] for a change made while its kind was watched, and in [beforeMs, end of
 * the blind interval + slack] for one made while blind, or less than the slack before a blind
 * interval began (the relist or resumed watch reads it then). `ts` is that stamp's second:
 * "within 1 s plus the slack".
 */
export function mistimed(t: TruthEntry, ts: number, blind: readonly Blind[]): string | undefined {
  const earliestMs = t.beforeMs ?? t.atMs;
  // A change made less than the slack before a fault may not have been read yet when the watch
  // died (it is read by the relist or the resumed watch): it is read by that blind interval's end.
  const inFlight = blind.find((b) => b.fromMs > t.atMs && b.fromMs <= t.atMs + STAMP_SLACK_MS);
  const blindEndMs = blindUntil(t.atMs, blind) ?? (inFlight && blindUntil(inFlight.fromMs, blind));
  const latestMs = (blindEndMs ?? t.atMs) + STAMP_SLACK_MS;
  if ((ts + 1) * 1000 <= earliestMs) return `stamped ${ts}, before it happened (${earliestMs / 1000})`;
  if (ts * 1000 > latestMs)
    return `stamped ${ts}, after ${latestMs / 1000} (${
      blindEndMs === undefined ? `happened at ${t.atMs / 1000}, watched` : `read by ${blindEndMs / 1000}`
    } + ${STAMP_SLACK_MS} ms slack)`;
  return undefined;
}

/**
 * How long before the second of the next change a version may first be observable and still be
 * coalesced into it (the relist that read it and the watch event of the next change stamped in
 * one second).
 */
const COALESCE_SLACK_MS = 300;

/**
 * The store keeps one item per object per second, the last change in that second winning
 * (DESIGN.md): a version (or deletion) that was observable only within the second in which the
 * next change of the object happened is legitimately replaced by it. With the workload's gap of
 * over a second between changes of one object, this only happens at the end of a blind interval
 * (a relist's applied change, then a watch change within the same second).
 */
function coalesced(seen: ReadonlyArray<[number, number]>, nextAtMs: number): boolean {
  const firstSeenMs = seen[0]?.[0];
  if (firstSeenMs === undefined) return true;
  return firstSeenMs >= Math.floor(nextAtMs / 1000) * 1000 - COALESCE_SLACK_MS;
}

const gvkOfKey = (key: string) => key.slice(0, key.indexOf(' '));

export function judge(input: {
  truth: ReadonlyMap<string, readonly TruthEntry[]>;
  trace: ReadonlyMap<string, readonly TraceEntry[]>;
  blind: readonly Blind[];
}): Verdict {
  const v: Verdict = {
    ok: true,
    changes: 0,
    required: 0,
    matched: 0,
    lost: [],
    duplicated: [],
    spuriousDeletions: [],
    outOfOrder: [],
    unknown: [],
    finalMismatch: [],
    mistimed: [],
  };
  for (const key of input.trace.keys()) if (!input.truth.has(key)) v.unknown.push(key);
  for (const [key, truth] of input.truth) {
    const gvk = gvkOfKey(key);
    const blind = input.blind.filter((b) => b.gvk === undefined || b.gvk === gvk);
    const entries = input.trace.get(key) ?? [];
    /** Truth index → second of the trace entry it matched. */
    const matchedAt = new Map<number, number>();
    let p = -1;
    let prevHash: string | undefined;
    for (const e of entries) {
      const what = `${key} ${e.hash === DELETED ? 'deletion' : `version ${e.hash}`} at ${e.ts}`;
      if (e.hash === prevHash) v.duplicated.push(what);
      prevHash = e.hash;
      let i: number;
      if (e.hash === DELETED) {
        i = truth.findIndex((t, j) => j > p && t.hash === DELETED);
        // A real deletion after the previous matched version (stream order), not after this
        // entry's second: a deletion is stamped when the forwarder reads it, or at a relist.
        const real = truth[i];
        if (i < 0 || !real || real.atMs >= (e.ts + 1) * 1000) {
          v.spuriousDeletions.push(what);
          continue;
        }
      } else {
        i = truth.findIndex((t) => t.hash === e.hash);
        if (i < 0) {
          v.unknown.push(what);
          continue;
        }
        if (i < p) v.outOfOrder.push(`${what} after a later version`);
        if (i === p) continue;
      }
      if (!matchedAt.has(i)) {
        matchedAt.set(i, e.ts);
        const late = mistimed(truth[i]!, e.ts, blind);
        if (late) v.mistimed.push(`${what}: ${late}`);
      }
      p = Math.max(p, i);
    }
    v.matched += matchedAt.size;
    /** Whether the trace shows the object alive before entry i (since its last deletion). */
    let shownAlive = false;
    for (const [i, t] of truth.entries()) {
      v.changes++;
      const next = truth[i + 1];
      const isDeletion = t.hash === DELETED;
      // The last entry (the final state) is always required; an earlier one when some of its
      // lifetime was watched and not coalesced into the next change's second.
      const seen = next ? observable(t.atMs, next.atMs, blind) : [];
      const required =
        (next === undefined || (seen.length > 0 && !coalesced(seen, next.atMs))) &&
        // A deletion of an object the trace never showed alive has nothing to delete: the export
        // drops it (its creation was unseen or coalesced away).
        !(isDeletion && !shownAlive);
      if (matchedAt.has(i)) shownAlive = !isDeletion;
      else if (isDeletion) shownAlive = false;
      if (!required) continue;
      v.required++;
      if (!matchedAt.has(i)) {
        const name = isDeletion ? 'deletion' : `version ${t.hash}`;
        v.lost.push(`${key} ${name} of ${new Date(t.atMs).toISOString()}${next ? '' : ' (final state)'}`);
      }
    }
    const finalTruth = truth[truth.length - 1]?.hash;
    const finalTrace = entries[entries.length - 1]?.hash;
    if (finalTruth !== undefined && (finalTrace ?? DELETED) !== finalTruth)
      v.finalMismatch.push(`${key}: trace ends with ${finalTrace ?? 'nothing'}, cluster with ${finalTruth}`);
  }
  v.ok =
    v.lost.length === 0 &&
    v.duplicated.length === 0 &&
    v.spuriousDeletions.length === 0 &&
    v.outOfOrder.length === 0 &&
    v.unknown.length === 0 &&
    v.finalMismatch.length === 0 &&
    v.mistimed.length === 0;
  return v;
}
