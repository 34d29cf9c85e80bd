/**
 * Progress of long CLI work (`sktrace import`, `sktrace export`) on stderr: on a terminal one bar
 * rewritten in place (`[#######.............]  35% label detail`); otherwise (logs, pipes, CI)
 * plain lines, at most one per `plainEveryMs` and one whenever the label changes, so a log shows
 * how far a long run got without a line per batch. Retries and other lines worth keeping go
 * through `note()` and are printed either way.
 */

export interface ProgressOptions {
  /** Least time between two plain lines (not a terminal). Default 10 s. */
  plainEveryMs?: number;
  /** Bar width in characters. Default 24. */
  barWidth?: number;
  /** Clock in ms (tests). */
  nowMs?: () => number;
}

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export class Progress {
  readonly #out: ProgressStream;
  readonly #tty: boolean;
  readonly #plainEveryMs: number;
  readonly #barWidth: number;
  readonly #nowMs: () => number;
  #shown = false;
  #lastPlainMs = Number.NEGATIVE_INFINITY;
  #lastLabel: string | undefined;

  constructor(out: ProgressStream, options: ProgressOptions = {}) {
    this.#out = out;
    this.#tty = out.isTTY === true;
    this.#plainEveryMs = options.plainEveryMs ?? 10_000;
    this.#barWidth = options.barWidth ?? 24;
    this.#nowMs = options.nowMs ?? (() => Date.now());
  }

  /**
   * Where the work is: `fraction` in [0, 1] when known (a bar), else undefined (the label and
   * detail alone); `label` names the step, `detail` the figures.
   */
  update(label: string, detail = '', fraction?: number): void {
    const pct =
      fraction === undefined || !Number.isFinite(fraction)
        ? undefined
        : Math.min(100, Math.max(0, Math.floor(fraction * 100)));
    if (this.#tty) {
      const bar =
        pct === undefined
          ? ''
          : `[${'#'.repeat(Math.round((pct / 100) * this.#barWidth)).padEnd(this.#barWidth, '.')}] ${String(pct).padStart(3)}% `;
      const line = `${bar}${label}${detail ? ` ${detail}` : ''}`;
      const width = this.#out.columns ?? 100;
      this.#out.write(`\r\x1b[2K${line.length >= width ? `${line.slice(0, width - 2)}…` : line}`);
      this.#shown = true;
      return;
    }
    const now = this.#nowMs();
    if (label === this.#lastLabel && now - this.#lastPlainMs < this.#plainEveryMs) return;
    this.#lastLabel = label;
    this.#lastPlainMs = now;
    this.#out.write(`${pct === undefined ? '' : `${pct}% `}${label}${detail ? ` ${detail}` : ''}\n`);
  }

  /** A line worth keeping (a retry): printed on its own line, terminal or not. */
  note(line: string): void {
    this.clear();
    this.#out.write(`${line}\n`);
  }

  /** Removes the bar (terminal) before other output. */
  clear(): void {
    if (this.#shown) this.#out.write('\r\x1b[2K');
    this.#shown = false;
  }
}

/** Bytes for people: 1.2 MB, 340 kB (decimal units, as `ls -h --si` and S3's console). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
