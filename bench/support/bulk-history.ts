/**
 * Older history for the export benchmark, written fast: the event items `applyBatch` would write
 * for superseded versions (same item builders, same keys, bodies and expiry), sent with
 * BatchWriteItem 25 at a time and without the per-change state read and conditions. dynalite takes
 * ~200 changes/s through applyBatch on this machine (two conditional PutItems per change), too slow
 * for a 10× history; this path does several times that.
 *
 * Only for history that the state items never point at: the caller then applies each object's
 * last version before the window with applyBatch, so state items, cluster metadata and the
 * checkpoint are exactly the store's own.
 */
import {
  BatchWriteItemCommand,
  type BatchWriteItemCommandOutput,
  type DynamoDBClient,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { eventItem } from '../../lib/aws/trace-store/items.ts';
import { CURRENT_ENCODING, encodeBody } from '../../lib/store/body-codec.ts';
import { forEachLimit } from '../../lib/store/merge.ts';
import { expiresAtSec } from '../../lib/store/rules.ts';
import { gvkOf, nsNameOf } from '../../lib/trace/gvk.ts';
import type { KubeObject } from '../../lib/trace/model.ts';

export interface HistoryTarget {
  dynamo: DynamoDBClient;
  tableName: string;
  cluster: string;
  /** The store's shard count (DynamoTraceStore default 4). */
  shards: number;
  retentionDays: number;
}

const BATCH_ITEMS = 25;

export async function writeHistoryEvents(
  target: HistoryTarget,
  changes: Iterable<{ ts: number; object: KubeObject }>,
  options: { concurrency: number },
): Promise<number> {
  const chunks: WriteRequest[][] = [];
  let chunk: WriteRequest[] = [];
  let written = 0;
  const send = async (requests: WriteRequest[]) => {
    let pending: WriteRequest[] | undefined = requests;
    for (let attempt = 0; pending && pending.length > 0; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 20 * 2 ** attempt)));
      const out: BatchWriteItemCommandOutput = await target.dynamo.send(
        new BatchWriteItemCommand({ RequestItems: { [target.tableName]: pending } }),
      );
      pending = out.UnprocessedItems?.[target.tableName];
    }
  };
  const flushAll = async () => {
    await forEachLimit(chunks.splice(0), options.concurrency, send);
  };
  for (const c of changes) {
    const item = eventItem(target.cluster, target.shards, {
      ts: c.ts,
      gvk: gvkOf(c.object),
      nsName: nsNameOf(c.object),
      type: 'applied',
      seq: 0,
      body: { enc: CURRENT_ENCODING, bytes: encodeBody({ o: c.object, w: [] }) },
      // Applied on time: ingest time is the event's second.
      expiresAtSec: expiresAtSec(c.ts, c.ts, target.retentionDays),
    });
    chunk.push({ PutRequest: { Item: item } });
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
