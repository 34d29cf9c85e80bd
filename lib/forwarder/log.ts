/**
 * Structured logs: one JSON object per line (`level`, `time`, `msg`, then fields), the shape
 * CloudWatch, Loki and `kubectl logs | jq` all read. One line per event of note, never per
 * watch event.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function jsonLogger(options: {
  write: (line: string) => void;
  nowMs: () => number;
  level?: LogLevel;
  base?: LogFields;
}): Logger {
  const min = RANK[options.level ?? 'info'];
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[level] < min) return;
    const record = { level, time: new Date(options.nowMs()).toISOString(), msg, ...options.base, ...fields };
    options.write(`${JSON.stringify(record, replacer)}\n`);
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}

/** Errors become their message, code and context; bigints their decimal text. */
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) {
    const out: Record<string, unknown> = { message: value.message };
    const extra = value as Error & { code?: unknown; context?: unknown };
    if (extra.code !== undefined) out.code = extra.code;
    if (extra.context !== undefined) out.context = extra.context;
    if (value.cause instanceof Error) out.cause = value.cause.message;
    return out;
  }
  return value;
}

/** A logger that records lines in memory, for tests. */
export function memoryLogger(): Logger & { records: Array<LogFields & { level: LogLevel; msg: string }> } {
  const records: Array<LogFields & { level: LogLevel; msg: string }> = [];
  const push = (level: LogLevel) => (msg: string, fields?: LogFields) =>
    records.push({ level, msg, ...fields });
  return { records, debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}
