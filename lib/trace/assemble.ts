/**
 * Export assembly: turns stored changes into the SimKube trace of a window `[startTs, endTs)`,
 * following SimKube's `collect_events` / `PodOwnersMap::filter` (sk-store) with keys made of kind
 * and name together (SimKube keys its start state by name alone, so a Deployment and a
 * ServiceAccount both `prod/web` collide there; here they never do).
 *
 * Shape of the result:
 * - `events[0]` is at `startTs` and applies every object alive at the start (its latest version
 *   before `startTs`), sorted by GVK and nsName; it has no deletions;
 * - then one event per second with changes in `[startTs, endTs)`, in input order, empty ones left
 *   out. Changes at exactly `startTs` go into a second event at that same second, not into
 *   `events[0]`: SimKube exports that way (cronjob.sktrace and dsb-scaling.sktrace begin with an
 *   empty event at the start followed by an event at the same second holding the objects), so such a
 *   trace imported with its timestamps and exported over its whole window comes back the same. (A
 *   trace whose first event holds objects — a start state — comes back the same only if the importer
 *   records that event's objects before its second.)
 *
 * Which objects make it (per applied version, like SimKube):
 * - dropped when its namespace is excluded, an `excluded_labels` selector matches it, it has a
 *   DaemonSet owner (virtual nodes run no DaemonSet pods), or its kind is tracked with `skipOwned`
 *   and it has owner references (SimKube applies skipOwned when storing; applying it again here
 *   makes the export right whatever the sender did);
 * - dropped when any owner up its chain is created by the replay — an owner in the trace, or an
 *   owner that is itself made by such an owner (e.g. a Pod whose ReplicaSet belongs to a Deployment
 *   in the trace, even when only the Pod's direct owner reference is known). The replay's
 *   controllers would create it a second time. This check comes first: an object its owner creates
 *   is created on replay whatever the filters say about it, so its own dependents must go too.
 *   Conversely an owner that is *not* in the trace (excluded by labels, or of an untracked kind)
 *   does not drop its dependents: a ReplicaSet whose Deployment is excluded stays, so the replay
 *   still runs its pods. (Exclusion by namespace needs no rule: namespaced owners share their
 *   dependents' namespace.)
 * - a deletion is kept only for an object the replay holds at that point (an applied version of it
 *   was exported and not deleted since); deleting what was never created would only make the
 *   replay fail or warn.
 * - bare pods (no owners) whose recorded lifecycles all finished before `startTs` are not carried
 *   into the start state (current SimKube's `obj_is_finished_pod`), nor their later deletion.
 *
 * `index`: GVK → nsName → spec hash of the last exported version, for every object exported in
 * the trace, including objects deleted inside the window (SimKube exports with `keep_deleted`, so
 * pod lifecycles of deleted owners survive). SimKube also lists objects deleted *before* the window,
 * as a side effect of replaying its whole in-memory history; we read only the window and the start
 * state, so those are absent — the replay never creates them, and nothing looks them up.
 *
 * `pod_lifecycles`: owners present in the index; lifecycles overlapping the window, starts clamped
 * to `startTs`, ends left as recorded (SimKube's `bound_start_ts`); owners and hashes left with no
 * lifecycle are dropped. "Overlapping" includes a pod that ran through the whole window, which
 * SimKube's `overlaps` misses (see lifecycle.ts).
 *
 * Memory: the start state, the window's exported objects and a small record per object the replay
 * creates — never the history before the window.
 */
import { AssemblyOrderError, validateExportFilters, validateWindow } from './assemble-input.ts';
import type { TracerConfig } from './config.ts';
import { exportableConfigDoc } from './config.ts';
import { EncodedObject } from './encoded-object.ts';
import { refOf } from './gvk.ts';
import { specHash } from './hash.ts';
import { clampToWindow, overlapsWindow } from './lifecycle.ts';
import type {
  ExportFilters,
  Gvk,
  KubeObject,
  Lifecycle,
  LifecyclesBySpecHash,
  NsName,
  ObjectChange,
  ObjectRef,
  PodLifecycles,
  Trace,
  TraceEvent,
  TraceWindow,
} from './model.ts';
import { objKey, parseObjKey } from './model.ts';
import { isDaemonSetGvk, isOwnedByDaemonSet, ownerChainOf, ownerRefsOf } from './owners.ts';
import { matchesSelector } from './selector.ts';

export {
  AssemblyOrderError,
  ExportFiltersError,
  ExportWindowError,
  validateExportFilters,
  validateWindow,
} from './assemble-input.ts';

const POD_GVK: Gvk = 'v1.Pod';

export interface AssemblyOptions {
  window: TraceWindow;
  /** Validated here (validateExportFilters); plain JSON from a request is fine. */
  filters: ExportFilters;
  config: TracerConfig;
  /**
   * Streaming: each event is handed over once complete (the start event when the start state is
   * sealed, a second's event when a later second arrives, the last one in finishStream()) and not
   * kept, so memory holds the start state and one record per exported object, never the window's
   * events. Lifecycles must then all be added before the first change (a finished bare pod leaves
   * the start state, which is emitted at the first change).
   */
  onEvent?: (event: TraceEvent) => void;
  /**
   * Applied to every change and start-state object before anything else (filters, owners, index),
   * as SimKube applies an export request's SKEL `transform` to each event: the changed change, or
   * undefined to drop it. lib/skel `changeTransform` builds one.
   */
  transform?: (change: ObjectChange) => ObjectChange | undefined;
}

/** Everything of a streamed trace but its events (handed to `onEvent`), and how many there were. */
export type StreamedTraceTail = Omit<Trace, 'events'> & { eventCount: number };

/** The lifecycles of one owner's pods with one stable pod-spec hash, in launch order. */
export interface OwnerLifecycles {
  owner: ObjectRef;
  podSpecHash: bigint;
  lifecycles: Lifecycle[];
}

export interface AssemblyCounts {
  /** Events in the trace, the start event included. */
  events: number;
  /** Objects in the index (exported at least once). */
  objects: number;
}

/** Why an applied version is or is not exported. */
type Verdict = 'kept' | 'owned' | 'filtered';

interface ObjectState {
  /** The replay creates this object: it is exported, or an owner the replay creates makes it. */
  createdOnReplay: boolean;
  /** An exported version exists and no exported deletion followed it. */
  liveInReplay: boolean;
  /** Last exported version, for the index. */
  lastExported?: KubeObject;
  /** An in-window change exported a version of it (so it outlives a withdrawn start version). */
  appliedInWindow: boolean;
}

/**
 * Incremental export assembly. Feed it, in this order: lifecycles (any time before finish(), but
 * before the first change if finished bare pods must leave the start state cheaply), the start
 * state (addStartObject, any order), then the window's changes (addChange, non-decreasing ts);
 * then call finish() once.
 */
export class TraceAssembler {
  readonly window: TraceWindow;
  readonly filters: ExportFilters;
  readonly #config: TracerConfig;
  readonly #excludedNamespaces: ReadonlySet<string>;
  readonly #transform: ((change: ObjectChange) => ObjectChange | undefined) | undefined;

  readonly #startChanges = new Map<string, ObjectChange>();
  #startObjects: { key: string; object: KubeObject }[] | undefined;
  readonly #objects = new Map<string, ObjectState>();
  readonly #events: TraceEvent[] = [];
  readonly #onEvent: ((event: TraceEvent) => void) | undefined;
  /** Streaming: the event of the latest second, not yet handed over. */
  #current: TraceEvent | undefined;
  /** Streaming: events handed over so far. */
  #emitted = 0;
  #lastTs: number | undefined;
  /** Streaming: endEvents() was called (the last event is out). */
  #eventsEnded = false;

  readonly #lifecycles = new Map<string, { owner: ObjectRef; bySpecHash: LifecyclesBySpecHash }>();
  /** Bare-pod owner key → whether every lifecycle recorded for it ended before the window. */
  readonly #bareFinishedBeforeStart = new Map<string, boolean>();
  #trace: Trace | undefined;
  #finished = false;

  constructor(options: AssemblyOptions) {
    this.window = validateWindow(options.window);
    this.filters = validateExportFilters(options.filters);
    this.#config = options.config;
    this.#excludedNamespaces = new Set(this.filters.excluded_namespaces);
    this.#onEvent = options.onEvent;
    this.#transform = options.transform;
  }

  /** The latest version before the start of an object alive at the start (any order). */
  addStartObject(input: ObjectChange): void {
    this.#assertOpen('addStartObject');
    const change = this.#transform ? this.#transform(input) : input;
    if (!change) return;
    if (this.#startObjects) {
      throw new AssemblyOrderError('start-state objects must all come before the first in-window change', {
        object: describeChange(change),
      });
    }
    if (change.type !== 'applied') {
      throw new AssemblyOrderError('a start-state object must be an applied version, not a deletion', {
        object: describeChange(change),
      });
    }
    if (change.ts >= this.window.startTs) {
      throw new AssemblyOrderError(
        `a start-state object must predate the window start ${this.window.startTs}, got ts ${change.ts}`,
        { object: describeChange(change) },
      );
    }
    const key = objKey(refOf(change.object));
    const known = this.#startChanges.get(key);
    // Pages of a live-set read may overlap; the newer version is the one alive at the start.
    if (!known || known.ts <= change.ts) this.#startChanges.set(key, change);
  }

  /** A change inside the window; changes come in non-decreasing ts order. */
  addChange(input: ObjectChange): void {
    this.#assertOpen('addChange');
    const change = this.#transform ? this.#transform(input) : input;
    if (!change) return;
    const { ts } = change;
    if (!Number.isSafeInteger(ts) || ts < this.window.startTs || ts >= this.window.endTs) {
      throw new AssemblyOrderError(
        `change at ts ${ts} is not a whole second inside the window [${this.window.startTs}, ${this.window.endTs})`,
        { object: describeChange(change) },
      );
    }
    if (this.#lastTs !== undefined && ts < this.#lastTs) {
      throw new AssemblyOrderError(`changes out of order: ts ${ts} after ts ${this.#lastTs}`, {
        object: describeChange(change),
        previousTs: this.#lastTs,
      });
    }
    this.#lastTs = ts;
    this.#sealStartState();

    const key = objKey(refOf(change.object));
    let state = this.#objects.get(key);
    if (change.type === 'deleted') {
      if (state?.liveInReplay) {
        state.liveInReplay = false;
        this.#eventAt(ts).deleted_objs.push(change.object);
      }
      return;
    }
    const verdict = this.#verdict(change, (ref) => this.#objects.get(objKey(ref))?.createdOnReplay === true);
    if (verdict === 'filtered') return;
    if (!state) {
      state = { createdOnReplay: false, liveInReplay: false, appliedInWindow: false };
      this.#objects.set(key, state);
    }
    state.createdOnReplay = true;
    if (verdict === 'owned') return;
    state.liveInReplay = true;
    state.appliedInWindow = true;
    state.lastExported = change.object;
    this.#eventAt(ts).applied_objs.push(change.object);
  }

  /**
   * Lifecycles of the pods of `owner` with one pod-spec hash, in launch order (repeated calls for
   * the same owner and hash append). Only those overlapping the window are kept, starts clamped.
   */
  addLifecycles(owner: ObjectRef, podSpecHash: bigint, lifecycles: Lifecycle[]): void {
    this.#assertOpen('addLifecycles');
    if (this.#onEvent && this.#startObjects) {
      throw new AssemblyOrderError(
        'a streaming assembly takes lifecycles before the first change (the start state is already out)',
        { owner: objKey(owner) },
      );
    }
    if (lifecycles.length === 0) return;
    const key = objKey(owner);
    if (owner.gvk === POD_GVK) {
      // A bare pod is its own lifecycle owner (SimKube's self owner reference).
      const finishedBefore = lifecycles.every(
        (lc) => lc.endTs !== undefined && lc.endTs < this.window.startTs,
      );
      this.#bareFinishedBeforeStart.set(
        key,
        (this.#bareFinishedBeforeStart.get(key) ?? true) && finishedBefore,
      );
    }
    const kept = lifecycles
      .filter((lc) => overlapsWindow(lc, this.window))
      .map((lc) => clampToWindow(lc, this.window));
    if (kept.length === 0) return;
    let entry = this.#lifecycles.get(key);
    if (!entry) {
      entry = { owner: { gvk: owner.gvk, nsName: owner.nsName }, bySpecHash: new Map() };
      this.#lifecycles.set(key, entry);
    }
    const list = entry.bySpecHash.get(podSpecHash);
    if (list) list.push(...kept);
    else entry.bySpecHash.set(podSpecHash, kept);
  }

  get counts(): AssemblyCounts {
    if (this.#onEvent) {
      let objects = 0;
      for (const state of this.#objects.values()) if (state.lastExported) objects++;
      return { events: (this.#startObjects ? 0 : 1) + this.#emitted + (this.#current ? 1 : 0), objects };
    }
    if (this.#trace) {
      let objects = 0;
      for (const byName of this.#trace.index.values()) objects += byName.size;
      return { events: this.#trace.events.length, objects };
    }
    let objects = 0;
    for (const state of this.#objects.values()) if (state.lastExported) objects++;
    return { events: 1 + this.#events.length, objects };
  }

  /** The trace. Call once; the assembler accepts nothing afterwards. */
  finish(): Trace {
    if (this.#onEvent) throw new AssemblyOrderError('a streaming assembly ends with finishStream()');
    this.#assertOpen('finish');
    this.#sealStartState();
    this.#dropFinishedBarePods();
    const first: TraceEvent = {
      ts: this.window.startTs,
      applied_objs: (this.#startObjects ?? []).map((s) => s.object),
      deleted_objs: [],
    };
    this.#trace = { ...this.#tail(), events: [first, ...this.#events] };
    this.#finished = true;
    return this.#trace;
  }

  /**
   * Streaming: no more changes; hands over the last event now, so the trace's events can be
   * completed (and uploaded) while the tail — an index spec hash per object — is computed.
   * Nothing but finishStream() may follow.
   */
  endEvents(): void {
    if (!this.#onEvent) throw new AssemblyOrderError('endEvents() needs an onEvent sink; use finish()');
    if (this.#eventsEnded) return;
    this.#assertOpen('endEvents');
    this.#sealStartState();
    if (this.#current) this.#emit(this.#current);
    this.#current = undefined;
    this.#eventsEnded = true;
  }

  /** Streaming: hands over the last event (endEvents) and returns the rest of the trace. Call once. */
  finishStream(): StreamedTraceTail {
    this.#endForStream();
    this.#finished = true;
    return { ...this.#tail(), eventCount: this.#emitted };
  }

  /**
   * finishStream, with the index's spec hashes — one per exported object, from its trace bytes
   * (~3.5 µs at ~1 KB; ~20 µs when decoded again) — computed `sliceObjects` at a time, `pause()` awaited between slices:
   * the caller's way to let I/O run meanwhile. The export starts the trace's last parts at
   * endEvents(), and an upload needs the event loop (the request's signing and sending, the
   * socket's writes): computed in one go, the ~100 ms of hashes at 5,000 objects held them back
   * until the hashes were done (docs/benchmarks.md "export").
   */
  async finishStreamPaused(pause: () => Promise<void>, sliceObjects = 256): Promise<StreamedTraceTail> {
    this.#endForStream();
    const hashes = new Map<ObjectState, bigint>();
    let inSlice = 0;
    for (const state of this.#objects.values()) {
      if (!state.lastExported) continue;
      hashes.set(state, exportedSpecHash(state.lastExported));
      if (++inSlice >= sliceObjects) {
        inSlice = 0;
        await pause();
      }
    }
    if (this.#finished) throw new AssemblyOrderError('finishStream called twice');
    this.#finished = true;
    return { ...this.#tail(hashes), eventCount: this.#emitted };
  }

  /** finishStream's checks, then the last event handed over (endEvents). */
  #endForStream(): void {
    if (!this.#onEvent) throw new AssemblyOrderError('finishStream() needs an onEvent sink; use finish()');
    if (this.#finished) {
      throw new AssemblyOrderError('finishStream after finish(): the trace is already assembled');
    }
    this.endEvents();
  }

  #emit(event: TraceEvent): void {
    this.#emitted++;
    this.#onEvent!(event);
  }

  /** Index, lifecycles and config, once every event is known (spec hashes from `hashes` when there). */
  #tail(hashes?: ReadonlyMap<ObjectState, bigint>): Omit<Trace, 'events'> {
    const index = new Map<Gvk, Map<NsName, bigint>>();
    for (const [key, state] of this.#objects) {
      if (!state.lastExported) continue;
      const { gvk, nsName } = parseObjKey(key);
      let byName = index.get(gvk);
      if (!byName) {
        byName = new Map();
        index.set(gvk, byName);
      }
      byName.set(nsName, hashes?.get(state) ?? exportedSpecHash(state.lastExported));
    }

    const podLifecycles: PodLifecycles = new Map();
    for (const [key, entry] of this.#lifecycles) {
      if (index.get(entry.owner.gvk)?.has(entry.owner.nsName)) podLifecycles.set(key, entry);
    }

    return { version: 2, config: exportableConfigDoc(this.#config), index, podLifecycles };
  }

  #assertOpen(what: string): void {
    if (this.#finished)
      throw new AssemblyOrderError(`${what} after finish(): the trace is already assembled`);
    if (this.#eventsEnded) throw new AssemblyOrderError(`${what} after endEvents(): the events are out`);
  }

  #verdict(change: ObjectChange, isCreatedOnReplay: (owner: ObjectRef) => boolean): Verdict {
    const chain = ownerChainOf(change);
    if (chain.some(isCreatedOnReplay)) return 'owned';
    const obj = change.object;
    const namespace = obj.metadata.namespace;
    if (namespace && this.#excludedNamespaces.has(namespace)) return 'filtered';
    if (isOwnedByDaemonSet(obj) || chain.some((o) => isDaemonSetGvk(o.gvk))) return 'filtered';
    if (this.#config.trackedObjects.get(refOf(obj).gvk)?.skipOwned && ownerRefsOf(obj).length > 0)
      return 'filtered';
    const labels = obj.metadata.labels;
    if (this.filters.excluded_labels.some((sel) => matchesSelector(labels, sel))) return 'filtered';
    return 'kept';
  }

  /**
   * Decides the start state once all of it is known: which objects the replay creates depends on
   * their owners, which may arrive in any order, so verdicts are resolved recursively through
   * the owner chains (an ownership cycle, impossible in a real cluster, is cut where found).
   */
  #sealStartState(): void {
    if (this.#startObjects) return;
    const verdicts = new Map<string, Verdict>();
    const visiting = new Set<string>();
    const verdictOf = (key: string): Verdict | undefined => {
      const known = verdicts.get(key);
      if (known) return known;
      const change = this.#startChanges.get(key);
      if (!change || visiting.has(key)) return undefined;
      visiting.add(key);
      const verdict = this.#verdict(change, (owner) => {
        const v = verdictOf(objKey(owner));
        return v === 'kept' || v === 'owned';
      });
      visiting.delete(key);
      verdicts.set(key, verdict);
      return verdict;
    };

    const keys = [...this.#startChanges.keys()].sort(compareKeys);
    const startObjects: { key: string; object: KubeObject }[] = [];
    for (const key of keys) {
      const verdict = verdictOf(key)!;
      if (verdict === 'filtered') continue;
      const object = this.#startChanges.get(key)!.object;
      const kept = verdict === 'kept';
      this.#objects.set(key, {
        createdOnReplay: true,
        liveInReplay: kept,
        appliedInWindow: false,
        ...(kept ? { lastExported: object } : {}),
      });
      if (kept) startObjects.push({ key, object });
    }
    this.#startObjects = startObjects;
    this.#startChanges.clear();
    if (this.#onEvent) {
      // Every lifecycle is in (addLifecycles refuses them from now on), so finished bare pods can
      // leave the start state before it goes out; their later deletions then find them not live.
      this.#dropFinishedBarePods();
      const objects = this.#startObjects.map((s) => s.object);
      // Handed over, not kept (still marks the start state as sealed).
      this.#startObjects = [];
      this.#emit({ ts: this.window.startTs, applied_objs: objects, deleted_objs: [] });
    }
  }

  /**
   * Bare pods that finished before the window are not carried into the start state; if their
   * lifecycles arrived after in-window changes, their deletions already went out and are withdrawn
   * here (up to a re-creation of the same name inside the window).
   */
  #dropFinishedBarePods(): void {
    const gone = new Set<string>();
    for (const { key, object } of this.#startObjects ?? []) {
      if (parseObjKey(key).gvk !== POD_GVK || ownerRefsOf(object).length > 0) continue;
      if (this.#bareFinishedBeforeStart.get(key) === true) gone.add(key);
    }
    if (gone.size === 0) return;
    this.#startObjects = this.#startObjects!.filter((s) => !gone.has(s.key));
    for (const key of gone) {
      const state = this.#objects.get(key)!;
      if (!state.appliedInWindow) {
        state.lastExported = undefined;
        state.liveInReplay = false;
      }
    }
    const recreated = new Set<string>();
    for (const event of this.#events) {
      event.deleted_objs = event.deleted_objs.filter((obj) => {
        const key = objKey(refOf(obj));
        return !gone.has(key) || recreated.has(key);
      });
      for (const obj of event.applied_objs) {
        const key = objKey(refOf(obj));
        if (gone.has(key)) recreated.add(key);
      }
    }
    const nonEmpty = this.#events.filter((e) => e.applied_objs.length > 0 || e.deleted_objs.length > 0);
    this.#events.splice(0, this.#events.length, ...nonEmpty);
  }

  #eventAt(ts: number): TraceEvent {
    if (this.#onEvent) {
      if (this.#current?.ts === ts) return this.#current;
      if (this.#current) this.#emit(this.#current);
      this.#current = { ts, applied_objs: [], deleted_objs: [] };
      return this.#current;
    }
    const last = this.#events.at(-1);
    if (last && last.ts === ts) return last;
    const event: TraceEvent = { ts, applied_objs: [], deleted_objs: [] };
    this.#events.push(event);
    return event;
  }
}

/**
 * The index's spec hash of an exported version. An object transcoded from storage carries only
 * what assembly reads: its hash comes from its trace bytes (lib/trace/msgpack-hash.ts), or — when
 * those hold a form that walker does not take — from the whole object decoded again.
 */
function exportedSpecHash(obj: KubeObject): bigint {
  if (obj instanceof EncodedObject) return obj.specHashFromBytes() ?? specHash(obj.fullObject().spec);
  return specHash(obj.spec);
}

/** Byte-wise (code unit) order of GVK, then nsName: deterministic whatever order the store pages in. */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function describeChange(change: ObjectChange): string {
  return `${change.type} ${objKey(refOf(change.object))} @ ${change.ts}`;
}

type Source<T> = AsyncIterable<T> | Iterable<T>;

export interface AssembleTraceInput extends AssemblyOptions {
  /** Latest version before the start of each object alive at the start, any order. */
  startState: Source<ObjectChange>;
  /** The window's changes, non-decreasing ts. */
  changes: Source<ObjectChange>;
  lifecycles?: Source<OwnerLifecycles>;
}

/** Streams the inputs through a TraceAssembler (lifecycles first, then start state, then changes). */
export async function assembleTrace(input: AssembleTraceInput): Promise<Trace> {
  const assembler = new TraceAssembler(input);
  for await (const l of input.lifecycles ?? []) assembler.addLifecycles(l.owner, l.podSpecHash, l.lifecycles);
  for await (const change of input.startState) assembler.addStartObject(change);
  for await (const change of input.changes) assembler.addChange(change);
  return assembler.finish();
}

/**
 * The reference semantics of an export, from the full history of changes (ts-ordered, from the
 * beginning; spec-unchanged re-applies and deletions of objects not alive allowed). Applies the
 * store rules — an applied version whose spec hash equals the live version's is no change; a
 * deletion removes the object from the live set and is no change when it was not alive; of the
 * changes of one object within one second only the last is kept (one stored item per object per
 * second), at its own position — to derive the start state and the window's changes, then feeds a
 * TraceAssembler. Tests and round-trip checks compare the store-backed export with this.
 */
export function assembleFromHistory(
  history: Iterable<ObjectChange>,
  window: TraceWindow,
  filters: ExportFilters,
  config: TracerConfig,
  lifecycles: Iterable<OwnerLifecycles> = [],
): Trace {
  const assembler = new TraceAssembler({ window, filters, config });
  for (const l of lifecycles) assembler.addLifecycles(l.owner, l.podSpecHash, l.lifecycles);

  const live = new Map<string, { change: ObjectChange; hash: bigint }>();
  const startCandidates = new Map<string, ObjectChange>();
  const inWindow: { key: string; change: ObjectChange }[] = [];
  let lastTs: number | undefined;
  for (const change of history) {
    if (lastTs !== undefined && change.ts < lastTs) {
      throw new AssemblyOrderError(`history out of order: ts ${change.ts} after ts ${lastTs}`, {
        object: describeChange(change),
      });
    }
    lastTs = change.ts;
    if (change.ts >= assembler.window.endTs) break;
    const key = objKey(refOf(change.object));
    if (change.type === 'applied') {
      const hash = specHash(change.object.spec);
      if (live.get(key)?.hash === hash) continue;
      live.set(key, { change, hash });
    } else {
      if (!live.delete(key)) continue;
    }
    if (change.ts >= assembler.window.startTs) inWindow.push({ key, change });
    else if (change.type === 'applied') startCandidates.set(key, change);
    else startCandidates.delete(key);
  }
  for (const change of startCandidates.values()) assembler.addStartObject(change);
  for (const change of lastPerObjectPerSecond(inWindow)) assembler.addChange(change);
  return assembler.finish();
}

/** Of the changes of one object within one second, the last (the store keeps one item per object per second). */
function lastPerObjectPerSecond(items: { key: string; change: ObjectChange }[]): ObjectChange[] {
  const last = new Map<string, number>();
  items.forEach((item, i) => {
    last.set(`${item.change.ts} ${item.key}`, i);
  });
  return items
    .filter((item, i) => last.get(`${item.change.ts} ${item.key}`) === i)
    .map((item) => item.change);
}
