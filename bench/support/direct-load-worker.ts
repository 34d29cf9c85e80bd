/**
 * Worker thread of the direct loader (bench/support/bulk-history.ts `loadHistoryEvents` with
 * workers): builds the event items of blocks of changes `[fromK, toK)` of one spread and encodes
 * them as dynalite's LevelDB entries (bench/support/dynalite-direct.ts `encodeDirectEntry`); the
 * owning thread writes them. Bodies are most of the seeding's CPU (DEFLATE, ~35 µs a 1 KB object
 * here), so two threads generate while LevelDB writes on its own.
 *
 * workerData: `{info, target, spread}`; messages in `{fromK, toK}`, out `{entries}` or `{error}`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type HistoryTarget, historyEventItem } from './bulk-history.ts';
import { type DirectEntry, type DirectTableInfo, encodeDirectEntry } from './dynalite-direct.ts';
import { type ChangeSpread, spread } from './export-changes.ts';

const {
  info,
  target,
  spread: spec,
} = workerData as {
  info: DirectTableInfo;
  target: HistoryTarget;
  spread: ChangeSpread;
};
const digests = new Map<string, string>();

parentPort?.on('message', async ({ fromK, toK }: { fromK: number; toK: number }) => {
  try {
    const entries: DirectEntry[] = [];
    for (const change of spread({ ...spec, fromK, toK }, digests)) {
      entries.push(encodeDirectEntry(info, await historyEventItem(target, change)));
    }
    parentPort?.postMessage({ entries });
  } catch (err) {
    parentPort?.postMessage({ error: String((err as Error)?.stack ?? err) });
  }
});
