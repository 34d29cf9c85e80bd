/**
 * Rules for the names a batch carries: cluster ids, namespaces, object names, nsNames, and the
 * byte-wise order relist pages are sorted in.
 */
import type { NsName } from '../trace/model.ts';

/**
 * A cluster id is a path segment of the API and a prefix of every storage key
 * (`CLUSTER#<cluster>#…`, `<cluster>#GVK#nsName`): lowercase DNS-label characters only, so it
 * can hold neither the `#` key separator nor `/`, `.` or `..`.
 */
export const CLUSTER_ID_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function isValidClusterId(cluster: unknown): cluster is string {
  return typeof cluster === 'string' && CLUSTER_ID_PATTERN.test(cluster);
}

// Namespaces are DNS-1123 labels (Kubernetes `ValidateNamespaceName`).
const NAMESPACE_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
// Object names must be valid path segments (Kubernetes `IsValidPathSegmentName`: no `/`, no
// `%`, not `.` or `..`); most kinds are stricter (DNS subdomains, max 253), but RBAC names like
// `system:controller:foo` are not DNS names, so only the common rules are enforced. Whitespace
// and control characters are refused too: the trace model keys objects by `GVK + ' ' + nsName`.
const NAME_FORBIDDEN = /[/%\s\p{Cc}]/u;
const MAX_NAME_LENGTH = 253;

/** Why `name` cannot be an object name, or undefined when it can. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > MAX_NAME_LENGTH) return `is longer than ${MAX_NAME_LENGTH} characters`;
  if (name === '.' || name === '..') return `may not be "${name}"`;
  if (NAME_FORBIDDEN.test(name)) return 'may not contain "/", "%", whitespace or control characters';
  return undefined;
}

/** Why `namespace` cannot be a namespace name, or undefined when it can. */
export function namespaceProblem(namespace: string): string | undefined {
  return NAMESPACE_PATTERN.test(namespace)
    ? undefined
    : 'is not a DNS-1123 label (lowercase letters, digits and "-", at most 63)';
}

/** Why `nsName` (`namespace/name` or `name`) is not a namespaced name, or undefined. */
export function nsNameProblem(nsName: string): string | undefined {
  const at = nsName.indexOf('/');
  if (at < 0) return nameProblem(nsName);
  const ns = namespaceProblem(nsName.slice(0, at));
  if (ns) return `has a namespace that ${ns}`;
  const name = nameProblem(nsName.slice(at + 1));
  return name ? `has a name that ${name}` : undefined;
}

/**
 * Compares two strings by their UTF-8 bytes, the order relist pages are sorted in (etcd keys and
 * DynamoDB sort keys are compared byte-wise). JavaScript's `<` compares UTF-16 code units, which
 * puts U+E000–U+FFFF after surrogate pairs (astral code points) while UTF-8 puts them before;
 * shifting the two ranges fixes that without encoding.
 */
export function compareBytewise(a: NsName, b: NsName): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}
