/**
 * Validation of an export's inputs — the window and SimKube's ExportRequest `filters` — and the
 * errors of export assembly. Bad input from a client is a 4xx naming the field; out-of-order input
 * from the store is a bug of ours (5xx).
 */
import { describeValue, SktraceError } from '../errors.ts';
import type { ExportFilters, TraceWindow } from './model.ts';
import { validateLabelSelector } from './selector.ts';

/** An export window that is not `[startTs, endTs)` with integer seconds and `startTs < endTs`. */
export class ExportWindowError extends SktraceError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('invalid_window', message, context);
    this.name = 'ExportWindowError';
  }
}

/** ExportRequest `filters` of the wrong shape (selectors themselves fail with SelectorError). */
export class ExportFiltersError extends SktraceError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('invalid_filters', message, context);
    this.name = 'ExportFiltersError';
  }
}

/** The assembler was fed out of order (a change older than the previous one, start state after changes…). */
export class AssemblyOrderError extends SktraceError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('assembly_order', message, context);
    this.name = 'AssemblyOrderError';
  }
}

/** Checks a window: both ends integer unix seconds, end after start (end exclusive). */
export function validateWindow(window: TraceWindow, path = 'window'): TraceWindow {
  const { startTs, endTs } = window;
  if (!Number.isSafeInteger(startTs)) {
    throw new ExportWindowError(
      `${path}.startTs must be an integer of unix seconds, got ${String(startTs)}`,
      {
        path: `${path}.startTs`,
        startTs,
      },
    );
  }
  if (!Number.isSafeInteger(endTs)) {
    throw new ExportWindowError(`${path}.endTs must be an integer of unix seconds, got ${String(endTs)}`, {
      path: `${path}.endTs`,
      endTs,
    });
  }
  if (endTs <= startTs) {
    throw new ExportWindowError(
      `${path}: the end (${endTs}) must be after the start (${startTs}); the window [start, end) would be empty`,
      { path, startTs, endTs },
    );
  }
  return { startTs, endTs };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates SimKube's ExportFilters JSON (`{excluded_namespaces: [...], excluded_labels: [...]}`)
 * and returns a clean copy. A missing or null list is empty; unknown fields are refused (a typo
 * must not silently export everything). Selector errors name their path, e.g.
 * `filters.excluded_labels[0].matchExpressions[1].operator`.
 */
export function validateExportFilters(filters: unknown, path = 'filters'): ExportFilters {
  if (filters === undefined || filters === null) return { excluded_namespaces: [], excluded_labels: [] };
  if (!isPlainObject(filters)) {
    throw new ExportFiltersError(`${path}: expected an object {excluded_namespaces, excluded_labels}`, {
      path,
    });
  }
  for (const field of Object.keys(filters)) {
    if (field !== 'excluded_namespaces' && field !== 'excluded_labels') {
      throw new ExportFiltersError(
        `${path}.${field}: unknown field (filters have excluded_namespaces and excluded_labels)`,
        { path: `${path}.${field}` },
      );
    }
  }
  const namespaces = filters.excluded_namespaces ?? [];
  if (!Array.isArray(namespaces)) {
    throw new ExportFiltersError(`${path}.excluded_namespaces: expected an array of namespace names`, {
      path: `${path}.excluded_namespaces`,
    });
  }
  const excluded_namespaces = namespaces.map((ns, i) => {
    if (typeof ns !== 'string') {
      throw new ExportFiltersError(
        `${path}.excluded_namespaces[${i}]: expected a string, got ${describeValue(ns)}`,
        {
          path: `${path}.excluded_namespaces[${i}]`,
        },
      );
    }
    return ns;
  });
  const labels = filters.excluded_labels ?? [];
  if (!Array.isArray(labels)) {
    throw new ExportFiltersError(`${path}.excluded_labels: expected an array of LabelSelectors`, {
      path: `${path}.excluded_labels`,
    });
  }
  const excluded_labels = labels.map((sel, i) => validateLabelSelector(sel, `${path}.excluded_labels[${i}]`));
  return { excluded_namespaces, excluded_labels };
}
