/**
 * CPU of a status-only watch event in the change pipeline, in process: `KindChanges.handle` of
 * MODIFIED Deployments whose spec and generation did not change (what their controllers write
 * most of the time), after JSON.parse (which the floor client pays too). Not part of
 * `npm run bench`; compares this checkout with another one (before session 7: by spec hash):
 *
 *   npx node --import tsx bench/forwarder/status-dedupe.ts [root=this checkout]
 *
 * 2,000 Deployments listed, then 30 rounds of one status-only update each (the first 5 not
 * timed); prints µs per update and how many were sent (must be 0).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

type ChangesModule = typeof import('../../lib/forwarder/changes.ts');
type ConfigModule = typeof import('../../lib/trace/config.ts');
type ContextModule = typeof import('../../tests/forwarder/support/context.ts');
type WorkloadModule = typeof import('../../tests/kube-sim/workload.ts');

const root = resolve(process.argv[2] ?? fileURLToPath(new URL('../..', import.meta.url)));
const { KindChanges } = (await import(`${root}/lib/forwarder/changes.ts`)) as ChangesModule;
const { parseTracerConfig } = (await import(`${root}/lib/trace/config.ts`)) as ConfigModule;
const { fakeContext } = (await import(`${root}/tests/forwarder/support/context.ts`)) as ContextModule;
const { deployment } = (await import(`${root}/tests/kube-sim/workload.ts`)) as WorkloadModule;

const OBJECTS = 2_000;
const ROUNDS = 30;
const WARM_UP = 5;
const kind = parseTracerConfig('trackedObjects:\n  apps/v1.Deployment: {}\n').trackedObjects.get(
  'apps/v1.Deployment',
)!;
const ctx = fakeContext();
const changes = new KindChanges(kind, ctx);
const lines: string[] = [];
for (let i = 0; i < OBJECTS; i++) {
  const d = deployment(`ns-${i % 50}`, `app-${i}`, { replicas: 3 });
  d.metadata = {
    ...d.metadata,
    uid: `1b4e28ba-2fa1-11d2-883f-${String(i).padStart(12, '0')}`,
    generation: 4,
    resourceVersion: String(i),
  };
  await changes.handle({ type: 'applied', object: d, listed: true });
  lines.push(JSON.stringify({ ...d, status: { observedGeneration: 4, replicas: 3, readyReplicas: i % 4 } }));
}
const sentBefore = ctx.sent.length;
let ms = 0;
for (let r = 0; r < ROUNDS; r++) {
  const parsed = lines.map((l) => JSON.parse(l));
  const t0 = performance.now();
  for (const object of parsed) await changes.handle({ type: 'applied', object, listed: false });
  if (r >= WARM_UP) ms += performance.now() - t0;
}
const us = (ms * 1000) / ((ROUNDS - WARM_UP) * OBJECTS);
process.stdout.write(
  `${root}: ${us.toFixed(2)} µs per status-only update, ${ctx.sent.length - sentBefore} sent\n`,
);
