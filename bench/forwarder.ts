/**
 * Forwarder and end-to-end benchmarks (docs/benchmarks.md "forwarder_throughput, forwarder_memory, end_to_end" explains the method and the limits):
 * - `forwarder_throughput`: µs per event, wall and CPU, of a real `sktrace forward` process
 *   (tsx and bundled) against a client that only receives the same events (bench/forwarder/throughput.ts);
 * - `forwarder_memory`: its RSS as watch events go by over a fixed set of objects (memory.ts);
 * - `end_to_end`: changes per second from the simulated cluster through the forwarder, the local
 *   stack's gateway, the real ingest handler and the store on dynalite, verified change by change,
 *   against the store's applyBatch alone (end-to-end.ts).
 *
 * Run alone: `npx node --import tsx bench/forwarder.ts [--quick] [--only throughput,memory,end_to_end]`
 * (prints JSON on stdout, progress on stderr). `benchForwarder()` is for bench/run.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildForwarderBundle, imageNodeFlags, TSX_ENTRY } from './forwarder/child.ts';
import { benchEndToEnd } from './forwarder/end-to-end.ts';
import { benchMemory } from './forwarder/memory.ts';
import { benchScale } from './forwarder/scale.ts';
import { benchThroughput } from './forwarder/throughput.ts';
import type { BenchResult } from './result.ts';

export type ForwarderBenchName = 'throughput' | 'memory' | 'end_to_end' | 'scale';

export interface ForwarderBenchOptions {
  /** About a minute in all instead of about seven. */
  quick: boolean;
  only?: ForwarderBenchName[];
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

export async function benchForwarder(opts: ForwarderBenchOptions): Promise<BenchResult[]> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const wanted = (n: ForwarderBenchName) => !opts.only || opts.only.includes(n);
  const quick = opts.quick;
  const buildDir = await mkdtemp(join(tmpdir(), 'sktrace-bench-bundle-'));
  const results: BenchResult[] = [];
  try {
    const bundle = await buildForwarderBundle(buildDir);
    if (wanted('throughput')) {
      const started = performance.now();
      results.push(
        ...(await benchThroughput({
          objects: 10_000,
          updatesPerRun: quick ? 2000 : 10_000,
          runs: 5,
          listRuns: quick ? 3 : 5,
          // Quick mode measures the image's form only; tsx compiles the CLI at start-up and
          // serves the same code after. The bundle runs as the image runs it (its NODE_OPTIONS);
          // tsx as `npx sktrace forward` does, without them. The floor client is plain Node.
          variants: quick
            ? [{ variant: 'bundle', entry: bundle, nodeArgs: imageNodeFlags() }]
            : [
                { variant: 'bundle', entry: bundle, nodeArgs: imageNodeFlags() },
                { variant: 'tsx', entry: TSX_ENTRY },
              ],
          // As forwarder_scale's endpoint: 2,000 changes/s, one batch served at a time. 1 in
          // flight is what delivery did before several were allowed (docs/forwarder.md).
          delivery: {
            changesPerSec: 2_000,
            updatesPerRun: quick ? 6_000 : 24_000,
            runs: quick ? 1 : 3,
            inFlight: [2, 1],
          },
          log,
        })),
      );
      log(`forwarder_throughput: ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
    if (wanted('memory')) {
      const started = performance.now();
      results.push(
        ...(await benchMemory({
          objects: 10_000,
          entry: bundle,
          checkpoints: quick ? [10_000, 20_000] : [10_000, 100_000, 1_000_000],
          budgetMs: quick ? 10_000 : 195_000,
          // Under load the 195 s cut the stream at 460,000 events: it goes on while the rate seen
          // reaches 1,000,000 within 540 s (docs/benchmarks.md).
          maxBudgetMs: quick ? 10_000 : 540_000,
          nodeArgs: imageNodeFlags(),
          log,
        })),
      );
      log(`forwarder_memory: ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
    if (wanted('memory') || wanted('scale')) {
      // One big-cluster run gives the 100,000-pod memory rows and the forwarder_scale row.
      const started = performance.now();
      const { memory, scale } = await benchScale({
        pods: quick ? 10_000 : 100_000,
        entry: bundle,
        compactionIntervalMs: 60_000,
        changesPerSec: 2_000,
        log,
      });
      if (wanted('memory')) results.push(...memory);
      if (wanted('scale')) results.push(...scale);
      log(`forwarder_scale: ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
    if (wanted('end_to_end')) {
      const started = performance.now();
      results.push(
        ...(await benchEndToEnd({
          objects: quick ? 150 : 1000,
          updatesPerRun: quick ? 60 : 500,
          runs: 5,
          entry: bundle,
          log,
        })),
      );
      log(`end_to_end: ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
  } finally {
    await rm(buildDir, { recursive: true, force: true });
  }
  return results;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const onlyAt = args.indexOf('--only');
  const only = onlyAt >= 0 ? (args[onlyAt + 1]?.split(',') as ForwarderBenchName[]) : undefined;
  const results = await benchForwarder({ quick: args.includes('--quick'), ...(only ? { only } : {}) });
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}
