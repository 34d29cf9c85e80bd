/**
 * Errors of the ingest side. Every rejection of a batch names the JSON path of the offending
 * field (`changes[3].object.metadata.name`) and the index of the change in the batch, so a
 * sender can log, isolate or drop exactly that change. lib/http/errors.ts maps the codes to
 * HTTP statuses (all 4xx) and exposes `field` and `index` in the error body.
 */
import { SktraceError } from '../errors.ts';

/** Codes of a rejected batch. Limits (`too_many_*`, `*_too_large`) are 413, the rest 400. */
export const BATCH_ERROR_CODES = [
  'invalid_type',
  'missing_field',
  'unknown_field',
  'unknown_change_type',
  'invalid_value',
  'invalid_ts',
  'ts_in_future',
  'invalid_relist_range',
  'relist_unsorted',
  'relist_out_of_range',
  'invalid_hash',
  'invalid_lifecycle',
  'invalid_config',
  'nesting_too_deep',
  'key_too_long',
  'too_many_changes',
  'too_many_names',
  'object_too_large',
] as const;

export type BatchErrorCode = (typeof BATCH_ERROR_CODES)[number];

export class BatchValidationError extends SktraceError {
  /** JSON path of the offending field from the body's root, e.g. `changes[3].ts`; `` for the body. */
  readonly field: string;
  /** Index of the offending change in `changes`, when the problem is inside one. */
  readonly index: number | undefined;

  constructor(
    code: BatchErrorCode,
    message: string,
    field: string,
    index: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(code, message, index === undefined ? { field } : { field, index }, options);
    this.name = 'BatchValidationError';
    this.field = field;
    this.index = index;
  }
}
