/**
 * Owner chains. Kubernetes allows a namespaced object to be owned by objects of its own namespace or
 * by cluster-scoped objects, and a cluster-scoped object only by cluster-scoped ones (garbage
 * collection docs: cross-namespace owner references are disallowed). An ownerReference carries no
 * namespace, so the owner's nsName is the dependent's namespace plus the owner's name unless the
 * owner's kind is cluster-scoped. SimKube resolves owners the same way (`from_owner_ref(owner,
 * obj.namespace())`), looking up namespaced owners only.
 */
import { gvkOf } from './gvk.ts';
import type { Gvk, KubeObject, ObjectChange, ObjectRef } from './model.ts';

/**
 * Built-in cluster-scoped kinds that appear as owners in practice (a mirror pod is owned by its
 * Node; PersistentVolumes, CRDs and RBAC objects own generated objects). Without API discovery we
 * cannot know the scope of other kinds; callers that can pass `isClusterScoped`.
 */
const CLUSTER_SCOPED_KINDS: ReadonlySet<Gvk> = new Set([
  'v1.Node',
  'v1.Namespace',
  'v1.PersistentVolume',
  'apiextensions.k8s.io/v1.CustomResourceDefinition',
  'apiregistration.k8s.io/v1.APIService',
  'rbac.authorization.k8s.io/v1.ClusterRole',
  'rbac.authorization.k8s.io/v1.ClusterRoleBinding',
  'storage.k8s.io/v1.StorageClass',
  'storage.k8s.io/v1.CSIDriver',
  'storage.k8s.io/v1.CSINode',
  'storage.k8s.io/v1.VolumeAttachment',
  'scheduling.k8s.io/v1.PriorityClass',
  'node.k8s.io/v1.RuntimeClass',
  'admissionregistration.k8s.io/v1.MutatingWebhookConfiguration',
  'admissionregistration.k8s.io/v1.ValidatingWebhookConfiguration',
  'certificates.k8s.io/v1.CertificateSigningRequest',
]);

export interface OwnerScopeOptions {
  /** Whether objects of `gvk` are cluster-scoped; defaults to a list of built-in kinds. */
  isClusterScoped?: (gvk: Gvk) => boolean;
}

export function isKnownClusterScoped(gvk: Gvk): boolean {
  return CLUSTER_SCOPED_KINDS.has(gvk);
}

/** The direct owners of `obj` from `metadata.ownerReferences`, as trace refs (GVK + nsName). */
export function ownerRefsOf(obj: KubeObject, opts: OwnerScopeOptions = {}): ObjectRef[] {
  const refs = obj.metadata.ownerReferences;
  if (!Array.isArray(refs)) return [];
  const isClusterScoped = opts.isClusterScoped ?? isKnownClusterScoped;
  const namespace = obj.metadata.namespace;
  const out: ObjectRef[] = [];
  for (const ref of refs) {
    // A reference without apiVersion, kind or name cannot name an object; the API server refuses
    // such objects, so one can only come from a hand-edited trace: skip it rather than guess.
    if (
      !ref ||
      typeof ref.apiVersion !== 'string' ||
      typeof ref.kind !== 'string' ||
      typeof ref.name !== 'string'
    ) {
      continue;
    }
    if (!ref.apiVersion || !ref.kind || !ref.name) continue;
    const gvk = gvkOf(ref);
    const nsName = namespace && !isClusterScoped(gvk) ? `${namespace}/${ref.name}` : ref.name;
    out.push({ gvk, nsName });
  }
  return out;
}

/**
 * The owner chain of a stored change: the chain its sender resolved (nearest first, up to the
 * root), or — for senders that did not resolve one, like imports — the direct ownerReferences.
 */
export function ownerChainOf(change: ObjectChange, opts: OwnerScopeOptions = {}): ObjectRef[] {
  return change.owners.length > 0 ? change.owners : ownerRefsOf(change.object, opts);
}

/**
 * SimKube drops every object with a DaemonSet owner reference from exports: a simulated cluster's
 * nodes are virtual, so its DaemonSet pods would be meaningless (sk-store `object_matches_filter`).
 */
export function isOwnedByDaemonSet(obj: KubeObject): boolean {
  const refs = obj.metadata.ownerReferences;
  return Array.isArray(refs) && refs.some((ref) => ref?.kind === 'DaemonSet');
}

/** True when `gvk` names a DaemonSet (of any group, as SimKube compares the kind only). */
export function isDaemonSetGvk(gvk: Gvk): boolean {
  return gvk.endsWith('.DaemonSet');
}
