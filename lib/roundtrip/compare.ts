/**
 * Round-trip fidelity: compares an exported trace with the trace it should equal. Pure.
 *
 * What "the same trace" means here (what SimKube's replay depends on):
 * - events: at every second, the same applied and the same deleted objects, as multisets of whole
 *   objects (key order aside). Events sharing a second are taken together, which is the one
 *   freedom an export has: objects at the window's first second may sit in its first event (the
 *   start state) or in a second event at that same second (cronjob.sktrace and dsb-scaling.sktrace
 *   begin that way). Empty events carry nothing and are ignored. The actual trace must also be
 *   well formed: ts never decreasing, and only its first two events may share a second.
 * - index: an entry for exactly the objects the expected events apply, each equal to SimKube's spec
 *   hash of the object's last applied version in the actual events (lib/trace/hash.ts). The
 *   expected trace's own index is not trusted: SimKube's sample files carry stale or hand-edited
 *   entries (DESIGN.md), so its differences are reported apart as notes.
 * - pod lifecycles: the same owners, pod-spec hashes and lifecycle lists, in order.
 * - config: one SimKube accepts (every kind with pod template paths, known kinds at their known
 *   paths), tracking the same kinds the same way as the expected config once normalised.
 */
import { isDeepStrictEqual } from 'node:util';
import { exportableConfigDoc, tracerConfigFromDoc } from '../trace/config.ts';
import { refOf } from '../trace/gvk.ts';
import { specHash } from '../trace/hash.ts';
import { checkIndex } from '../trace/inspect.ts';
import type { Gvk, KubeObject, NsName, Trace, TraceConfigDoc } from '../trace/model.ts';
import { objKey } from '../trace/model.ts';

export interface Difference {
  /** events | structure | index | lifecycles | config | version */
  area: string;
  message: string;
}

export interface Comparison {
  equal: boolean;
  /** The first MAX_PER_AREA differences of each area. */
  differences: Difference[];
  /** How many differences there are in all. */
  differenceCount: number;
  /** Facts that are not failures (the expected trace's own index disagreeing with its events…). */
  notes: string[];
}

const MAX_PER_AREA = 20;

export function compareTraces(expected: Trace, actual: Trace): Comparison {
  const differences: Difference[] = [];
  const notes: string[] = [];
  let differenceCount = 0;
  const add = (area: string, message: string) => {
    differenceCount++;
    if (differences.filter((d) => d.area === area).length < MAX_PER_AREA) differences.push({ area, message });
  };
  if (actual.version !== 2) add('version', `version is ${String(actual.version)}, expected 2`);
  checkStructure(actual, add);
  compareEvents(expected, actual, add);
  compareIndex(expected, actual, add, notes);
  compareLifecycles(expected, actual, add);
  compareConfig(expected.config, actual.config, add);
  return { equal: differenceCount === 0, differences, differenceCount, notes };
}

function checkStructure(actual: Trace, add: (area: string, message: string) => void): void {
  for (let i = 1; i < actual.events.length; i++) {
    const prev = actual.events[i - 1]!.ts;
    const ts = actual.events[i]!.ts;
    if (ts < prev) add('structure', `events[${i}] at ts ${ts} comes after events[${i - 1}] at ts ${prev}`);
    if (ts === prev && i > 1) add('structure', `events[${i}] shares ts ${ts} with the event before it`);
  }
}

/** Canonical JSON with object keys sorted, so key order never makes two objects differ. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    // A Float64 (lib/trace/float.ts) arrives here as the raw JSON `2.0` its toJSON gives: keep it.
    if ((JSON as unknown as { isRawJSON: (x: unknown) => boolean }).isRawJSON(v)) return v;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

interface Second {
  applied: Map<string, { count: number; label: string }>;
  deleted: Map<string, { count: number; label: string }>;
}

function bySecond(trace: Trace): Map<number, Second> {
  const out = new Map<number, Second>();
  const put = (into: Second['applied'], obj: KubeObject) => {
    const key = canonicalJson(obj);
    const entry = into.get(key);
    if (entry) entry.count++;
    else {
      const ref = refOf(obj);
      into.set(key, { count: 1, label: `${ref.gvk} ${ref.nsName}` });
    }
  };
  for (const event of trace.events) {
    if (event.applied_objs.length === 0 && event.deleted_objs.length === 0) continue;
    let second = out.get(event.ts);
    if (!second) {
      second = { applied: new Map(), deleted: new Map() };
      out.set(event.ts, second);
    }
    for (const obj of event.applied_objs) put(second.applied, obj);
    for (const obj of event.deleted_objs) put(second.deleted, obj);
  }
  return out;
}

function compareEvents(expected: Trace, actual: Trace, add: (area: string, message: string) => void): void {
  const want = bySecond(expected);
  const got = bySecond(actual);
  const seconds = [...new Set([...want.keys(), ...got.keys()])].sort((a, b) => a - b);
  const empty: Second = { applied: new Map(), deleted: new Map() };
  for (const ts of seconds) {
    const w = want.get(ts) ?? empty;
    const g = got.get(ts) ?? empty;
    for (const kind of ['applied', 'deleted'] as const) {
      for (const [key, { count, label }] of w[kind]) {
        const have = g[kind].get(key)?.count ?? 0;
        if (have < count)
          add('events', `ts ${ts}: ${kind} ${label} is missing${sameRefNote(g[kind], label)}`);
      }
      for (const [key, { count, label }] of g[kind]) {
        const had = w[kind].get(key)?.count ?? 0;
        if (count > had)
          add('events', `ts ${ts}: ${kind} ${label} is not expected${sameRefNote(w[kind], label)}`);
      }
    }
  }
}

/** "…, but another version of it is there": tells a changed object from a missing one. */
function sameRefNote(other: Second['applied'], label: string): string {
  for (const entry of other.values()) if (entry.label === label) return ' (another version of it is there)';
  return '';
}

/** GVK → nsName → spec hash of the last applied version, from the events alone. */
export function indexFromEvents(trace: Trace): Map<string, { gvk: Gvk; nsName: NsName; hash: bigint }> {
  const out = new Map<string, { gvk: Gvk; nsName: NsName; hash: bigint }>();
  for (const event of trace.events) {
    for (const obj of event.applied_objs) {
      const ref = refOf(obj);
      out.set(objKey(ref), { ...ref, hash: specHash(obj.spec) });
    }
  }
  return out;
}

function compareIndex(
  expected: Trace,
  actual: Trace,
  add: (area: string, message: string) => void,
  notes: string[],
): void {
  const self = checkIndex(actual);
  for (const m of self.mismatched) {
    add(
      'index',
      `${m.gvk} ${m.nsName}: index ${m.indexHash} is not the spec hash ${m.specHash} of its last version`,
    );
  }
  for (const m of self.missing) add('index', `${m.gvk} ${m.nsName}: indexed but never applied in the events`);
  for (const m of self.unindexed) add('index', `${m.gvk} ${m.nsName}: applied in the events but not indexed`);

  const want = indexFromEvents(expected);
  const have = new Set<string>();
  for (const [gvk, byName] of actual.index)
    for (const nsName of byName.keys()) have.add(objKey({ gvk, nsName }));
  for (const [key, { gvk, nsName }] of want) {
    if (!have.has(key)) add('index', `${gvk} ${nsName}: expected in the index`);
  }
  for (const key of have) {
    if (!want.has(key)) add('index', `${key}: in the index but not applied in the expected events`);
  }

  const own = checkIndex(expected);
  if (own.mismatched.length + own.matchedDocumentOrder + own.missing.length > 0) {
    notes.push(
      `the expected trace's own index disagrees with its events (${own.mismatched.length} other hash(es), ${own.matchedDocumentOrder} older SimKube document-order hash(es), ${own.missing.length} entr(ies) for objects not in its events); the actual index holds the spec hashes of the last versions`,
    );
  }
}

function lifecycleMap(trace: Trace): Map<string, string> {
  const out = new Map<string, string>();
  for (const { owner, bySpecHash } of trace.podLifecycles.values()) {
    for (const [hash, list] of bySpecHash) {
      if (list.length === 0) continue;
      out.set(
        `${objKey(owner)} ${hash}`,
        list
          .map((lc) =>
            lc.endTs === undefined ? `Running(${lc.startTs})` : `Finished(${lc.startTs},${lc.endTs})`,
          )
          .join(' '),
      );
    }
  }
  return out;
}

function compareLifecycles(
  expected: Trace,
  actual: Trace,
  add: (area: string, message: string) => void,
): void {
  const want = lifecycleMap(expected);
  const got = lifecycleMap(actual);
  for (const [key, list] of want) {
    const have = got.get(key);
    if (have === undefined) add('lifecycles', `${key}: missing (expected ${list})`);
    else if (have !== list) add('lifecycles', `${key}: ${have}, expected ${list}`);
  }
  for (const [key, list] of got) if (!want.has(key)) add('lifecycles', `${key}: not expected (${list})`);
}

/** Problems SimKube would have with a trace's config, or [] (sk-core TracerConfig validation). */
export function configProblems(config: TraceConfigDoc): string[] {
  const problems: string[] = [];
  try {
    const parsed = tracerConfigFromDoc(config);
    for (const [gvk, kind] of parsed.trackedObjects) {
      if (kind.podSpecTemplatePaths.length === 0) problems.push(`${gvk} has no pod template paths`);
    }
    for (const [gvk, doc] of Object.entries(config.trackedObjects)) {
      if (!doc.podSpecTemplatePaths || doc.podSpecTemplatePaths.length === 0) {
        problems.push(`${gvk} does not spell out its podSpecTemplatePaths`);
      }
    }
  } catch (err) {
    problems.push(err instanceof Error ? err.message : String(err));
  }
  return problems;
}

function compareConfig(
  expected: TraceConfigDoc,
  actual: TraceConfigDoc,
  add: (area: string, message: string) => void,
): void {
  for (const p of configProblems(actual)) add('config', `SimKube would refuse the config: ${p}`);
  let want: TraceConfigDoc;
  try {
    want = exportableConfigDoc(tracerConfigFromDoc(expected));
  } catch (err) {
    add('config', `the expected config is not valid: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  if (!isDeepStrictEqual(want, actual)) {
    add('config', `config ${JSON.stringify(actual)}, expected ${JSON.stringify(want)}`);
  }
}
