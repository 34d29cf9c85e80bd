/**
 * The real SimKube traces in ../shared/simkube-traces (next to the repository; in worktrees
 * ../shared is a link to it; CI always has it). Read in place, never copied into the project.
 * When the directory is absent, every test of these files is skipped with one printed line.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** `SKTRACE_SIMKUBE_TRACES` points elsewhere (a test of the skip path, a CI layout). */
export const SIMKUBE_TRACES =
  process.env.SKTRACE_SIMKUBE_TRACES ?? join(import.meta.dirname, '../../../shared/simkube-traces');

export const haveSimkubeTraces = existsSync(SIMKUBE_TRACES);

let said = false;
/** Undefined when the files are there; else the skip reason, printed once per process. */
export function skipUnlessSimkubeTraces(): string | undefined {
  if (haveSimkubeTraces) return undefined;
  const why = `no ${SIMKUBE_TRACES}: tests of real SimKube traces skipped`;
  if (!said) console.log(`# ${why}`);
  said = true;
  return why;
}

/** The msgpack traces (`*.sktrace`) there, by name, with their bytes. */
export function msgpackTraces(): Array<{ name: string; bytes: Buffer }> {
  if (!haveSimkubeTraces) return [];
  return readdirSync(SIMKUBE_TRACES)
    .filter((f) => f.endsWith('.sktrace'))
    .sort()
    .map((name) => ({ name, bytes: readFileSync(join(SIMKUBE_TRACES, name)) }));
}

/**
 * The bytes of the top-level `events` array of a trace file: between the key `events` and the key
 * `index` (the five fields come in a fixed order, DESIGN.md; `config` holds only GVKs and paths,
 * and `index` and `pod_lifecycles` only GVKs, names and hashes, so the first "events" key and the
 * last "index" key are the top-level ones). A byte search, independent of the codec under test.
 */
export function eventsRegion(bytes: Uint8Array): Buffer {
  const b = Buffer.from(bytes);
  const eventsKey = Buffer.from([0xa6, ...Buffer.from('events')]);
  const indexKey = Buffer.from([0xa5, ...Buffer.from('index')]);
  const from = b.indexOf(eventsKey);
  const to = b.lastIndexOf(indexKey);
  if (from < 0 || to < from) throw new Error('no top-level events/index keys');
  return b.subarray(from + eventsKey.length, to);
}
