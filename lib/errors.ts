/**
 * Base of every error sktrace raises on purpose. Each subclass names the problem in its
 * message and carries the data a caller needs to fix the cause (`context`), plus the
 * underlying `cause` when it wraps another failure. Classes are told apart with
 * `instanceof` or `code`, never by `constructor.name` (esbuild minification renames classes).
 */
export class SktraceError extends Error {
  readonly code: string;
  readonly context: Record<string, unknown>;

  constructor(
    code: string,
    message: string,
    context: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SktraceError';
    this.code = code;
    this.context = context;
  }
}
