/**
 * Validation of an ingest batch (lib/ingest/wire.ts is the contract). The whole batch is checked
 * before anything is written, so a rejected batch writes nothing; the first problem found is
 * thrown as a BatchValidationError naming its JSON path and the index of its change.
 *
 * Objects inside changes are Kubernetes objects: only what the store and the export rely on is
 * checked there (identity, labels, annotations, owner references, size); every other field of
 * the object passes untouched. Everything else is strict, unknown fields included, so a sender
 * speaking a newer wire format hears about it instead of having fields silently dropped.
 */
import { SktraceError } from '../errors.ts';
import { eventSk, lifecycleSk, runningLifecycleSk } from '../store/keys.ts';
import { tracerConfigFromDoc } from '../trace/config.ts';
import type { KubeObject, TraceConfigDoc } from '../trace/model.ts';
import { type BatchErrorCode, BatchValidationError } from './errors.ts';
import {
  compareBytewise,
  gvkProblem,
  labelValueProblem,
  MAX_ANNOTATIONS_BYTES,
  MAX_KIND_LENGTH,
  nameProblem,
  namespaceProblem,
  nsNameProblem,
  podIdProblem,
  qualifiedNameProblem,
  utf8Bytes,
} from './names.ts';
import type {
  AppliedChange,
  Batch,
  Change,
  ChangeType,
  ConfigChange,
  DeletedChange,
  LifecycleChange,
  RelistChange,
  WireOwner,
} from './wire.ts';

export interface ValidateOptions {
  /** Ingest time, unix seconds. */
  nowSec: number;
  /** How far a sender's clock may run ahead of ours before a ts counts as in the future. */
  maxSkewSec: number;
  maxChanges?: number;
  /** Serialised JSON size of one object; Kubernetes itself refuses objects past etcd's 1.5 MiB. */
  maxObjectBytes?: number;
  maxRelistNames?: number;
}

export const DEFAULT_MAX_CHANGES = 5_000;
/** etcd's default `--max-request-bytes` (1.5 MiB): no object a real cluster holds is larger. */
export const DEFAULT_MAX_OBJECT_BYTES = 1_572_864;
export const DEFAULT_MAX_RELIST_NAMES = 5_000;
/**
 * Deepest JSON nesting of one change. JSON.parse builds any depth, but everything after it
 * (JSON.stringify, the spec hash, the store's codec) recurses and overflows the stack near 10,000
 * levels; real Kubernetes objects, CRD schemas included, stay far below 100.
 */
export const MAX_CHANGE_DEPTH = 128;

// u64 pod-spec hashes travel as decimal strings (JSON numbers lose precision past 2^53).
const U64_DECIMAL = /^(0|[1-9][0-9]{0,19})$/;
const U64_MAX = 0xffff_ffff_ffff_ffffn;
const KIND_PATTERN = /^[A-Za-z][A-Za-z0-9]*$/;

/**
 * DynamoDB's key limits (Developer Guide, "Service, account, and table quotas": a partition key
 * value at most 2,048 bytes, a sort key value at most 1,024, both counted in UTF-8). A key past
 * them is a ValidationException on the write; checked here so such a change is a 400 naming it,
 * before anything of its batch is written. Kubernetes' own name limits keep an object's keys
 * well inside (at most ~710 bytes); a lifecycle's sort key holds two names and a GVK and can
 * pass 1,024 with all three at their maximum, so that is checked on the keys the store builds.
 */
export const DYNAMODB_MAX_PARTITION_KEY_BYTES = 2048;
export const DYNAMODB_MAX_SORT_KEY_BYTES = 1024;

/** The fields each change type may have (docs/openapi.yaml lists the same; a test keeps them equal). */
export const CHANGE_FIELDS: Readonly<Record<ChangeType, ReadonlySet<string>>> = {
  applied: new Set(['type', 'ts', 'seq', 'object', 'owners']),
  deleted: new Set(['type', 'ts', 'seq', 'object']),
  relist: new Set(['type', 'ts', 'seq', 'gvk', 'after', 'through', 'ns_names', 'lifecycles']),
  lifecycle: new Set(['type', 'ts', 'owner', 'pod', 'pod_spec_hash', 'start_ts', 'end_ts']),
  config: new Set(['type', 'ts', 'config']),
};
const BATCH_FIELDS: ReadonlySet<string> = new Set(['changes']);
const OWNER_FIELDS: ReadonlySet<string> = new Set(['gvk', 'ns_name']);

type Json = Record<string, unknown>;

/** Checks a parsed request body and returns it as a typed Batch, or throws BatchValidationError. */
export function validateBatch(json: unknown, opts: ValidateOptions): Batch {
  const v: Validator = new Validator(opts);
  const body = v.object(json, '', undefined);
  v.knownFields(body, BATCH_FIELDS, '', undefined);
  if (!('changes' in body)) v.fail('missing_field', 'changes', undefined, 'is missing');
  const changes = body.changes;
  if (!Array.isArray(changes))
    v.fail('invalid_type', 'changes', undefined, `must be an array, got ${kindOfValue(changes)}`);
  if (changes.length > v.maxChanges) {
    v.fail(
      'too_many_changes',
      'changes',
      undefined,
      `holds ${changes.length} changes; a batch holds at most ${v.maxChanges}: split it`,
    );
  }
  return { changes: changes.map((change, index) => v.change(change, index)) };
}

class Validator {
  readonly maxChanges: number;
  readonly #maxObjectBytes: number;
  readonly #maxRelistNames: number;
  readonly #latestTsSec: number;
  readonly #opts: ValidateOptions;

  constructor(opts: ValidateOptions) {
    this.#opts = opts;
    this.maxChanges = opts.maxChanges ?? DEFAULT_MAX_CHANGES;
    this.#maxObjectBytes = opts.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES;
    this.#maxRelistNames = opts.maxRelistNames ?? DEFAULT_MAX_RELIST_NAMES;
    this.#latestTsSec = opts.nowSec + opts.maxSkewSec;
  }

  fail(code: BatchErrorCode, field: string, index: number | undefined, problem: string): never {
    const subject = field === '' ? 'the body' : field;
    throw new BatchValidationError(code, `${subject} ${problem}`, field, index);
  }

  change(raw: unknown, index: number): Change {
    const at = `changes[${index}]`;
    const c = this.object(raw, at, index);
    // First, so that no later step (messages included) ever recurses through a hostile depth.
    if (nestingExceeds(c, MAX_CHANGE_DEPTH)) {
      this.fail('nesting_too_deep', at, index, `nests JSON deeper than ${MAX_CHANGE_DEPTH} levels`);
    }
    if (!('type' in c)) this.fail('missing_field', `${at}.type`, index, 'is missing');
    const type = c.type;
    if (typeof type !== 'string' || !Object.hasOwn(CHANGE_FIELDS, type)) {
      this.fail(
        'unknown_change_type',
        `${at}.type`,
        index,
        `is ${typeof type === 'string' ? quote(type) : kindOfValue(type)}; expected one of ${Object.keys(CHANGE_FIELDS).join(', ')}`,
      );
    }
    const changeType = type as ChangeType;
    this.knownFields(c, CHANGE_FIELDS[changeType], at, index);
    const ts = this.tsSec(c.ts, `${at}.ts`, index);
    switch (changeType) {
      case 'applied':
        return this.applied(c, ts, at, index);
      case 'deleted':
        return this.deleted(c, ts, at, index);
      case 'relist':
        return this.relist(c, ts, at, index);
      case 'lifecycle':
        return this.lifecycle(c, ts, at, index);
      case 'config':
        return this.config(c, ts, at, index);
    }
  }

  applied(c: Json, ts: number, at: string, index: number): AppliedChange {
    const change: AppliedChange = {
      type: 'applied',
      ts,
      object: this.kubeObject(c.object, `${at}.object`, index),
    };
    if (c.seq !== undefined) change.seq = this.seq(c.seq, `${at}.seq`, index);
    if (c.owners !== undefined) {
      const owners = this.array(c.owners, `${at}.owners`, index);
      change.owners = owners.map((o, i) => this.owner(o, `${at}.owners[${i}]`, index));
    }
    return change;
  }

  deleted(c: Json, ts: number, at: string, index: number): DeletedChange {
    const change: DeletedChange = {
      type: 'deleted',
      ts,
      object: this.kubeObject(c.object, `${at}.object`, index),
    };
    if (c.seq !== undefined) change.seq = this.seq(c.seq, `${at}.seq`, index);
    return change;
  }

  relist(c: Json, ts: number, at: string, index: number): RelistChange {
    const gvk = this.gvk(c.gvk, `${at}.gvk`, index);
    const after = this.boundary(c, 'after', at, index);
    const through = this.boundary(c, 'through', at, index);
    if (after !== null && through !== null && compareBytewise(after, through) >= 0) {
      this.fail(
        'invalid_relist_range',
        `${at}.through`,
        index,
        `(${quote(through)}) must sort after \`after\` (${quote(after)}): the page covers (after, through]`,
      );
    }
    const names = this.array(c.ns_names, `${at}.ns_names`, index);
    if (names.length > this.#maxRelistNames) {
      this.fail(
        'too_many_names',
        `${at}.ns_names`,
        index,
        `holds ${names.length} names; a relist page holds at most ${this.#maxRelistNames}: split it into pages`,
      );
    }
    const nsNames: string[] = [];
    let previous: string | undefined;
    for (const [i, raw] of names.entries()) {
      const field = `${at}.ns_names[${i}]`;
      const nsName = this.nsName(raw, field, index);
      if (previous !== undefined && compareBytewise(previous, nsName) >= 0) {
        this.fail(
          'relist_unsorted',
          field,
          index,
          `(${quote(nsName)}) must sort byte-wise after the name before it (${quote(previous)}): names are sorted and unique`,
        );
      }
      if (
        (after !== null && compareBytewise(nsName, after) <= 0) ||
        (through !== null && compareBytewise(nsName, through) > 0)
      ) {
        this.fail(
          'relist_out_of_range',
          field,
          index,
          `(${quote(nsName)}) lies outside the page's range (${quote(after)}, ${quote(through)}]`,
        );
      }
      nsNames.push(nsName);
      previous = nsName;
    }
    const change: RelistChange = { type: 'relist', ts, gvk, after, through, ns_names: nsNames };
    if (c.seq !== undefined) change.seq = this.seq(c.seq, `${at}.seq`, index);
    if (c.lifecycles !== undefined) {
      if (typeof c.lifecycles !== 'boolean') {
        this.fail(
          'invalid_type',
          `${at}.lifecycles`,
          index,
          `must be a boolean, got ${kindOfValue(c.lifecycles)}`,
        );
      }
      // Lifecycles belong to pods: a page of another kind could only finish them by mistake.
      if (c.lifecycles && gvk !== 'v1.Pod') {
        this.fail(
          'invalid_value',
          `${at}.lifecycles`,
          index,
          `is only for pages of v1.Pod, not ${quote(gvk)}`,
        );
      }
      if (c.lifecycles) change.lifecycles = true;
    }
    return change;
  }

  lifecycle(c: Json, ts: number, at: string, index: number): LifecycleChange {
    const owner = this.owner(c.owner, `${at}.owner`, index);
    const pod = this.string(c.pod, `${at}.pod`, index);
    const badPod = podIdProblem(pod);
    if (badPod) this.fail('invalid_value', `${at}.pod`, index, `(${quote(pod)}) ${badPod}`);
    const hash = this.string(c.pod_spec_hash, `${at}.pod_spec_hash`, index);
    if (!U64_DECIMAL.test(hash) || BigInt(hash) > U64_MAX) {
      this.fail(
        'invalid_hash',
        `${at}.pod_spec_hash`,
        index,
        `(${quote(hash)}) must be a u64 as a decimal string without leading zeros`,
      );
    }
    const startTs = this.tsSec(c.start_ts, `${at}.start_ts`, index);
    const change: LifecycleChange = {
      type: 'lifecycle',
      ts,
      owner,
      pod,
      pod_spec_hash: hash,
      start_ts: startTs,
    };
    if (c.end_ts !== undefined) {
      const endTs = this.tsSec(c.end_ts, `${at}.end_ts`, index);
      if (endTs < startTs) {
        this.fail('invalid_lifecycle', `${at}.end_ts`, index, `(${endTs}) is before start_ts (${startTs})`);
      }
      change.end_ts = endTs;
    }
    const podSpecHash = BigInt(hash);
    this.keyFits(
      lifecycleSk(owner.gvk, owner.ns_name, podSpecHash, pod, startTs),
      DYNAMODB_MAX_SORT_KEY_BYTES,
      `${at}.pod`,
      index,
      'lifecycle sort key (owner GVK, owner name, pod-spec hash, pod, start)',
    );
    this.keyFits(
      runningLifecycleSk(pod, owner.gvk, owner.ns_name, podSpecHash),
      DYNAMODB_MAX_SORT_KEY_BYTES,
      `${at}.pod`,
      index,
      'running-lifecycle index sort key (pod, owner GVK, owner name, pod-spec hash)',
    );
    return change;
  }

  /** Refuses a change whose storage key DynamoDB would refuse (see DYNAMODB_MAX_SORT_KEY_BYTES). */
  keyFits(key: string, maxBytes: number, field: string, index: number, what: string): void {
    const bytes = utf8Bytes(key);
    if (bytes > maxBytes) {
      this.fail(
        'key_too_long',
        field,
        index,
        `makes a ${what} of ${bytes} bytes; DynamoDB keys of that kind hold at most ${maxBytes} bytes: shorten the names`,
      );
    }
  }

  config(c: Json, ts: number, at: string, index: number): ConfigChange {
    const field = `${at}.config`;
    const doc = this.object(c.config, field, index);
    try {
      tracerConfigFromDoc(doc);
    } catch (err) {
      if (!(err instanceof SktraceError)) throw err;
      throw new BatchValidationError(
        'invalid_config',
        `${field} is not a valid tracer config: ${err.message}`,
        field,
        index,
        {
          cause: err,
        },
      );
    }
    return { type: 'config', ts, config: doc as unknown as TraceConfigDoc };
  }

  kubeObject(raw: unknown, at: string, index: number): KubeObject {
    const obj = this.object(raw, at, index);
    const apiVersion = this.string(obj.apiVersion, `${at}.apiVersion`, index);
    const kind = this.string(obj.kind, `${at}.kind`, index);
    if (!KIND_PATTERN.test(kind) || kind.length > MAX_KIND_LENGTH) {
      this.fail(
        'invalid_value',
        `${at}.kind`,
        index,
        `(${quote(kind)}) is not a Kubernetes kind (a letter, then letters and digits, at most ${MAX_KIND_LENGTH})`,
      );
    }
    const gvk = this.gvk(`${apiVersion}.${kind}`, `${at}.apiVersion`, index);
    const meta = this.object(obj.metadata, `${at}.metadata`, index);
    const name = this.string(meta.name, `${at}.metadata.name`, index);
    const bad = nameProblem(name);
    if (bad) this.fail('invalid_value', `${at}.metadata.name`, index, `(${quote(name)}) ${bad}`);
    if (meta.namespace !== undefined) {
      const namespace = this.string(meta.namespace, `${at}.metadata.namespace`, index);
      // An empty namespace is how some clients write a cluster-scoped object's.
      const badNs = namespace === '' ? undefined : namespaceProblem(namespace);
      if (badNs)
        this.fail('invalid_value', `${at}.metadata.namespace`, index, `(${quote(namespace)}) ${badNs}`);
    }
    // Export filters match labels and walk owner references: their shapes must hold, to the
    // limits the API server enforces (apimachinery ValidateLabels, ValidateAnnotations).
    let annotationBytes = 0;
    for (const map of ['labels', 'annotations'] as const) {
      if (meta[map] === undefined) continue;
      const entries = this.object(meta[map], `${at}.metadata.${map}`, index);
      for (const [key, value] of Object.entries(entries)) {
        const field = `${at}.metadata.${map}[${quote(key)}]`;
        const text = this.string(value, field, index);
        const badKey = qualifiedNameProblem(key);
        if (badKey) this.fail('invalid_value', field, index, `has a key that ${badKey}`);
        if (map === 'labels') {
          const badValue = labelValueProblem(text);
          if (badValue) this.fail('invalid_value', field, index, `(${quote(text)}) ${badValue}`);
        } else {
          annotationBytes += key.length + text.length;
        }
      }
    }
    if (annotationBytes > MAX_ANNOTATIONS_BYTES) {
      this.fail(
        'object_too_large',
        `${at}.metadata.annotations`,
        index,
        `hold ${annotationBytes} characters; Kubernetes allows at most ${MAX_ANNOTATIONS_BYTES} in all`,
      );
    }
    if (meta.ownerReferences !== undefined) {
      const refs = this.array(meta.ownerReferences, `${at}.metadata.ownerReferences`, index);
      refs.forEach((r, i) => {
        const field = `${at}.metadata.ownerReferences[${i}]`;
        const ref = this.object(r, field, index);
        for (const key of ['apiVersion', 'kind', 'name'] as const)
          this.string(ref[key], `${field}.${key}`, index);
      });
    }
    const nsName = meta.namespace ? `${meta.namespace}/${name}` : name;
    // ts does not change the key's length (fixed width): 0 stands for any.
    this.keyFits(eventSk(0, gvk, nsName), DYNAMODB_MAX_SORT_KEY_BYTES, at, index, 'event sort key');
    const bytes = Buffer.byteLength(JSON.stringify(obj));
    if (bytes > this.#maxObjectBytes) {
      this.fail(
        'object_too_large',
        at,
        index,
        `is ${bytes} bytes of JSON; an object may be at most ${this.#maxObjectBytes}`,
      );
    }
    return obj as KubeObject;
  }

  owner(raw: unknown, at: string, index: number): WireOwner {
    const o = this.object(raw, at, index);
    this.knownFields(o, OWNER_FIELDS, at, index);
    return {
      gvk: this.gvk(o.gvk, `${at}.gvk`, index),
      ns_name: this.nsName(o.ns_name, `${at}.ns_name`, index),
    };
  }

  gvk(raw: unknown, field: string, index: number): string {
    const gvk = this.string(raw, field, index);
    const bad = gvkProblem(gvk);
    if (bad) this.fail('invalid_value', field, index, `(${quote(gvk)}) ${bad}`);
    return gvk;
  }

  nsName(raw: unknown, field: string, index: number): string {
    const nsName = this.string(raw, field, index);
    const bad = nsNameProblem(nsName);
    if (bad) this.fail('invalid_value', field, index, `(${quote(nsName)}) ${bad}`);
    return nsName;
  }

  boundary(c: Json, key: 'after' | 'through', at: string, index: number): string | null {
    const field = `${at}.${key}`;
    if (!(key in c))
      this.fail('missing_field', field, index, 'is missing (null stands for the end of the key space)');
    // Boundaries are names of the kind's objects (and sort keys of the store's queries).
    return c[key] === null ? null : this.nsName(c[key], field, index);
  }

  tsSec(raw: unknown, field: string, index: number): number {
    if (raw === undefined) this.fail('missing_field', field, index, 'is missing');
    if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 0) {
      this.fail(
        'invalid_ts',
        field,
        index,
        `must be a non-negative integer of unix seconds, got ${describe(raw)}`,
      );
    }
    if (raw > this.#latestTsSec) {
      this.fail(
        'ts_in_future',
        field,
        index,
        `(${raw}) is ${raw - this.#opts.nowSec} s ahead of the server's clock (${this.#opts.nowSec}); at most ${this.#opts.maxSkewSec} s of skew is allowed`,
      );
    }
    return raw;
  }

  seq(raw: unknown, field: string, index: number): number {
    if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 0) {
      this.fail('invalid_value', field, index, `must be a non-negative integer, got ${describe(raw)}`);
    }
    return raw;
  }

  object(raw: unknown, field: string, index: number | undefined): Json {
    if (raw === undefined) this.fail('missing_field', field, index, 'is missing');
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      this.fail('invalid_type', field, index, `must be an object, got ${kindOfValue(raw)}`);
    }
    return raw as Json;
  }

  array(raw: unknown, field: string, index: number): unknown[] {
    if (raw === undefined) this.fail('missing_field', field, index, 'is missing');
    if (!Array.isArray(raw))
      this.fail('invalid_type', field, index, `must be an array, got ${kindOfValue(raw)}`);
    return raw;
  }

  string(raw: unknown, field: string, index: number): string {
    if (raw === undefined) this.fail('missing_field', field, index, 'is missing');
    if (typeof raw !== 'string')
      this.fail('invalid_type', field, index, `must be a string, got ${kindOfValue(raw)}`);
    return raw;
  }

  knownFields(obj: Json, allowed: ReadonlySet<string>, at: string, index: number | undefined): void {
    for (const key of Object.keys(obj)) {
      if (!allowed.has(key)) {
        const field = at === '' ? key : `${at}.${key}`;
        this.fail(
          'unknown_field',
          field,
          index,
          `is not a known field; expected only ${[...allowed].join(', ')}`,
        );
      }
    }
  }
}

/** Whether `value` nests arrays and objects more than `max` levels deep; iterative, so any depth is safe. */
function nestingExceeds(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** A value echoed in a message, JSON-quoted and cut short: messages stay small whatever was sent. */
function quote(value: string | null): string {
  const MAX = 80;
  if (value === null || value.length <= MAX) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, MAX))}… (${value.length} characters)`;
}

function kindOfValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function describe(value: unknown): string {
  return typeof value === 'number' ? String(value) : kindOfValue(value);
}
