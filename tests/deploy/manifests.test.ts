/**
 * The cluster manifests (deploy/k8s) and the forwarder image: the objects a deployment needs, the
 * Deployment's safety settings, its arguments against `sktrace forward`'s flags, and the
 * ClusterRole against the RBAC renderer for the example tracer config.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { FORWARDER_BUNDLE, ROOT_DIR } from '../../deploy/build.ts';
import { renderClusterRole } from '../../deploy/rbac.ts';
import { parseTracerConfig } from '../../lib/trace/config.ts';

const K8S_DIR = join(ROOT_DIR, 'deploy/k8s');
const EXAMPLE_CONFIG = 'deploy/tracer-config.example.yaml';

// biome-ignore lint/suspicious/noExplicitAny: parsed manifests, checked field by field below
type Doc = Record<string, any>;

const read = (file: string) => readFileSync(join(ROOT_DIR, file), 'utf8');

/** Every object in deploy/k8s, by file (kustomization.yaml apart). */
function manifests(): Map<string, Doc[]> {
  const out = new Map<string, Doc[]>();
  for (const file of readdirSync(K8S_DIR).sort()) {
    if (!file.endsWith('.yaml') || file === 'kustomization.yaml') continue;
    const docs = parseAllDocuments(readFileSync(join(K8S_DIR, file), 'utf8'));
    for (const d of docs) assert.deepEqual(d.errors, [], file);
    out.set(
      file,
      docs.map((d) => d.toJS() as Doc),
    );
  }
  return out;
}

const all = manifests();
const objects = [...all.values()].flat();
const only = (kind: string): Doc => {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0]!;
};
const deployment = only('Deployment');
const pod = deployment.spec.template.spec;
const container = pod.containers[0];

/** The long flags `sktrace forward` declares (lib/cli/commands/forward.ts), read from its source. */
function forwardFlags(): Set<string> {
  const source = read('lib/cli/commands/forward.ts');
  return new Set([...source.matchAll(/\.(?:required)?[oO]ption\(\s*'(--[a-z-]+)/g)].map((m) => m[1]!));
}

describe('deploy/k8s', () => {
  test('one file per concern, every object labelled, namespaced ones in sktrace', () => {
    assert.deepEqual(objects.map((o) => o.kind).sort(), [
      'ClusterRole',
      'ClusterRoleBinding',
      'ConfigMap',
      'Deployment',
      'Namespace',
      'Secret',
      'ServiceAccount',
    ]);
    for (const [file, docs] of all) assert.equal(docs.length, 1, file);
    for (const o of objects) {
      assert.equal(o.metadata.labels?.['app.kubernetes.io/name'], 'sktrace', `${o.kind} label`);
      if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind)) {
        assert.equal(o.metadata.namespace, 'sktrace', `${o.kind} namespace`);
      }
    }
    assert.equal(only('Namespace').metadata.name, 'sktrace');
  });

  test('kustomization lists every manifest but the placeholder Secret', () => {
    const k = parseYaml(readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8')) as Doc;
    assert.deepEqual([...k.resources].sort(), [...all.keys()].filter((f) => f !== 'secret.yaml').sort());
    assert.equal(k.images[0].name, container.image, 'the images: entry rewrites the Deployment image');
  });

  test('the service account is bound to the role and used by the pod', () => {
    const sa = only('ServiceAccount');
    const binding = only('ClusterRoleBinding');
    assert.deepEqual(binding.roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: only('ClusterRole').metadata.name,
    });
    assert.deepEqual(binding.subjects, [
      { kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'sktrace' },
    ]);
    assert.equal(pod.serviceAccountName, sa.metadata.name);
  });

  test('the ClusterRole is what the RBAC renderer makes of the example tracer config', () => {
    const expected = renderClusterRole(parseTracerConfig(read(EXAMPLE_CONFIG)), {
      configPath: EXAMPLE_CONFIG,
    });
    assert.equal(read('deploy/k8s/clusterrole.yaml'), expected.yaml);
    assert.deepEqual(expected.warnings, []);
    // And it covers every tracked kind with list and watch.
    const rules = only('ClusterRole').rules as { resources: string[]; verbs: string[] }[];
    for (const plural of ['deployments', 'statefulsets', 'cronjobs', 'jobs', 'serviceaccounts', 'pods']) {
      const rule = rules.find((r) => r.resources.includes(plural));
      assert.ok(rule?.verbs.includes('list') && rule.verbs.includes('watch'), plural);
    }
  });

  test('the ConfigMap carries the example tracer config verbatim, plus endpoint and cluster', () => {
    const cm = only('ConfigMap');
    assert.equal(cm.data['config.yaml'], read(EXAMPLE_CONFIG));
    assert.ok(parseTracerConfig(cm.data['config.yaml']).trackedObjects.size > 0);
    assert.match(cm.data.cluster, /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
    assert.match(cm.data.endpoint, /^https:\/\//);
    const volume = pod.volumes.find((v: Doc) => v.configMap);
    assert.equal(volume.configMap.name, cm.metadata.name);
    const mount = container.volumeMounts.find((m: Doc) => m.name === volume.name);
    const configArg = container.args.find((a: string) => a.startsWith('--config='));
    assert.equal(configArg, `--config=${mount.mountPath}/config.yaml`);
  });

  test('the token comes from a Secret key the placeholder defines, as SKTRACE_TOKEN', () => {
    const secret = only('Secret');
    const env = container.env.find((e: Doc) => e.name === 'SKTRACE_TOKEN');
    assert.equal(env.valueFrom.secretKeyRef.name, secret.metadata.name);
    assert.ok(env.valueFrom.secretKeyRef.key in secret.stringData);
    assert.match(read('lib/cli/commands/forward.ts'), /process\.env\.SKTRACE_TOKEN/);
    assert.match(
      read('deploy/k8s/secret.yaml'),
      /kubectl -n sktrace create secret generic sktrace-forwarder-token/,
    );
  });

  test('the Deployment: one replica, Recreate, probes on the ops port', () => {
    assert.equal(deployment.spec.replicas, 1);
    assert.equal(deployment.spec.strategy.type, 'Recreate');
    assert.deepEqual(deployment.spec.selector.matchLabels, {
      ...deployment.spec.template.metadata.labels,
    });
    assert.equal(container.args[0], 'forward');
    const flags = forwardFlags();
    assert.ok(flags.has('--endpoint') && flags.has('--grace-period'), 'flags read from forward.ts');
    for (const arg of container.args.slice(1)) {
      assert.ok(flags.has(arg.split('=')[0]), `${arg} is not a flag of sktrace forward`);
    }
    const listen = container.args
      .find((a: string) => a.startsWith('--listen='))!
      .split(':')
      .at(-1);
    const port = container.ports.find((p: Doc) => p.name === 'ops');
    assert.equal(String(port.containerPort), listen);
    assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: 'ops' });
    assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'ops' });
  });

  test('termination grace outlasts the flush grace period', () => {
    const grace = Number(container.args.find((a: string) => a.startsWith('--grace-period='))!.split('=')[1]);
    // The forwarder exits one second after flushing (lib/cli/commands/forward.ts).
    assert.ok(
      pod.terminationGracePeriodSeconds >= grace + 5,
      `${pod.terminationGracePeriodSeconds} vs ${grace}`,
    );
  });

  test('locked down: non-root, read-only root, no capabilities, RuntimeDefault seccomp', () => {
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    const sc = container.securityContext;
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.deepEqual(sc.capabilities.drop, ['ALL']);
    assert.equal(sc.capabilities.add, undefined);
  });

  test('memory bounded, with the V8 heap below the container limit', () => {
    const mib = (q: string) => Number(/^(\d+)Mi$/.exec(q)![1]);
    const { requests, limits } = container.resources;
    assert.ok(mib(requests.memory) <= mib(limits.memory));
    const heap = Number(
      /--max-old-space-size=(\d+)/.exec(container.env.find((e: Doc) => e.name === 'NODE_OPTIONS').value)![1],
    );
    assert.ok(heap < mib(limits.memory), `heap ${heap} MiB vs limit ${limits.memory}`);
    assert.ok(requests.cpu);
  });
});

describe('deploy/forwarder/Dockerfile', () => {
  const dockerfile = read('deploy/forwarder/Dockerfile');

  test('builds the forwarder bundle in a Node 22 stage and runs it non-root on distroless Node 22', () => {
    const froms = [...dockerfile.matchAll(/^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/gm)].map(
      (m) => m[1],
    );
    assert.equal(froms.length, 2);
    assert.match(froms[0]!, /^node:22/);
    assert.match(froms[1]!, /^gcr\.io\/distroless\/nodejs22-debian12:nonroot$/);
    assert.match(dockerfile, /RUN node --import tsx deploy\/build\.ts --only forwarder/);
    assert.ok(dockerfile.includes(`/src/dist/${FORWARDER_BUNDLE.out}`));
    assert.match(dockerfile, /^USER nonroot/m);
    // The bundle as copied, run without --enable-source-maps (~6 MiB of RSS; deploy/build.ts).
    assert.match(
      dockerfile,
      /ENTRYPOINT \["\/nodejs\/bin\/node", (?:"--[\w-]+(?:=[\w.-]+)?", )*"\/app\/sktrace\.cjs"\]/,
    );
    // The Deployment's args start with the sub-command the entry point expects.
    assert.equal(container.args[0], 'forward');
  });
});
