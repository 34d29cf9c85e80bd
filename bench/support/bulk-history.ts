/**
 * Older history and window changes for the export benchmark, written fast: the event items
 * `applyBatch` would write for these changes (same item builder `eventItem`, same body path
 * `Bodies.store` with the object and no owners, same keys and expiry for a change ingested on
 * time), without the per-change state read and conditional writes. dynalite takes ~200 changes/s
 * through applyBatch on this machine (two conditional PutItems per change), too slow for a 10×
 * history.
 *
 * Two ways to write them:
 * - `writeHistoryEvents`: BatchWriteItem, 25 items a request (~2,000 items/s here);
 * - `loadHistoryEvents`: straight into dynalite's LevelDB (bench/support/dynalite-direct.ts), run
 *   inside the dynalite process (bench/support/aws-child.ts) — what makes 11 M items feasible.
 * tests/bench/dynalite-direct.test.ts checks that both store the items applyBatch stores.
 *
 * Only for event items that the state items never point at, or point at as applyBatch would: the
 * caller applies each object's last version before the window with applyBatch, so state items,
 * cluster metadata and the checkpoint are exactly the store's own.
 */
import { Worker } from 'node:worker_threads';
import {
  BatchWriteItemCommand,
  type BatchWriteItemCommandOutput,
  type DynamoDBClient,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { Bodies, type ObjectPayload } from '../../lib/aws/trace-store/bodies.ts';
import type { Item } from '../../lib/aws/trace-store/io.ts';
import { eventItem } from '../../lib/aws/trace-store/items.ts';
import { forEachLimit } from '../../lib/store/merge.ts';
import type { BlobStore } from '../../lib/store/ports.ts';
import { expiresAtSec, ownersOf } from '../../lib/store/rules.ts';
import { gvkOf, nsNameOf } from '../../lib/trace/gvk.ts';
import { type DirectEntry, type DirectItemWriter, encodeDirectEntry } from './dynalite-direct.ts';
import { type ChangeSpread, type SpreadChange, spread } from './export-changes.ts';

export interface HistoryTarget {
  cluster: string;
  /** The store's shard count (DynamoTraceStore default 4). */
  shards: number;
  retentionDays: number;
}

/**
 * The benchmark's objects are ~1 KB: their bodies are always inline. A blob would mean the seeding
 * no longer matches what the benchmark claims to measure, so it fails instead.
 */
const NO_BLOBS: BlobStore = {
  put: async (key) => {
    throw new Error(`bench seeding wrote a body blob (${key}): its objects are meant to be stored inline`);
  },
  get: async () => undefined,
};
const bodies = new Bodies(NO_BLOBS);

/** The event item applyBatch writes for `change`, applied on time (ingested in the change's second). */
export async function historyEventItem(target: HistoryTarget, change: SpreadChange): Promise<Item> {
  const payload: ObjectPayload = { o: change.object, w: ownersOf(undefined) };
  return eventItem(target.cluster, target.shards, {
    ts: change.ts,
    gvk: gvkOf(change.object),
    nsName: nsNameOf(change.object),
    type: 'applied',
    seq: 0,
    body: await bodies.store(target.cluster, payload),
    expiresAtSec: expiresAtSec(change.ts, change.ts, target.retentionDays),
  });
}

const BATCH_ITEMS = 25;

/** Through BatchWriteItem, `concurrency` requests in flight. */
export async function writeHistoryEvents(
  dynamo: DynamoDBClient,
  tableName: string,
  target: HistoryTarget,
  changes: Iterable<SpreadChange>,
  options: { concurrency: number },
): Promise<number> {
  const chunks: WriteRequest[][] = [];
  let chunk: WriteRequest[] = [];
  let written = 0;
  const send = async (requests: WriteRequest[]) => {
    let pending: WriteRequest[] | undefined = requests;
    for (let attempt = 0; pending && pending.length > 0; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 20 * 2 ** attempt)));
      const out: BatchWriteItemCommandOutput = await dynamo.send(
        new BatchWriteItemCommand({ RequestItems: { [tableName]: pending } }),
      );
      pending = out.UnprocessedItems?.[tableName];
    }
  };
  const flushAll = async () => {
    await forEachLimit(chunks.splice(0), options.concurrency, send);
  };
  for (const c of changes) {
    chunk.push({ PutRequest: { Item: await historyEventItem(target, c) } });
    written++;
    if (chunk.length === BATCH_ITEMS) {
      chunks.push(chunk);
      chunk = [];
      if (chunks.length >= options.concurrency * 8) await flushAll();
    }
  }
  if (chunk.length > 0) chunks.push(chunk);
  await flushAll();
  return written;
}

/** Changes per LevelDB batch (and per worker message) of the direct path: bounded memory, few writes. */
const DIRECT_BATCH_ITEMS = 2000;
const WORKER = new URL('./direct-load-worker.ts', import.meta.url);

/**
 * Straight into dynalite's LevelDB: the changes of `changes` (a spread, so worker threads can build
 * their share). `workers` threads build and encode blocks of items (bench/support/direct-load-worker.ts)
 * while this thread writes each block as one LevelDB batch; with 0 this thread does both.
 */
export async function loadHistoryEvents(
  writer: DirectItemWriter,
  target: HistoryTarget,
  changes: ChangeSpread,
  options: { workers: number; onProgress?: (written: number) => void },
): Promise<number> {
  const info = await writer.tableInfo();
  const blocks: { fromK: number; toK: number }[] = [];
  const end = changes.toK ?? changes.count;
  for (let k = changes.fromK ?? 0; k < end; k += DIRECT_BATCH_ITEMS) {
    blocks.push({ fromK: k, toK: Math.min(end, k + DIRECT_BATCH_ITEMS) });
  }
  let next = 0;
  let written = 0;
  // Each producer builds its next block while its previous one is being written.
  const produce = async (build: (block: { fromK: number; toK: number }) => Promise<DirectEntry[]>) => {
    let writing: Promise<void> = Promise.resolve();
    while (next < blocks.length) {
      const entries = await build(blocks[next++]!);
      await writing;
      writing = writer.putEntries(entries);
      written += entries.length;
      options.onProgress?.(written);
    }
    await writing;
  };
  if (options.workers === 0) {
    const digests = new Map<string, string>();
    await produce(async (block) => {
      const entries: DirectEntry[] = [];
      for (const c of spread({ ...changes, ...block }, digests)) {
        entries.push(encodeDirectEntry(info, await historyEventItem(target, c)));
      }
      return entries;
    });
    return written;
  }
  const pool = Array.from(
    { length: options.workers },
    () => new Worker(WORKER, { workerData: { info, target, spread: changes } }),
  );
  try {
    await Promise.all(
      pool.map((worker) =>
        produce(
          (block) =>
            new Promise<DirectEntry[]>((resolve, reject) => {
              const onError = (err: Error) => reject(err);
              worker.once('error', onError);
              worker.once('message', (msg: { entries?: DirectEntry[]; error?: string }) => {
                worker.off('error', onError);
                if (msg.entries) resolve(msg.entries);
                else reject(new Error(`direct-load worker failed: ${msg.error}`));
              });
              worker.postMessage(block);
            }),
        ),
      ),
    );
  } finally {
    await Promise.all(pool.map((worker) => worker.terminate()));
  }
  return written;
}
