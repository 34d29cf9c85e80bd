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

/**
 * A request value echoed in an error message, without recursing into it: JSON.stringify of a
 * value nested a few thousand levels deep (a 10 KB body) overflows the stack, a 500 instead of
 * the 400 the sender needs. Primitives are shown, cut short.
 */
export function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
