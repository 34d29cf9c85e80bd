/**
 * The body of `POST /v1/clusters/{cluster}/exports`: SimKube's ExportRequest field names
 * (sk-api `ExportRequest`: `start_ts`, `end_ts`, `filters: {excluded_namespaces, excluded_labels}`),
 * minus `export_path` — the server picks where the trace goes and hands out a signed URL instead —
 * plus its optional `transform`: a SKEL file's text (lib/skel), applied to every change before
 * filtering and indexing; bad SKEL is a 400 naming its line and column.
 * Every problem is a 400 naming its JSON path (`end_ts`, `filters.excluded_labels[0].matchLabels["a b"]`):
 * unknown fields too, so a typo never silently exports everything.
 */
import { describeValue, SktraceError } from '../errors.ts';
import { checkSkel, MAX_SKEL_BYTES, SkelError } from '../skel/index.ts';
import { validateExportFilters } from '../trace/assemble-input.ts';
import type { ExportFilters, TraceWindow } from '../trace/model.ts';
import { ExportRequestError } from './errors.ts';

export interface ExportRequest {
  window: TraceWindow;
  filters: ExportFilters;
  /** SKEL text (sk-api ExportRequest `transform`). */
  transform?: string;
}

export interface RequestLimits {
  /** Server clock, unix seconds. */
  nowSec: number;
  /**
   * How far `end_ts` may lie ahead of the server clock. A client computing `now` on its own clock
   * may be a little ahead; an end far in the future would export a window whose changes have not
   * happened yet.
   */
  maxFutureSec: number;
  /**
   * Longest window one export may cover (MAX_EXPORT_WINDOW_SEC, template MaxExportWindowHours):
   * bounds what one request can make the export job read and hold. Unbounded when absent.
   */
  maxWindowSec?: number;
}

export const DEFAULT_MAX_FUTURE_SEC = 300;
/** One day: the default cap on a window's length (template.yaml MaxExportWindowHours). */
export const DEFAULT_MAX_WINDOW_SEC = 86_400;

const FIELDS = new Set(['start_ts', 'end_ts', 'filters', 'transform']);

export function validateExportRequest(body: unknown, limits: RequestLimits): ExportRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ExportRequestError('', 'the body must be a JSON object {start_ts, end_ts, filters}');
  }
  const doc = body as Record<string, unknown>;
  for (const field of Object.keys(doc)) {
    if (!FIELDS.has(field)) {
      const hint =
        field === 'export_path'
          ? ' (the server chooses where the trace goes and returns a signed URL)'
          : ' (expected start_ts, end_ts, filters and transform)';
      throw new ExportRequestError(field, `${field} is not a known field${hint}`);
    }
  }
  const startTs = tsField(doc, 'start_ts');
  const endTs = tsField(doc, 'end_ts');
  if (endTs <= startTs) {
    throw new ExportRequestError(
      'end_ts',
      `end_ts (${endTs}) must be after start_ts (${startTs}): the window [start_ts, end_ts) would be empty`,
    );
  }
  if (limits.maxWindowSec !== undefined && endTs - startTs > limits.maxWindowSec) {
    throw new ExportRequestError(
      'end_ts',
      `the window [start_ts, end_ts) is ${endTs - startTs} s long; this deployment exports at most ${limits.maxWindowSec} s per request (MaxExportWindowHours): split it into windows of at most ${limits.maxWindowSec} s`,
    );
  }
  if (endTs > limits.nowSec + limits.maxFutureSec) {
    throw new ExportRequestError(
      'end_ts',
      `end_ts (${endTs}) is ${endTs - limits.nowSec} s ahead of the server clock (${limits.nowSec}); a window must have ended (at most ${limits.maxFutureSec} s of skew)`,
    );
  }
  let filters: ExportFilters;
  try {
    filters = validateExportFilters(doc.filters, 'filters');
  } catch (err) {
    if (err instanceof SktraceError) {
      const path = typeof err.context.path === 'string' ? err.context.path : 'filters';
      throw new ExportRequestError(path, err.message, { cause: err });
    }
    throw err;
  }
  const transform = transformField(doc.transform);
  return { window: { startTs, endTs }, filters, ...(transform === undefined ? {} : { transform }) };
}

/** `transform`: absent, null or a SKEL file's text that parses (relative times are checked later, at the window's start). */
function transformField(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw new ExportRequestError(
      'transform',
      `transform must be the text of a SKEL file, got ${describeValue(value)}`,
    );
  }
  if (Buffer.byteLength(value, 'utf8') > MAX_SKEL_BYTES) {
    throw new ExportRequestError('transform', `transform is larger than ${MAX_SKEL_BYTES} bytes`);
  }
  try {
    checkSkel(value);
  } catch (err) {
    if (err instanceof SkelError)
      throw new ExportRequestError('transform', `transform: ${err.message}`, { cause: err });
    throw err;
  }
  return value;
}

function tsField(doc: Record<string, unknown>, field: 'start_ts' | 'end_ts'): number {
  const value = doc[field];
  if (value === undefined) throw new ExportRequestError(field, `${field} is missing (unix seconds)`);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ExportRequestError(
      field,
      `${field} must be a non-negative integer of unix seconds, got ${describeValue(value)}`,
    );
  }
  return value;
}
