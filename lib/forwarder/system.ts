/**
 * The process's real clock, timers and randomness: the one place in the forwarder that reads
 * them; everything else receives a `Runtime`.
 */
import type { Runtime } from './ports.ts';

export const systemRuntime: Runtime = {
  nowMs: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
  random: () => Math.random(),
};
