/**
 * Export benchmark: wall time, peak RSS and DynamoDB read units of exporting a one-hour window
 * holding N changes over 5,000 live objects, with no history before the window and with 10× N
 * older changes before it (10 hours of the same objects changing at the same pace), a checkpoint
 * having been written at the window's start as the hourly checkpoint function would.
 *
 * Floors, measured in the same run: for time and RSS, msgpack-encoding the same trace already in
 * memory (bench/support/export-child.ts); for read units, one strongly consistent Query of the
 * window's event partitions (the window's items read once, nothing else).
 *
 * Seeding (docs/benchmarks.md "Export"): cluster metadata, config and every object's last version
 * before the window go through `applyBatch`, then the checkpoint; superseded history and the
 * window's changes are written as the same event items in bulk (bench/support/bulk-history.ts).
 * Sizes that do not fit the time budget are extrapolated and marked `extrapolated: true`.
 *
 * Run alone: `npx node --import tsx bench/export.ts [--quick]`.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { DynamoTraceStore } from '../lib/aws/dynamo-trace-store.ts';
import { S3BlobStore } from '../lib/aws/s3-blob-store.ts';
import type { Change } from '../lib/ingest/wire.ts';
import { bucketOf, eventPk, eventSkRange } from '../lib/store/keys.ts';
import type { KubeObject } from '../lib/trace/model.ts';
import { type BenchResult, formatTable, median, resultOf, sig } from './result.ts';
import { type ChildAws, startChildAws } from './support/aws.ts';
import { writeHistoryEvents } from './support/bulk-history.ts';
import type { ExportChildInput, ExportRun } from './support/export-child.ts';
import { DEPLOYMENT_CONFIG, objectName, sizedDeployment } from './support/objects.ts';
import { seedChanges } from './support/seed.ts';

const HOUR = 3600;
const OBJECT_BYTES = 1024;
const HISTORY_FACTOR = 10;
const SHARDS = 4;
const RETENTION_DAYS = 14;
const RUNS = 5;
const CHILD = fileURLToPath(new URL('./support/export-child.ts', import.meta.url));

export interface ExportBenchOptions {
  quick: boolean;
  log?: (line: string) => void;
}

interface Case {
  windowChanges: number;
  /** Changes before the window, as a multiple of the window's. */
  history: number;
  liveObjects: number;
}

interface Measured extends Case {
  runs: ExportRun[];
  /** Read units of the window's event items read once (the read floor). */
  floorReadUnits: number;
  seedMs: number;
}

/** The window: a whole hour two days ago, inside the default 14-day retention. */
function windowStart(nowSec: number): number {
  return Math.floor((nowSec - 2 * 86_400) / HOUR) * HOUR;
}

/** `count` changes evenly over `[fromTs, fromTs + spanSec)`, round-robin over the live objects. */
function* spread(
  count: number,
  fromTs: number,
  spanSec: number,
  firstVersion: number,
  liveObjects: number,
  skip = (_k: number) => false,
): Generator<{ ts: number; object: KubeObject }> {
  for (let k = 0; k < count; k++) {
    if (skip(k)) continue;
    const i = k % liveObjects;
    const version = firstVersion + Math.floor(k / liveObjects);
    yield {
      ts: fromTs + Math.floor((k * spanSec) / count),
      object: sizedDeployment(objectName(i), OBJECT_BYTES, version),
    };
  }
}

function* applied(changes: Iterable<{ ts: number; object: KubeObject }>): Generator<Change> {
  for (const c of changes) yield { type: 'applied', ts: c.ts, object: c.object };
}

async function seed(aws: ChildAws, cluster: string, c: Case, startTs: number): Promise<number> {
  const started = performance.now();
  const store = new DynamoTraceStore({
    dynamo: aws.dynamo,
    tableName: aws.tableName,
    blobs: new S3BlobStore(aws.s3, aws.bucket),
    shards: SHARDS,
    retentionDays: RETENTION_DAYS,
    concurrency: 32,
  });
  const target = {
    dynamo: aws.dynamo,
    tableName: aws.tableName,
    cluster,
    shards: SHARDS,
    retentionDays: RETENTION_DAYS,
  };
  const historyChanges = c.history * c.windowChanges;
  if (historyChanges === 0) {
    // Every object created two hours before the window and never changed since: the start state
    // is 5,000 objects, all in the checkpoint, none in its replay margin.
    const fromTs = startTs - 2 * HOUR;
    await seedChanges(
      store,
      cluster,
      [
        { type: 'config', ts: fromTs, config: DEPLOYMENT_CONFIG },
        ...applied(spread(c.liveObjects, fromTs, 300, 1, c.liveObjects)),
      ],
      { maxChanges: 2500 },
    );
  } else {
    const spanSec = c.history * HOUR;
    const fromTs = startTs - spanSec;
    const lastVersions = (k: number) => k >= historyChanges - c.liveObjects;
    // The first change through applyBatch records the cluster's first ts, kind and config.
    const [first] = spread(1, fromTs, spanSec, 1, c.liveObjects);
    await seedChanges(
      store,
      cluster,
      [{ type: 'config', ts: fromTs, config: DEPLOYMENT_CONFIG }, ...applied([first!])],
      { maxChanges: 2500 },
    );
    // Superseded versions in bulk; then each object's last version before the window as ingest writes it.
    await writeHistoryEvents(
      target,
      spread(historyChanges, fromTs, spanSec, 1, c.liveObjects, (k) => k === 0 || lastVersions(k)),
      { concurrency: 4 },
    );
    const last = [...spread(historyChanges, fromTs, spanSec, 1, c.liveObjects, (k) => !lastVersions(k))];
    await seedChanges(store, cluster, applied(last), { maxChanges: 2500 });
  }
  // The hourly checkpoint function's run at the window's start.
  await store.writeCheckpoint(cluster, { nowSec: startTs });
  const firstVersion = 1 + Math.ceil(historyChanges / c.liveObjects);
  await writeHistoryEvents(target, spread(c.windowChanges, startTs, HOUR, firstVersion + 1, c.liveObjects), {
    concurrency: 4,
  });
  return performance.now() - started;
}

/** Read units of the window's event items, read once: the partitions of its bucket, all shards. */
async function windowReadFloor(aws: ChildAws, cluster: string, startTs: number): Promise<number> {
  let units = 0;
  const { lo, hi } = eventSkRange(startTs, startTs + HOUR);
  for (let shard = 0; shard < SHARDS; shard++) {
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

/** One export run in a fresh process (bench/support/export-child.ts). */
async function runChild(input: ExportChildInput): Promise<ExportRun> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', CHILD, JSON.stringify(input)],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as ExportRun;
}

async function measure(aws: ChildAws, c: Case, startTs: number, runs: number): Promise<Measured> {
  const cluster = `export-${c.windowChanges}-h${c.history}`;
  const seedMs = await seed(aws, cluster, c, startTs);
  const floorReadUnits = await windowReadFloor(aws, cluster, startTs);
  const out: ExportRun[] = [];
  for (let r = 0; r < runs; r++) {
    out.push(
      await runChild({
        endpoints: aws.endpoints,
        tableName: aws.tableName,
        bucket: aws.bucket,
        cluster,
        window: { startTs, endTs: startTs + HOUR },
      }),
    );
  }
  // The trace must hold what was seeded, or the figures measure something else.
  for (const r of out) {
    if (r.startObjects !== c.liveObjects || r.windowObjects !== c.windowChanges) {
      throw new Error(
        `export of ${cluster} holds ${r.startObjects} start objects and ${r.windowObjects} window changes, expected ${c.liveObjects} and ${c.windowChanges}`,
      );
    }
  }
  return { ...c, runs: out, floorReadUnits, seedMs };
}

const MB = 1024 * 1024;

function resultsOf(m: Measured): BenchResult[] {
  const params = { window_changes: m.windowChanges, history: `${m.history}x`, live_objects: m.liveObjects };
  const pick = (f: (r: ExportRun) => number) => m.runs.map(f);
  return [
    resultOf(
      'export',
      { ...params, metric: 'wall' },
      'ms',
      pick((r) => r.wallMs),
      pick((r) => r.floorMs),
    ),
    resultOf(
      'export',
      { ...params, metric: 'peak_rss' },
      'MB',
      pick((r) => r.peakRssBytes / MB),
      pick((r) => r.floorPeakRssBytes / MB),
    ),
    resultOf(
      'export',
      { ...params, metric: 'read_units' },
      'RCU',
      pick((r) => r.readUnits),
      [m.floorReadUnits],
    ),
  ];
}

/**
 * A figure not measured, from measured ones: `median` and `floor_median` only (min/max are the
 * estimate too), `runs` 0, `extrapolated: true` and how in `basis`.
 */
function estimate(
  template: BenchResult,
  params: BenchResult['params'],
  value: number,
  floor: number,
  basis: string,
): BenchResult {
  return {
    ...template,
    params: { ...template.params, ...params, extrapolated: true, basis },
    median: sig(value),
    min: sig(value),
    max: sig(value),
    runs: 0,
    floor_median: sig(floor),
    ratio: floor > 0 ? sig(value / floor) : Number.NaN,
  };
}

/**
 * Linear in window changes through two measured sizes (a fixed part — the 5,000 start objects,
 * startup — plus a per-change part); a history factor from the smaller size's with/without ratio.
 */
function extrapolate(measured: BenchResult[], small: number, large: number, targets: Case[]): BenchResult[] {
  const find = (n: number, h: string, metric: string) =>
    measured.find(
      (r) => r.params.window_changes === n && r.params.history === h && r.params.metric === metric,
    );
  const out: BenchResult[] = [];
  for (const metric of ['wall', 'peak_rss', 'read_units']) {
    const a = find(small, '0x', metric);
    const b = find(large, '0x', metric);
    const aHist = find(small, `${HISTORY_FACTOR}x`, metric);
    if (!a || !b || !aHist) continue;
    const at = (n: number, pickValue: (r: BenchResult) => number) => {
      const slope = (pickValue(b) - pickValue(a)) / (large - small);
      return pickValue(b) + slope * (n - large);
    };
    const historyFactor = aHist.median / a.median;
    const floorHistoryFactor = aHist.floor_median / a.floor_median;
    for (const t of targets) {
      if (find(t.windowChanges, `${t.history}x`, metric)) continue;
      const value = t.windowChanges === large ? b.median : at(t.windowChanges, (r) => r.median);
      const floor = t.windowChanges === large ? b.floor_median : at(t.windowChanges, (r) => r.floor_median);
      const hist = t.history > 0;
      out.push(
        estimate(
          b,
          { window_changes: t.windowChanges, history: `${t.history}x` },
          hist ? value * historyFactor : value,
          hist ? floor * floorHistoryFactor : floor,
          `linear in window changes through the measured ${small} and ${large}${hist ? `, times the measured ${HISTORY_FACTOR}x/0x ratio at ${small}` : ''}`,
        ),
      );
    }
  }
  return out;
}

export async function benchExport(options: ExportBenchOptions): Promise<BenchResult[]> {
  const log = options.log ?? (() => undefined);
  // --quick: 500 live objects (seeding them through applyBatch is most of a small case's time).
  const liveObjects = options.quick ? 500 : 5000;
  const small = options.quick ? 1000 : 10_000;
  const large = options.quick ? 4000 : 100_000;
  const cases: Case[] = [
    { windowChanges: small, history: 0, liveObjects },
    { windowChanges: small, history: HISTORY_FACTOR, liveObjects },
    { windowChanges: large, history: 0, liveObjects },
  ];
  const targets: Case[] = (
    options.quick
      ? [{ windowChanges: large, history: HISTORY_FACTOR }]
      : [
          { windowChanges: large, history: HISTORY_FACTOR },
          { windowChanges: 1_000_000, history: 0 },
          { windowChanges: 1_000_000, history: HISTORY_FACTOR },
        ]
  ).map((t) => ({ ...t, liveObjects }));
  const aws = await startChildAws();
  const startTs = windowStart(Math.floor(Date.now() / 1000));
  const measured: BenchResult[] = [];
  try {
    for (const c of cases) {
      const m = await measure(aws, c, startTs, RUNS);
      log(
        `export ${c.windowChanges} changes, ${c.history}x history: seeded in ${(m.seedMs / 1000).toFixed(0)} s, median wall ${median(m.runs.map((r) => r.wallMs)).toFixed(0)} ms`,
      );
      measured.push(...resultsOf(m));
    }
  } finally {
    await aws.close();
  }
  return [...measured, ...extrapolate(measured, small, large, targets)];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  void benchExport({ quick, log: (line) => process.stderr.write(`${line}\n`) }).then((results) => {
    process.stdout.write(`${formatTable(results)}\n`);
  });
}
