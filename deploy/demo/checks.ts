/**
 * The exported trace against the simulated cluster's ground truth. Each check is one line the
 * demo prints with ✓ or ✗; any ✗ makes the demo exit non-zero.
 */
import { refOf } from '../../lib/trace/gvk.ts';
import { specHash } from '../../lib/trace/hash.ts';
import { checkIndex } from '../../lib/trace/inspect.ts';
import type { KubeObject, Lifecycle, Trace, TraceWindow } from '../../lib/trace/model.ts';
import { objKey, parseObjKey } from '../../lib/trace/model.ts';
import { sanitizeObject } from '../../lib/trace/sanitize.ts';
import { CRONJOB, type DemoCluster, SERVICEACCOUNT, TRACKED_KINDS } from './cluster.ts';

export interface Check {
  ok: boolean;
  text: string;
}

export interface CheckInput {
  trace: Trace;
  cluster: DemoCluster;
  window: TraceWindow;
  excludedNamespaces: string[];
  /** Deletions made while the forwarder was down (`gvk nsName`). */
  deletedWhileDown: Set<string>;
  /** Distinct spec versions the churned Deployment went through, and its status-only updates. */
  churn: { key: string; specVersions: number; statusUpdates: number; deduplicated: number };
}

function list(keys: Iterable<string>, max = 4): string {
  const all = [...keys];
  return all.length > max ? `${all.slice(0, max).join(', ')}, … (${all.length})` : all.join(', ');
}

/** Objects alive at the end of the trace: its events replayed. */
function replay(trace: Trace): Map<string, KubeObject> {
  const live = new Map<string, KubeObject>();
  for (const e of trace.events) {
    for (const obj of e.applied_objs) live.set(objKey(refOf(obj)), obj);
    for (const obj of e.deleted_objs) live.delete(objKey(refOf(obj)));
  }
  return live;
}

/** What the trace must hold at its end: tracked objects alive in the cluster, minus the export's rules. */
function expectedLive(input: CheckInput): Map<string, KubeObject> {
  const { sim } = input.cluster;
  const out = new Map<string, KubeObject>();
  for (const gvk of TRACKED_KINDS) {
    for (const obj of sim.list(gvk)) {
      if (input.excludedNamespaces.includes(obj.metadata.namespace ?? '')) continue;
      // An owner in the trace creates it on replay (a CronJob's Jobs): the export leaves it out.
      const ownedByTracked = obj.metadata.ownerReferences?.some((r) =>
        (TRACKED_KINDS as readonly string[]).includes(`${r.apiVersion}.${r.kind}`),
      );
      if (ownedByTracked) continue;
      out.set(objKey(refOf(obj)), obj);
    }
  }
  return out;
}

export function checkTrace(input: CheckInput): Check[] {
  const { trace, cluster, window } = input;
  const checks: Check[] = [];
  const add = (ok: boolean, text: string) => checks.push({ ok, text });

  // 1. Objects alive at the end.
  const live = replay(trace);
  const expected = expectedLive(input);
  const missing = [...expected.keys()].filter((k) => !live.has(k));
  const extra = [...live.keys()].filter((k) => !expected.has(k));
  add(
    missing.length === 0 && extra.length === 0,
    `objects alive at the end: ${live.size} in the trace, ${expected.size} in the cluster` +
      (missing.length ? `; missing: ${list(missing)}` : '') +
      (extra.length ? `; not in the cluster: ${list(extra)}` : ''),
  );

  // 2. Their last versions: SimKube's spec hash of the cluster's object, in the events and the index.
  const wrong: string[] = [];
  for (const [key, obj] of expected) {
    const want = specHash(sanitizeObject(obj).spec);
    const got = live.get(key);
    const { gvk, nsName } = parseObjKey(key);
    if (!got || specHash(got.spec) !== want || trace.index.get(gvk)?.get(nsName) !== want) wrong.push(key);
  }
  const index = checkIndex(trace);
  add(
    wrong.length === 0 && index.matched === index.entries && index.unindexed.length === 0,
    `last versions equal the cluster's, and ${index.matched}/${index.entries} index hashes equal SimKube's spec hash` +
      (wrong.length ? `; differ: ${list(wrong)}` : ''),
  );

  // 3. Deletions, live and while the forwarder was down.
  const deletedInTrace = new Set<string>();
  for (const e of trace.events) for (const obj of e.deleted_objs) deletedInTrace.add(objKey(refOf(obj)));
  const wantDeleted = [...cluster.deleted].filter((k) => {
    const { gvk } = parseObjKey(k);
    // A CronJob's Jobs never enter the trace, so neither do their deletions.
    return gvk !== 'batch/v1.Job';
  });
  const unseen = wantDeleted.filter((k) => !deletedInTrace.has(k));
  const whileDown = wantDeleted.filter((k) => input.deletedWhileDown.has(k));
  add(
    unseen.length === 0 && wantDeleted.length > 0,
    `deletions: ${wantDeleted.length - unseen.length}/${wantDeleted.length} in the trace, ` +
      `${whileDown.filter((k) => deletedInTrace.has(k)).length} of them made while the forwarder was down (reconciled by its relist)` +
      (unseen.length ? `; missing: ${list(unseen)}` : ''),
  );

  // 4. The export's rules: excluded namespaces, objects their owners create.
  let excluded = 0;
  let owned = 0;
  for (const e of trace.events) {
    for (const obj of [...e.applied_objs, ...e.deleted_objs]) {
      if (input.excludedNamespaces.includes(obj.metadata.namespace ?? '')) excluded++;
      if (obj.metadata.ownerReferences?.some((r) => `${r.apiVersion}.${r.kind}` === CRONJOB)) owned++;
    }
  }
  add(
    excluded === 0 && owned === 0,
    `nothing from excluded namespaces (${input.excludedNamespaces.join(', ')}) nor Jobs of the CronJob` +
      (excluded || owned ? `: found ${excluded} and ${owned}` : ''),
  );

  // 5. Config: kinds SimKube accepts; ServiceAccounts only in the events.
  const configKinds = Object.keys(trace.config.trackedObjects);
  const saInEvents = trace.events.some((e) => e.applied_objs.some((o) => refOf(o).gvk === SERVICEACCOUNT));
  add(
    !configKinds.includes(SERVICEACCOUNT) && saInEvents && configKinds.length === TRACKED_KINDS.length - 1,
    `config lists ${configKinds.length} kinds SimKube accepts; ServiceAccounts (no pod template) ${saInEvents ? 'are' : 'are NOT'} in the events`,
  );

  // 6. Status churn never became events.
  const versions = trace.events.reduce(
    (n, e) => n + e.applied_objs.filter((o) => objKey(refOf(o)) === input.churn.key).length,
    0,
  );
  add(
    versions === input.churn.specVersions && input.churn.deduplicated >= input.churn.statusUpdates,
    `status churn deduplicated: ${input.churn.statusUpdates} status-only updates of ${input.churn.key}, ` +
      `${input.churn.deduplicated} dropped by the forwarder; ${versions} applied versions in the trace (spec changes: ${input.churn.specVersions})`,
  );

  // 7. Pod lifecycles per owner (owners the export keeps).
  for (const [ownerKey, want] of cluster.lifecycles) {
    const owner = parseObjKey(ownerKey);
    if (input.excludedNamespaces.includes(owner.nsName.split('/')[0] ?? '')) continue;
    const entry = trace.podLifecycles.get(ownerKey);
    const pool: Lifecycle[] = entry ? [...entry.bySpecHash.values()].flat() : [];
    const finished = pool.filter((l) => l.endTs !== undefined).length;
    const running = pool.length - finished;
    const clamp = (ts: number) => Math.max(ts, window.startTs);
    const problems: string[] = [];
    const take = (match: (g: Lifecycle) => boolean): boolean => {
      const at = pool.findIndex(match);
      if (at >= 0) pool.splice(at, 1);
      return at >= 0;
    };
    // Exact ends first (the kubelet reported both), then lower bounds (deleted while running: the
    // deletion seen by the watch, or the pods relist after the restart when the forwarder was down).
    const ordered = [...want].sort((a, b) => Number(b.endExact) - Number(a.endExact));
    for (const w of ordered) {
      const start = clamp(w.startTs);
      const ok = take((g) =>
        w.endTs === undefined
          ? g.startTs === start && g.endTs === undefined
          : w.endExact
            ? g.startTs === start && g.endTs === w.endTs
            : g.startTs === start && g.endTs !== undefined && g.endTs >= w.endTs,
      );
      if (ok) continue;
      problems.push(`no lifecycle for ${w.pod} [${w.startTs}, ${w.endTs ?? '…'}${w.endExact ? '' : '+'}]`);
    }
    if (pool.length) problems.push(`${pool.length} unexpected lifecycle(s)`);
    const head = `lifecycles of ${owner.gvk} ${owner.nsName}: ${finished} finished, ${running} running`;
    const whileDown = want.filter((w) => w.deletedWhileDown).length;
    add(
      problems.length === 0,
      head +
        (owner.gvk === CRONJOB ? ' (start and end exactly as the kubelet reported)' : '') +
        (whileDown
          ? `; ${whileDown} pod(s) deleted while the forwarder was down finished by its pods relist`
          : '') +
        (problems.length ? `; ${list(problems, 3)}` : ''),
    );
  }

  // 8. Events in order, inside the window.
  const ordered = trace.events.every(
    (e, i) => e.ts >= window.startTs && e.ts < window.endTs && (i === 0 || e.ts >= trace.events[i - 1]!.ts),
  );
  add(ordered, `${trace.events.length} events in time order inside [${window.startTs}, ${window.endTs})`);
  return checks;
}
