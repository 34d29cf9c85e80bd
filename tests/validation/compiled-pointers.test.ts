/**
 * TraceValidator follows compiled pointers from each pod template it reaches (lib/validation,
 * #13); the oracle here is the plain way it did before — each rule's pointer appended to each
 * template path and handed to SKEL's `matches` per object — on random traces with Deployments,
 * CronJob-like lists of templates (paths with `*`, and `*x`, which `matches` treats as `*` too)
 * and the resources they name: the same findings in the same order.
 */
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { matches } from '../../lib/skel/engine.ts';
import type { TraceEvent } from '../../lib/trace/model.ts';
import { TraceValidator } from '../../lib/validation/index.ts';

// The rules' pointers, copied from SimKube's missing_resources.rs as lib/validation has them.
const RULES = [
  { code: 'E0001', kind: 'ServiceAccount', pointers: ['/spec/serviceAccount', '/spec/serviceAccountName'] },
  {
    code: 'E0002',
    kind: 'Secret',
    pointers: [
      '/spec/containers/*/env/*/valueFrom/secretKeyRef/key',
      '/spec/containers/*/envFrom/*/secretRef/name',
    ],
  },
  {
    code: 'E0003',
    kind: 'ConfigMap',
    pointers: [
      '/spec/containers/*/env/*/valueFrom/configMapKeyRef/key',
      '/spec/containers/*/envFrom/*/configMapRef/name',
    ],
  },
  { code: 'E0004', kind: 'Secret', pointers: ['/spec/volumes/*/secret/secretName'] },
  { code: 'E0005', kind: 'ConfigMap', pointers: ['/spec/volumes/*/configMap/name'] },
];
// biome-ignore lint/suspicious/noExplicitAny: random plain objects
const nsNameOf = (o: any) =>
  o.metadata?.namespace ? `${o.metadata.namespace}/${o.metadata.name ?? ''}` : (o.metadata?.name ?? '');
// biome-ignore lint/suspicious/noExplicitAny: random plain objects
function oldFindings(paths: Record<string, string[]>, events: any[]) {
  const seen = RULES.map(() => new Set<string>());
  const out: string[] = [];
  events.forEach((event, ei) => {
    RULES.forEach((rule, r) => {
      for (const o of event.applied_objs) if (o.kind === rule.kind) seen[r]!.add(nsNameOf(o));
      for (const o of event.deleted_objs) if (o.kind === rule.kind) seen[r]!.delete(nsNameOf(o));
      // biome-ignore lint/suspicious/noExplicitAny: random plain objects
      event.applied_objs.forEach((obj: any, i: number) => {
        const ps = paths[`${obj.apiVersion}.${obj.kind}`];
        if (!ps) return;
        for (const tp of ps)
          for (const p of rule.pointers)
            for (const [, v] of matches(`${tp}${p}`, obj)) {
              const ref = `${obj.metadata?.namespace ?? ''}/${typeof v === 'string' ? v : String(v)}`;
              if (!seen[r]!.has(ref)) out.push(`${rule.code} ${ei} ${i} ${ref}`);
            }
      });
    });
  });
  return out;
}
const name = fc.constantFrom('a', 'b', 'c');
const podSpec = fc.record(
  {
    serviceAccount: fc.option(name, { nil: undefined }),
    serviceAccountName: fc.option(name, { nil: undefined }),
    containers: fc.array(
      fc.record({
        env: fc.array(
          fc.record({
            valueFrom: fc.oneof(
              fc.record({ secretKeyRef: fc.record({ key: name }) }),
              fc.record({ configMapKeyRef: fc.record({ key: name }) }),
            ),
          }),
          { maxLength: 3 },
        ),
        envFrom: fc.array(
          fc.oneof(
            fc.record({ secretRef: fc.record({ name }) }),
            fc.record({ configMapRef: fc.record({ name }) }),
          ),
          { maxLength: 2 },
        ),
      }),
      { maxLength: 2 },
    ),
    volumes: fc.array(
      fc.oneof(
        fc.record({ secret: fc.record({ secretName: name }) }),
        fc.record({ configMap: fc.record({ name }) }),
      ),
      { maxLength: 2 },
    ),
  },
  { requiredKeys: [] },
);
const deploy = fc.record({
  apiVersion: fc.constant('apps/v1'),
  kind: fc.constant('Deployment'),
  metadata: fc.record({ name, namespace: fc.constant('ns') }),
  spec: fc.record({ template: fc.record({ spec: podSpec }) }),
});
const cronjob = fc.record({
  apiVersion: fc.constant('batch/v1'),
  kind: fc.constant('CronJob'),
  metadata: fc.record({ name, namespace: fc.constant('ns') }),
  spec: fc.record({
    jobs: fc.array(fc.record({ template: fc.record({ spec: podSpec }) }), { maxLength: 3 }),
  }),
});
const res = fc.record({
  apiVersion: fc.constant('v1'),
  kind: fc.constantFrom('Secret', 'ConfigMap', 'ServiceAccount'),
  metadata: fc.record({ name, namespace: fc.constant('ns') }),
});
const paths = {
  'apps/v1.Deployment': ['/spec/template', '/spec/template'],
  'batch/v1.CronJob': ['/spec/jobs/*/template', '/spec/jobs/*x/template'],
};
describe('TraceValidator with compiled pointers', () => {
  it('finds what matches() on the concatenated pointers finds, in the same order', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            ts: fc.nat(),
            applied_objs: fc.array(fc.oneof(deploy, cronjob, res), { maxLength: 4 }),
            deleted_objs: fc.array(res, { maxLength: 2 }),
          }),
          { maxLength: 4 },
        ),
        (events) => {
          const v = new TraceValidator(
            Object.fromEntries(Object.entries(paths).map(([g, p]) => [g, { podSpecTemplatePaths: p }])),
          );
          events.forEach((e, i) => {
            v.checkEvent(e as unknown as TraceEvent, i);
          });
          const got = v
            .result()
            .findings.filter((f) => f.code !== 'W0000')
            .map((f) => `${f.code} ${f.eventIndex} ${f.objectIndex} ${f.missing}`);
          const want = oldFindings(paths, events);
          if (JSON.stringify(got) !== JSON.stringify(want)) {
            throw new Error(`findings differ:\n${got.join('\n')}\n--- expected ---\n${want.join('\n')}`);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
