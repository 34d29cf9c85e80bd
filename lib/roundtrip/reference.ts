/**
 * The reference export of a trace: what exporting a window of it must give after it was imported
 * (lib/roundtrip/import.ts), computed without any store by the trace core's reference semantics
 * (`assembleFromHistory`: the store rules, then export assembly). Pure.
 */
import { assembleFromHistory, type OwnerLifecycles } from '../trace/assemble.ts';
import { tracerConfigFromDoc } from '../trace/config.ts';
import type { ExportFilters, ObjectChange, Trace, TraceWindow } from '../trace/model.ts';
import { summarizeForImport } from './import.ts';

export const NO_FILTERS: ExportFilters = { excluded_namespaces: [], excluded_labels: [] };

/** The trace's events as the history of changes the importer posts (applied, then deleted, per event). */
export function historyOfTrace(trace: Trace): ObjectChange[] {
  const history: ObjectChange[] = [];
  for (const event of trace.events) {
    for (const object of event.applied_objs)
      history.push({ ts: event.ts, type: 'applied', object, owners: [] });
    for (const object of event.deleted_objs)
      history.push({ ts: event.ts, type: 'deleted', object, owners: [] });
  }
  // A file's events are in ts order; a hand-made one might not be, and the store sorts by ts.
  return history
    .map((c, i) => ({ c, i }))
    .sort((a, b) => a.c.ts - b.c.ts || a.i - b.i)
    .map(({ c }) => c);
}

export function lifecyclesOfTrace(trace: Trace): OwnerLifecycles[] {
  const out: OwnerLifecycles[] = [];
  for (const { owner, bySpecHash } of trace.podLifecycles.values()) {
    for (const [podSpecHash, lifecycles] of bySpecHash) {
      // The store orders an owner's lifecycles by start (then pod id, which keeps file order).
      const sorted = lifecycles
        .map((lc, i) => ({ lc, i }))
        .sort((a, b) => a.lc.startTs - b.lc.startTs || a.i - b.i);
      out.push({ owner, podSpecHash, lifecycles: sorted.map(({ lc }) => lc) });
    }
  }
  return out;
}

/**
 * The window holding the whole trace: from its first event (its own start) to one second past the
 * last second anything happens, lifecycles included (a pod starting after the last event must
 * still overlap the window).
 */
export function fullWindow(trace: Trace): TraceWindow | undefined {
  const { firstTs, lastTs } = summarizeForImport(trace);
  if (firstTs === undefined || lastTs === undefined) return undefined;
  return { startTs: trace.events[0]?.ts ?? firstTs, endTs: lastTs + 1 };
}

export function referenceExport(
  trace: Trace,
  window: TraceWindow,
  filters: ExportFilters = NO_FILTERS,
): Trace {
  return assembleFromHistory(
    historyOfTrace(trace),
    window,
    filters,
    tracerConfigFromDoc(trace.config),
    lifecyclesOfTrace(trace),
  );
}
