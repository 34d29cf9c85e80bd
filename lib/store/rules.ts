/**
 * The store's policy, free of any storage: which change writes what. The DynamoDB adapter reads
 * the object's state item, asks these functions, and performs the writes they call for, in the
 * order docs/storage.md gives (event item before state item), so that any prefix of a batch's
 * writes followed by a full retry of the batch ends in the same items.
 */
import type { KubeObject, ObjectRef } from '../trace/model.ts';

/** What the store holds about one object (its state item), as the rules need it. */
export interface ObjectStateView {
  live: boolean;
  /** Spec hash of the live version (absent once deleted). */
  hash?: bigint;
  /** Order of the last change that wrote this state: ts, then seq within the second. */
  ts: number;
  seq: number;
  /** Set on deleted objects' state: past it the item is as good as gone (DynamoDB TTL is lazy). */
  expiresAtSec?: number;
}

export interface ChangeOrder {
  ts: number;
  seq: number;
}

/** Orders two changes of one object: by second, then by the sender's seq within the second. */
export function compareOrder(a: ChangeOrder, b: ChangeOrder): number {
  return a.ts !== b.ts ? a.ts - b.ts : a.seq - b.seq;
}

/** A state item past its expiry is treated as absent, whether or not DynamoDB has removed it yet. */
export function effectiveState(
  state: ObjectStateView | undefined,
  nowSec: number,
): ObjectStateView | undefined {
  if (state?.expiresAtSec !== undefined && state.expiresAtSec <= nowSec) return undefined;
  return state;
}

/**
 * - `stale`: the state already reflects a later change of this object. Either this is a retry of a
 *   change whose writes all happened (an event, if any, is written before the state moves on), or a
 *   late arrival that would rewrite history behind a newer version: a no-op either way.
 * - `unchanged`: same spec as the live version: no event (status- and metadata-only changes never
 *   become events; SimKube's tracer drops them too). The state is not touched, so a retry decides alike.
 * - `write`: write the event item, then the state item.
 * Equal order (same second and seq) is not stale: with seq absent, the later change in the
 * array wins the second, and a full retry replays the array in order.
 */
export type AppliedDecision = 'write' | 'unchanged' | 'stale';

export function decideApplied(
  state: ObjectStateView | undefined,
  change: ChangeOrder & { hash: bigint },
): AppliedDecision {
  if (state === undefined) return 'write';
  if (compareOrder(change, state) < 0) return 'stale';
  if (state.live && state.hash === change.hash) return 'unchanged';
  return 'write';
}

/** `not_live`: deleting an object the store does not hold as live is a no-op (no event). */
export type DeletedDecision = 'write' | 'not_live' | 'stale';

export function decideDeleted(state: ObjectStateView | undefined, change: ChangeOrder): DeletedDecision {
  if (state === undefined || !state.live) return 'not_live';
  if (compareOrder(change, state) < 0) return 'stale';
  return 'write';
}

/**
 * A relist page at `pageTs` deletes a live object it does not list only if the object's last
 * change is not newer than the page (an object created after the list was taken is not missing).
 * With the page's `seq`, a change in the page's own second is ordered too: without it, a page
 * delivered late or twice (a duplicated request) after a watch event of the same second deleted
 * the object that event had just created (found by tests/chaos: duplicate deliveries).
 */
export function isReconcileCandidate(state: ObjectStateView, pageTs: number, pageSeq?: number): boolean {
  if (!state.live) return false;
  if (pageSeq === undefined) return state.ts <= pageTs;
  return compareOrder(state, { ts: pageTs, seq: pageSeq }) <= 0;
}

/**
 * The order a reconcile deletion takes: the page's (never older than the state it replaces, which
 * is a candidate); without the page's seq, the page's second and the state's seq when the state is
 * of that same second.
 */
export function reconcileOrder(state: ObjectStateView, pageTs: number, pageSeq?: number): ChangeOrder {
  if (pageSeq !== undefined) return { ts: pageTs, seq: pageSeq };
  return { ts: pageTs, seq: state.ts === pageTs ? state.seq : 0 };
}

/**
 * Retention: history expires `retentionDays` after the later of its event time and its ingest time,
 * so an imported old trace lives as long as fresh data.
 */
export function expiresAtSec(eventTs: number, nowSec: number, retentionDays: number): number {
  return Math.max(eventTs, nowSec) + Math.round(retentionDays * 86_400);
}

/**
 * The body stored with a deletion: the deleted object as sent when it is a full object, else (the
 * wire allows just apiVersion, kind and name) the last applied version, so the export can filter the
 * deletion by the same labels and owners as the object it deletes.
 */
export function deletionBody(sent: KubeObject, lastApplied: KubeObject | undefined): KubeObject {
  if (lastApplied === undefined) return sent;
  const topKeys = Object.keys(sent).filter((k) => k !== 'apiVersion' && k !== 'kind' && k !== 'metadata');
  const metaKeys = Object.keys(sent.metadata ?? {}).filter((k) => k !== 'name' && k !== 'namespace');
  return topKeys.length === 0 && metaKeys.length === 0 ? lastApplied : sent;
}

/** Owners as the store keeps them: the chain the sender resolved, or none (the export then uses ownerReferences). */
export function ownersOf(owners: { gvk: string; ns_name: string }[] | undefined): ObjectRef[] {
  return (owners ?? []).map((o) => ({ gvk: o.gvk, nsName: o.ns_name }));
}
