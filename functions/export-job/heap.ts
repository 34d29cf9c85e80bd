/**
 * V8 heap growth for the export job. An export allocates at a high rate (every change: a parsed
 * item, an inflated body, a decoded object, its encoding), nearly all of it short-lived, over a
 * live set that does not grow with the window (the start state, one record per exported object,
 * the pages read ahead, the upload parts). V8 lets the old generation grow well past that live set
 * before a full collection (its growing factor goes up to 4× under a high allocation rate), so
 * peak RSS grew with the window: 276–301 MB at 30,000 changes against ~200 MB at 10,000, ~370 MB
 * from 100,000 on. With the factor held at 1.5 (`--heap-growing-percent=50`) the heap stays within
 * half again of what is live: 241 MB at 30,000 changes, for no measurable CPU (docs/benchmarks.md
 * "export"). The flag is read whenever V8 sizes the heap after a collection, so setting it when
 * the function's module loads is in time. NODE_OPTIONS does not accept it (Node allows only a few
 * V8 flags there).
 */
import { setFlagsFromString } from 'node:v8';

export const EXPORT_HEAP_GROWING_PERCENT = 50;

export function tuneExportHeap(): void {
  setFlagsFromString(`--heap-growing-percent=${EXPORT_HEAP_GROWING_PERCENT}`);
}
