/**
 * The heap the forwarder retains per tracked object, measured in-process with forced GCs (not a
 * test):  npx node --expose-gc --import tsx tests/forwarder/measure-state.ts [objects=10000]
 *
 * For 0 and then `objects` Deployments: the heap after GC while the forwarder runs (its first
 * list delivered, the recording endpoint's copies dropped) minus the heap after GC once it is
 * stopped and dropped, the simulated cluster still in memory. The difference between the two
 * runs, per object, is the forwarder's own state (spec hashes by kind+name).
 */

import { DEFAULT_TUNING } from '../../lib/forwarder/runner.ts';
import { deployment } from '../kube-sim/workload.ts';
import { Harness, settled } from './support/harness.ts';

const objects = Number(process.argv[2] ?? 10_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

async function settle(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 200));
    gc!();
  }
  return process.memoryUsage().heapUsed;
}

/** Heap held while the forwarder runs minus heap once it is stopped and dropped (the simulator stays). */
async function retained(count: number, updates = 0): Promise<number> {
  const h = await Harness.start();
  for (let i = 0; i < count; i++) h.sim.apply(deployment(`ns-${i % 50}`, `app-${i}`));
  let fw: Awaited<ReturnType<Harness['forwarder']>> | undefined = await h.forwarder(
    'trackedObjects:\n  apps/v1.Deployment: {}\n',
    { tuning: { ...DEFAULT_TUNING, watchTimeoutSec: 60 } },
  );
  while (!settled(fw)) await new Promise((r) => setTimeout(r, 50));
  // Spec changes through the watch: the state must not grow with them.
  for (let i = 0; i < updates; i++) {
    const nsName = `ns-${(i % count) % 50}/app-${i % count}`;
    const d = structuredClone(h.sim.get('apps/v1.Deployment', nsName)!); // stored objects are frozen
    (d.spec as { replicas: number }).replicas = 2 + i;
    h.sim.apply(d);
    if (i % 500 === 499) await new Promise((r) => setTimeout(r, 0));
  }
  const target = updates;
  while (
    fw.metrics.changesQueued.get({ gvk: 'apps/v1.Deployment', type: 'applied' }) < count + target ||
    !settled(fw)
  ) {
    await new Promise((r) => setTimeout(r, 50));
  }
  h.ingest.requests.length = 0;
  h.sim.requests.length = 0;
  const running = await settle();
  await fw.stop();
  fw = undefined;
  h.ingest.requests.length = 0;
  h.sim.requests.length = 0;
  const stopped = await settle();
  await h.close();
  return running - stopped;
}

const updates = Number(process.argv[3] ?? 20_000);
const base = await retained(0);
const full = await retained(objects);
const afterUpdates = await retained(objects, updates);
console.log(
  JSON.stringify({
    objects,
    baseBytes: base,
    withObjectsBytes: full,
    perObjectBytes: Math.round((full - base) / objects),
    updates,
    afterUpdatesBytes: afterUpdates,
    perObjectAfterUpdatesBytes: Math.round((afterUpdates - base) / objects),
  }),
);
