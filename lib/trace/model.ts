/**
 * The SimKube trace model (trace format v2) as sktrace holds it in memory.
 *
 * Names follow SimKube's: a GVK string is `group/version.Kind` (`v1.Pod` for the core group),
 * a namespaced name (nsName) is `ns/name`, or `name` for cluster-scoped objects.
 * u64 hashes are `bigint` everywhere so they never pass through a float.
 */

/** `group/version.Kind`, or `version.Kind` for the core group. */
export type Gvk = string;
/** `namespace/name`, or `name` for cluster-scoped objects. */
export type NsName = string;

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  [field: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid?: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** A Kubernetes object as JSON: `apiVersion`, `kind`, `metadata`, `spec`, and anything else. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: unknown;
  [field: string]: unknown;
}

/** Identity of an object in a trace: kind and name together, never the name alone. */
export interface ObjectRef {
  gvk: Gvk;
  nsName: NsName;
}

/** One entry of `events`: the objects applied and deleted at second `ts`. */
export interface TraceEvent {
  ts: number;
  applied_objs: KubeObject[];
  deleted_objs: KubeObject[];
}

/**
 * A pod lifecycle: SimKube's `{"Running": start}` (no `endTs`) or `{"Finished": [start, end]}`.
 * Times are unix seconds.
 */
export interface Lifecycle {
  startTs: number;
  endTs?: number;
}

/** Lifecycles of one owner's pods, by stable pod-spec hash, each list in launch order. */
export type LifecyclesBySpecHash = Map<bigint, Lifecycle[]>;

/** `pod_lifecycles`: keyed by owner (`[ownerGVK, ownerNsName]` in the file), in file order. */
export type PodLifecycles = Map<string, { owner: ObjectRef; bySpecHash: LifecyclesBySpecHash }>;

/** Per-kind entry of the trace's `config.trackedObjects`, as SimKube serialises it. */
export interface TrackedObjectDoc {
  podSpecTemplatePaths?: string[];
  trackLifecycle?: boolean;
  skipOwned?: boolean;
}

/** The trace's `config` field as SimKube writes it. */
export interface TraceConfigDoc {
  trackedObjects: Record<Gvk, TrackedObjectDoc>;
}

/** A whole trace file. `index` is GVK → nsName → spec hash of the object's last applied version. */
export interface Trace {
  version: 2;
  config: TraceConfigDoc;
  events: TraceEvent[];
  index: Map<Gvk, Map<NsName, bigint>>;
  podLifecycles: PodLifecycles;
}

/** Key of an object (or lifecycle owner) in maps: kind and name together. */
export function objKey(ref: ObjectRef): string {
  // A space can appear in neither a GVK nor a namespaced name, so the key is unambiguous.
  return `${ref.gvk} ${ref.nsName}`;
}

export function parseObjKey(key: string): ObjectRef {
  const at = key.indexOf(' ');
  return { gvk: key.slice(0, at), nsName: key.slice(at + 1) };
}

/**
 * One stored change of an object as the store hands it to export assembly: an applied
 * version (already sanitised) or a deletion, with the owner chain the sender resolved
 * (nearest owner first; empty when the object has no owners).
 */
export interface ObjectChange {
  ts: number;
  type: 'applied' | 'deleted';
  object: KubeObject;
  owners: ObjectRef[];
}

/** Kubernetes `LabelSelector`. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

/** SimKube's ExportRequest `filters`. */
export interface ExportFilters {
  excluded_namespaces: string[];
  excluded_labels: LabelSelector[];
}

/** A time window `[startTs, endTs)` in unix seconds, end exclusive. */
export interface TraceWindow {
  startTs: number;
  endTs: number;
}
