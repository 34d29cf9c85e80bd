/**
 * GVK and namespaced-name helpers. SimKube writes a GVK as `group/version.Kind`, or
 * `version.Kind` for the core group (`v1.Pod`), and a namespaced name as `ns/name`, or `name`
 * for cluster-scoped objects.
 */
import { SktraceError } from '../errors.ts';
import type { Gvk, NsName, ObjectRef } from './model.ts';

export interface GvkParts {
  group: string;
  version: string;
  kind: string;
}

// Kinds are CamelCase identifiers; versions and groups are DNS-like labels (RFC 1123).
const GVK_PATTERN = /^(?:([a-z0-9]([-a-z0-9.]*[a-z0-9])?)\/)?([a-z0-9]+)\.([A-Za-z][A-Za-z0-9]*)$/;

export function parseGvk(gvk: string): GvkParts {
  const m = GVK_PATTERN.exec(gvk);
  if (!m) {
    throw new SktraceError(
      'invalid_gvk',
      `"${gvk}" is not a GVK: expected group/version.Kind (apps/v1.Deployment) or version.Kind for the core group (v1.Pod)`,
      { gvk },
    );
  }
  return { group: m[1] ?? '', version: m[3]!, kind: m[4]! };
}

export function formatGvk(parts: GvkParts): Gvk {
  return parts.group ? `${parts.group}/${parts.version}.${parts.kind}` : `${parts.version}.${parts.kind}`;
}

/** `apps/v1` + `Deployment` → `apps/v1.Deployment`; `v1` + `Pod` → `v1.Pod`. */
export function gvkOf(obj: { apiVersion: string; kind: string }): Gvk {
  return `${obj.apiVersion}.${obj.kind}`;
}

/** `apps/v1.Deployment` → `apps/v1`. */
export function apiVersionOf(gvk: Gvk): string {
  const p = parseGvk(gvk);
  return p.group ? `${p.group}/${p.version}` : p.version;
}

export function kindOf(gvk: Gvk): string {
  return parseGvk(gvk).kind;
}

export function nsNameOf(obj: { metadata: { name?: string; namespace?: string } }): NsName {
  const { name = '', namespace } = obj.metadata;
  return namespace ? `${namespace}/${name}` : name;
}

export function formatNsName(namespace: string | undefined, name: string): NsName {
  return namespace ? `${namespace}/${name}` : name;
}

/** `ns/name` → its namespace and name; `name` → cluster-scoped. */
export function parseNsName(nsName: NsName): { namespace?: string; name: string } {
  const at = nsName.indexOf('/');
  return at < 0 ? { name: nsName } : { namespace: nsName.slice(0, at), name: nsName.slice(at + 1) };
}

export function refOf(obj: {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string };
}): ObjectRef {
  return { gvk: gvkOf(obj), nsName: nsNameOf(obj) };
}
