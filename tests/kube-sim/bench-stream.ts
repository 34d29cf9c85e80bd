/**
 * Throughput of KubeSim's watch streaming: N objects, W watchers reading every event, E changes.
 * Run: npx node --import tsx tests/kube-sim/bench-stream.ts [objects] [events] [watchers]
 * Prints events/s applied and delivered and heap/RSS before and after (not a test: no pass/fail).
 */
import { KubeSim } from './server.ts';
import { pod, runningStatus } from './workload.ts';

const objects = Number(process.argv[2] ?? 10_000);
const events = Number(process.argv[3] ?? 200_000);
const watcherCount = Number(process.argv[4] ?? 2);

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;

async function countingWatch(
  sim: KubeSim,
  rv: string,
): Promise<{ count: () => number; ended: Promise<void> }> {
  const res = await fetch(
    `${sim.url}/api/v1/pods?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`,
    {
      headers: { authorization: `Bearer ${sim.token}` },
    },
  );
  let lines = 0;
  const ended = (async () => {
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) lines++;
      }
    } catch {
      // dropped at close
    }
  })();
  return { count: () => lines, ended };
}

const sim = await KubeSim.start({ compactionWindow: 10_000 });
const t0 = performance.now();
for (let i = 0; i < objects; i++)
  sim.apply(pod(`ns-${i % 20}`, `pod-${i}`, { status: runningStatus(1_700_000_000) }));
const t1 = performance.now();
console.log(`created ${objects} pods in ${(t1 - t0).toFixed(0)} ms`);
const rv = sim.currentResourceVersion;
const watchers = await Promise.all(Array.from({ length: watcherCount }, () => countingWatch(sim, rv)));
global.gc?.();
const before = process.memoryUsage();

const t2 = performance.now();
let applied = 0;
while (applied < events) {
  // Bursts, yielding to the event loop so sockets drain: a writer more than the compaction window
  // ahead of its readers gets them closed as too slow, which is the point of the bound.
  for (let k = 0; k < 500 && applied < events; k++, applied++) {
    const i = applied % objects;
    sim.patchStatus('v1.Pod', `ns-${i % 20}/pod-${i}`, runningStatus(1_700_000_000 + applied));
  }
  while (sim.watchCount() === watcherCount && watchers.some((w) => w.count() < applied - 5000)) {
    await new Promise((r) => setImmediate(r));
  }
}
const t3 = performance.now();
while (watchers.some((w) => w.count() < events) && sim.watchCount() === watcherCount) {
  await new Promise((r) => setTimeout(r, 5));
}
const t4 = performance.now();
global.gc?.();
const afterMem = process.memoryUsage();
console.log(
  `${events} changes × ${watcherCount} watchers: applied in ${(t3 - t2).toFixed(0)} ms, all delivered after ` +
    `${(t4 - t2).toFixed(0)} ms → ${((events / (t4 - t2)) * 1000).toFixed(0)} events/s ` +
    `(${(((events * watcherCount) / (t4 - t2)) * 1000).toFixed(0)} deliveries/s)`,
);
console.log(`delivered: ${watchers.map((w) => w.count()).join(', ')}; open watches: ${sim.watchCount()}`);
console.log(
  `heap ${mb(before.heapUsed)} → ${mb(afterMem.heapUsed)}, rss ${mb(before.rss)} → ${mb(afterMem.rss)}`,
);
await sim.close();
await Promise.all(watchers.map((w) => w.ended));
