/**
 * The ingest wire format: what a sender (the forwarder, `sktrace import`, any third-party
 * client) posts to `POST /v1/clusters/{cluster}/events`. docs/ingest-api.md documents it for
 * outsiders; this file is the single source of the types.
 *
 * Body: JSON (`Content-Type: application/json`), optionally `Content-Encoding: gzip`.
 * Every change carries `ts`, unix seconds (integer) stamped by the sender when it saw the change.
 * Changes are applied in array order. A whole batch is idempotent: posting it again, or after a
 * partial failure, leaves the store exactly as one delivery would.
 *
 * u64 values (pod-spec hashes) travel as decimal strings: JSON numbers lose precision past 2^53.
 */
import type { Gvk, KubeObject, NsName, TraceConfigDoc } from '../trace/model.ts';

export const WIRE_VERSION = 1;

/** An owner in an owner chain, nearest first. */
export interface WireOwner {
  gvk: Gvk;
  ns_name: NsName;
}

/** An object was created or changed. The store writes an event only when its spec hash changed. */
export interface AppliedChange {
  type: 'applied';
  ts: number;
  /**
   * Orders changes of the same object within one second (higher wins); optional, default 0.
   * A redelivered older change of that second is then a no-op instead of overwriting a newer one.
   */
  seq?: number;
  object: KubeObject;
  /**
   * The object's owner chain resolved by the sender, nearest owner first, up to the root.
   * The export drops objects whose chain reaches another object in the trace, without cluster access.
   * Omitted: the chain is just `metadata.ownerReferences` (one level).
   */
  owners?: WireOwner[];
}

/** An object was deleted. `object` needs at least apiVersion, kind and metadata.name/namespace. */
export interface DeletedChange {
  type: 'deleted';
  ts: number;
  seq?: number;
  object: KubeObject;
}

/**
 * A (re)list of one kind, in pages: "at `ts`, the live objects of kind `gvk` whose nsName sorts
 * (byte-wise) in `(after, through]` are exactly `ns_names`". `after: null` is the start of the
 * key space, `through: null` its end; a full relist is pages that tile the whole space. Each page
 * reconciles independently: objects of that kind in the range that the store holds as live and
 * that are not listed are recorded as deleted at `ts`. Objects of other kinds are never touched.
 * Send the applied changes of the listed objects before their page.
 */
export interface RelistChange {
  type: 'relist';
  ts: number;
  /**
   * Orders the page against changes of the same second, as `seq` of applied/deleted changes: an
   * object whose last change is newer (same second, higher seq: a watch event after the list,
   * stored before a late or duplicated delivery of the page) is not missing from it. Optional:
   * without it, any object last changed in the page's second or before counts as missing.
   */
  seq?: number;
  gvk: Gvk;
  after: NsName | null;
  through: NsName | null;
  ns_names: NsName[];
  /**
   * With `true` (`gvk` must be `v1.Pod`), the page is about pod lifecycles, not objects: running
   * lifecycles whose `pod` is in the range and not listed are finished at `ts` — the pods vanished
   * while nobody watched (a forwarder restart). Objects are not touched. Omitted: false.
   */
  lifecycles?: boolean;
}

/**
 * A pod lifecycle transition, stored under its owner and stable pod-spec hash.
 * `pod` identifies the pod among the owner's pods (its nsName, or any unique id for imports);
 * a lifecycle only moves forward: Running (`end_ts` absent) → Finished with the same start.
 */
export interface LifecycleChange {
  type: 'lifecycle';
  ts: number;
  owner: WireOwner;
  pod: string;
  pod_spec_hash: string;
  start_ts: number;
  end_ts?: number;
}

/** The tracer config in force (SimKube's `trackedObjects` document). */
export interface ConfigChange {
  type: 'config';
  ts: number;
  config: TraceConfigDoc;
}

export type Change = AppliedChange | DeletedChange | RelistChange | LifecycleChange | ConfigChange;
export type ChangeType = Change['type'];

export interface Batch {
  changes: Change[];
}

/** Response of a successful post. */
export interface BatchResult {
  accepted: number;
  /** Applied changes that wrote no event because the spec was unchanged. */
  deduplicated: number;
  /** Objects recorded as deleted by relist pages. */
  reconciled_deletions: number;
}
