/**
 * Pod lifecycles, after SimKube's `PodLifecycleData` (sk-core k8s/pod_lifecycle.rs): how long a pod
 * ran, measured on its containers — not on the pod's creation time (which includes pending time)
 * nor its phase (`Running` only means all containers were created).
 * A lifecycle is Empty (undefined here), Running (`{startTs}`) or Finished (`{startTs, endTs}`).
 */
import type { KubeObject, Lifecycle, TraceWindow } from './model.ts';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RFC 3339 (metav1.Time) → unix seconds, floored like chrono's `timestamp()`; undefined if unusable. */
function tsOf(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}

interface ContainerTimes {
  startTs?: number;
  endTs?: number;
}

/**
 * Start and end of one ContainerState. Kubernetes sets exactly one of running/terminated/waiting;
 * SimKube treats any other shape as malformed and uses nothing from it, and so do we. A terminated
 * container without `startedAt` (it never ran: ContainerCannotRun, a failed image pull that was
 * given up) still has an end.
 */
function timesOf(state: unknown): ContainerTimes {
  if (!isObject(state)) return {};
  const set = ['running', 'terminated', 'waiting'].filter((k) => isObject(state[k]));
  if (set.length !== 1) return {};
  const running = state.running;
  if (isObject(running)) return { startTs: tsOf(running.startedAt) };
  const terminated = state.terminated;
  if (isObject(terminated))
    return { startTs: tsOf(terminated.startedAt), endTs: tsOf(terminated.finishedAt) };
  return {};
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

function maxDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.max(a, b);
}

/**
 * The lifecycle of `pod` from its status:
 * - start: the earliest container start across init and regular containers. We also read each
 *   container's `lastState.terminated.startedAt` (SimKube reads `state` only): after a restart the
 *   current run started later than the pod did, and a tracer that first sees the pod then would
 *   otherwise record the restart time — and a different start than before the restart, which the
 *   ordering rule (advanceLifecycle) would refuse anyway;
 * - end: the latest termination (init containers included), only once every regular container is
 *   terminated (all init containers terminate before regular ones start); partial termination is
 *   still Running;
 * - undefined (Empty) when no container has started.
 * With `deletedAtTs`, a pod that is still running is Finished at the deletion time: SimKube records
 * a pod deleted while running that way (its final status may never arrive). The end is never
 * before the start (the deletion time comes from another clock than the kubelet's).
 */
export function lifecycleOfPod(pod: KubeObject, opts: { deletedAtTs?: number } = {}): Lifecycle | undefined {
  const status = isObject(pod.status) ? pod.status : {};
  let startTs: number | undefined;
  let endTs: number | undefined;

  const scan = (statuses: unknown, regular: boolean): number => {
    let terminated = 0;
    if (!Array.isArray(statuses)) return terminated;
    for (const cs of statuses) {
      if (!isObject(cs)) continue;
      const now = timesOf(cs.state);
      const last =
        isObject(cs.lastState) && isObject(cs.lastState.terminated) ? cs.lastState.terminated : undefined;
      startTs = minDefined(minDefined(startTs, now.startTs), last ? tsOf(last.startedAt) : undefined);
      endTs = maxDefined(endTs, now.endTs);
      if (regular && now.endTs !== undefined) terminated++;
    }
    return terminated;
  };

  scan(status.initContainerStatuses, false);
  const terminated = scan(status.containerStatuses, true);

  if (startTs === undefined) return undefined;
  const spec = isObject(pod.spec) ? pod.spec : {};
  const expected = Array.isArray(spec.containers)
    ? spec.containers.length
    : Array.isArray(status.containerStatuses)
      ? status.containerStatuses.length
      : 0;
  const finished = expected > 0 && terminated >= expected && endTs !== undefined;
  if (finished) return { startTs, endTs: Math.max(startTs, endTs!) };
  if (opts.deletedAtTs !== undefined) return { startTs, endTs: Math.max(startTs, opts.deletedAtTs) };
  return { startTs };
}

/**
 * The lifecycle to record when a pod is deleted, given what was recorded before (`prev`) and the
 * pod's last known body (absent when the deletion was only noticed by a relist). A pod that was
 * running is Finished at its containers' end if its status shows one, else at `deletedAtTs`; the
 * start stays the recorded one (the ordering rule), unlike SimKube's `guess_finished_lifecycle`,
 * which can produce a start that conflicts with the recorded one and then is never stored.
 */
export function lifecycleOnDelete(
  prev: Lifecycle | undefined,
  pod: KubeObject | undefined,
  deletedAtTs: number,
): Lifecycle | undefined {
  if (prev?.endTs !== undefined) return prev;
  const fromPod = pod ? lifecycleOfPod(pod, { deletedAtTs }) : undefined;
  if (!prev) return fromPod;
  const podEnd = pod ? lifecycleOfPod(pod)?.endTs : undefined;
  return { startTs: prev.startTs, endTs: Math.max(prev.startTs, podEnd ?? deletedAtTs) };
}

/**
 * The ordering rule (SimKube's partial order on PodLifecycleData): a lifecycle only moves
 * Empty → Running(s) → Finished(s, e) with the same start. Anything else — going back, a new start
 * (a restarted container reports a later start; the pod started at the first one), a different
 * end — is not an advance.
 */
export function isAdvance(prev: Lifecycle | undefined, next: Lifecycle | undefined): boolean {
  if (next === undefined) return false;
  if (prev === undefined) return true;
  if (prev.endTs !== undefined) return false;
  return next.startTs === prev.startTs && next.endTs !== undefined;
}

/** `next` if it advances `prev` (see isAdvance), else `prev` unchanged. */
export function advanceLifecycle(
  prev: Lifecycle | undefined,
  next: Lifecycle | undefined,
): Lifecycle | undefined {
  return isAdvance(prev, next) ? next : prev;
}

/**
 * Whether a lifecycle overlaps the window `[startTs, endTs)`: it started before the end and had not
 * finished before the start. SimKube's `overlaps` instead asks that the start or the end fall
 * inside the window, which misses a pod that ran through the whole window; we keep such pods (a
 * replay needs them), and agree with SimKube on every other case.
 */
export function overlapsWindow(lc: Lifecycle, window: TraceWindow): boolean {
  if (lc.startTs >= window.endTs) return false;
  return lc.endTs === undefined || lc.endTs >= window.startTs;
}

/**
 * A lifecycle as exported for the window: its start clamped to the window start (SimKube's
 * `bound_start_ts`, needed for pods carried in the start state). Ends are not clamped to the window
 * end — SimKube leaves them, so a replay lets such pods run their recorded length.
 */
export function clampToWindow(lc: Lifecycle, window: TraceWindow): Lifecycle {
  const startTs = Math.max(lc.startTs, window.startTs);
  return lc.endTs === undefined ? { startTs } : { startTs, endTs: lc.endTs };
}
