/**
 * `npm run rbac -- CONFIG.yaml [--plural Kind=plural]... [--name NAME]`: the ClusterRole the
 * forwarder needs for a tracer config, printed as YAML (deploy/k8s/clusterrole.yaml is this for
 * deploy/tracer-config.example.yaml; tests/deploy/manifests.test.ts keeps them equal).
 *
 * The verbs are exactly the requests lib/kube/api.ts makes:
 * - `list` and `watch` on every tracked kind, across all namespaces (one collection per kind);
 * - `list` and `watch` on Pods when Pods are tracked or any kind tracks its pods' lifecycles
 *   (lib/forwarder/runner.ts adds the pod watch for lifecycles);
 * - `get`, `list` and `watch` on owners, resolved up each owner chain (lib/forwarder/owners.ts)
 *   through an index of each owner kind (lib/forwarder/owner-index.ts: a metadata-only list/watch,
 *   with a `get` for an owner the index has not seen yet): a chain matters only up to a kind in
 *   the trace, so every tracked kind, plus the two built-in kinds that stand between pods and
 *   tracked workloads: ReplicaSets (Deployment → ReplicaSet → Pod) and Jobs (CronJob → Job → Pod).
 *   Without list/watch on an owner kind, its owners cost one GET each; without get either, the
 *   chain stops there, logged once per kind.
 * Discovery (`GET /api/v1`, `/apis/<group>/<version>`) needs no rule: Kubernetes' default
 * `system:discovery` ClusterRole grants it to every authenticated user.
 *
 * Resources are plurals, which a tracer config (GVKs) does not give: built-in kinds come from the
 * table below; for other kinds (CRDs) `--plural Kind=plural` (or `group/version.Kind=plural`), else
 * a guess by English plural rules, with a warning: check it against `kubectl api-resources`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { SktraceError } from '../lib/errors.ts';
import { parseTracerConfig, type TracerConfig } from '../lib/trace/config.ts';
import { parseGvk } from '../lib/trace/gvk.ts';
import type { Gvk } from '../lib/trace/model.ts';

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** Plurals of built-in kinds, keyed `group/Kind` (the core group is empty: `/Pod`). */
const BUILTIN_PLURALS: ReadonlyMap<string, string> = new Map(
  Object.entries({
    '/Pod': 'pods',
    '/Service': 'services',
    '/ServiceAccount': 'serviceaccounts',
    '/ConfigMap': 'configmaps',
    '/Secret': 'secrets',
    '/PersistentVolumeClaim': 'persistentvolumeclaims',
    '/PersistentVolume': 'persistentvolumes',
    '/Namespace': 'namespaces',
    '/Node': 'nodes',
    '/Endpoints': 'endpoints',
    '/Event': 'events',
    '/LimitRange': 'limitranges',
    '/ResourceQuota': 'resourcequotas',
    '/ReplicationController': 'replicationcontrollers',
    '/PodTemplate': 'podtemplates',
    'apps/Deployment': 'deployments',
    'apps/StatefulSet': 'statefulsets',
    'apps/DaemonSet': 'daemonsets',
    'apps/ReplicaSet': 'replicasets',
    'apps/ControllerRevision': 'controllerrevisions',
    'batch/Job': 'jobs',
    'batch/CronJob': 'cronjobs',
    'autoscaling/HorizontalPodAutoscaler': 'horizontalpodautoscalers',
    'policy/PodDisruptionBudget': 'poddisruptionbudgets',
    'networking.k8s.io/Ingress': 'ingresses',
    'networking.k8s.io/IngressClass': 'ingressclasses',
    'networking.k8s.io/NetworkPolicy': 'networkpolicies',
    'discovery.k8s.io/EndpointSlice': 'endpointslices',
    'coordination.k8s.io/Lease': 'leases',
    'rbac.authorization.k8s.io/Role': 'roles',
    'rbac.authorization.k8s.io/RoleBinding': 'rolebindings',
    'rbac.authorization.k8s.io/ClusterRole': 'clusterroles',
    'rbac.authorization.k8s.io/ClusterRoleBinding': 'clusterrolebindings',
    'storage.k8s.io/StorageClass': 'storageclasses',
    'scheduling.k8s.io/PriorityClass': 'priorityclasses',
    'node.k8s.io/RuntimeClass': 'runtimeclasses',
    'apiextensions.k8s.io/CustomResourceDefinition': 'customresourcedefinitions',
  }),
);

/** Owner kinds between pods and tracked workloads, which are rarely tracked themselves. */
const INTERMEDIATE_OWNERS: readonly Gvk[] = ['apps/v1.ReplicaSet', 'batch/v1.Job'];
const POD: Gvk = 'v1.Pod';

/**
 * The plural a CRD most likely has: lowercase, then English rules (`-s/-x/-z/-ch/-sh` → `+es`,
 * consonant + `y` → `ies`, else `+s`), as controller-gen's pluralizer names most CRDs' resources.
 * (apimachinery's `UnsafeGuessKindToResource` would say `gatewaies`.) A guess, hence the warning.
 */
export function guessPlural(kind: string): string {
  const lower = kind.toLowerCase();
  if (/(s|x|z|ch|sh)$/.test(lower)) return `${lower}es`;
  if (/[^aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`;
  return `${lower}s`;
}

export interface RbacOptions {
  /** `Kind` or `group/version.Kind` → plural, for kinds the built-in table lacks (CRDs). */
  plurals?: ReadonlyMap<string, string>;
}

export interface RbacResult {
  rules: PolicyRule[];
  /** Guessed plurals and reads worth a second look; the CLI prints them on stderr. */
  warnings: string[];
}

/** The forwarder's ClusterRole rules for `config`: one rule per API group and set of verbs, sorted. */
export function forwarderRules(config: TracerConfig, options: RbacOptions = {}): RbacResult {
  const warnings: string[] = [];
  const verbs = new Map<Gvk, Set<string>>();
  const add = (gvk: Gvk, ...v: string[]) => {
    const set = verbs.get(gvk) ?? new Set<string>();
    for (const verb of v) set.add(verb);
    verbs.set(gvk, set);
  };
  let watchesPods = false;
  for (const kind of config.trackedObjects.values()) {
    add(kind.gvk, 'get', 'list', 'watch');
    if (kind.gvk === POD || kind.trackLifecycle) watchesPods = true;
  }
  if (watchesPods) add(POD, 'list', 'watch');
  for (const owner of INTERMEDIATE_OWNERS) add(owner, 'get', 'list', 'watch');

  // Group by API group and verb set: {group, verbs} → resources.
  const grouped = new Map<string, PolicyRule>();
  for (const [gvk, set] of verbs) {
    const { group, kind } = parseGvk(gvk);
    const resource = pluralOf(gvk, options.plurals, warnings);
    if (group === '' && kind === 'Secret' && set.has('list')) {
      warnings.push(
        'v1.Secret is tracked: the forwarder will read every Secret in the cluster and send it to the store',
      );
    }
    const verbList = [...set].sort();
    const key = `${group} ${verbList.join(',')}`;
    const rule = grouped.get(key) ?? { apiGroups: [group], resources: [], verbs: verbList };
    if (!rule.resources.includes(resource)) rule.resources.push(resource);
    grouped.set(key, rule);
  }
  const rules = [...grouped.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, rule]) => ({ ...rule, resources: rule.resources.sort() }));
  return { rules, warnings };
}

function pluralOf(gvk: Gvk, plurals: ReadonlyMap<string, string> | undefined, warnings: string[]): string {
  const { group, kind } = parseGvk(gvk);
  const given = plurals?.get(gvk) ?? plurals?.get(kind);
  if (given !== undefined) return given;
  const builtin = BUILTIN_PLURALS.get(`${group}/${kind}`);
  if (builtin !== undefined) return builtin;
  const guessed = guessPlural(kind);
  warnings.push(
    `${gvk}: resource name guessed as "${guessed}"; check \`kubectl api-resources --api-group=${group}\` and pass --plural ${kind}=<plural> if it differs`,
  );
  return guessed;
}

export interface ClusterRoleDoc {
  apiVersion: 'rbac.authorization.k8s.io/v1';
  kind: 'ClusterRole';
  metadata: { name: string; labels: Record<string, string> };
  rules: PolicyRule[];
}

export const DEFAULT_ROLE_NAME = 'sktrace-forwarder';

export function clusterRole(rules: PolicyRule[], name = DEFAULT_ROLE_NAME): ClusterRoleDoc {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: {
      name,
      labels: { 'app.kubernetes.io/name': 'sktrace', 'app.kubernetes.io/component': 'forwarder' },
    },
    rules,
  };
}

/** The ClusterRole as YAML; with `configPath`, headed by the command that regenerates it. */
export function renderClusterRole(
  config: TracerConfig,
  options: RbacOptions & { name?: string; configPath?: string } = {},
): { yaml: string; warnings: string[] } {
  const { rules, warnings } = forwarderRules(config, options);
  const header =
    options.configPath === undefined
      ? ''
      : `# Generated by \`npm run --silent rbac -- ${options.configPath}\` (deploy/rbac.ts explains each\n# verb). Regenerate it whenever the tracked kinds change.\n`;
  return { yaml: header + stringify(clusterRole(rules, options.name), { lineWidth: 0 }), warnings };
}

interface CliArgs {
  configPath: string;
  plurals: Map<string, string>;
  name: string;
}

export function parseRbacArgs(argv: string[]): CliArgs {
  const plurals = new Map<string, string>();
  let configPath: string | undefined;
  let name = DEFAULT_ROLE_NAME;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--plural' || arg === '--name') {
      const value = argv[++i];
      if (value === undefined) throw new SktraceError('usage', `${arg} needs a value`);
      if (arg === '--name') {
        name = value;
        continue;
      }
      const m = /^([^=\s]+)=([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(value);
      if (!m) {
        throw new SktraceError(
          'usage',
          `--plural takes Kind=plural (e.g. Widget=widgets), got ${JSON.stringify(value)}`,
        );
      }
      plurals.set(m[1]!, m[2]!);
    } else if (arg.startsWith('-')) {
      throw new SktraceError('usage', `unknown option ${arg} (expected --plural Kind=plural, --name NAME)`);
    } else if (configPath === undefined) {
      configPath = arg;
    } else {
      throw new SktraceError('usage', `one tracer config only, got ${configPath} and ${arg}`);
    }
  }
  if (configPath === undefined) {
    throw new SktraceError(
      'usage',
      'usage: npm run rbac -- CONFIG.yaml [--plural Kind=plural]... [--name NAME]',
    );
  }
  return { configPath, plurals, name };
}

function main(argv: string[]): number {
  try {
    const args = parseRbacArgs(argv);
    const config = parseTracerConfig(readFileSync(args.configPath, 'utf8'));
    const { yaml, warnings } = renderClusterRole(config, {
      plurals: args.plurals,
      name: args.name,
      configPath: args.configPath,
    });
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    process.stdout.write(yaml);
    return 0;
  } catch (err) {
    process.stderr.write(`rbac: ${err instanceof Error ? err.message : String(err)}\n`);
    return err instanceof SktraceError && err.code === 'usage' ? 2 : 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
