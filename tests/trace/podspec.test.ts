import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashJsonValue } from '../../lib/trace/hash.ts';
import { podSpecHash, stablePodSpec } from '../../lib/trace/podspec.ts';

/**
 * A bare busybox pod's spec as the API server returns it (admission defaults filled in, the
 * projected service-account volume mounted). SimKube's tracer recorded its pods' lifecycles under
 * pod-spec hash 2151974655102796215 — a known answer for the stable spec and its hash, including the
 * detail that `volumes` and `volumeMounts` stay present as empty lists.
 */
function busyboxPodSpec(volumeSuffix: string): Record<string, unknown> {
  return {
    containers: [
      {
        command: ['sleep', '30'],
        image: 'busybox:latest',
        imagePullPolicy: 'Always',
        name: 'sleeper',
        resources: {},
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        volumeMounts: [
          {
            mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
            name: `kube-api-access-${volumeSuffix}`,
            readOnly: true,
          },
        ],
      },
    ],
    dnsPolicy: 'ClusterFirst',
    enableServiceLinks: true,
    preemptionPolicy: 'PreemptLowerPriority',
    priority: 0,
    restartPolicy: 'Never',
    schedulerName: 'default-scheduler',
    securityContext: {},
    terminationGracePeriodSeconds: 30,
    tolerations: [
      {
        effect: 'NoExecute',
        key: 'node.kubernetes.io/not-ready',
        operator: 'Exists',
        tolerationSeconds: 300,
      },
      {
        effect: 'NoExecute',
        key: 'node.kubernetes.io/unreachable',
        operator: 'Exists',
        tolerationSeconds: 300,
      },
    ],
    volumes: [
      {
        name: `kube-api-access-${volumeSuffix}`,
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
            { configMap: { items: [{ key: 'ca.crt', path: 'ca.crt' }], name: 'kube-root-ca.crt' } },
            {
              downwardAPI: {
                items: [
                  { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' }, path: 'namespace' },
                ],
              },
            },
          ],
        },
      },
    ],
  };
}

const KNOWN_HASH = 2151974655102796215n;

describe('podSpecHash', () => {
  it("reproduces SimKube's pod-spec hash of a bare pod", () => {
    assert.equal(podSpecHash(busyboxPodSpec('tbl2r')), KNOWN_HASH);
  });

  it('is the same for pods differing only in per-pod fields', () => {
    const spec = busyboxPodSpec('x7k2q');
    spec.nodeName = 'ip-10-0-1-17.ec2.internal';
    spec.serviceAccountName = 'default';
    spec.serviceAccount = 'default';
    (spec.containers as Record<string, unknown>[])[0]!.ports = [{ containerPort: 8080, protocol: 'TCP' }];
    assert.equal(podSpecHash(spec), KNOWN_HASH);
  });

  it('changes with anything else in the spec', () => {
    const spec = busyboxPodSpec('tbl2r');
    (spec.containers as Record<string, unknown>[])[0]!.image = 'busybox:1.36';
    assert.notEqual(podSpecHash(spec), KNOWN_HASH);
    const other = busyboxPodSpec('tbl2r');
    other.volumes = [...(other.volumes as unknown[]), { name: 'data', emptyDir: {} }];
    assert.notEqual(podSpecHash(other), KNOWN_HASH);
  });

  it('hashes the empty volume lists the typed PodSpec always carries', () => {
    const withoutLists = stablePodSpec(busyboxPodSpec('tbl2r'));
    delete withoutLists.volumes;
    for (const c of withoutLists.containers as Record<string, unknown>[]) delete c.volumeMounts;
    assert.notEqual(hashJsonValue(withoutLists), KNOWN_HASH);
  });
});

describe('stablePodSpec', () => {
  it('removes service-account volumes and mounts, nodeName, service accounts and container ports', () => {
    const input = {
      nodeName: 'node-1',
      serviceAccount: 'sa',
      serviceAccountName: 'sa',
      initContainers: [
        {
          name: 'init',
          ports: [{ containerPort: 9000 }],
          volumeMounts: [
            { name: 'kube-api-access-abc', mountPath: '/var/run/secrets' },
            { name: 'data', mountPath: '/data' },
          ],
        },
      ],
      containers: [
        { name: 'app', ports: [{ containerPort: 80 }], volumeMounts: [{ name: 'data', mountPath: '/data' }] },
        { name: 'side' },
      ],
      volumes: [
        { name: 'kube-api-access-abc', projected: {} },
        { name: 'data', emptyDir: {} },
      ],
      priority: 0,
    };
    const before = structuredClone(input);
    assert.deepEqual(stablePodSpec(input), {
      initContainers: [
        // SimKube strips ports from regular containers only.
        {
          name: 'init',
          ports: [{ containerPort: 9000 }],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
      ],
      containers: [
        { name: 'app', volumeMounts: [{ name: 'data', mountPath: '/data' }] },
        { name: 'side', volumeMounts: [] },
      ],
      volumes: [{ name: 'data', emptyDir: {} }],
      priority: 0,
    });
    assert.deepEqual(input, before, 'the input must not change');
  });

  it('drops null fields (serde None) and always has containers and volumes', () => {
    assert.deepEqual(stablePodSpec({ hostname: null, containers: [{ name: 'c', args: null }] }), {
      containers: [{ name: 'c', volumeMounts: [] }],
      volumes: [],
    });
    assert.deepEqual(stablePodSpec(undefined), { volumes: [], containers: [] });
  });
});
