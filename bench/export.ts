/**
 * Export benchmark: wall time, CPU, peak RSS and DynamoDB read units of exporting a one-hour
 * window holding N changes over 5,000 live objects — the export job's own path, `streamExport`:
 * the store's reads, assembly, streaming msgpack encoding and the multipart upload to S3 (s3rver)
 * — with no history before the window and with 10× N older changes before it (10 hours of the
 * same objects changing at the same pace), a checkpoint having been written at the window's start
 * as the hourly checkpoint function would. Also the pod-lifecycle read alone (`lifecycles` rows,
 * `params.lifecycle_history` 0x/10x).
 *
 * Floors, measured in the same run, each in a fresh process (bench/support/export-child.ts):
 * - wall: the same window's event items read with the same Queries and parallelism, not decoded
 *   (raw Query pages), plus msgpack-encoding the same trace in memory;
 * - CPU: that encoding's CPU;
 * - peak RSS: the peak RSS of the 10,000-change export with the same history (the target is flat
 *   memory: 1 M changes within 1.5× of 10,000);
 * - read units: one strongly consistent Query of the window's event partitions (the window's items
 *   read once, nothing else).
 *
 * Seeding (bench/support/export-seed.ts, docs/benchmarks.md "export"): cluster metadata, config and
 * every object's last version before the window go through `applyBatch`, then the checkpoint;
 * superseded history and the window's changes are the same event items written straight into
 * dynalite's LevelDB (bench/support/bulk-history.ts, dynalite-direct.ts): ~14 minutes here for the
 * 11 M items of 1,000,000 changes with 10× history. BENCH_EXPORT_DATA_DIR=DIR keeps the seeded data
 * for later runs (re-seeded when what seeding writes changes); BENCH_EXPORT_SEED_ONLY=1 only seeds.
 * Cases: BENCH_EXPORT_CASES="N:history,…" (default: 10,000, 100,000 and 1,000,000 changes, each
 * with 0x and 10x history); 5 runs after a warm-up up to 10,000 changes, 3 at 100,000, 1 (no
 * warm-up) at 1,000,000.
 *
 * Run alone: `npx node --import tsx bench/export.ts [--quick]`.
 */
import { execFile } from 'node:child_process';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { bucketOf, eventPk, eventSkRange } from '../lib/store/keys.ts';
import { type BenchResult, formatTable, median, resultOf, sig } from './result.ts';
import { BENCH_SHARDS, type ChildAws, startChildAws } from './support/aws.ts';
import type { ExportChildInput, ExportChildRun } from './support/export-child.ts';
import {
  buildExportChild,
  type ExportRuntime,
  exportJobNodeSetup,
  exportRuntime,
  type LambdaNodeSetup,
} from './support/export-lambda.ts';
import {
  type ExportCase,
  exportCluster,
  HOUR,
  OBJECT_BYTES,
  rebuildCheckpoint,
  SeedCache,
  seedExportCase,
  windowFirstVersion,
} from './support/export-seed.ts';
import { benchLifecycles } from './support/lifecycle-bench.ts';

// BENCH_EXPORT_RUNS overrides (profiling); docs/benchmarks.md figures use 5.
const RUNS = Number(process.env.BENCH_EXPORT_RUNS ?? 5);
const CHILD = fileURLToPath(new URL('./support/export-child.ts', import.meta.url));

export interface ExportBenchOptions {
  quick: boolean;
  log?: (line: string) => void;
}

type Case = ExportCase;

interface Measured extends Case {
  runs: Run[];
  /** Read units of the window's event items read once (the read floor). */
  floorReadUnits: number;
  seedMs: number;
}

/** The window: a whole hour two days ago, inside the default 14-day retention. */
function windowStart(nowSec: number): number {
  return Math.floor((nowSec - 2 * 86_400) / HOUR) * HOUR;
}

/** Read units of the window's event items, read once: the partitions of its bucket, all shards. */
async function windowReadFloor(aws: ChildAws, cluster: string, startTs: number): Promise<number> {
  let units = 0;
  const { lo, hi } = eventSkRange(startTs, startTs + HOUR);
  for (let shard = 0; shard < BENCH_SHARDS; shard++) {
    let start: Record<string, never> | undefined;
    do {
      const out = await aws.dynamo.send(
        new QueryCommand({
          TableName: aws.tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
          ExpressionAttributeValues: {
            ':pk': { S: eventPk(cluster, bucketOf(startTs), shard) },
            ':lo': { S: lo },
            ':hi': { S: hi },
          },
          ConsistentRead: true,
          ReturnConsumedCapacity: 'TOTAL',
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      units += out.ConsumedCapacity?.CapacityUnits ?? 0;
      start = out.LastEvaluatedKey as Record<string, never> | undefined;
    } while (start);
  }
  return units;
}

/**
 * How each child process runs: as the export job function does in Lambda (the bundle, the
 * function's NODE_OPTIONS and the runtime's flags; bench/support/export-lambda.ts), or with
 * BENCH_EXPORT_RUNTIME=tsx the TypeScript sources under tsx with plain Node flags (before
 * 2026-12-06). The floors run the same way as the export.
 */
interface ChildRuntime {
  name: ExportRuntime;
  /** Node's arguments up to the child's entry. */
  argv(mode: ExportChildInput['mode']): string[];
  env: NodeJS.ProcessEnv;
}

async function childRuntime(bundleDir: string, otherRoot?: string): Promise<ChildRuntime> {
  // BENCH_EXPORT_PROFILE=DIR: a V8 CPU profile of each export run (docs/benchmarks.md "export").
  // BENCH_EXPORT_NODE_ARGS: more Node flags for the export child (e.g. `--heap-prof
  // --heap-prof-dir=DIR`, `--trace-gc`).
  const profile = (mode: ExportChildInput['mode']) =>
    mode !== 'export'
      ? []
      : [
          ...(process.env.BENCH_EXPORT_PROFILE
            ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_EXPORT_PROFILE}`]
            : []),
          ...(process.env.BENCH_EXPORT_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
        ];
  if (exportRuntime() === 'tsx') {
    return {
      name: 'tsx',
      argv: (mode) => [
        '--expose-gc',
        '--max-old-space-size=8192',
        ...profile(mode),
        '--import',
        'tsx',
        CHILD,
      ],
      env: process.env,
    };
  }
  // The other checkout's runs take its own template.yaml's flags: a flag's change can be A/B'd.
  const setup = exportJobNodeSetup(otherRoot);
  const bundle = otherRoot
    ? await (
        (await import(pathToFileURL(join(otherRoot, 'bench/support/export-lambda.ts')).href)) as {
          buildExportChild: typeof buildExportChild;
        }
      ).buildExportChild(bundleDir)
    : await buildExportChild(bundleDir);
  return {
    name: 'lambda',
    // The floors keep room for the largest window's in-memory encoding (the export's own limit is
    // the function's: it must fit in it).
    argv: (mode) => [
      ...setup.argv,
      ...(mode === 'export' ? [] : ['--max-old-space-size=8192']),
      ...profile(mode),
      bundle,
    ],
    env: childEnv(setup),
  };
}

/** The children's environment: the function's NODE_OPTIONS and GLIBC_TUNABLES (template.yaml), as Lambda sets them. */
function childEnv(setup: LambdaNodeSetup): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: setup.nodeOptions };
  delete env.GLIBC_TUNABLES;
  if (setup.glibcTunables !== undefined) env.GLIBC_TUNABLES = setup.glibcTunables;
  return env;
}

/** One measurement in a fresh process (bench/support/export-child.ts). */
async function runChild(runtime: ChildRuntime, input: ExportChildInput): Promise<ExportChildRun> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...runtime.argv(input.mode), JSON.stringify(input)],
    { maxBuffer: 16 * 1024 * 1024, env: runtime.env },
  );
  // BENCH_EXPORT_CHILD_LOG=FILE: each export child's whole stdout (with BENCH_EXPORT_NODE_ARGS=--trace-gc…).
  if (process.env.BENCH_EXPORT_CHILD_LOG && input.mode === 'export') {
    await appendFile(process.env.BENCH_EXPORT_CHILD_LOG, stdout);
  }
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as ExportChildRun;
}

interface Run {
  export: ExportChildRun;
  readFloor: ExportChildRun;
  encodeFloor: ExportChildRun;
}

async function measure(
  runtime: ChildRuntime,
  abRuntime: ChildRuntime | undefined,
  aws: ChildAws,
  c: Case,
  defaultStartTs: number,
  runs: number,
  warmUp: boolean,
  cache: SeedCache | undefined,
  log: (line: string) => void,
): Promise<Measured> {
  const cluster = exportCluster(c);
  let seeded = cache?.seeded(cluster);
  if (seeded) {
    log(
      `export ${cluster}: seeded data reused from ${process.env.BENCH_EXPORT_DATA_DIR} (window ${seeded.startTs})`,
    );
  } else {
    const started = performance.now();
    await seedExportCase(aws, cluster, c, defaultStartTs);
    seeded = { startTs: defaultStartTs, seedMs: performance.now() - started };
    await cache?.record(cluster, seeded.startTs, seeded.seedMs);
  }
  const { startTs, seedMs } = seeded;
  const floorReadUnits = await windowReadFloor(aws, cluster, startTs);
  const input = (mode: ExportChildInput['mode']): ExportChildInput => ({
    mode,
    endpoints: aws.endpoints,
    tableName: aws.tableName,
    bucket: aws.bucket,
    cluster,
    window: { startTs, endTs: startTs + HOUR },
    recipe: {
      liveObjects: c.liveObjects,
      windowChanges: c.windowChanges,
      objectBytes: OBJECT_BYTES,
      firstVersion: windowFirstVersion(c),
    },
  });
  const out: Run[] = [];
  const other: ExportChildRun[] = [];
  for (let r = warmUp ? -1 : 0; r < runs; r++) {
    // BENCH_EXPORT_AB_ROOT: the other checkout's export runs beside this one's, alternating which
    // goes first (a paired A/B under the same load; its figures are logged, not in the results).
    const first = r % 2 === 0 || abRuntime === undefined;
    const b = abRuntime && first ? undefined : abRuntime && (await runChild(abRuntime, input('export')));
    const run = {
      export: await runChild(runtime, input('export')),
      readFloor: await runChild(runtime, input('read-floor')),
      encodeFloor: await runChild(runtime, input('encode-floor')),
    };
    const b2 = abRuntime && first ? await runChild(abRuntime, input('export')) : b;
    if (r >= 0) {
      out.push(run);
      if (b2) {
        other.push(b2);
        log(
          `A/B ${cluster} run ${r}: this CPU ${run.export.cpuMs.toFixed(0)} ms wall ${run.export.wallMs.toFixed(0)} RSS ${(run.export.peakRssBytes / MB).toFixed(0)} MB | other CPU ${b2.cpuMs.toFixed(0)} ms wall ${b2.wallMs.toFixed(0)} RSS ${(b2.peakRssBytes / MB).toFixed(0)} MB | encode floor CPU ${run.encodeFloor.cpuMs.toFixed(0)}`,
        );
      }
    }
  }
  if (other.length > 0) {
    log(
      `A/B ${cluster} medians: this CPU ${median(out.map((x) => x.export.cpuMs)).toFixed(0)} ms, other ${median(other.map((x) => x.cpuMs)).toFixed(0)} ms; wall ${median(out.map((x) => x.export.wallMs)).toFixed(0)} vs ${median(other.map((x) => x.wallMs)).toFixed(0)} ms`,
    );
  }
  // The trace must hold what was seeded, or the figures measure something else.
  for (const { export: e, readFloor, encodeFloor } of out) {
    if (
      e.events !== encodeFloor.events ||
      e.objects !== c.liveObjects ||
      readFloor.items !== c.windowChanges
    ) {
      throw new Error(
        `export of ${cluster}: ${e.events} events and ${e.objects} objects (floor: ${encodeFloor.events} events, ${readFloor.items} items), expected ${c.liveObjects} objects and ${c.windowChanges} items`,
      );
    }
  }
  return { ...c, runs: out, floorReadUnits, seedMs };
}

const MB = 1024 * 1024;

function resultsOf(m: Measured, rssFloor: number[], runtime: ExportRuntime): BenchResult[] {
  const params = {
    window_changes: m.windowChanges,
    history: `${m.history}x`,
    live_objects: m.liveObjects,
    runtime,
  };
  const pick = (f: (r: Run) => number) => m.runs.map(f);
  return [
    resultOf(
      'export',
      {
        ...params,
        metric: 'wall',
        floor: 'raw read + encode',
        read_floor_ms: sig(median(pick((r) => r.readFloor.wallMs))),
        encode_floor_ms: sig(median(pick((r) => r.encodeFloor.wallMs))),
        trace_mb: sig(median(pick((r) => r.export.bytes / MB))),
      },
      'ms',
      pick((r) => r.export.wallMs),
      pick((r) => r.readFloor.wallMs + r.encodeFloor.wallMs),
    ),
    resultOf(
      'export',
      { ...params, metric: 'cpu', floor: 'encode' },
      'ms',
      pick((r) => r.export.cpuMs),
      pick((r) => r.encodeFloor.cpuMs),
    ),
    resultOf(
      'export',
      { ...params, metric: 'peak_rss', floor: 'peak_rss at the smallest window, same history' },
      'MB',
      pick((r) => r.export.peakRssBytes / MB),
      rssFloor.length > 0 ? rssFloor : pick((r) => r.export.peakRssBytes / MB),
    ),
    resultOf(
      'export',
      { ...params, metric: 'read_units', floor: 'window items read once' },
      'RCU',
      pick((r) => r.export.readUnits),
      [m.floorReadUnits],
    ),
  ];
}

function parseCases(text: string, liveObjects: number): Case[] {
  return text.split(',').map((part) => {
    const [n, h] = part.split(':');
    return { windowChanges: Number(n), history: Number(h ?? 0), liveObjects };
  });
}

export async function benchExport(options: ExportBenchOptions): Promise<BenchResult[]> {
  const log = options.log ?? (() => undefined);
  // --quick: 500 live objects (seeding them through applyBatch is most of a small case's time).
  const liveObjects = options.quick ? 500 : 5000;
  const cases = parseCases(
    process.env.BENCH_EXPORT_CASES ??
      (options.quick ? '1000:0,1000:10,4000:0' : '10000:0,10000:10,100000:0,100000:10,1000000:0,1000000:10'),
    liveObjects,
  );
  // A million window changes and ten million older ones are ~8 GB of items: LevelDB on disk, not
  // dynalite's memory store. BENCH_EXPORT_DATA_DIR keeps the seeded data for later runs
  // (bench/support/export-seed.ts); otherwise a temp dir, removed at the end.
  const cacheDir = process.env.BENCH_EXPORT_DATA_DIR;
  const cache = cacheDir ? await SeedCache.open(cacheDir, log) : undefined;
  const dataDir = cache ? undefined : await mkdtemp(join(tmpdir(), 'sktrace-bench-export-'));
  const bundleDir = await mkdtemp(join(tmpdir(), 'sktrace-bench-export-bundle-'));
  const runtime = await childRuntime(bundleDir);
  const abRoot = process.env.BENCH_EXPORT_AB_ROOT;
  const abRuntime = abRoot
    ? await childRuntime(await mkdtemp(join(tmpdir(), 'sktrace-bench-export-bundle-ab-')), abRoot)
    : undefined;
  log(
    `export: children run as ${runtime.name === 'lambda' ? `the export job function's bundle, flags ${runtime.argv('export').slice(0, -1).join(' ')}, NODE_OPTIONS=${runtime.env.NODE_OPTIONS}${runtime.env.GLIBC_TUNABLES ? `, GLIBC_TUNABLES=${runtime.env.GLIBC_TUNABLES}` : ''}` : 'TypeScript under tsx'}`,
  );
  const aws = await startChildAws({
    dataDir: cache?.dynamoDir ?? dataDir,
    ...(cache ? { s3Dir: cache.s3Dir } : {}),
    maxOldSpaceMb: 8192,
  });
  const startTs = windowStart(Math.floor(Date.now() / 1000));
  const measured: BenchResult[] = [];
  const smallest = Math.min(...cases.map((c) => c.windowChanges));
  const rssAtSmallest = new Map<number, number[]>();
  try {
    // A cache seeded with older checkpoint settings: its checkpoints rewritten, nothing else.
    await cache?.rebuildCheckpoints((cluster, ts) => rebuildCheckpoint(aws, cluster, ts));
    // BENCH_EXPORT_SEED_ONLY=1 (with BENCH_EXPORT_DATA_DIR): fill the seed cache, measure nothing.
    if (process.env.BENCH_EXPORT_SEED_ONLY === '1') {
      if (!cache) throw new Error('BENCH_EXPORT_SEED_ONLY needs BENCH_EXPORT_DATA_DIR');
      for (const c of cases) {
        const cluster = exportCluster(c);
        if (cache.seeded(cluster)) continue;
        const started = performance.now();
        await seedExportCase(aws, cluster, c, startTs);
        await cache.record(cluster, startTs, performance.now() - started);
        log(`export ${cluster}: seeded in ${((performance.now() - started) / 1000).toFixed(0)} s`);
      }
      return [];
    }
    for (const c of cases) {
      const big = c.windowChanges >= 1_000_000;
      // 5 runs up to 10,000 changes, 3 at 100,000, 1 at 1,000,000 (the machine is shared; minutes per run).
      const runs = c.windowChanges >= 1_000_000 ? 1 : c.windowChanges >= 100_000 ? Math.min(3, RUNS) : RUNS;
      const m = await measure(runtime, abRuntime, aws, c, startTs, runs, !big, cache, log);
      const rss = m.runs.map((r) => r.export.peakRssBytes / MB);
      if (c.windowChanges === smallest) rssAtSmallest.set(c.history, rss);
      log(
        `export ${c.windowChanges} changes, ${c.history}x history: seeded in ${(m.seedMs / 1000).toFixed(0)} s, median wall ${median(m.runs.map((r) => r.export.wallMs)).toFixed(0)} ms (read floor ${median(m.runs.map((r) => r.readFloor.wallMs)).toFixed(0)} ms + encode ${median(m.runs.map((r) => r.encodeFloor.wallMs)).toFixed(0)} ms), peak RSS ${median(rss).toFixed(0)} MB`,
      );
      measured.push(
        ...resultsOf(m, rssAtSmallest.get(c.history) ?? rssAtSmallest.get(0) ?? [], runtime.name),
      );
    }
    measured.push(...(await benchLifecycles(aws, startTs, options.quick, log)));
  } finally {
    await aws.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await rm(bundleDir, { recursive: true, force: true });
  }
  return measured;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  void benchExport({ quick, log: (line) => process.stderr.write(`${line}\n`) }).then((results) => {
    process.stdout.write(`${formatTable(results)}\n`);
  });
}
