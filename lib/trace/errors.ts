/**
 * Error classes of the trace core (codec, spec hash, tracer config, JSON pointers). Each names
 * the problem in its message and carries what a caller needs in `context`. Other trace-core
 * modules add their classes here too (append only).
 */
import { SktraceError } from '../errors.ts';

/**
 * A byte string or JSON text that is not a SimKube trace v2: not a map, a missing or mistyped
 * field (named by its path, e.g. `events[3].ts`), another version, truncated data or trailing bytes.
 */
export class TraceFormatError extends SktraceError {
  constructor(message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('trace_format', message, context, options);
    this.name = 'TraceFormatError';
  }
}

/** A tracer config (YAML, or its JSON document form) that SimKube would refuse or we cannot use. */
export class TracerConfigError extends SktraceError {
  constructor(message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('tracer_config', message, context, options);
    this.name = 'TracerConfigError';
  }
}

/** A JSON pointer that is not RFC 6901 syntax (no leading `/`, a `~` not followed by 0 or 1). */
export class JsonPointerError extends SktraceError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('json_pointer', message, context);
    this.name = 'JsonPointerError';
  }
}

/** A value that has no JSON form and so no spec hash (NaN, Infinity, a function, a symbol…). */
export class SpecHashError extends SktraceError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('spec_hash', message, context);
    this.name = 'SpecHashError';
  }
}

/** A trace file that cannot be read (missing, unreadable, a directory). */
export class TraceFileError extends SktraceError {
  constructor(message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('trace_file', message, context, options);
    this.name = 'TraceFileError';
  }
}
