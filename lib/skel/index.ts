/**
 * SKEL, the SimKube Expression Language (SimKube sk-skel; docs/skel/usage.md, docs/ref/skel.md):
 * `remove(…)`, `modify(…)` and `delete(…)` commands, each ending with `;`, `#` comments.
 *
 *   remove(status);
 *   remove($x := spec.template.spec.volumes[*] | exists($x.secret), $x);
 *   modify(@t >= 10m && metadata.namespace == "web", spec.replicas = 3);
 *   delete(metadata.labels.canary == "true");
 *
 * `parseSkel` checks a file (SkelError with line and column: a 400 in the API, exit 2 on the CLI);
 * `transformTrace` applies it to a trace file's events as `skctl transform` does; the export path
 * applies it to every stored change before filtering and indexing (lib/trace/assemble-input.ts).
 */
import type { ObjectChange, Trace, TraceEvent } from '../trace/model.ts';
import { buildCommand, type CommandNode, type SkelCommand } from './ast.ts';
import { emptyStats, type SkelStats, transformEvent } from './engine.ts';
import { SkelError } from './errors.ts';
import * as grammar from './grammar.generated.js';

export type { SkelCommand } from './ast.ts';
export type { SkelStats } from './engine.ts';
export { emptyStats, transformEvent } from './engine.ts';
export { SkelError, SkelEvalError } from './errors.ts';

/** SKEL files bigger than this are refused before parsing (SimKube's examples are under 2 KB). */
export const MAX_SKEL_BYTES = 64 * 1024;

/**
 * Parses and checks a SKEL file. `traceStartTs` anchors relative times (`@t >= 10m`): the first
 * event's time for a trace file (SimKube `Trace::start_ts`), the window's start for an export.
 */
export function parseSkel(text: string, traceStartTs: number): SkelCommand[] {
  if (Buffer.byteLength(text, 'utf8') > MAX_SKEL_BYTES) {
    throw new SkelError(`the file is larger than ${MAX_SKEL_BYTES} bytes`, { line: 1, column: 1 });
  }
  let nodes: CommandNode[];
  try {
    nodes = grammar.parse(text) as CommandNode[];
  } catch (err) {
    if (err instanceof grammar.SyntaxError) {
      throw new SkelError(
        err.message,
        { line: err.location.start.line, column: err.location.start.column },
        { cause: err },
      );
    }
    throw err;
  }
  return nodes.map((n) => buildCommand(n, traceStartTs));
}

/** Only syntax and semantics: whether `text` is a SKEL file (relative times anchored at 0). */
export function checkSkel(text: string): void {
  parseSkel(text, 0);
}

/** The trace's start for relative times: its first event's time (0 for an empty trace, as SimKube's `unwrap_or_default`). */
export function traceStartTs(trace: Trace): number {
  return trace.events[0]?.ts ?? 0;
}

/**
 * `skctl transform`: every event through every command, events left empty dropped; config, index
 * and pod lifecycles kept as they were (SimKube's `apply_skel` copies them unchanged).
 */
export function transformTrace(
  trace: Trace,
  commands: readonly SkelCommand[],
  stats: SkelStats = emptyStats(),
): Trace {
  const events: TraceEvent[] = [];
  for (const event of trace.events) {
    const out = transformEvent(commands, event, stats);
    if (out) events.push(out);
  }
  return { ...trace, events };
}

/**
 * The transform an export applies to each stored change (SimKube sk-tracer `collect_events` runs
 * the commands on every event before filtering and indexing): the change with its object
 * transformed, or undefined when a `delete` removed it. Relative times count from `windowStartTs`.
 */
export function changeTransform(
  skelText: string,
  windowStartTs: number,
  stats: SkelStats = emptyStats(),
): (change: ObjectChange) => ObjectChange | undefined {
  const commands = parseSkel(skelText, windowStartTs);
  return (change) => {
    const applied = change.type === 'applied';
    const out = transformEvent(
      commands,
      {
        ts: change.ts,
        applied_objs: applied ? [change.object] : [],
        deleted_objs: applied ? [] : [change.object],
      },
      stats,
    );
    const object = out?.applied_objs[0] ?? out?.deleted_objs[0];
    return object === undefined ? undefined : { ...change, object };
  };
}
