/**
 * Deployments of a chosen JSON size for the store benchmarks. The padding is env vars whose values
 * are hex digests: real specs carry image digests, checksums and config values that compress
 * poorly, and a spec of repeated text would flatter the body codec (its DEFLATE dictionary turns
 * 30 KB of repeated env vars into under 2 KB).
 */
import { createHash } from 'node:crypto';
import type { KubeObject } from '../../lib/trace/model.ts';

export const NAMESPACE = 'bench';

function digest(seed: string, memo?: Map<string, string>): string {
  let hex = memo?.get(seed);
  if (hex === undefined) {
    hex = createHash('sha256').update(seed).digest('hex');
    memo?.set(seed, hex);
  }
  return hex;
}

/**
 * An `apps/v1` Deployment named `name` whose JSON is about `jsonBytes` long (never below the bare
 * object, ~600 B). `version` changes the spec (replicas and an annotation of the pod template), so
 * each version is a new spec hash, a change the store must write. `digests` memoises the padding's
 * digests across calls (bulk seeding builds millions of versions of the same few thousand names);
 * the object is the same with or without it.
 */
export function sizedDeployment(
  name: string,
  jsonBytes: number,
  version = 1,
  digests?: Map<string, string>,
): KubeObject {
  const env: { name: string; value: string }[] = [];
  const object = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NAMESPACE, labels: { app: name, tier: 'backend' } },
    spec: {
      replicas: 1 + (version % 50),
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name }, annotations: { 'bench/version': String(version) } },
        spec: {
          containers: [
            {
              name: 'app',
              image: `registry.example.com/team/${name}@sha256:${digest(name, digests)}`,
              resources: { requests: { cpu: '100m', memory: '128Mi' } },
              env,
            },
          ],
        },
      },
    },
  };
  // Each entry is ~70 bytes of JSON; add until the target is reached.
  let size = JSON.stringify(object).length;
  for (let i = 0; size < jsonBytes; i++) {
    const entry = { name: `SETTING_${i}`, value: digest(`${name} ${i}`, digests).slice(0, 40) };
    env.push(entry);
    size += JSON.stringify(entry).length + 1;
  }
  return object;
}

/** Zero-padded object names, so nsName order is numeric order (relists and queries stay readable). */
export function objectName(i: number): string {
  return `svc-${String(i).padStart(6, '0')}`;
}

/** The tracer config the benchmarks post first: Deployments, as SimKube knows them. */
export const DEPLOYMENT_CONFIG = {
  trackedObjects: { 'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/template'] } },
};
