/**
 * An existing SimKube trace as ingest changes (lib/ingest/wire.ts), with its original timestamps,
 * so that exporting its whole window gives it back. Pure.
 *
 * - The config first, at the trace's first second (the export takes the config in force at the
 *   window's end, so it must not postdate the trace).
 * - Every event's objects, in file order: applied objects as `applied`, then deleted ones as
 *   `deleted`, at the event's ts. Objects are sent as they are in the file — already what SimKube
 *   kept (sanitised, status stripped) — so they come back byte for byte. The first event of a
 *   SimKube export holds the start state (objects alive at its start); they are applied at that
 *   second like the rest, which an export of the same window puts back at its first second.
 *   `seq` counts up within each second (events sharing a second included), so the store keeps the
 *   file's order when one object changes twice in a second.
 * - Pod lifecycles as `lifecycle` changes: owner, pod-spec hash, start and end. A trace does not
 *   name the pods, so each gets an id from its owner's list: `import-<start>-<index>` (index zero
 *   padded: the store orders an owner's lifecycles by start, then pod id, so equal starts keep the
 *   file's order; the start in the id keeps a second import of another trace of the same owner from
 *   overwriting this one). Sent at its end (finished) or start (running).
 * Owner chains are not sent: an imported object's chain is its ownerReferences, which is all
 * SimKube itself knew.
 */
import type { Batch, Change, ConfigChange, LifecycleChange } from '../ingest/wire.ts';
import type { Trace } from '../trace/model.ts';

export interface ImportSummary {
  /** First and last second the trace holds (events and lifecycles), when any. */
  firstTs?: number;
  lastTs?: number;
  events: number;
  applied: number;
  deleted: number;
  lifecycles: number;
}

export function importPodId(startTs: number, index: number): string {
  return `import-${startTs}-${String(index).padStart(6, '0')}`;
}

export function summarizeForImport(trace: Trace): ImportSummary {
  let firstTs: number | undefined;
  let lastTs: number | undefined;
  const see = (ts: number) => {
    if (firstTs === undefined || ts < firstTs) firstTs = ts;
    if (lastTs === undefined || ts > lastTs) lastTs = ts;
  };
  let applied = 0;
  let deleted = 0;
  let lifecycles = 0;
  for (const e of trace.events) {
    see(e.ts);
    applied += e.applied_objs.length;
    deleted += e.deleted_objs.length;
  }
  for (const { bySpecHash } of trace.podLifecycles.values()) {
    for (const list of bySpecHash.values()) {
      for (const lc of list) {
        lifecycles++;
        // A lifecycle reaching past the events keeps its owner in the window only if the window does.
        see(lc.startTs);
        if (lc.endTs !== undefined) see(lc.endTs);
      }
    }
  }
  return {
    ...(firstTs === undefined ? {} : { firstTs }),
    ...(lastTs === undefined ? {} : { lastTs }),
    events: trace.events.length,
    applied,
    deleted,
    lifecycles,
  };
}

/** The trace's changes in the order they are posted. */
export function traceToChanges(trace: Trace): Change[] {
  const changes: Change[] = [];
  const firstTs = trace.events[0]?.ts ?? summarizeForImport(trace).firstTs ?? 0;
  const config: ConfigChange = { type: 'config', ts: firstTs, config: trace.config };
  changes.push(config);

  let second: number | undefined;
  let seq = 0;
  for (const event of trace.events) {
    if (event.ts !== second) {
      second = event.ts;
      seq = 0;
    }
    for (const object of event.applied_objs)
      changes.push({ type: 'applied', ts: event.ts, seq: seq++, object });
    for (const object of event.deleted_objs)
      changes.push({ type: 'deleted', ts: event.ts, seq: seq++, object });
  }

  for (const { owner, bySpecHash } of trace.podLifecycles.values()) {
    for (const [hash, list] of bySpecHash) {
      list.forEach((lc, i) => {
        const change: LifecycleChange = {
          type: 'lifecycle',
          ts: lc.endTs ?? lc.startTs,
          owner: { gvk: owner.gvk, ns_name: owner.nsName },
          pod: importPodId(lc.startTs, i),
          pod_spec_hash: hash.toString(),
          start_ts: lc.startTs,
          ...(lc.endTs === undefined ? {} : { end_ts: lc.endTs }),
        };
        changes.push(change);
      });
    }
  }
  return changes;
}

export interface BatchLimits {
  /** Changes per batch (the ingest function takes 5,000; smaller batches keep each request short). */
  maxChanges: number;
  /** JSON bytes per batch before gzip (the function takes 32 MiB decoded and 4 MiB sent). */
  maxBytes: number;
}

export const DEFAULT_BATCH_LIMITS: BatchLimits = { maxChanges: 500, maxBytes: 2 * 1024 * 1024 };

/**
 * Cuts changes into batches within the limits, keeping their order. A change larger than
 * `maxBytes` alone goes in a batch of its own (the server judges it against its object limit).
 */
export function toBatches(
  changes: Change[],
  limits: BatchLimits = DEFAULT_BATCH_LIMITS,
  sizeOf: (change: Change) => number = (c) => Buffer.byteLength(JSON.stringify(c, bigintAsText)),
): Batch[] {
  const batches: Batch[] = [];
  let current: Change[] = [];
  let bytes = 0;
  for (const change of changes) {
    // +1 for the comma between array elements.
    const size = sizeOf(change) + 1;
    if (current.length > 0 && (current.length >= limits.maxChanges || bytes + size > limits.maxBytes)) {
      batches.push({ changes: current });
      current = [];
      bytes = 0;
    }
    current.push(change);
    bytes += size;
  }
  if (current.length > 0) batches.push({ changes: current });
  return batches;
}

function bigintAsText(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
