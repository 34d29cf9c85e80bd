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
import { type AttributeValue, DeleteItemCommand, QueryCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { CheckpointFormat } from '../../lib/aws/trace-store/checkpoints.ts';
import type { Change } from '../../lib/ingest/wire.ts';
import { checkpointPk } from '../../lib/store/keys.ts';
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
  older: CheckpointSettings = {},
): Promise<void> {
  const store = benchTraceStore(aws, older.maxBatchSec, older.checkpointFormat);
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
  // The hourly checkpoint function's run at the window's start (rebuildCheckpoint does the same).
  await store.writeCheckpoint(cluster, { nowSec: startTs });
  await aws.loadEvents(target, {
    count: c.windowChanges,
    fromTs: startTs,
    spanSec: HOUR,
    firstVersion: windowFirstVersion(c),
    ...objects,
  });
}

/**
 * Replaces a seeded cluster's checkpoint with the one seeding writes now: the old checkpoint items
 * and blobs deleted, the checkpoint written again at the window's start. Exact: a checkpoint reads
 * only the state items (and kinds), which nothing after seeding's own checkpoint writes — the
 * window's and the superseded changes are event items — so this is the checkpoint a fresh seeding
 * would write, without the ~30 minutes of seeding the 11 M items again.
 */
export async function rebuildCheckpoint(
  aws: ChildAws,
  cluster: string,
  startTs: number,
  older: CheckpointSettings = {},
): Promise<void> {
  const pk = checkpointPk(cluster);
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await aws.dynamo.send(
      new QueryCommand({
        TableName: aws.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: pk } },
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    for (const item of out.Items ?? []) {
      await aws.dynamo.send(
        new DeleteItemCommand({ TableName: aws.tableName, Key: { pk: item.pk!, sk: item.sk! } }),
      );
    }
    start = out.LastEvaluatedKey;
  } while (start);
  const listed = await aws.s3.send(
    new ListObjectsV2Command({ Bucket: aws.bucket, Prefix: `checkpoints/${cluster}/` }),
  );
  for (const o of listed.Contents ?? []) {
    await aws.s3.send(new DeleteObjectCommand({ Bucket: aws.bucket, Key: o.Key! }));
  }
  await benchTraceStore(aws, older.maxBatchSec, older.checkpointFormat).writeCheckpoint(cluster, {
    nowSec: startTs,
  });
}

/**
 * What seeding writes today, as a hash: a small case seeded into a fresh in-memory dynalite and
 * s3rver. `older`: as seeding with those checkpoint settings would write it (an older seeding's).
 */
export async function seedingFingerprint(older: CheckpointSettings = {}): Promise<string> {
  const aws = await startChildAws();
  try {
    await seedFingerprintCase(aws, older);
    return await storeFingerprint(aws);
  } finally {
    await aws.close();
  }
}

/** The fingerprint's small case: 2 hours of history over 4 objects, 12 changes in the window. */
export const FINGERPRINT_CLUSTER = 'fingerprint';
// 2023-11-14T22:00:00Z
export const FINGERPRINT_START_TS = 1_700_000_000 - 800;

export async function seedFingerprintCase(aws: ChildAws, older: CheckpointSettings = {}): Promise<void> {
  await seedExportCase(
    aws,
    FINGERPRINT_CLUSTER,
    { windowChanges: 12, history: 2, liveObjects: 4 },
    FINGERPRINT_START_TS,
    older,
  );
}

/** Every item (but the change feed's, stamped with the wall clock) and every object, hashed. */
export async function storeFingerprint(aws: ChildAws): Promise<string> {
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
}

/**
 * The batch bound seeding's checkpoints were written with before functions/env.ts
 * INGEST_MAX_BATCH_SEC (the store's default, 900 s): a cache filled then differs from today's
 * seeding only in its checkpoints, which SeedCache rewrites instead of seeding again.
 */
export const PREVIOUS_MAX_BATCH_SEC = 900;

/** Checkpoint settings an older seeding wrote with (defaults: today's). */
export interface CheckpointSettings {
  maxBatchSec?: number;
  checkpointFormat?: CheckpointFormat;
}

/**
 * The checkpoint settings of older seedings whose caches differ from today's only in their
 * checkpoints (rewritten by `rebuildCheckpoint`, seconds per cluster, instead of ~30 minutes of
 * seeding): msgpack checkpoints without body digests (version 2) — caches filled or converted on
 * 2026-12-06, e.g. /tmp/e7s-export-seed —, JSON checkpoints (version 1) at today's batch bound —
 * caches filled 2026-12-05/06, e.g. /tmp/e13h-export-seed — and JSON checkpoints at the previous
 * bound.
 */
export const OLDER_CHECKPOINT_SETTINGS: readonly CheckpointSettings[] = [
  { checkpointFormat: 'msgpack2' },
  { checkpointFormat: 'json' },
  { maxBatchSec: PREVIOUS_MAX_BATCH_SEC, checkpointFormat: 'json' },
];

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
  /** The current fingerprint, while the checkpoints are still an older seeding's. */
  #staleCheckpoints: string | undefined;

  private constructor(dir: string, manifest: Manifest) {
    this.dynamoDir = join(dir, 'dynamo');
    this.s3Dir = join(dir, 's3');
    this.#file = join(dir, 'manifest.json');
    this.#manifest = manifest;
  }

  /**
   * Opens `dir`, emptying it first when it was seeded by code that writes something else — unless
   * the difference is only the checkpoints' (`checkpointsOnly`: the fingerprints seeding had with
   * older checkpoint settings, OLDER_CHECKPOINT_SETTINGS): then the data stays and `rebuildCheckpoints` must run once
   * the servers are up.
   */
  static async open(
    dir: string,
    log: (line: string) => void,
    fingerprintOf: () => Promise<string> = seedingFingerprint,
    checkpointsOnly: () => Promise<string | string[]> = () =>
      Promise.all(OLDER_CHECKPOINT_SETTINGS.map((older) => seedingFingerprint(older))),
  ): Promise<SeedCache> {
    const fingerprint = await fingerprintOf();
    let manifest: Manifest | undefined;
    try {
      manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    } catch {
      manifest = undefined;
    }
    let staleCheckpoints = false;
    if (
      manifest &&
      manifest.fingerprint !== fingerprint &&
      [await checkpointsOnly()].flat().includes(manifest.fingerprint)
    ) {
      log(`export seed cache ${dir}: only the checkpoints' settings changed; rewriting its checkpoints`);
      staleCheckpoints = true;
    } else if (manifest?.fingerprint !== fingerprint) {
      if (manifest) log(`export seed cache ${dir}: seeding changed since it was filled; emptying it`);
      await rm(dir, { recursive: true, force: true });
      manifest = { fingerprint, clusters: {} };
    }
    const cache = new SeedCache(dir, manifest!);
    cache.#staleCheckpoints = staleCheckpoints ? fingerprint : undefined;
    await mkdir(cache.dynamoDir, { recursive: true });
    await mkdir(cache.s3Dir, { recursive: true });
    await cache.#save();
    return cache;
  }

  /** True until rebuildCheckpoints has run on a cache whose checkpoints are an older seeding's. */
  get staleCheckpoints(): boolean {
    return this.#staleCheckpoints !== undefined;
  }

  /**
   * Rewrites every seeded cluster's checkpoint as seeding writes it now (`rebuild`:
   * `rebuildCheckpoint` on the running servers), then records the current fingerprint. Interrupted,
   * the manifest still holds the old one and the next open rewrites them all again.
   */
  async rebuildCheckpoints(rebuild: (cluster: string, startTs: number) => Promise<void>): Promise<void> {
    const fingerprint = this.#staleCheckpoints;
    if (fingerprint === undefined) return;
    for (const [cluster, { startTs }] of Object.entries(this.#manifest.clusters))
      await rebuild(cluster, startTs);
    this.#manifest.fingerprint = fingerprint;
    this.#staleCheckpoints = undefined;
    await this.#save();
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
