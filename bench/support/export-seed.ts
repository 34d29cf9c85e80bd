/**
 * Seeding of the export benchmark (docs/benchmarks.md "export"), and a cache of seeded data so a
 * 10× history of a million window changes (11 M items) is written once, not per run.
 *
 * A case is `windowChanges` changes in a one-hour window over `liveObjects` Deployments of ~1 KB,
 * with `history` × as many older changes before it (the same objects changing at the same pace
 * over `history` hours). Cluster metadata, config and every object's last version before the window
 * go through the store's `applyBatch`; then the hourly checkpoint at the window's start; superseded
 * versions and the window's changes are the event items applyBatch would write, loaded straight
 * into dynalite's LevelDB (bench/support/bulk-history.ts, dynalite-direct.ts).
 *
 * Cache (BENCH_EXPORT_DATA_DIR=DIR): dynalite's LevelDB and s3rver's files stay in DIR, with
 * DIR/manifest.json naming each seeded cluster and its window. The manifest holds a fingerprint of
 * what seeding writes now: a small case seeded the same way into a fresh in-memory dynalite and
 * s3rver, every item (but the change feed's, stamped with the wall clock) and object hashed. When
 * the store's writer, body encoding, keys or this seeding change, the fingerprint changes and DIR
 * is emptied and seeded again: cached data is always what this code would write.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type AttributeValue, ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Change } from '../../lib/ingest/wire.ts';
import { BENCH_RETENTION_DAYS, BENCH_SHARDS, benchTraceStore, type ChildAws, startChildAws } from './aws.ts';
import { type SpreadChange, spread } from './export-changes.ts';
import { DEPLOYMENT_CONFIG } from './objects.ts';
import { seedChanges } from './seed.ts';

export const HOUR = 3600;
export const OBJECT_BYTES = 1024;

export interface ExportCase {
  windowChanges: number;
  /** Changes before the window, as a multiple of the window's. */
  history: number;
  liveObjects: number;
}

export function exportCluster(c: ExportCase): string {
  return `export-${c.windowChanges}-h${c.history}-o${c.liveObjects}`;
}

/** The version of each object's first change in the window (the recipe the export's floors rebuild). */
export function windowFirstVersion(c: ExportCase): number {
  return 2 + Math.ceil((c.history * c.windowChanges) / c.liveObjects);
}

function* applied(changes: Iterable<SpreadChange>): Generator<Change> {
  for (const c of changes) yield { type: 'applied', ts: c.ts, object: c.object };
}

/** Seeds case `c` as cluster `cluster` with its window at `[startTs, startTs + 1 h)`. */
export async function seedExportCase(
  aws: ChildAws,
  cluster: string,
  c: ExportCase,
  startTs: number,
): Promise<void> {
  const store = benchTraceStore(aws);
  const target = { cluster, shards: BENCH_SHARDS, retentionDays: BENCH_RETENTION_DAYS };
  const objects = { liveObjects: c.liveObjects, objectBytes: OBJECT_BYTES };
  const historyChanges = c.history * c.windowChanges;
  if (historyChanges === 0) {
    // Every object created two hours before the window and never changed since: the start state
    // is every object, all in the checkpoint, none in its replay margin.
    const fromTs = startTs - 2 * HOUR;
    await seedChanges(
      store,
      cluster,
      [
        { type: 'config', ts: fromTs, config: DEPLOYMENT_CONFIG },
        ...applied(spread({ count: c.liveObjects, fromTs, spanSec: 300, firstVersion: 1, ...objects })),
      ],
      { maxChanges: 2500 },
    );
  } else {
    const history = {
      count: historyChanges,
      fromTs: startTs - c.history * HOUR,
      spanSec: c.history * HOUR,
      firstVersion: 1,
      ...objects,
    };
    const lastVersionsFrom = historyChanges - c.liveObjects;
    // The first change through applyBatch records the cluster's first ts, kind and config.
    await seedChanges(
      store,
      cluster,
      [
        { type: 'config', ts: history.fromTs, config: DEPLOYMENT_CONFIG },
        ...applied(spread({ ...history, toK: 1 })),
      ],
      { maxChanges: 2500 },
    );
    // Superseded versions in bulk; then each object's last version before the window as ingest writes it.
    await aws.loadEvents(target, { ...history, fromK: 1, toK: lastVersionsFrom });
    await seedChanges(store, cluster, applied(spread({ ...history, fromK: lastVersionsFrom })), {
      maxChanges: 2500,
    });
  }
  // The hourly checkpoint function's run at the window's start.
  await store.writeCheckpoint(cluster, { nowSec: startTs });
  await aws.loadEvents(target, {
    count: c.windowChanges,
    fromTs: startTs,
    spanSec: HOUR,
    firstVersion: windowFirstVersion(c),
    ...objects,
  });
}

/** What seeding writes today, as a hash: a small case seeded into a fresh in-memory dynalite and s3rver. */
export async function seedingFingerprint(): Promise<string> {
  const aws = await startChildAws();
  try {
    // 2023-11-14T22:00:00Z; 2 hours of history over 4 objects, 12 changes in the window.
    await seedExportCase(
      aws,
      'fingerprint',
      { windowChanges: 12, history: 2, liveObjects: 4 },
      1_700_000_000 - 800,
    );
    const hash = createHash('sha256');
    const items: Record<string, AttributeValue>[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await aws.dynamo.send(
        new ScanCommand({ TableName: aws.tableName, ...(start ? { ExclusiveStartKey: start } : {}) }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    const lines = items
      .filter((i) => !i.pk?.S?.startsWith('FEED#'))
      .map((i) =>
        JSON.stringify(
          Object.entries(i)
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([k, v]) => [k, v.B ? { B: Buffer.from(v.B).toString('base64') } : v]),
        ),
      )
      .sort();
    for (const line of lines) hash.update(`${line}\n`);
    const listed = await aws.s3.send(new ListObjectsV2Command({ Bucket: aws.bucket }));
    for (const key of (listed.Contents ?? []).map((o) => o.Key ?? '').sort()) {
      const object = await aws.s3.send(new GetObjectCommand({ Bucket: aws.bucket, Key: key }));
      hash.update(`${key}\n`).update(await object.Body!.transformToByteArray());
    }
    return `${lines.length}:${hash.digest('hex')}`;
  } finally {
    await aws.close();
  }
}

interface Manifest {
  fingerprint: string;
  clusters: Record<string, { startTs: number; seedMs: number }>;
}

/** Seeded data kept between runs under `dir` (see the module comment). */
export class SeedCache {
  readonly dynamoDir: string;
  readonly s3Dir: string;
  readonly #file: string;
  #manifest: Manifest;

  private constructor(dir: string, manifest: Manifest) {
    this.dynamoDir = join(dir, 'dynamo');
    this.s3Dir = join(dir, 's3');
    this.#file = join(dir, 'manifest.json');
    this.#manifest = manifest;
  }

  /** Opens `dir`, emptying it first when it was seeded by code that writes something else. */
  static async open(
    dir: string,
    log: (line: string) => void,
    fingerprintOf: () => Promise<string> = seedingFingerprint,
  ): Promise<SeedCache> {
    const fingerprint = await fingerprintOf();
    let manifest: Manifest | undefined;
    try {
      manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    } catch {
      manifest = undefined;
    }
    if (manifest?.fingerprint !== fingerprint) {
      if (manifest) log(`export seed cache ${dir}: seeding changed since it was filled; emptying it`);
      await rm(dir, { recursive: true, force: true });
      manifest = { fingerprint, clusters: {} };
    }
    const cache = new SeedCache(dir, manifest);
    await mkdir(cache.dynamoDir, { recursive: true });
    await mkdir(cache.s3Dir, { recursive: true });
    await cache.#save();
    return cache;
  }

  seeded(cluster: string): { startTs: number; seedMs: number } | undefined {
    return this.#manifest.clusters[cluster];
  }

  /** Records a cluster once its seeding has finished (an interrupted one is seeded again: same keys, same items). */
  async record(cluster: string, startTs: number, seedMs: number): Promise<void> {
    this.#manifest.clusters[cluster] = { startTs, seedMs };
    await this.#save();
  }

  async #save(): Promise<void> {
    await writeFile(this.#file, `${JSON.stringify(this.#manifest, null, 2)}\n`);
  }
}
