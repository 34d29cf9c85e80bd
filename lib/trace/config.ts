/**
 * The tracer config: which kinds to track, where their pod templates are, and whether to track
 * the lifecycles of their pods. The file is SimKube's sk-tracer YAML:
 *
 *   trackedObjects:
 *     apps/v1.Deployment: {}
 *     batch/v1.CronJob:
 *       trackLifecycle: true
 *
 * Per GVK: `podSpecTemplatePaths` (JSON pointers, `*` for every array element), the deprecated
 * single `podSpecTemplatePath`, `trackLifecycle`, `skipOwned`. SimKube (sk-core
 * `TracerConfig::normalize`) fills in the paths of known kinds, refuses a user path that differs
 * from a known default, and refuses a kind with no paths at all. We keep that last kind instead
 * (users track ServiceAccounts, ConfigMaps, CRDs…: the forwarder watches them and their objects
 * appear in events) but leave it out of the `config` written into an exported trace, because
 * current SimKube refuses a trace whose config tracks a kind without pod template paths.
 */
import { parseDocument } from 'yaml';
import { SktraceError } from '../errors.ts';
import { TracerConfigError } from './errors.ts';
import { gvkOf, parseGvk } from './gvk.ts';
import type { Gvk, TraceConfigDoc, TrackedObjectDoc } from './model.ts';
import { parsePointer, resolvePointer } from './pointer.ts';

/** One tracked kind, with its pod template paths resolved (empty: a kind without pods). */
export interface TrackedKind {
  gvk: Gvk;
  group: string;
  version: string;
  kind: string;
  podSpecTemplatePaths: string[];
  trackLifecycle: boolean;
  skipOwned: boolean;
}

export interface TracerConfig {
  /** In the order the config lists them. */
  trackedObjects: Map<Gvk, TrackedKind>;
}

/**
 * Where the pod template of each workload kind SimKube knows lives (sk-core's known GVKs).
 * Matched by group and kind: the template's place is part of the kind's schema, not its version.
 */
const KNOWN_POD_SPEC_TEMPLATE_PATHS: ReadonlyArray<{
  group: string;
  kind: string;
  paths: readonly string[];
}> = [
  { group: 'batch', kind: 'CronJob', paths: ['/spec/jobTemplate/spec/template'] },
  { group: 'apps', kind: 'DaemonSet', paths: ['/spec/template'] },
  { group: 'apps', kind: 'Deployment', paths: ['/spec/template'] },
  { group: 'batch', kind: 'Job', paths: ['/spec/template'] },
  { group: 'apps', kind: 'ReplicaSet', paths: ['/spec'] },
  { group: 'apps', kind: 'StatefulSet', paths: ['/spec/template'] },
  // A Pod is its own template.
  { group: '', kind: 'Pod', paths: [''] },
];

const TOP_FIELDS = new Set(['trackedObjects']);
const KIND_FIELDS = new Set(['podSpecTemplatePaths', 'podSpecTemplatePath', 'trackLifecycle', 'skipOwned']);

/** The default pod template paths of a known kind, or undefined for any other kind. */
export function knownPodSpecTemplatePaths(gvk: Gvk): readonly string[] | undefined {
  const { group, kind } = parseGvk(gvk);
  return KNOWN_POD_SPEC_TEMPLATE_PATHS.find((k) => k.group === group && k.kind === kind)?.paths;
}

/** Parses the tracer config YAML. Throws `TracerConfigError` naming the problem. */
export function parseTracerConfig(text: string): TracerConfig {
  const doc = parseDocument(text, { uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    // The yaml package's messages quote the source over several lines; the first says it all.
    throw new TracerConfigError(
      `tracer config is not valid YAML: ${error.message.split('\n')[0]}`,
      {},
      {
        cause: error,
      },
    );
  }
  return tracerConfigFromDoc(doc.toJS());
}

/**
 * Builds a config from its document form: the parsed YAML, a config sent as JSON, or the `config`
 * of a trace (where known kinds may lack their paths: older SimKube omitted them).
 */
export function tracerConfigFromDoc(doc: unknown): TracerConfig {
  if (!isRecord(doc)) {
    throw new TracerConfigError(`tracer config must be a map with trackedObjects, got ${describe(doc)}`);
  }
  for (const field of Object.keys(doc)) {
    if (!TOP_FIELDS.has(field)) {
      throw new TracerConfigError(
        `unknown field ${JSON.stringify(field)} in the tracer config (expected trackedObjects)`,
        {
          field,
        },
      );
    }
  }
  const tracked = doc.trackedObjects;
  if (!isRecord(tracked)) {
    throw new TracerConfigError(
      tracked === undefined
        ? 'tracer config has no trackedObjects'
        : `trackedObjects must be a map from GVK to settings, got ${describe(tracked)}`,
    );
  }
  const trackedObjects = new Map<Gvk, TrackedKind>();
  for (const [gvk, settings] of Object.entries(tracked)) {
    trackedObjects.set(gvk, trackedKind(gvk, settings));
  }
  return { trackedObjects };
}

function trackedKind(gvk: Gvk, settings: unknown): TrackedKind {
  let parts: { group: string; version: string; kind: string };
  try {
    parts = parseGvk(gvk);
  } catch (err) {
    const detail = err instanceof SktraceError ? err.message : String(err);
    throw new TracerConfigError(`trackedObjects: ${detail}`, { gvk }, { cause: err });
  }
  // `apps/v1.Deployment:` with nothing after it is YAML null: track with the defaults.
  const s = settings ?? {};
  if (!isRecord(s)) {
    throw new TracerConfigError(`trackedObjects.${gvk} must be a map of settings, got ${describe(s)}`, {
      gvk,
    });
  }
  for (const field of Object.keys(s)) {
    if (!KIND_FIELDS.has(field)) {
      throw new TracerConfigError(
        `unknown field ${JSON.stringify(field)} in trackedObjects.${gvk} (expected one of ${[...KIND_FIELDS].join(', ')})`,
        { gvk, field },
      );
    }
  }
  const list = optional(
    s.podSpecTemplatePaths,
    gvk,
    'podSpecTemplatePaths',
    isStringList,
    'a list of strings',
  );
  const single = optional(s.podSpecTemplatePath, gvk, 'podSpecTemplatePath', isString, 'a string');
  const trackLifecycle =
    optional(s.trackLifecycle, gvk, 'trackLifecycle', isBoolean, 'true or false') ?? false;
  const skipOwned = optional(s.skipOwned, gvk, 'skipOwned', isBoolean, 'true or false') ?? false;

  // An empty list is "not given" (SimKube: `Some(paths) if !paths.is_empty()`).
  const fromList = list !== undefined && list.length > 0 ? list : undefined;
  if (fromList !== undefined && single !== undefined && !(fromList.length === 1 && fromList[0] === single)) {
    throw new TracerConfigError(
      `trackedObjects.${gvk} gives both podSpecTemplatePath ${JSON.stringify(single)} (deprecated) and podSpecTemplatePaths ${JSON.stringify(fromList)}, which differ: keep only podSpecTemplatePaths`,
      { gvk },
    );
  }
  const given = fromList ?? (single !== undefined ? [single] : undefined);
  for (const path of given ?? []) {
    try {
      parsePointer(path);
    } catch (err) {
      throw new TracerConfigError(
        `trackedObjects.${gvk}: ${err instanceof Error ? err.message : String(err)}`,
        { gvk, path },
        { cause: err },
      );
    }
  }
  const known = knownPodSpecTemplatePaths(gvk);
  if (given !== undefined && known !== undefined && !sameList(given, known)) {
    throw new TracerConfigError(
      `trackedObjects.${gvk}: pod template path ${JSON.stringify(given)} differs from the path SimKube uses for ${parts.kind}, ${JSON.stringify(known)}: leave it out or give that one`,
      { gvk, given, expected: known },
    );
  }
  return {
    gvk,
    ...parts,
    podSpecTemplatePaths: [...(given ?? known ?? [])],
    trackLifecycle,
    skipOwned,
  };
}

/**
 * The `config` to write into an exported trace: the kinds SimKube accepts (those with pod template
 * paths), each with its paths spelled out and `trackLifecycle`/`skipOwned` only when true, in
 * SimKube's field order (podSpecTemplatePaths, trackLifecycle, skipOwned).
 */
export function exportableConfigDoc(config: TracerConfig): TraceConfigDoc {
  const trackedObjects: Record<Gvk, TrackedObjectDoc> = {};
  for (const [gvk, k] of config.trackedObjects) {
    if (k.podSpecTemplatePaths.length === 0) continue;
    const doc: TrackedObjectDoc = { podSpecTemplatePaths: [...k.podSpecTemplatePaths] };
    if (k.trackLifecycle) doc.trackLifecycle = true;
    if (k.skipOwned) doc.skipOwned = true;
    trackedObjects[gvk] = doc;
  }
  return { trackedObjects };
}

/**
 * Every pod template of `obj` by its kind's paths (a Pod is its own template); `[]` when its kind
 * is not tracked, has no paths, or no path matches.
 */
export function podTemplatesOf(obj: { apiVersion: string; kind: string }, config: TracerConfig): unknown[] {
  const kind = config.trackedObjects.get(gvkOf(obj));
  if (!kind) return [];
  return kind.podSpecTemplatePaths.flatMap((path) => resolvePointer(obj, path));
}

function optional<T>(
  value: unknown,
  gvk: Gvk,
  field: string,
  check: (v: unknown) => v is T,
  expected: string,
): T | undefined {
  if (value === undefined || value === null) return undefined;
  if (!check(value)) {
    throw new TracerConfigError(
      `trackedObjects.${gvk}.${field} must be ${expected}, got ${describe(value)}`,
      {
        gvk,
        field,
      },
    );
  }
  return value;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isString(v: unknown): v is string {
  return typeof v === 'string';
}

function isBoolean(v: unknown): v is boolean {
  return typeof v === 'boolean';
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every(isString);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return `a list ${JSON.stringify(v)}`;
  if (typeof v === 'object') return 'a map';
  return `${typeof v} ${JSON.stringify(v)}`;
}
