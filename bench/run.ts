/**
 * `npm run bench [-- --quick] [-- --only name,…]`: runs the benchmarks, prints one table and writes
 * `bench/results.json`, an array of measurements `{name, params, unit, median, min, max, runs,
 * floor_median, ratio}` (bench/result.ts; ratio = median / floor, lower is better). With `--only`,
 * the entries of the benchmarks not run are kept from the existing file. `--markdown` runs nothing
 * and prints bench/results.json as the markdown table of docs/benchmarks.md.
 *
 * Names: hash, ingest_cpu, ingest_write_units, export (bench/hash.ts, ingest.ts, export.ts) and
 * forwarder_throughput, forwarder_memory, end_to_end (bench/forwarder.ts), skel (bench/skel.ts). Not part of `npm test`:
 * a full run takes about 15 minutes on a 2-core machine, --quick about 3. docs/benchmarks.md
 * explains the method and each figure.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { benchExport } from './export.ts';
import { benchHash } from './hash.ts';
import { benchIngest } from './ingest.ts';
import { type BenchResult, formatMarkdown, formatTable } from './result.ts';
import { benchSkel } from './skel.ts';

export const BENCH_NAMES = [
  'hash',
  'ingest_cpu',
  'ingest_write_units',
  'export',
  'forwarder_throughput',
  'forwarder_memory',
  'forwarder_scale',
  'end_to_end',
  'skel',
] as const;
export type BenchName = (typeof BENCH_NAMES)[number];

const RESULTS = fileURLToPath(new URL('./results.json', import.meta.url));

/** bench/forwarder.ts's own names for its three benchmarks. */
const FORWARDER_NAMES = {
  forwarder_throughput: 'throughput',
  forwarder_memory: 'memory',
  forwarder_scale: 'scale',
  end_to_end: 'end_to_end',
} as const;

interface ForwarderModule {
  benchForwarder(opts: {
    quick: boolean;
    only?: ('throughput' | 'memory' | 'end_to_end' | 'scale')[];
    log?: (line: string) => void;
  }): Promise<BenchResult[]>;
}

export interface RunArgs {
  quick: boolean;
  only: BenchName[];
}

export function parseArgs(argv: readonly string[]): RunArgs {
  const quick = argv.includes('--quick');
  const at = argv.indexOf('--only');
  const inline = argv.find((a) => a.startsWith('--only='));
  const list = inline ? inline.slice('--only='.length) : at >= 0 ? argv[at + 1] : undefined;
  if (at >= 0 && list === undefined)
    throw new Error('--only needs a comma-separated list of benchmark names');
  const only = list === undefined ? [...BENCH_NAMES] : list.split(',').map((n) => n.trim());
  const unknown = only.filter((n) => !(BENCH_NAMES as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new Error(`unknown benchmark(s) ${unknown.join(', ')}; known: ${BENCH_NAMES.join(', ')}`);
  }
  return { quick, only: only as BenchName[] };
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** The forwarder benchmarks, or nothing (and a note) while bench/forwarder.ts does not exist yet. */
async function loadForwarder(): Promise<ForwarderModule | undefined> {
  try {
    return (await import('./forwarder.ts')) as ForwarderModule;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND') {
      log(
        'note: bench/forwarder.ts is missing: forwarder_throughput, forwarder_memory and end_to_end skipped',
      );
      return undefined;
    }
    throw err;
  }
}

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  log(`== ${label}`);
  const value = await fn();
  log(`== ${label}: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return value;
}

export async function runBenchmarks(args: RunArgs): Promise<BenchResult[]> {
  const want = (n: BenchName) => args.only.includes(n);
  const results: BenchResult[] = [];
  if (want('hash')) results.push(...(await timed('hash', benchHash)));
  const ingest = (['ingest_cpu', 'ingest_write_units'] as const).filter(want);
  if (ingest.length > 0) {
    results.push(
      ...(await timed(ingest.join(', '), () => benchIngest({ quick: args.quick, only: ingest, log }))),
    );
  }
  if (want('export')) results.push(...(await timed('export', () => benchExport({ quick: args.quick, log }))));
  if (want('skel')) results.push(...(await timed('skel', () => benchSkel({ quick: args.quick }))));
  const forwarderNames = (
    ['forwarder_throughput', 'forwarder_memory', 'forwarder_scale', 'end_to_end'] as const
  ).filter(want);
  if (forwarderNames.length > 0) {
    const forwarder = await loadForwarder();
    if (forwarder) {
      const only = forwarderNames.map((n) => FORWARDER_NAMES[n]);
      results.push(
        ...(await timed(forwarderNames.join(', '), () =>
          forwarder.benchForwarder({ quick: args.quick, only, log }),
        )),
      );
    }
  }
  return results;
}

/** The existing results of the benchmarks not run this time, then this run's, in BENCH_NAMES order. */
async function merged(results: BenchResult[], ran: BenchName[]): Promise<BenchResult[]> {
  let previous: BenchResult[] = [];
  try {
    previous = JSON.parse(await readFile(RESULTS, 'utf8')) as BenchResult[];
  } catch {
    previous = [];
  }
  const all = [...previous.filter((r) => !ran.includes(r.name as BenchName)), ...results];
  const order = (r: BenchResult) => {
    const i = (BENCH_NAMES as readonly string[]).indexOf(r.name);
    return i < 0 ? BENCH_NAMES.length : i;
  };
  // Stable: each benchmark's own order is kept.
  return all
    .map((r, i) => ({ r, i }))
    .sort((a, b) => order(a.r) - order(b.r) || a.i - b.i)
    .map(({ r }) => r);
}

async function main(): Promise<void> {
  if (process.argv.includes('--markdown')) {
    // No run: bench/results.json as the markdown table docs/benchmarks.md carries.
    const results = JSON.parse(await readFile(RESULTS, 'utf8')) as BenchResult[];
    process.stdout.write(`${formatMarkdown(results)}\n`);
    return;
  }
  const args = parseArgs(process.argv.slice(2));
  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
  const loadBefore = loadavg().map((x) => x.toFixed(2));
  log(`machine: ${machine}; load average before: ${loadBefore.join(' ')}`);
  const started = performance.now();
  const results = await runBenchmarks(args);
  const all = await merged(results, args.only);
  await writeFile(RESULTS, `${JSON.stringify(all, null, 2)}\n`);
  process.stdout.write(`${formatTable(results)}\n`);
  process.stdout.write(
    `\n${results.length} measurements in ${((performance.now() - started) / 1000).toFixed(0)} s${args.quick ? ' (--quick)' : ''}; load average before ${loadBefore.join(' ')}, after ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}; written to bench/results.json\n`,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
