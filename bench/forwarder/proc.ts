/**
 * What the forwarder benchmarks read about a child process from Linux's /proc, and waiting. CPU is the child's own (user + system), so the work of the
 * simulated API server and the endpoint in the measuring process is never charged to it.
 */
import { readFile } from 'node:fs/promises';

/**
 * proc(5): utime and stime are in clock ticks of sysconf(_SC_CLK_TCK), 100 on every Linux
 * architecture Node supports (x86-64 and arm64 both fix USER_HZ at 100).
 */
const CLOCK_TICKS_PER_SEC = 100;

export interface ProcSample {
  /** User + system CPU since the process started, in microseconds (10 ms resolution). */
  cpuUs: number;
  /** VmRSS, in bytes. */
  rssBytes: number;
}

export async function procSample(pid: number): Promise<ProcSample> {
  const [stat, status] = await Promise.all([
    readFile(`/proc/${pid}/stat`, 'utf8'),
    readFile(`/proc/${pid}/status`, 'utf8'),
  ]);
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 (utime) and 15 (stime) of proc(5), 1-based; `fields` starts at field 3.
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssKb = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return {
    cpuUs: (ticks * 1e6) / CLOCK_TICKS_PER_SEC,
    rssBytes: rssKb ? Number(rssKb[1]) * 1024 : 0,
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it holds; throws naming `what` after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string | (() => string),
  everyMs = 20,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`,
      );
    await sleep(everyMs);
  }
}
