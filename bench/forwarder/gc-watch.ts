/**
 * Evaluated in a forwarder child over the inspector (`Runtime.evaluate`): sums its GC pauses by
 * kind (perf_hooks `gc` entries: 1 scavenge, 2 mark-compact, 4 incremental marking, 8 weak
 * callbacks) into `globalThis.__sktraceGc`, and what each scavenge left in new space. Read back
 * with GC_READ (a JSON string). Used by profile-watch.ts and ab-watch.ts.
 */
export const GC_WATCH = `{
  const v8 = process.getBuiltinModule('v8');
  const gc = (globalThis.__sktraceGc = { survivedMiB: 0 });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const k = ({ 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' })[e.detail.kind] ?? e.detail.kind;
      const g = (gc[k] ??= { ms: 0, count: 0 });
      g.ms = Math.round((g.ms + e.duration) * 10) / 10;
      g.count++;
      if (k === 'minor') {
        // What a scavenge left in new space (survivors, copied once more at the next one); read a
        // moment after the GC, so an approximation.
        const young = v8.getHeapSpaceStatistics().find((sp) => sp.space_name === 'new_space');
        gc.survivedMiB = Math.round((gc.survivedMiB + young.space_used_size / 2 ** 20) * 10) / 10;
      }
    }
  }).observe({ entryTypes: ['gc'] });
}`;

export const GC_READ = 'JSON.stringify(globalThis.__sktraceGc)';

export interface GcTotals {
  survivedMiB: number;
  [kind: string]: { ms: number; count: number } | number;
}
