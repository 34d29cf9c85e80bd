/**
 * The ingest side of the DynamoDB trace store: applies a validated batch idempotently.
 *
 * Order of writes (docs/storage.md, "Idempotency without transactions"):
 * - a batch is cut into segments at its relist pages; a page runs after every change before it
 *   (the sender puts the listed objects' applied changes first) and before every change after it;
 * - within a segment, each object's (and each lifecycle's) changes run in array order; different
 *   objects run in parallel;
 * - per change: blob (if any) → event item → state item. The state moves only after the event is
 *   written, so a retry after any prefix sees either the old state (and redoes the same writes) or
 *   the new one (and finds the change stale or unchanged: nothing to redo).
 */

import { compareBytewise } from '../../ingest/names.ts';
import type {
  AppliedChange,
  Batch,
  Change,
  ConfigChange,
  DeletedChange,
  LifecycleChange,
  RelistChange,
} from '../../ingest/wire.ts';
import { CURRENT_ENCODING, encodeBody } from '../../store/body-codec.ts';
import { StoreError, StoreRejectedError } from '../../store/errors.ts';
import type { FeedEntry } from '../../store/feed.ts';
import {
  BUCKET_SEC,
  bucketOf,
  CONFIG_LATEST_SK,
  configPk,
  eventSk,
  lifecycleEndPk,
  lifecycleEndSk,
  lifecyclePk,
  lifecycleSk,
  META_LIFECYCLE_LAYOUT_SK,
  metaChangeCountSk,
  metaPk,
  padTs,
  runningLifecyclePk,
  runningLifecycleSk,
  shardOf,
  statePk,
} from '../../store/keys.ts';
import { forEachLimit } from '../../store/merge.ts';
import type { ApplyOptions, ApplyResult, ClusterId } from '../../store/ports.ts';
import {
  type ChangeOrder,
  decideApplied,
  decideDeleted,
  deletionBody,
  effectiveState,
  expiresAtSec,
  isReconcileCandidate,
  type ObjectStateView,
  ownersOf,
  reconcileOrder,
} from '../../store/rules.ts';
import { gvkOf, nsNameOf } from '../../trace/gvk.ts';
import type { Gvk, KubeObject, NsName } from '../../trace/model.ts';
import type { ObjectPayload } from './bodies.ts';
import {
  anyOf,
  itemAbsent,
  numberAbsentOr,
  runningWithStart,
  storedOrderNotNewer,
  storedSeqNotAbove,
} from './conditions.ts';
import type { StoreContext } from './context.ts';
import { writeFeed } from './feed.ts';
import type { CapacityMeter, Item } from './io.ts';
import {
  type EventRecord,
  eventItem,
  eventKey,
  n,
  num,
  parseStateItem,
  type StateRecord,
  type StoredBody,
  s,
  stateItem,
  stateKey,
  str,
} from './items.ts';
import type { ClusterMeta } from './meta.ts';

type ObjectChangeIn = AppliedChange | DeletedChange;

/** Least seconds between two writes of one hour's change count from one container. */
const CHANGE_COUNT_EVERY_SEC = 60;

interface Tally {
  deduplicated: number;
  reconciled_deletions: number;
  /** Event items this batch stored (or found stored by an earlier attempt): its change-feed record. */
  fed: FeedEntry[];
}

interface WriteMeter extends CapacityMeter {
  writeUnits: number;
}

export class TraceWriterCore {
  readonly #ctx: StoreContext;
  readonly #meta: ClusterMeta;
  /** Per cluster: the lifecycle layout record as stored (ensured once per container), its longest duration. */
  readonly #lifecycleLayout = new Map<ClusterId, Promise<{ maxDurationSec: number }>>();
  /** Per cluster and hour: changes counted but not yet added to the hour's count, and when it was last written. */
  readonly #changeCounts = new Map<
    string,
    { cluster: ClusterId; hour: number; pending: number; writtenAtSec: number }
  >();

  constructor(ctx: StoreContext, meta: ClusterMeta) {
    this.#ctx = ctx;
    this.#meta = meta;
  }

  async applyBatch(cluster: ClusterId, batch: Batch, options: ApplyOptions): Promise<ApplyResult> {
    const meter: WriteMeter = { readUnits: 0, writeUnits: 0 };
    const tally: Tally = { deduplicated: 0, reconciled_deletions: 0, fed: [] };
    const nowSec = options.nowSec;

    await this.#meta.recordBatch(cluster, this.#metaInput(batch, nowSec), meter);

    const indexOf = new Map<Change, number>(batch.changes.map((c, i) => [c, i]));
    let segment: Change[] = [];
    for (const change of batch.changes) {
      if (change.type === 'relist') {
        await this.#applySegment(cluster, segment, nowSec, meter, tally, indexOf);
        segment = [];
        await naming(indexOf, change, () =>
          change.lifecycles
            ? this.#finishVanishedLifecycles(cluster, change, nowSec, meter)
            : this.#reconcilePage(cluster, change, nowSec, meter, tally),
        );
      } else {
        segment.push(change);
      }
    }
    await this.#applySegment(cluster, segment, nowSec, meter, tally, indexOf);
    if (this.#ctx.settings.countChanges) await this.#countChanges(cluster, batch, nowSec, meter);
    // Last: the record names only events already stored (lib/store/feed.ts).
    if (this.#ctx.settings.changeFeed && tally.fed.length > 0) {
      await writeFeed(this.#ctx, cluster, tally.fed, meter);
    }

    return {
      accepted: batch.changes.length,
      deduplicated: tally.deduplicated,
      reconciled_deletions: tally.reconciled_deletions,
      writeUnits: meter.writeUnits,
      readUnits: meter.readUnits,
    };
  }

  /**
   * Adds the batch's changes to its hours' counts (META `N#<hour>`): at most one write per hour
   * and cluster a minute from a container — an estimate for sizing exports (docs/export-api.md
   * "Limits"), never read for the trace itself; counts still pending when a container ends are lost.
   */
  async #countChanges(cluster: ClusterId, batch: Batch, nowSec: number, meter: WriteMeter): Promise<void> {
    for (const c of batch.changes) {
      if (c.type !== 'applied' && c.type !== 'deleted') continue;
      const hour = bucketOf(c.ts);
      const key = `${cluster} ${hour}`;
      const entry = this.#changeCounts.get(key) ?? {
        cluster,
        hour,
        pending: 0,
        writtenAtSec: Number.NEGATIVE_INFINITY,
      };
      entry.pending++;
      this.#changeCounts.set(key, entry);
    }
    for (const [key, entry] of this.#changeCounts) {
      if (
        entry.cluster !== cluster ||
        entry.pending === 0 ||
        nowSec - entry.writtenAtSec < CHANGE_COUNT_EVERY_SEC
      )
        continue;
      const retentionSec = this.#ctx.settings.retentionDays * 86_400;
      await this.#ctx.io.update(
        { pk: metaPk(cluster), sk: metaChangeCountSk(entry.hour) },
        {
          expression: 'SET expiresAtSec = :exp ADD changes :n',
          values: {
            ':n': n(entry.pending),
            ':exp': n(Math.max(entry.hour, nowSec) + retentionSec + BUCKET_SEC),
          },
        },
        undefined,
        meter,
      );
      entry.pending = 0;
      entry.writtenAtSec = nowSec;
      // Hours long past stay out of memory.
      if (entry.hour + 2 * BUCKET_SEC < nowSec) this.#changeCounts.delete(key);
    }
  }

  #metaInput(batch: Batch, nowSec: number) {
    const retention = this.#ctx.settings.retentionDays;
    const historyTs: { ts: number; expiresAtSec: number }[] = [];
    const kinds = new Set<Gvk>();
    let minEventTs: number | undefined;
    for (const c of batch.changes) {
      if (c.type === 'applied' || c.type === 'deleted' || c.type === 'relist') {
        historyTs.push({ ts: c.ts, expiresAtSec: expiresAtSec(c.ts, nowSec, retention) });
        minEventTs = minEventTs === undefined ? c.ts : Math.min(minEventTs, c.ts);
        if (c.type === 'applied') kinds.add(gvkOf(c.object));
      } else if (c.type === 'lifecycle' && c.end_ts !== undefined) {
        historyTs.push({ ts: c.end_ts, expiresAtSec: expiresAtSec(c.end_ts, nowSec, retention) });
      }
    }
    return { historyTs, minEventTs, kinds, nowSec };
  }

  async #applySegment(
    cluster: ClusterId,
    changes: Change[],
    nowSec: number,
    meter: WriteMeter,
    tally: Tally,
    indexOf: ReadonlyMap<Change, number>,
  ) {
    if (changes.length === 0) return;
    // Lanes: one per object, per lifecycle (owner + pod) and one for config; each runs in order.
    const objectLanes = new Map<string, { gvk: Gvk; nsName: NsName; changes: ObjectChangeIn[] }>();
    const lifecycleLanes = new Map<string, LifecycleChange[]>();
    const configs: ConfigChange[] = [];
    for (const c of changes) {
      if (c.type === 'applied' || c.type === 'deleted') {
        const gvk = gvkOf(c.object);
        const nsName = nsNameOf(c.object);
        const key = `${gvk} ${nsName}`;
        let lane = objectLanes.get(key);
        if (!lane) {
          lane = { gvk, nsName, changes: [] };
          objectLanes.set(key, lane);
        }
        lane.changes.push(c);
      } else if (c.type === 'lifecycle') {
        const key = `${c.owner.gvk} ${c.owner.ns_name} ${c.pod_spec_hash} ${c.pod}`;
        const lane = lifecycleLanes.get(key) ?? [];
        lane.push(c);
        lifecycleLanes.set(key, lane);
      } else if (c.type === 'config') {
        configs.push(c);
      }
    }

    // One strongly consistent read of every object's state for the whole segment.
    const lanes = [...objectLanes.values()];
    const states = await this.#ctx.io.batchGet(
      lanes.map((l) => stateKey(cluster, l.gvk, l.nsName)),
      meter,
    );

    type Task = () => Promise<void>;
    const tasks: Task[] = [];
    for (const lane of lanes) {
      const item = states.get(`${statePk(cluster, lane.gvk)}\0${lane.nsName}`);
      const state = item ? parseStateItem(item, lane.gvk) : undefined;
      tasks.push(() =>
        this.#applyObjectLane(
          cluster,
          lane.gvk,
          lane.nsName,
          lane.changes,
          state,
          nowSec,
          meter,
          tally,
          indexOf,
        ),
      );
    }
    for (const lane of lifecycleLanes.values()) {
      tasks.push(async () => {
        for (const c of lane) {
          await naming(indexOf, c, () => this.#applyLifecycle(cluster, c, nowSec, meter));
        }
      });
    }
    if (configs.length > 0) {
      tasks.push(async () => {
        for (const c of configs) {
          await naming(indexOf, c, () => this.#applyConfig(cluster, c, nowSec, meter));
        }
      });
    }
    await forEachLimit(tasks, this.#ctx.settings.concurrency, (task) => task());
  }

  async #applyObjectLane(
    cluster: ClusterId,
    gvk: Gvk,
    nsName: NsName,
    changes: ObjectChangeIn[],
    initial: StateRecord | undefined,
    nowSec: number,
    meter: WriteMeter,
    tally: Tally,
    indexOf: ReadonlyMap<Change, number>,
  ): Promise<void> {
    let state = initial;
    for (const c of changes) {
      state = await naming(indexOf, c, () =>
        this.#applyObjectChange(cluster, gvk, nsName, c, state, nowSec, meter, tally),
      );
    }
  }

  /** One change of one object; returns the state now stored. */
  async #applyObjectChange(
    cluster: ClusterId,
    gvk: Gvk,
    nsName: NsName,
    c: ObjectChangeIn,
    state: StateRecord | undefined,
    nowSec: number,
    meter: WriteMeter,
    tally: Tally,
  ): Promise<StateRecord | undefined> {
    const { bodies, settings } = this.#ctx;
    const order: ChangeOrder = { ts: c.ts, seq: c.seq ?? 0 };
    const current = effectiveState(state, nowSec);
    let next: StateRecord;
    let event: EventRecord;
    if (c.type === 'applied') {
      const hash = this.#ctx.specHash(c.object.spec);
      const decision = decideApplied(current, { ...order, hash });
      if (decision !== 'write') {
        tally.deduplicated++;
        await this.#feedStoredEarlier(cluster, gvk, nsName, order, current, decision, meter, tally);
        return state;
      }
      const payload: ObjectPayload = { o: c.object, w: ownersOf(c.owners) };
      const body = await bodies.store(cluster, payload);
      event = { ts: c.ts, gvk, nsName, type: 'applied', seq: order.seq, body };
      next = { gvk, nsName, live: true, hash, ts: c.ts, seq: order.seq, body };
    } else {
      if (decideDeleted(current, order) !== 'write' || current === undefined) {
        if (current && !current.live && current.ts === order.ts && current.seq === order.seq) {
          tally.fed.push(this.#feedEntry(gvk, nsName, order)); // stored by an earlier attempt
        }
        return state;
      }
      const last = state?.body ? await bodies.loadPayload(cluster, state.body) : undefined;
      const payload: ObjectPayload = { o: deletionBody(c.object, last?.o), w: last?.w ?? [] };
      const body = await bodies.store(cluster, payload);
      event = { ts: c.ts, gvk, nsName, type: 'deleted', seq: order.seq, body };
      next = {
        gvk,
        nsName,
        live: false,
        ts: c.ts,
        seq: order.seq,
        expiresAtSec: expiresAtSec(c.ts, nowSec, settings.retentionDays),
      };
    }
    event.expiresAtSec = expiresAtSec(c.ts, nowSec, settings.retentionDays);
    const written = await this.#writeEventThenState(cluster, event, next, meter);
    if (written.eventStored) tally.fed.push(this.#feedEntry(gvk, nsName, order));
    return written.state;
  }

  #feedEntry(gvk: Gvk, nsName: NsName, order: ChangeOrder): FeedEntry {
    return {
      shard: shardOf(gvk, nsName, this.#ctx.settings.shards),
      sk: eventSk(order.ts, gvk, nsName),
      seq: order.seq,
    };
  }

  /**
   * A retried batch finds its earlier attempt's changes unchanged (state holds this very ts and
   * seq) or stale (a later change of the batch moved the state on): those whose event item holds
   * this change are listed in the feed again, in case the earlier attempt stopped before its record.
   */
  async #feedStoredEarlier(
    cluster: ClusterId,
    gvk: Gvk,
    nsName: NsName,
    order: ChangeOrder,
    current: ObjectStateView | undefined,
    decision: 'unchanged' | 'stale',
    meter: WriteMeter,
    tally: Tally,
  ): Promise<void> {
    if (!this.#ctx.settings.changeFeed || current === undefined) return;
    if (decision === 'unchanged') {
      if (current.ts === order.ts && current.seq === order.seq)
        tally.fed.push(this.#feedEntry(gvk, nsName, order));
      return;
    }
    const stored = await this.#ctx.io.get(
      eventKey(cluster, this.#ctx.settings.shards, order.ts, gvk, nsName),
      meter,
    );
    if (stored && num(stored, 'seq') === order.seq) tally.fed.push(this.#feedEntry(gvk, nsName, order));
  }

  /**
   * The event item first, then the state item; returns the state now stored. If the event slot
   * already holds a later change of that second, or the state a later change, this change lost
   * the race (a concurrent duplicate delivery): the stored state is re-read and kept.
   */
  async #writeEventThenState(
    cluster: ClusterId,
    event: EventRecord,
    next: StateRecord,
    meter: WriteMeter,
  ): Promise<{ state: StateRecord | undefined; eventStored: boolean }> {
    const { io, settings } = this.#ctx;
    const eventOutcome = await io.put(
      eventItem(cluster, settings.shards, event),
      anyOf(itemAbsent(), storedSeqNotAbove(event.seq)),
      meter,
    );
    if (eventOutcome.ok) {
      const stateOutcome = await io.put(
        stateItem(cluster, next),
        anyOf(itemAbsent(), storedOrderNotNewer(next.ts, next.seq)),
        meter,
      );
      if (stateOutcome.ok) return { state: next, eventStored: true };
      if (stateOutcome.old) return { state: parseStateItem(stateOutcome.old, next.gvk), eventStored: true };
    }
    const stored = await io.get(stateKey(cluster, next.gvk, next.nsName), meter);
    return { state: stored ? parseStateItem(stored, next.gvk) : undefined, eventStored: eventOutcome.ok };
  }

  /**
   * A relist page: live objects of its kind in `(after, through]` that it does not list, and whose
   * last change is not newer than the page, are recorded as deleted at the page's ts. One Query on
   * the kind's state partition, bounded by the page's range; never another kind's partition.
   */
  async #reconcilePage(
    cluster: ClusterId,
    page: RelistChange,
    nowSec: number,
    meter: WriteMeter,
    tally: Tally,
  ) {
    const listed = new Set(page.ns_names);
    // Dead objects deleted at this page's second too: a retry lists in the feed what an earlier
    // attempt of this page deleted (lib/store/feed.ts).
    const values: Item = {
      ':pk': s(statePk(cluster, page.gvk)),
      ':live': { BOOL: true },
      ':pts': n(page.ts),
    };
    let keyCondition = 'pk = :pk';
    if (page.after !== null && page.through !== null) {
      // BETWEEN is inclusive; the page's range excludes `after`, skipped below.
      keyCondition += ' AND sk BETWEEN :after AND :through';
      values[':after'] = s(page.after);
      values[':through'] = s(page.through);
    } else if (page.after !== null) {
      keyCondition += ' AND sk > :after';
      values[':after'] = s(page.after);
    } else if (page.through !== null) {
      keyCondition += ' AND sk <= :through';
      values[':through'] = s(page.through);
    }
    const victims: StateRecord[] = [];
    for await (const item of this.#ctx.io.query(
      {
        KeyConditionExpression: keyCondition,
        FilterExpression: '#live = :live OR #ts = :pts',
        ExpressionAttributeNames: { '#live': 'live', '#ts': 'ts' },
        ExpressionAttributeValues: values,
      },
      meter,
    )) {
      const state = parseStateItem(item, page.gvk);
      if (state.nsName === page.after || listed.has(state.nsName)) continue;
      const current = effectiveState(state, nowSec);
      if (current && !current.live) {
        if (current.ts === page.ts) tally.fed.push(this.#feedEntry(page.gvk, state.nsName, current));
        continue;
      }
      if (current && isReconcileCandidate(current, page.ts, page.seq)) victims.push(state);
    }
    await forEachLimit(victims, this.#ctx.settings.concurrency, async (state) => {
      const order = reconcileOrder(state, page.ts, page.seq);
      const body = state.body ?? (await this.#minimalBody(cluster, page.gvk, state.nsName));
      const exp = expiresAtSec(page.ts, nowSec, this.#ctx.settings.retentionDays);
      // The deletion carries the last applied version (object and owners): same bytes as the state's body.
      const event: EventRecord = {
        ts: page.ts,
        gvk: page.gvk,
        nsName: state.nsName,
        type: 'deleted',
        seq: order.seq,
        body,
        expiresAtSec: exp,
      };
      const next: StateRecord = {
        gvk: page.gvk,
        nsName: state.nsName,
        live: false,
        ts: order.ts,
        seq: order.seq,
        expiresAtSec: exp,
      };
      const { state: stored, eventStored } = await this.#writeEventThenState(cluster, event, next, meter);
      if (stored && !stored.live && stored.ts === next.ts && stored.seq === next.seq)
        tally.reconciled_deletions++;
      if (eventStored) tally.fed.push(this.#feedEntry(page.gvk, state.nsName, order));
    });
  }

  /** A body for a deletion when the state item has none (only items written before bodies were kept). */
  async #minimalBody(cluster: ClusterId, gvk: Gvk, nsName: NsName): Promise<StoredBody> {
    const at = gvk.lastIndexOf('.');
    const slash = nsName.indexOf('/');
    const object: KubeObject = {
      apiVersion: gvk.slice(0, at),
      kind: gvk.slice(at + 1),
      metadata:
        slash < 0 ? { name: nsName } : { namespace: nsName.slice(0, slash), name: nsName.slice(slash + 1) },
    };
    return this.#ctx.bodies.store(cluster, { o: object, w: [] } satisfies ObjectPayload);
  }

  /**
   * One item per pod incarnation (owner, pod-spec hash, pod, start); it only moves forward (Running →
   * Finished, same start). The running incarnation of a pod is also indexed by pod (keys.ts
   * `runningLifecyclePk`, one entry per pod, owner and hash, holding its start), so that a pods
   * relist can finish it when its pod vanished unseen, and so that incarnations of one pod name
   * (a StatefulSet pod recreated) are told apart from a regression:
   * - a change with the indexed start, or with no indexed incarnation, is written as usual;
   * - a later start is a new incarnation: the indexed one ended by then at the latest (a pod name
   *   has one incarnation at a time), so it is finished at this start first;
   * - an earlier start is an older incarnation delivered late: kept only if it is Finished by the
   *   time the indexed one started, else it contradicts the running one and is ignored.
   * Lifecycle item first, index second: a retry after either write redoes both, and a redelivered
   * Running of a lifecycle already Finished indexes nothing.
   */
  async #applyLifecycle(cluster: ClusterId, c: LifecycleChange, nowSec: number, meter: WriteMeter) {
    await this.#ensureLifecycleLayout(cluster, nowSec, meter);
    const podSpecHash = parsePodSpecHash(c.pod_spec_hash);
    const io = this.#ctx.io;
    const indexKey = {
      pk: runningLifecyclePk(cluster),
      sk: runningLifecycleSk(c.pod, c.owner.gvk, c.owner.ns_name, podSpecHash),
    };
    const indexed = await io.get(indexKey, meter);
    const runningStart = indexed === undefined ? undefined : num(indexed, 'startTs');
    if (runningStart !== undefined && runningStart !== c.start_ts) {
      if (c.start_ts < runningStart) {
        if (c.end_ts === undefined || c.end_ts > runningStart) return;
        await this.#putLifecycle(cluster, c, podSpecHash, nowSec, meter);
        return;
      }
      await this.#putLifecycle(
        cluster,
        { ...c, start_ts: runningStart, end_ts: c.start_ts },
        podSpecHash,
        nowSec,
        meter,
      );
      await io.delete(indexKey, meter, runningWithStart(runningStart));
    }
    const stored = await this.#putLifecycle(cluster, c, podSpecHash, nowSec, meter);
    if (stored === undefined) return;
    if (num(stored, 'endTs') !== undefined) {
      // Only this incarnation's entry: a late Finished of an older one must not unindex the running one.
      await io.delete(indexKey, meter, runningWithStart(c.start_ts));
    } else if (num(stored, 'startTs') === c.start_ts) {
      await io.put(
        {
          pk: s(indexKey.pk),
          sk: s(indexKey.sk),
          pod: s(c.pod),
          ownerGvk: s(c.owner.gvk),
          ownerNsName: s(c.owner.ns_name),
          podSpecHash: s(c.pod_spec_hash),
          startTs: n(c.start_ts),
          ts: n(c.ts),
        },
        undefined,
        meter,
      );
    }
  }

  /** The incarnation's item, written if absent or moving forward; returns the item as stored. */
  async #putLifecycle(
    cluster: ClusterId,
    c: LifecycleChange,
    podSpecHash: bigint,
    nowSec: number,
    meter: WriteMeter,
  ): Promise<Item | undefined> {
    const shard = shardOf(c.owner.gvk, c.owner.ns_name, this.#ctx.settings.shards);
    const item: Item = {
      pk: s(lifecyclePk(cluster, shard)),
      sk: s(lifecycleSk(c.owner.gvk, c.owner.ns_name, podSpecHash, c.pod, c.start_ts)),
      startTs: n(c.start_ts),
      ts: n(c.ts),
    };
    // A running lifecycle is live state (it overlaps every window until it ends): no expiry.
    if (c.end_ts !== undefined) {
      item.endTs = n(c.end_ts);
      item.expiresAtSec = n(expiresAtSec(c.end_ts, nowSec, this.#ctx.settings.retentionDays));
    }
    const condition =
      c.end_ts === undefined ? itemAbsent() : anyOf(itemAbsent(), runningWithStart(c.start_ts));
    // A failed condition is a regression (or a redelivery): ignored, the stored lifecycle stands.
    const outcome = await this.#ctx.io.put(item, condition, meter);
    const stored = outcome.ok
      ? item
      : (outcome.old ?? (await this.#ctx.io.get({ pk: item.pk!.S!, sk: item.sk!.S! }, meter)));
    // The window index of what is stored (a redelivered or retried Finished rewrites the same item,
    // so a crash between the two writes is repaired by the retry).
    const storedEnd = stored === undefined ? undefined : num(stored, 'endTs');
    if (c.end_ts !== undefined && stored !== undefined && storedEnd !== undefined) {
      const start = num(stored, 'startTs') ?? c.start_ts;
      await this.#putLifecycleEnd(cluster, c, podSpecHash, start, storedEnd, stored, meter);
    }
    return stored;
  }

  /**
   * A finished lifecycle's item in the partition of its end hour (keys.ts `lifecycleEndPk`), after
   * the longest-duration watermark covers it, so a reader that finds the watermark searches far
   * enough for every end-hour item written.
   */
  async #putLifecycleEnd(
    cluster: ClusterId,
    c: LifecycleChange,
    podSpecHash: bigint,
    startTs: number,
    endTs: number,
    stored: Item,
    meter: WriteMeter,
  ): Promise<void> {
    const durationSec = Math.max(0, endTs - startTs);
    const layout = await this.#lifecycleLayout.get(cluster)!;
    if (durationSec > layout.maxDurationSec) {
      // A failed condition means a longer one is stored already: fine either way.
      await this.#ctx.io.update(
        { pk: metaPk(cluster), sk: META_LIFECYCLE_LAYOUT_SK },
        { expression: 'SET maxDurationSec = :d', values: { ':d': n(durationSec) } },
        numberAbsentOr('maxDurationSec', '<', durationSec),
        meter,
      );
      layout.maxDurationSec = durationSec;
    }
    const item: Item = {
      pk: s(lifecycleEndPk(cluster, bucketOf(endTs))),
      sk: s(lifecycleEndSk(startTs, c.owner.gvk, c.owner.ns_name, podSpecHash, c.pod)),
      ownerGvk: s(c.owner.gvk),
      ownerNsName: s(c.owner.ns_name),
      podSpecHash: s(podSpecHash.toString()),
      pod: s(c.pod),
      startTs: n(startTs),
      endTs: n(endTs),
    };
    if (stored.expiresAtSec) item.expiresAtSec = stored.expiresAtSec;
    await this.#ctx.io.put(item, undefined, meter);
  }

  /**
   * Once per cluster and container, before its first lifecycle write: the metadata record saying
   * since when finished lifecycles have end-hour items. A cluster with lifecycle items from before
   * (written by a version without them) gets `sinceSec` = now, and readers fall back to reading
   * every lifecycle for windows starting before it (plus a margin); a cluster without gets 0.
   */
  #ensureLifecycleLayout(
    cluster: ClusterId,
    nowSec: number,
    meter: WriteMeter,
  ): Promise<{ maxDurationSec: number }> {
    let known = this.#lifecycleLayout.get(cluster);
    if (!known) {
      known = this.#loadLifecycleLayout(cluster, nowSec, meter);
      this.#lifecycleLayout.set(cluster, known);
      known.catch(() => this.#lifecycleLayout.delete(cluster));
    }
    return known;
  }

  async #loadLifecycleLayout(
    cluster: ClusterId,
    nowSec: number,
    meter: WriteMeter,
  ): Promise<{ maxDurationSec: number }> {
    const io = this.#ctx.io;
    const key = { pk: metaPk(cluster), sk: META_LIFECYCLE_LAYOUT_SK };
    const stored = await io.get(key, meter);
    if (stored) return { maxDurationSec: num(stored, 'maxDurationSec') ?? 0 };
    let older = false;
    for (let shard = 0; shard < this.#ctx.settings.shards && !older; shard++) {
      for await (const _ of io.query(
        {
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': s(lifecyclePk(cluster, shard)) },
          Limit: 1,
        },
        meter,
      )) {
        older = true;
      }
    }
    const outcome = await io.put(
      { pk: s(key.pk), sk: s(key.sk), sinceSec: n(older ? nowSec : 0) },
      itemAbsent(),
      meter,
    );
    if (outcome.ok) return { maxDurationSec: 0 };
    // Lost a race with another container: its record stands (same meaning); re-read its duration.
    const again = outcome.old ?? (await io.get(key, meter));
    return { maxDurationSec: (again && num(again, 'maxDurationSec')) ?? 0 };
  }

  /**
   * A pods relist page with `lifecycles`: running lifecycles whose pod is in `(after, through]`,
   * not listed, and not started or written after the page, are Finished at the page's ts — the
   * pod vanished while no forwarder watched, as SimKube's tracer finishes them when it relists.
   * One Query on the cluster's running-lifecycle index, bounded by the page's range.
   */
  async #finishVanishedLifecycles(cluster: ClusterId, page: RelistChange, nowSec: number, meter: WriteMeter) {
    const listed = new Set(page.ns_names);
    const values: Item = { ':pk': s(runningLifecyclePk(cluster)) };
    // Index sort keys are `pod ' ' owner…`; a space sorts below every name character and `!` is
    // the next one, so `[after, through + '!']` holds every pod in (after, through] (filtered exactly below).
    let keyCondition = 'pk = :pk';
    if (page.after !== null) {
      keyCondition += page.through !== null ? ' AND sk BETWEEN :lo AND :hi' : ' AND sk >= :lo';
      values[':lo'] = s(page.after);
    } else if (page.through !== null) {
      keyCondition += ' AND sk <= :hi';
    }
    if (page.through !== null) values[':hi'] = s(`${page.through}!`);
    const victims: LifecycleChange[] = [];
    for await (const item of this.#ctx.io.query(
      { KeyConditionExpression: keyCondition, ExpressionAttributeValues: values },
      meter,
    )) {
      const pod = str(item, 'pod') ?? '';
      const startTs = num(item, 'startTs') ?? 0;
      const ts = num(item, 'ts') ?? 0;
      if (page.after !== null && compareBytewise(pod, page.after) <= 0) continue;
      if (page.through !== null && compareBytewise(pod, page.through) > 0) continue;
      if (listed.has(pod) || ts > page.ts || startTs > page.ts) continue;
      victims.push({
        type: 'lifecycle',
        ts: page.ts,
        owner: { gvk: str(item, 'ownerGvk') ?? '', ns_name: str(item, 'ownerNsName') ?? '' },
        pod,
        pod_spec_hash: str(item, 'podSpecHash') ?? '0',
        start_ts: startTs,
        end_ts: page.ts,
      });
    }
    await forEachLimit(victims, this.#ctx.settings.concurrency, (c) =>
      this.#applyLifecycle(cluster, c, nowSec, meter),
    );
  }

  /** History by ts (expires), then the latest (never expires: a config stays in force until replaced). */
  async #applyConfig(cluster: ClusterId, c: ConfigChange, nowSec: number, meter: WriteMeter) {
    const bytes = encodeBody(c.config);
    const attrs: Item = { ts: n(c.ts), enc: s(CURRENT_ENCODING), body: { B: bytes } };
    await this.#ctx.io.put(
      {
        pk: s(configPk(cluster)),
        sk: s(padTs(c.ts)),
        ...attrs,
        expiresAtSec: n(expiresAtSec(c.ts, nowSec, this.#ctx.settings.retentionDays)),
      },
      undefined,
      meter,
    );
    await this.#ctx.io.put(
      { pk: s(configPk(cluster)), sk: s(CONFIG_LATEST_SK), ...attrs },
      anyOf(itemAbsent(), storedOrderNotNewerTs(c.ts)),
      meter,
    );
  }
}

function storedOrderNotNewerTs(ts: number) {
  return { expression: '#ts <= :ts', names: { '#ts': 'ts' }, values: { ':ts': n(ts) } };
}

function parsePodSpecHash(value: string): bigint {
  try {
    return BigInt(value);
  } catch (err) {
    throw new StoreError(
      'invalid_pod_spec_hash',
      `pod_spec_hash "${value}" is not a u64`,
      {},
      { cause: err },
    );
  }
}

/**
 * Runs one change's writes; a store refusal (StoreRejectedError) is re-thrown naming the change,
 * so the sender's 422 says which change to drop.
 */
async function naming<T>(
  indexOf: ReadonlyMap<Change, number>,
  change: Change,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const index = indexOf.get(change);
    if (!(err instanceof StoreRejectedError) || index === undefined || err.context.index !== undefined)
      throw err;
    throw new StoreRejectedError(
      `change ${index} (${change.type}) was refused by the store: ${err.message}`,
      { ...err.context, field: `changes[${index}]`, index },
      { cause: err },
    );
  }
}
