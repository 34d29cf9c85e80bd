/**
 * V8 heap growth for the export job. An export allocates at a high rate (every change: a parsed
 * item, an inflated body, a decoded object, its encoding), nearly all of it short-lived, over a
 * live set that does not grow with the window (the start state, one record per exported object,
 * the pages read ahead, the upload parts). V8 lets the old generation grow well past that live set
 * before a full collection (its growing factor goes up to 4× under a high allocation rate), so
 * peak RSS grew with the window: 276–301 MB at 30,000 changes against ~200 MB at 10,000, ~370 MB
 * from 100,000 on. With the factor held at 1.5 (`--heap-growing-percent=50`) the heap stayed within
 * half again of what is live: 241 MB at 30,000 changes, for no CPU measurable then. But with the
 * old generation's live set at ~20–30 MB, half again left so little room that an export ran 15–20
 * mark-compacts per 100,000 changes, each also costing concurrent marking on V8's helper threads;
 * at 2× (`--heap-growing-percent=100`) it runs 10, for export CPU 4,120 against 4,396 ms (−6 %,
 * three interleaved pairs) and peak RSS ~239 against ~222 MB at 100,000 changes
 * (docs/benchmarks.md "export"). The flag is read whenever V8 sizes the heap after a collection,
 * so setting it when the function's module loads is in time. NODE_OPTIONS does not accept it (Node
 * allows only a few V8 flags there).
 *
 * The young generation, likewise. Lambda's Node.js runtime starts every function with
 * `--max-semi-space-size` = memory / 20 (its /var/runtime/bootstrap; 102 MB at the function's
 * default 2,048 MB), on the command line, where NODE_OPTIONS cannot lower it (the command line
 * wins) and a flag set after start does not resize the heap. V8 grows the new space towards that
 * bound as the export allocates: peak RSS 478–485 MB at 1,000,000 changes against 212–216 MB at
 * 10,000 (bench/support/export-lambda.ts runs the bench with the runtime's flags), where plain
 * Node's 16 MB semi-spaces gave 246–259 MB, and the larger young generation bought no CPU
 * (docs/benchmarks.md "export"). So once the new space reaches a set size, its growth factor is set
 * to 1 (`--semi-space-growth-factor`, read whenever V8 grows the new space): it stays there.
 *
 * That size is 8 MB (4 MB semi-spaces), not plain Node's 32 MB. Each page of the new space is fresh
 * memory the first time it is used, and a fresh page is a minor fault, ~12–15 µs on Firecracker
 * (the bench's VM; Lambda runs on it too): a 10,000-change export grew its new space to 32 MB in
 * its ~35 young collections. At 8 MB, paired against 32 MB on 2026-12-06 (5 pairs each): export
 * wall 958 vs 982 ms without history, 1,010 vs 1,091 ms with 10× (CPU −7 %), peak RSS 141–144 vs
 * 171–179 MB; at 1,000,000 changes peak RSS 218 vs 251 MB (0x) and 217 vs 243 MB (10x), CPU +2 %
 * and −12 % (one pair each). More scavenges, but each copies less (docs/benchmarks.md "export").
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

export const EXPORT_HEAP_GROWING_PERCENT = 100;
/** The new space at 4 MB semi-spaces (two of them, as V8 reports it; plain Node's is 32 MB). */
export const EXPORT_NEW_SPACE_BYTES = 8 * 1024 * 1024;

let newSpaceCapped = false;

export function tuneExportHeap(): void {
  setFlagsFromString(`--heap-growing-percent=${EXPORT_HEAP_GROWING_PERCENT}`);
  capNewSpace(EXPORT_NEW_SPACE_BYTES);
}

function newSpaceBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/** Stops the new space's growth once it holds `bytes` (checked after each collection). */
function capNewSpace(bytes: number): void {
  if (newSpaceCapped) return;
  const cap = (): boolean => {
    if (newSpaceBytes() < bytes) return false;
    setFlagsFromString('--semi-space-growth-factor=1');
    newSpaceCapped = true;
    return true;
  };
  if (cap()) return;
  newSpaceCapped = true;
  const gcs = new PerformanceObserver(() => {
    if (cap()) gcs.disconnect();
  });
  gcs.observe({ entryTypes: ['gc'] });
}
