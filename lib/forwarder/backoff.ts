/**
 * The retry policy wrapped around the forwarder's loops (watches, list pages, deliveries),
 * kept apart from the loops themselves as kube-rs does (`ResetTimerBackoff`): exponential
 * delays with jitter, back to the first step once things have been quiet for a while, and a
 * server's `Retry-After` honoured as a floor. Pure: time and randomness come from the caller.
 */

export interface BackoffOptions {
  /** First delay. */
  initialMs: number;
  /** Ceiling of the exponential part. */
  maxMs: number;
  factor: number;
  /**
   * Share of each delay that is random, 0..1. "Equal jitter" (half fixed, half random at 0.5)
   * keeps a floor under every delay while spreading the reconnects of many forwarders after a
   * control-plane restart.
   */
  jitter: number;
  /** After this long without a failure, the next failure starts again from `initialMs`. */
  quietPeriodMs: number;
  /** A `Retry-After` longer than this is capped, so a bad header cannot park a loop for hours. */
  maxRetryAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialMs: 500,
  maxMs: 30_000,
  factor: 2,
  jitter: 0.5,
  quietPeriodMs: 120_000,
  maxRetryAfterMs: 300_000,
};

export class Backoff {
  readonly #options: BackoffOptions;
  readonly #random: () => number;
  #attempt = 0;
  /** When the last delay handed out ends; quiet time is counted from there. */
  #quietSinceMs: number | undefined;

  constructor(options: BackoffOptions, random: () => number) {
    this.#options = options;
    this.#random = random;
  }

  /** How many failures in a row the current delay is based on (0 after a reset). */
  get attempt(): number {
    return this.#attempt;
  }

  /**
   * The delay before retrying after a failure seen at `nowMs`. `retryAfterMs` (from a 429 or
   * 503) is a floor: the server asked for at least that.
   */
  next(nowMs: number, retryAfterMs?: number): number {
    const o = this.#options;
    if (this.#quietSinceMs !== undefined && nowMs - this.#quietSinceMs >= o.quietPeriodMs) this.#attempt = 0;
    const base = Math.min(o.maxMs, o.initialMs * o.factor ** this.#attempt);
    const jittered = base * (1 - o.jitter) + base * o.jitter * this.#random();
    const delayMs = Math.round(Math.max(jittered, Math.min(retryAfterMs ?? 0, o.maxRetryAfterMs)));
    this.#attempt += 1;
    this.#quietSinceMs = nowMs + delayMs;
    return delayMs;
  }

  /** Back to the first step, for callers that saw an unambiguous success (a 2xx post). */
  reset(): void {
    this.#attempt = 0;
    this.#quietSinceMs = undefined;
  }
}

/**
 * `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns milliseconds, or
 * undefined when absent or unreadable (the backoff then decides alone).
 */
export function parseRetryAfterMs(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // HTTP-dates name a weekday or month; anything else (a negative number…) is not one.
  if (!/^[A-Za-z]/.test(text)) return undefined;
  const atMs = Date.parse(text);
  if (Number.isNaN(atMs)) return undefined;
  return Math.max(0, atMs - nowMs);
}
