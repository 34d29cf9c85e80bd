/**
 * Bulk seeding through the store's own write path (`applyBatch`), for benchmarks that need a large
 * history: dynalite takes only a few hundred changes/s through the ingest handler, so the export
 * benchmark seeds with large batches and a wide per-batch concurrency instead.
 *
 * Batches are cut as a forwarder would post them on time: at most `maxChanges` changes and less
 * than 600 s from the first change to the last, applied with `nowSec` at the batch's last change,
 * so no batch is "late" (docs/storage.md: a late batch would invalidate the checkpoints it spans).
 * Batches run one after another: two batches holding the same object must not race.
 */
import type { Change } from '../../lib/ingest/wire.ts';
import type { TraceWriter } from '../../lib/store/ports.ts';

/** The store's lateness margin (lib/aws/dynamo-trace-store.ts default): batches stay under it. */
const MAX_BATCH_SPAN_SEC = 590;

export interface SeedStats {
  changes: number;
  batches: number;
  writeUnits: number;
  wallMs: number;
}

export async function seedChanges(
  writer: TraceWriter,
  cluster: string,
  changes: Iterable<Change>,
  options: { maxChanges: number; onBatch?: (done: number) => void },
): Promise<SeedStats> {
  const started = performance.now();
  const stats: SeedStats = { changes: 0, batches: 0, writeUnits: 0, wallMs: 0 };
  let batch: Change[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const result = await writer.applyBatch(cluster, { changes: batch }, { nowSec: batch.at(-1)!.ts });
    stats.changes += batch.length;
    stats.batches++;
    stats.writeUnits += result.writeUnits;
    options.onBatch?.(stats.changes);
    batch = [];
  };
  for (const change of changes) {
    const first = batch[0];
    if (first && (batch.length >= options.maxChanges || change.ts - first.ts >= MAX_BATCH_SPAN_SEC)) {
      await flush();
    }
    batch.push(change);
  }
  await flush();
  stats.wallMs = performance.now() - started;
  return stats;
}
