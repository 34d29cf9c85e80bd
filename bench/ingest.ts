/**
 * Ingest benchmarks, against dynalite and s3rver in a child process (bench/support/aws.ts), so
 * their CPU — HTTP parsing, LevelDB, condition checks — is not charged to the code under test.
 *
 * - `ingest_cpu`: CPU µs (process.cpuUsage, user + system) per applied change of the ingest
 *   handler: API Gateway v2 events through the real middy stack of functions/ingest `makeHandler`,
 *   the DynamoTraceStore and the AWS SDK client included. Batches of 100 and 1,000 changes of
 *   ~3 KB Deployments, each change a new spec (so every one is written, none deduplicated).
 *   Floor: JSON.parse of the same body, then the spec hash and the body codec's compression
 *   (lib/store/body-codec.ts) of each object — the work no ingest can avoid.
 * - `ingest_write_units`: DynamoDB write units per applied change (ApplyResult.writeUnits, from
 *   ConsumedCapacity as dynalite reports it) for ~1, 3 and 30 KB objects, spec updates of live
 *   objects in batches of 100. Floor: one unit per started KB of the compressed body.
 *
 * Run alone: `npx node --import tsx bench/ingest.ts [--quick]`.
 */
import { pathToFileURL } from 'node:url';
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { makeHandler } from '../functions/ingest/handler.ts';
import { DynamoTraceStore } from '../lib/aws/dynamo-trace-store.ts';
import { S3BlobStore } from '../lib/aws/s3-blob-store.ts';
import type { AppliedChange, Change } from '../lib/ingest/wire.ts';
import { encodeBody } from '../lib/store/body-codec.ts';
import { specHash } from '../lib/trace/hash.ts';
import type { KubeObject } from '../lib/trace/model.ts';
import { demoTokens, ingestEvent, lambdaContext } from '../tests/ingest/support.ts';
import { type BenchResult, formatTable, median, resultOf, sig } from './result.ts';
import { type ChildAws, startChildAws } from './support/aws.ts';
import { DEPLOYMENT_CONFIG, objectName, sizedDeployment } from './support/objects.ts';

const RUNS = 5;
/** tests/ingest/support.ts's token store knows DEMO_TOKEN for this cluster. */
const CLUSTER = 'demo';

export interface IngestBenchOptions {
  quick: boolean;
  /** Which of the two to run (default both). */
  only?: ('ingest_cpu' | 'ingest_write_units')[];
  log?: (line: string) => void;
}

function cpuUs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return d.user + d.system;
}

/** `count` changes, one per object, each a new spec (`version`), all at `ts`. */
function batchOf(
  prefix: string,
  count: number,
  jsonBytes: number,
  version: number,
  ts: number,
): AppliedChange[] {
  return Array.from({ length: count }, (_, i) => ({
    type: 'applied' as const,
    ts,
    object: sizedDeployment(`${prefix}-${objectName(i)}`, jsonBytes, version),
  }));
}

/** The floor: what any ingest of this body must do — parse it, hash each spec, compress each object. */
function floorWork(body: string): number {
  const parsed = JSON.parse(body) as { changes: { object: KubeObject }[] };
  let bytes = 0;
  for (const c of parsed.changes) {
    specHash(c.object.spec);
    bytes += encodeBody({ o: c.object, w: [] }).length;
  }
  return bytes;
}

function makeStore(aws: ChildAws): DynamoTraceStore {
  // The store as the ingest function builds it (functions/ingest/deps.ts): defaults throughout.
  return new DynamoTraceStore({
    dynamo: aws.dynamo,
    tableName: aws.tableName,
    blobs: new S3BlobStore(aws.s3, aws.bucket),
  });
}

async function benchIngestCpu(aws: ChildAws, batchSizes: number[]): Promise<BenchResult[]> {
  const handler = makeHandler({
    writer: makeStore(aws),
    tokens: demoTokens(),
    logger: new Logger({ serviceName: 'sktrace-bench', logLevel: 'SILENT' }),
    clock: Date.now,
  });
  const context = lambdaContext();
  const results: BenchResult[] = [];
  // Changes stamped a little in the past (not late: within the store's 600 s margin), one second per run.
  const baseTs = Math.floor(Date.now() / 1000) - 120;
  const config: Change = { type: 'config', ts: baseTs, config: DEPLOYMENT_CONFIG };
  const post = async (changes: Change[]) => {
    const event = ingestEvent({ cluster: CLUSTER, body: JSON.stringify({ changes }) });
    return (await handler(event, context)) as APIGatewayProxyStructuredResultV2;
  };
  await post([config]);
  for (const size of batchSizes) {
    const figures: number[] = [];
    const floors: number[] = [];
    const dynaliteUs: number[] = [];
    // Run 0 warms the JIT and creates the objects; runs 1..RUNS update every one of them.
    for (let run = 0; run <= RUNS; run++) {
      const changes = batchOf(`b${size}`, size, 3072, run + 1, baseTs + run);
      const body = JSON.stringify({ changes });
      const event = ingestEvent({ cluster: CLUSTER, body });
      const childBefore = await aws.cpu();
      const start = process.cpuUsage();
      const response = (await handler(event, context)) as APIGatewayProxyStructuredResultV2;
      const us = cpuUs(start);
      const childAfter = await aws.cpu();
      const result = JSON.parse(String(response.body)) as { accepted?: number; deduplicated?: number };
      if (response.statusCode !== 200 || result.accepted !== size || result.deduplicated !== 0) {
        throw new Error(`ingest of ${size} changes answered ${response.statusCode} ${String(response.body)}`);
      }
      const floorStart = process.cpuUsage();
      floorWork(body);
      const floorUs = cpuUs(floorStart);
      if (run === 0) continue;
      figures.push(us / size);
      floors.push(floorUs / size);
      dynaliteUs.push((childAfter.us - childBefore.us) / size);
    }
    results.push(
      resultOf(
        'ingest_cpu',
        // dynalite's CPU (the child's), for scale only: not part of the figure.
        { batch_changes: size, object_json_bytes: 3072, dynalite_cpu_us_per_change: sig(median(dynaliteUs)) },
        'µs/change',
        figures,
        floors,
      ),
    );
  }
  return results;
}

async function benchWriteUnits(aws: ChildAws, sizes: number[], batch: number): Promise<BenchResult[]> {
  const store = makeStore(aws);
  const results: BenchResult[] = [];
  const baseTs = Math.floor(Date.now() / 1000) - 60;
  for (const jsonBytes of sizes) {
    const figures: number[] = [];
    const floors: number[] = [];
    const compressed: number[] = [];
    let createUnits = 0;
    // Run 0 creates the objects (and the cluster's metadata items); runs 1..RUNS are spec updates.
    for (let run = 0; run <= RUNS; run++) {
      const changes = batchOf(`w${jsonBytes}`, batch, jsonBytes, run + 1, baseTs + run);
      const applied = await store.applyBatch('bench-wu', { changes }, { nowSec: baseTs + run });
      if (run === 0) {
        createUnits = applied.writeUnits / batch;
        continue;
      }
      let floorUnits = 0;
      let bodyBytes = 0;
      for (const c of changes) {
        const bytes = encodeBody({ o: c.object, w: [] }).length;
        bodyBytes += bytes;
        floorUnits += Math.ceil(bytes / 1024);
      }
      compressed.push(bodyBytes / batch);
      figures.push(applied.writeUnits / batch);
      floors.push(floorUnits / batch);
    }
    results.push(
      resultOf(
        'ingest_write_units',
        {
          object_json_bytes: jsonBytes,
          batch_changes: batch,
          compressed_body_bytes: Math.round(median(compressed)),
          // The first batch creates the objects and writes the cluster's metadata items once.
          create_wcu_per_change: sig(createUnits),
        },
        'WCU/change',
        figures,
        floors,
      ),
    );
  }
  return results;
}

export async function benchIngest(options: IngestBenchOptions): Promise<BenchResult[]> {
  const log = options.log ?? (() => undefined);
  const wanted = (name: 'ingest_cpu' | 'ingest_write_units') => !options.only || options.only.includes(name);
  const aws = await startChildAws();
  const results: BenchResult[] = [];
  try {
    if (wanted('ingest_cpu')) {
      const started = performance.now();
      results.push(...(await benchIngestCpu(aws, options.quick ? [100, 300] : [100, 1000])));
      log(`ingest_cpu: ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
    if (wanted('ingest_write_units')) {
      const started = performance.now();
      results.push(...(await benchWriteUnits(aws, [1024, 3072, 30_720], options.quick ? 20 : 100)));
      log(`ingest_write_units: ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
    return results;
  } finally {
    await aws.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  void benchIngest({ quick, log: (line) => process.stderr.write(`${line}\n`) }).then((results) => {
    process.stdout.write(`${formatTable(results)}\n`);
  });
}
