/**
 * The process's real clock, timers and randomness: the one place in the forwarder that reads
 * them; everything else receives a `Runtime`.
 */
import type { Runtime } from './ports.ts';

/** V8's `gc()`, a global only under `--expose-gc` (deploy/forwarder/Dockerfile sets it). */
const exposedGc = (globalThis as { gc?: (options?: object) => void }).gc;
/**
 * `last-resort`: V8's CollectAllAvailableGarbage, the GC it runs before giving up on an
 * allocation: repeated full GCs that also return freed pages to the OS. A plain `gc()` leaves
 * them pooled, so VmRSS hardly moves (a 130 MiB heap of garbage: plain gc() RSS 178 → 161 MiB
 * in 26 ms, last-resort 178 → 55 MiB in 104 ms; V8 12.4, Node 22).
 */
const LAST_RESORT = { type: 'major', execution: 'sync', flavor: 'last-resort' };

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
  ...(exposedGc ? { collectGarbage: () => exposedGc(LAST_RESORT) } : {}),
};
