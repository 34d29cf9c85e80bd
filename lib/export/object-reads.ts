/**
 * What an export reads of each object of the window's changes, for reading them transcoded
 * (lib/store/json-msgpack.ts: the stored JSON straight to trace bytes, only these parts made JS
 * values; lib/trace/encoded-object.ts):
 * - assembly (lib/trace/assemble.ts): `apiVersion`, `kind` and `metadata` — the object's GVK and
 *   nsName, its namespace (excluded_namespaces), labels (excluded_labels) and ownerReferences
 *   (owner chain, DaemonSet owners, skipOwned); the spec only for the index, from the whole object;
 * - validation (lib/validation `validatedPaths`): those too, whether `status` is null, and the
 *   references each rule follows in the pod templates of the config's kinds.
 * A SKEL transform rewrites whole objects: with one, changes are read as objects.
 */
import { ANY_ELEMENT, type CapturePlan, capturePlan } from '../store/json-msgpack.ts';
import { validatedPaths } from '../validation/index.ts';

const ASSEMBLY_READS = [['apiVersion'], ['kind'], ['metadata']];

export function exportObjectReads(
  trackedObjects: Record<string, { podSpecTemplatePaths?: string[] | undefined }>,
): CapturePlan {
  return capturePlan([
    ...ASSEMBLY_READS.map((tokens) => ({ tokens })),
    ...validatedPaths(trackedObjects).map((p) => ({
      tokens: p.tokens.map((t) => (t === '*' ? ANY_ELEMENT : t)),
      ...(p.presence ? { presence: true } : {}),
    })),
  ]);
}
