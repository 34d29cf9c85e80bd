/**
 * Object sanitising before storage, after SimKube's `sanitize_obj` (sk-core k8s/util.rs): drop the
 * metadata the API server owns and that a replay cannot (or must not) reproduce, so that only spec
 * changes make events.
 */
import type { KubeObject, ObjectMeta } from './model.ts';

/** Server-owned metadata: a replay gets fresh values for all of them. */
const DROPPED_METADATA: ReadonlySet<string> = new Set([
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'generation',
  'managedFields',
  'resourceVersion',
  'uid',
]);

/** Annotations that change with every apply or rollout and would mislead a replay. */
const DROPPED_ANNOTATIONS: ReadonlySet<string> = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  'deployment.kubernetes.io/revision',
]);

/**
 * Returns a sanitised copy of `obj` (the input is not modified; nested values other than
 * `metadata`, `metadata.annotations` and `spec` are shared with it, so treat both as immutable):
 * - metadata: creationTimestamp, deletionTimestamp, deletionGracePeriodSeconds, generation,
 *   managedFields, resourceVersion and uid removed; ownerReferences kept (export needs them to drop
 *   owned objects);
 * - annotations `kubectl.kubernetes.io/last-applied-configuration` and
 *   `deployment.kubernetes.io/revision` removed. SimKube removes them through kube-rs
 *   `annotations_mut()`, which inserts an empty map when there was none, so every object in a
 *   SimKube trace carries `annotations` (`{}` at least — see any shared trace). We do the same, in
 *   first position as ObjectMeta's alphabetical serialisation puts it, so sanitised objects look
 *   like SimKube's;
 * - `status` removed: status updates must never create events (only spec changes do), and
 *   SimKube's own validator flags populated status fields;
 * - `spec.nodeName` removed from Pods (core `v1.Pod`) only: the production node does not exist in a
 *   simulation. Since v2.6.1 SimKube removes it in sk-tracer's dyn_obj_watcher only when the stream
 *   is `v1.Pod` (before, from every kind); other kinds keep it, and so their spec hashes.
 * Idempotent: sanitising a sanitised object gives an equal object.
 */
export function sanitizeObject(obj: KubeObject): KubeObject {
  const out: KubeObject = { ...obj, metadata: sanitizeMetadata(obj.metadata) };
  delete out.status;
  const spec = obj.spec;
  const isPod = obj.apiVersion === 'v1' && obj.kind === 'Pod';
  if (isPod && typeof spec === 'object' && spec !== null && !Array.isArray(spec) && 'nodeName' in spec) {
    const { nodeName: _nodeName, ...rest } = spec as Record<string, unknown>;
    out.spec = rest;
  }
  return out;
}

// Per watch event: own-key loops rather than Object.entries, whose pair arrays were a measurable
// share of the forwarder's allocations.
const hasOwn = Object.prototype.hasOwnProperty;

function sanitizeMetadata(meta: ObjectMeta | undefined): ObjectMeta {
  const annotations: Record<string, string> = {};
  const given = meta?.annotations;
  if (typeof given === 'object' && given !== null) {
    for (const key in given) {
      if (hasOwn.call(given, key) && !DROPPED_ANNOTATIONS.has(key)) annotations[key] = given[key]!;
    }
  }
  const out: ObjectMeta = { annotations };
  if (meta === undefined) return out;
  for (const key in meta) {
    if (!hasOwn.call(meta, key) || key === 'annotations' || DROPPED_METADATA.has(key)) continue;
    out[key] = meta[key];
  }
  return out;
}
