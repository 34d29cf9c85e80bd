/**
 * The stable pod spec and the pod-spec hash that keys `pod_lifecycles`, after SimKube's
 * `PodExt::stable_spec` (sk-core k8s/pod_ext.rs) and `record_pod_lifecycle`, which hashes
 * `serde_json::to_value(pod.stable_spec())` — the typed `corev1::PodSpec`, not the raw JSON. That
 * round trip through the typed struct decides three details we must reproduce exactly:
 * - `volumes` and every container's `volumeMounts` are set to `Some(filtered list)`, so they are
 *   present as `[]` even when the pod had none (an empty array adds nothing to the hash stream but
 *   its key does);
 * - fields set to `null` are `None` and vanish;
 * - `containers` is a required field, always present.
 * (Fields unknown to SimKube's k8s-openapi version would vanish too; we cannot know which, so we
 * keep them: a pod using a field newer than SimKube's k8s-openapi hashes differently there.)
 * Checked against SimKube's output: the pods of bare-pods.sktrace hash to its lifecycle key this way
 * (2151974655102796215), and would not without the empty `volumes`/`volumeMounts`.
 */
import { hashJsonValue } from './hash.ts';

/** kubelet's projected service-account token volume: random suffix per pod, so never stable. */
const SERVICE_ACCOUNT_VOLUME_PREFIX = 'kube-api-access';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep copy without null-valued object fields (serde `None`), keeping array elements as they are. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (!isObject(value)) return value;
  const out: Json = {};
  for (const [key, v] of Object.entries(value)) {
    if (v !== null && v !== undefined) out[key] = withoutNulls(v);
  }
  return out;
}

function withoutServiceAccountVolumes(list: unknown): unknown[] {
  if (!Array.isArray(list)) return [];
  return list.filter(
    (v) => !(isObject(v) && typeof v.name === 'string' && v.name.startsWith(SERVICE_ACCOUNT_VOLUME_PREFIX)),
  );
}

function stableContainer(container: unknown, dropPorts: boolean): unknown {
  if (!isObject(container)) return container;
  const out: Json = { ...container, volumeMounts: withoutServiceAccountVolumes(container.volumeMounts) };
  // SimKube strips ports from (regular) containers when it replays pods, so they must not count in
  // the hash; init containers keep theirs, as in stable_spec.
  if (dropPorts) delete out.ports;
  return out;
}

/**
 * The pod spec with everything that differs between pods of one template removed: the
 * `kube-api-access*` volumes and their mounts in containers and init containers, `nodeName`,
 * `serviceAccount`, `serviceAccountName`, and regular containers' `ports`. Pure; returns a new value.
 */
export function stablePodSpec(podSpec: unknown): Json {
  const spec = withoutNulls(isObject(podSpec) ? podSpec : {}) as Json;
  const { nodeName: _n, serviceAccount: _sa, serviceAccountName: _san, ...rest } = spec;
  const out: Json = { ...rest, volumes: withoutServiceAccountVolumes(spec.volumes) };
  out.containers = Array.isArray(spec.containers) ? spec.containers.map((c) => stableContainer(c, true)) : [];
  if (Array.isArray(spec.initContainers)) {
    out.initContainers = spec.initContainers.map((c) => stableContainer(c, false));
  }
  return out;
}

/** The u64 key of a pod's lifecycles under its owner: SimKube's hash of the stable pod spec. */
export function podSpecHash(podSpec: unknown): bigint {
  return hashJsonValue(stablePodSpec(podSpec));
}
