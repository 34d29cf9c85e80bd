/**
 * The export job's heap settings (functions/export-job/heap.ts) in a real Node process started as
 * Lambda's runtime starts it (`--max-semi-space-size=102`, the 2,048 MB function's): with
 * tuneExportHeap the new space stays at 8 MB for its first young collections, then grows to plain
 * Node's size and stops there; without it, it grows past both (the control: without it the test
 * could not fail). Memory sizes and collection counts, not timings.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  EXPORT_NEW_SPACE_BYTES,
  EXPORT_SMALL_NEW_SPACE_BYTES,
  EXPORT_SMALL_NEW_SPACE_GCS,
} from '../../functions/export-job/heap.ts';

const HEAP = fileURLToPath(new URL('../../functions/export-job/heap.ts', import.meta.url));

/**
 * Allocates short-lived and surviving objects, yielding as an export does; prints the new space's
 * largest size while fewer than `early` young collections had run, and over the whole run.
 */
const PROBE = `
const { tuneExportHeap } = await import(${JSON.stringify(HEAP)});
if (process.env.TUNE === '1') tuneExportHeap();
const v8 = await import('node:v8');
const { constants, PerformanceObserver } = await import('node:perf_hooks');
let young = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) young++;
}).observe({ entryTypes: ['gc'] });
const early = Number(process.env.EARLY);
let keep = [];
let largestEarly = 0;
let largest = 0;
for (let i = 0; i < 16_000_000; i++) {
  keep.push({ i, list: [i] });
  if (keep.length > 600_000) keep = [];
  if (i % 20_000 === 0) {
    await new Promise((resolve) => setImmediate(resolve));
    const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    if (young < early) largestEarly = Math.max(largestEarly, ns.space_size);
    largest = Math.max(largest, ns.space_size);
  }
}
process.stdout.write(JSON.stringify({ largestEarly, largest, young }));
`;

interface NewSpaceSizes {
  largestEarly: number;
  largest: number;
  young: number;
}

/** Counted a few collections short: the observer hears of a collection after it. */
const EARLY = EXPORT_SMALL_NEW_SPACE_GCS - 5;

async function newSpaceSizes(tune: boolean): Promise<NewSpaceSizes> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--max-semi-space-size=102', '--import', 'tsx', '--input-type=module', '-e', PROBE],
    { env: { ...process.env, TUNE: tune ? '1' : '0', EARLY: String(EARLY) } },
  );
  return JSON.parse(stdout.trim()) as NewSpaceSizes;
}

describe('export job heap (Lambda runtime flags)', () => {
  it('keeps the new space at 8 MB for its first young collections, then at plain Node size under a 102 MB semi-space bound, which it outgrows untuned', async () => {
    const [tuned, untuned] = await Promise.all([newSpaceSizes(true), newSpaceSizes(false)]);
    // V8 grows the new space by doubling: a cap can land at most one doubling past its size.
    // Measured here: 8 then 32 MiB tuned (over ~100 young collections), 256 MiB untuned (enough
    // survivors that V8 keeps growing it).
    assert.ok(tuned.young > EXPORT_SMALL_NEW_SPACE_GCS + 10, `only ${tuned.young} young collections`);
    assert.ok(
      tuned.largestEarly <= 2 * EXPORT_SMALL_NEW_SPACE_BYTES + (1 << 20),
      `tuned new space ${tuned.largestEarly} bytes in its first ${EARLY} young collections`,
    );
    assert.ok(
      untuned.largestEarly > 2 * EXPORT_SMALL_NEW_SPACE_BYTES + (1 << 20),
      `untuned new space ${untuned.largestEarly} bytes in its first ${EARLY} young collections`,
    );
    // It grows on: a new space held at 8 MB for good would cost a large export ~4 % CPU.
    assert.ok(
      tuned.largest > 2 * EXPORT_SMALL_NEW_SPACE_BYTES + (1 << 20),
      `tuned new space ${tuned.largest} bytes`,
    );
    assert.ok(
      tuned.largest <= 2 * EXPORT_NEW_SPACE_BYTES + (1 << 20),
      `tuned new space ${tuned.largest} bytes`,
    );
    assert.ok(
      untuned.largest > 2 * EXPORT_NEW_SPACE_BYTES + (1 << 20),
      `untuned new space ${untuned.largest} bytes`,
    );
  });
});
