/**
 * Runtimes for tests: real time, but every sleep is recorded with the duration asked for and
 * short ones (backoffs, Retry-After) actually last at most `capMs`, so those decisions can be
 * asserted without waiting for them.
 */
import type { Runtime } from '../../../lib/forwarder/ports.ts';
import { systemRuntime } from '../../../lib/forwarder/system.ts';

export interface RecordingRuntime extends Runtime {
  sleeps: number[];
}

export function fastRuntime(
  capMs = 5,
  options: { random?: () => number; realFromMs?: number } = {},
): RecordingRuntime {
  const sleeps: number[] = [];
  // Sleeps this long or longer (stall timeouts, grace periods) keep their real length.
  const realFromMs = options.realFromMs ?? 30_000;
  return {
    sleeps,
    nowMs: systemRuntime.nowMs,
    random: options.random ?? (() => 0.5),
    sleep: (ms, signal) => {
      sleeps.push(ms);
      return systemRuntime.sleep(ms >= realFromMs ? ms : Math.min(ms, capMs), signal);
    },
  };
}

export async function eventually(
  check: () => boolean,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
