/**
 * SKEL transform and validation cost, per object, against the floor of copying the objects
 * (`structuredClone`: a transform must at least copy what it changes, since the input trace stays
 * untouched). The workload: 2,000 Deployment versions as a cluster returns them (bench/hash.ts's
 * spec: 3 containers × 12 env vars, a secretKeyRef every third var, a ConfigMap volume), with a
 * status; SimKube's examples/sanitize.skel (11 commands) as the transform; `validateTrace`
 * (6 rules) as the validation.
 *
 * Run alone: `npx node --import tsx bench/skel.ts`. `benchSkel()` is for the bench runner.
 */
import { pathToFileURL } from 'node:url';
import { parseSkel, transformTrace } from '../lib/skel/index.ts';
import type { KubeObject, Trace } from '../lib/trace/model.ts';
import { validateTrace } from '../lib/validation/index.ts';
import { SANITIZE_SKEL } from '../tests/support/skel.ts';
import { deploymentSpec } from './hash.ts';
import { type BenchResult, formatTable, resultOf } from './result.ts';

const RUNS = 7;

function workload(objects: number): Trace {
  const spec = deploymentSpec(3, 12);
  const events = Array.from({ length: objects / 10 }, (_, e) => ({
    ts: 1_700_000_000 + e,
    applied_objs: Array.from(
      { length: 10 },
      (_, i): KubeObject => ({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { annotations: {}, namespace: 'shop', name: `svc-${e}-${i}` },
        spec: structuredClone(spec),
        status: { replicas: 3, readyReplicas: 3 },
      }),
    ),
    deleted_objs: [],
  }));
  return {
    version: 2,
    config: { trackedObjects: { 'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/template'] } } },
    events,
    index: new Map(),
    podLifecycles: new Map(),
  };
}

function usPerObject(objects: number, fn: () => void): number {
  const started = performance.now();
  fn();
  return ((performance.now() - started) * 1000) / objects;
}

export async function benchSkel(opts: { quick?: boolean } = {}): Promise<BenchResult[]> {
  const objects = opts.quick ? 500 : 2000;
  const trace = workload(objects);
  const commands = parseSkel(SANITIZE_SKEL, 0);
  const floor: number[] = [];
  const transform: number[] = [];
  const validate: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    floor.push(usPerObject(objects, () => structuredClone(trace.events)));
    transform.push(usPerObject(objects, () => transformTrace(trace, commands)));
    validate.push(usPerObject(objects, () => validateTrace(trace)));
  }
  const params = { objects, skel: 'sanitize.skel (11 commands)', floor: 'structuredClone' };
  return [
    resultOf('skel', { ...params, what: 'transform' }, 'us/object', transform, floor),
    resultOf('skel', { ...params, what: 'validate (6 rules)' }, 'us/object', validate, floor),
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const results = await benchSkel({ quick: process.argv.includes('--quick') });
  process.stdout.write(`${formatTable(results)}\n`);
}
