/**
 * What one export function can do: a window whose estimated changes exceed it is refused up front
 * (400 `window_too_large`) with the split that would fit, instead of a job that times out after
 * 15 minutes. Pure; the estimate comes from the store's hourly change counts.
 *
 * The default is from the export benchmark (docs/benchmarks.md "export", docs/export-api.md
 * "Limits"): the largest window measured to finish within 15 minutes and 2 GB, with a margin.
 */
import { SktraceError } from '../errors.ts';
import type { TraceWindow } from '../trace/model.ts';

/** ~2/3 of the ~7.7 M changes measured to fit 15 minutes (116 µs per ~1 KB change at 1 M changes). */
export const DEFAULT_MAX_WINDOW_CHANGES = 5_000_000;

export class WindowTooLargeError extends SktraceError {
  constructor(message: string, context: Record<string, unknown>) {
    super('window_too_large', message, { field: 'end_ts', ...context });
    this.name = 'WindowTooLargeError';
  }
}

/**
 * Refuses a window holding (by estimate) more changes than `maxChanges`; the message names how
 * many windows of how many seconds would fit, and the first of them.
 */
export function checkWindowSize(window: TraceWindow, estimatedChanges: number, maxChanges: number): void {
  if (estimatedChanges <= maxChanges) return;
  const span = window.endTs - window.startTs;
  // Refused, so at least two; a limit below one change (a misconfiguration) counts as one.
  const parts = Math.max(2, Math.ceil(estimatedChanges / Math.max(1, maxChanges)));
  const partSec = Math.max(1, Math.floor(span / parts));
  throw new WindowTooLargeError(
    `the window [${window.startTs}, ${window.endTs}) holds about ${estimatedChanges} changes, more than one export can write within its 15-minute limit (${maxChanges}); split it into ${parts} windows of at most ${partSec} s (the first: start_ts ${window.startTs}, end_ts ${window.startTs + partSec}) — at an even pace; a busier part may need a smaller window`,
    { estimatedChanges, maxChanges, parts, partSec },
  );
}
