/**
 * Rules for the names a batch carries: cluster ids, namespaces, object names, nsNames, and the
 * byte-wise order relist pages are sorted in.
 */
import { parseGvk } from '../trace/gvk.ts';
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

// Kubernetes' name grammars (k8s.io/apimachinery/pkg/util/validation/validation.go).
// DNS-1123 label: `IsDNS1123Label`, at most 63 (namespaces, `ValidateNamespaceName`).
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_LABEL_MAX_LENGTH = 63;
// DNS-1123 subdomain: `IsDNS1123Subdomain`, at most 253 (pod names `ValidatePodName`, API groups).
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const DNS1123_SUBDOMAIN_MAX_LENGTH = 253;
// Qualified names (label and annotation keys, `IsQualifiedName`): an optional DNS-subdomain
// prefix and `/`, then a name of at most 63 characters; label values (`IsValidLabelValue`) are
// empty or such a name.
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
export const QUALIFIED_NAME_MAX_LENGTH = 63;
export const LABEL_VALUE_MAX_LENGTH = 63;
/** `TotalAnnotationSizeLimitB` in apimachinery's ValidateAnnotations: keys and values together. */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;
// Object names must be valid path segments (Kubernetes `IsValidPathSegmentName`: no `/`, no
// `%`, not `.` or `..`); most kinds are stricter (DNS subdomains, max 253), but RBAC names like
// `system:controller:foo` are not DNS names, so only the common rules are enforced. Whitespace
// and control characters are refused too: the trace model keys objects by `GVK + ' ' + nsName`.
// The limit is 253 UTF-8 bytes (the DNS-subdomain limit, in bytes so that a name of non-ASCII
// characters cannot make a storage key longer than an ASCII one: DynamoDB counts key bytes).
const NAME_FORBIDDEN = /[/%\s\p{Cc}]/u;
export const MAX_NAME_BYTES = 253;

/** UTF-8 length of a string (what DynamoDB counts against its key limits), without encoding it. */
export function utf8Bytes(value: string): number {
  let bytes = 0;
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < value.length) {
      const next = value.charCodeAt(i + 1);
      // A surrogate pair is one code point of 4 bytes; a lone surrogate becomes U+FFFD (3 bytes).
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** Why `name` cannot be an object name, or undefined when it can. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  const bytes = utf8Bytes(name);
  if (bytes > MAX_NAME_BYTES) return `is ${bytes} bytes of UTF-8; a name holds at most ${MAX_NAME_BYTES}`;
  if (name === '.' || name === '..') return `may not be "${name}"`;
  if (NAME_FORBIDDEN.test(name)) return 'may not contain "/", "%", whitespace or control characters';
  return undefined;
}

/** Why `namespace` cannot be a namespace name, or undefined when it can. */
export function namespaceProblem(namespace: string): string | undefined {
  return dns1123LabelProblem(namespace);
}

/** Why `value` is not a DNS-1123 label (Kubernetes `IsDNS1123Label`), or undefined. */
export function dns1123LabelProblem(value: string): string | undefined {
  return value.length <= DNS1123_LABEL_MAX_LENGTH && DNS1123_LABEL.test(value)
    ? undefined
    : `is not a DNS-1123 label (lowercase letters, digits and "-", at most ${DNS1123_LABEL_MAX_LENGTH})`;
}

/** Why `value` is not a DNS-1123 subdomain (Kubernetes `IsDNS1123Subdomain`), or undefined. */
export function dns1123SubdomainProblem(value: string): string | undefined {
  return value.length <= DNS1123_SUBDOMAIN_MAX_LENGTH && DNS1123_SUBDOMAIN.test(value)
    ? undefined
    : `is not a DNS-1123 subdomain (lowercase letters, digits, "-" and ".", at most ${DNS1123_SUBDOMAIN_MAX_LENGTH})`;
}

/** Why `key` is not a label or annotation key (Kubernetes `IsQualifiedName`), or undefined. */
export function qualifiedNameProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    if (prefix.length === 0) return 'has an empty prefix before "/"';
    const bad = dns1123SubdomainProblem(prefix);
    if (bad) return `has a prefix that ${bad}`;
  }
  if (name.length === 0 || name.length > QUALIFIED_NAME_MAX_LENGTH || !QUALIFIED_NAME.test(name)) {
    return `is not a qualified name: [prefix/]name, name at most ${QUALIFIED_NAME_MAX_LENGTH} characters of letters, digits, "-", "_" and ".", starting and ending with a letter or digit`;
  }
  return undefined;
}

/** Why `value` is not a label value (Kubernetes `IsValidLabelValue`), or undefined. */
export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  return value.length <= LABEL_VALUE_MAX_LENGTH && QUALIFIED_NAME.test(value)
    ? undefined
    : `is not a label value: empty, or at most ${LABEL_VALUE_MAX_LENGTH} characters of letters, digits, "-", "_" and ".", starting and ending with a letter or digit`;
}

/**
 * Why `pod` cannot identify a pod in a lifecycle, or undefined: a pod's nsName (`namespace/name`,
 * the name a DNS-1123 subdomain as `ValidatePodName` requires) or, for imported lifecycles, an id
 * of the same form (`import-<start>-<n>`).
 */
export function podIdProblem(pod: string): string | undefined {
  const at = pod.indexOf('/');
  if (at >= 0) {
    const ns = namespaceProblem(pod.slice(0, at));
    if (ns) return `has a namespace that ${ns}`;
  }
  const name = dns1123SubdomainProblem(at < 0 ? pod : pod.slice(at + 1));
  return name ? `has a pod name that ${name}` : undefined;
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

/** CRD kinds: `IsDNS1035Label(strings.ToLower(kind))` in apiextensions' validation, so 63 at most. */
export const MAX_KIND_LENGTH = 63;

/**
 * Why `gvk` is not a GVK Kubernetes could serve, or undefined: `group/version.Kind` or
 * `version.Kind`, the group a DNS-1123 subdomain (API groups, `APIService`, CRD `spec.group`),
 * the version a DNS label (CRD `versions[].name` is a DNS-1035 label), the kind at most 63.
 */
export function gvkProblem(gvk: string): string | undefined {
  let parts: { group: string; version: string; kind: string };
  try {
    parts = parseGvk(gvk);
  } catch {
    return 'is not a GVK: expected group/version.Kind (apps/v1.Deployment) or version.Kind (v1.Pod)';
  }
  if (parts.group !== '') {
    const bad = dns1123SubdomainProblem(parts.group);
    if (bad) return `has a group that ${bad}`;
  }
  if (parts.version.length > DNS1123_LABEL_MAX_LENGTH) {
    return `has a version longer than ${DNS1123_LABEL_MAX_LENGTH} characters (a DNS label)`;
  }
  if (parts.kind.length > MAX_KIND_LENGTH) {
    return `has a kind longer than ${MAX_KIND_LENGTH} characters (CRD kinds are DNS-1035 labels)`;
  }
  return undefined;
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
