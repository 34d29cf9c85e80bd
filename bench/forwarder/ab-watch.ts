/**
 * Paired, interleaved CPU per watch event of forwarder variants at equal load: the question
 * "which of these costs more" that separate benchmark runs (minutes apart, the load changing
 * between them) cannot answer. Not part of `npm run bench`:
 *
 *   AB='[{"label":"image","flags":"image"},{"label":"none","flags":""}]' \
 *     npx node --import tsx bench/forwarder/ab-watch.ts [rounds=5] [events=30000] [--floor]
 *
 * Each variant: `flags` (V8 flags; `image` = the image's, child.ts imageNodeFlags(), and
 * `image:` followed by more flags appends them), `root` (another checkout to bundle the
 * forwarder from: old code against new), `entry: "tsx"` (lib/cli/sktrace.mjs instead of a
 * bundle). Every variant gets its own simulator (10,000 Deployments, as throughput.ts), counting
 * endpoint and forwarder, all started first; then each round pumps `events` spec updates through
 * each variant in turn (the order rotated round by round) and reads the child's CPU (/proc) and
 * GC pauses (gc-watch.ts over the inspector). `--floor` adds floor-client.ts as one more variant.
 * Prints one line per variant and round, then medians.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBundle, FORWARDER_BUNDLE } from '../../deploy/build.ts';
import { KubeSim } from '../../tests/kube-sim/server.ts';
import { median } from '../result.ts';
import { type ForwarderChild, imageNodeFlags, startForwarder, TSX_ENTRY } from './child.ts';
import { CountingIngest } from './counting-ingest.ts';
import { DEPLOYMENT_CONFIG, DeploymentFleet } from './fleet.ts';
import { FloorClient } from './floor.ts';
import { GC_READ, GC_WATCH, type GcTotals } from './gc-watch.ts';
import { inspector } from './inspector.ts';
import { until } from './proc.ts';

interface VariantSpec {
  label: string;
  flags?: string;
  root?: string;
  entry?: 'tsx';
}

interface Running {
  label: string;
  sim: KubeSim;
  fleet: DeploymentFleet;
  /** Events consumed so far (the endpoint's applied count, or the floor's watched count). */
  consumed: () => number;
  cpuUs: () => Promise<number>;
  gc?: () => Promise<GcTotals>;
  close: () => Promise<void>;
  cpu: number[];
  scavenges: number[];
  scavengeUs: number[];
  majorUs: number[];
}

/** A variant's samples, one per round, none yet. */
const noSamples = (): Pick<Running, 'cpu' | 'scavenges' | 'scavengeUs' | 'majorUs'> => ({
  cpu: [],
  scavenges: [],
  scavengeUs: [],
  majorUs: [],
});

const OBJECTS = 10_000;

function flagsOf(spec: VariantSpec): string[] {
  const f = (spec.flags ?? '').trim();
  if (f === 'image' || f.startsWith('image:')) {
    return [...imageNodeFlags(), ...f.slice(6).split(/\s+/).filter(Boolean)];
  }
  return f.split(/\s+/).filter(Boolean);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const rounds = Number(args[0] ?? 5);
  const events = Number(args[1] ?? 30_000);
  const withFloor = process.argv.includes('--floor');
  const specs = JSON.parse(
    process.env.AB ?? '[{"label":"image","flags":"image"},{"label":"none","flags":""}]',
  ) as VariantSpec[];
  const dir = await mkdtemp(join(tmpdir(), 'sktrace-ab-watch-'));
  const running: Running[] = [];
  const bundles = new Map<string, string>();
  try {
    for (const spec of specs) {
      let entry = TSX_ENTRY;
      if (spec.entry !== 'tsx') {
        const root = spec.root ?? '';
        if (!bundles.has(root)) {
          const outDir = join(dir, `bundle-${bundles.size}`);
          const built = await buildBundle(FORWARDER_BUNDLE, {
            outDir,
            sourcemap: false,
            ...(root ? { rootDir: root } : {}),
          });
          bundles.set(root, built.file);
        }
        entry = bundles.get(root)!;
      }
      const sim = await KubeSim.start();
      const fleet = new DeploymentFleet(sim, OBJECTS);
      const ingest = await CountingIngest.start();
      const vdir = await mkdtemp(join(dir, 'v-'));
      const fw: ForwarderChild = await startForwarder({
        entry,
        nodeArgs: flagsOf(spec),
        inspect: true,
        dir: vdir,
        configYaml: DEPLOYMENT_CONFIG,
        endpoint: ingest.url,
        cluster: 'bench',
        kubeconfigPath: await sim.writeKubeconfig(vdir),
      });
      await until(
        () => ingest.counts.relist > 0 && ingest.counts.applied >= OBJECTS,
        120_000,
        `${spec.label}: the first list`,
      );
      const ins = await inspector(fw.inspector!);
      await ins.call('Runtime.evaluate', { expression: GC_WATCH });
      running.push({
        label: spec.label,
        sim,
        fleet,
        consumed: () => ingest.counts.applied,
        cpuUs: async () => (await fw.sample()).cpuUs,
        gc: async () =>
          JSON.parse(
            (
              (await ins.call('Runtime.evaluate', { expression: GC_READ, returnByValue: true })) as {
                result: { value: string };
              }
            ).result.value,
          ) as GcTotals,
        close: async () => {
          ins.close();
          await fw.close();
          await ingest.close();
          await sim.close();
        },
        ...noSamples(),
      });
      process.stderr.write(`${spec.label}: started (${flagsOf(spec).join(' ') || 'no flags'})\n`);
    }
    if (withFloor) {
      const sim = await KubeSim.start();
      const fleet = new DeploymentFleet(sim, OBJECTS);
      const floor = FloorClient.start(sim.url, sim.token);
      await floor.watch(sim.currentResourceVersion);
      running.push({
        label: 'floor',
        sim,
        fleet,
        consumed: () => floor.watched,
        cpuUs: () => floor.cpuUs(),
        close: async () => {
          await floor.close();
          await sim.close();
        },
        ...noSamples(),
      });
    }
    const gcOf = (t: GcTotals | undefined, k: string) => {
      const g = t?.[k];
      return typeof g === 'object' ? g : { ms: 0, count: 0 };
    };
    for (let r = 0; r < rounds; r++) {
      const order = running.map((_, i) => running[(i + r) % running.length]!);
      for (const v of order) {
        const before = v.consumed();
        const g0 = await v.gc?.();
        const c0 = await v.cpuUs();
        await v.fleet.pump(events, () => v.consumed() - before);
        await until(() => v.consumed() - before >= events, 120_000, `${v.label}: the updates`, 1);
        const c1 = await v.cpuUs();
        const g1 = await v.gc?.();
        const cpu = (c1 - c0) / events;
        const scav = gcOf(g1, 'minor').count - gcOf(g0, 'minor').count;
        const scavMs = gcOf(g1, 'minor').ms - gcOf(g0, 'minor').ms;
        const majMs =
          gcOf(g1, 'major').ms -
          gcOf(g0, 'major').ms +
          gcOf(g1, 'incremental').ms -
          gcOf(g0, 'incremental').ms;
        v.cpu.push(cpu);
        v.scavenges.push((scav * 1000) / events);
        v.scavengeUs.push((scavMs * 1000) / events);
        v.majorUs.push((majMs * 1000) / events);
        process.stdout.write(
          `round ${r + 1} ${v.label.padEnd(12)} CPU ${cpu.toFixed(1).padStart(5)} µs/event` +
            (v.gc
              ? `  scavenges ${((scav * 1000) / events).toFixed(1)}/1000 events, ${((scavMs * 1000) / events).toFixed(2)} µs/event; major+incremental ${((majMs * 1000) / events).toFixed(2)} µs/event`
              : '') +
            '\n',
        );
      }
    }
    process.stdout.write('\nmedians:\n');
    const floor = running.find((v) => v.label === 'floor');
    for (const v of running) {
      const ratios = floor ? v.cpu.map((c, i) => c / floor.cpu[i]!) : [];
      process.stdout.write(
        `${v.label.padEnd(12)} CPU ${median(v.cpu).toFixed(1)} µs/event [${v.cpu.map((c) => c.toFixed(1)).join(' ')}]` +
          (v.gc
            ? `  scavenges ${median(v.scavenges).toFixed(1)}/1000 events, ${median(v.scavengeUs).toFixed(2)} µs/event; major ${median(v.majorUs).toFixed(2)} µs/event`
            : '') +
          (floor && v !== floor
            ? `  ratio to floor ${median(ratios).toFixed(2)} [${ratios.map((x) => x.toFixed(2)).join(' ')}]`
            : '') +
          '\n',
      );
    }
  } finally {
    for (const v of running) await v.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
