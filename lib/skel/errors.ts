import { SktraceError } from '../errors.ts';

/**
 * A SKEL file that cannot be parsed or makes no sense (a syntax error, an undefined or doubly
 * defined variable): a 400 in the API, exit 2 on the command line. Line and column are 1-based.
 */
export class SkelError extends SktraceError {
  readonly line: number;
  readonly column: number;

  constructor(problem: string, at: { line: number; column: number }, options?: { cause?: unknown }) {
    super(
      'skel_invalid',
      `SKEL line ${at.line}, column ${at.column}: ${problem}`,
      { ...at, problem },
      options,
    );
    this.name = 'SkelError';
    this.line = at.line;
    this.column = at.column;
  }
}

/**
 * A SKEL command that cannot be applied to an object (SimKube fails the whole transform the same
 * way, or panics): a path that does not resolve on a right-hand side, a modify whose value is
 * ambiguous, an array index out of range, an ordering comparison on resources (SimKube leaves
 * `<`, `>`, `<=`, `>=` unimplemented for them).
 */
export class SkelEvalError extends SktraceError {
  constructor(problem: string, context: { line: number; column: number; command: string; object?: string }) {
    super(
      'skel_eval_failed',
      `SKEL line ${context.line}, column ${context.column} (${context.command}): ${problem}${context.object ? ` on ${context.object}` : ''}`,
      { ...context, problem },
    );
    this.name = 'SkelEvalError';
  }
}
