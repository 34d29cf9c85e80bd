/**
 * SKEL commands from the parse tree, with the checks SimKube's sk-skel ast.rs makes after parsing:
 * - resource paths become JSON pointers: `.` and `[` separate tokens, a quoted part keeps its dots
 *   and has `/` escaped as `~1`, `[*]` stays `*` (a wildcard over an array), a variable stays as
 *   its name (`$x.name` → `/$x/name`);
 * - a variable is defined by `$x := path | test` inside a selector and may be used after it (in
 *   later conditionals' right-hand sides and in the command's action); defining it twice is an
 *   error, and so is using one never defined;
 * - the left-hand side of a variable's test may name only that variable (`$x := … | $y.a == 1` is
 *   refused);
 * - `@t` times are absolute unix seconds, or relative (`10m`, `2h`, `30s`) to the trace's start:
 *   the first event's time for a file, the window's start for an export.
 * Every error is a `SkelError` with the line and column of what it is about.
 */
import { SkelError } from './errors.ts';
import type { PeggyLocation } from './grammar.generated.js';

export type TestOp = 'eq' | 'ne' | 'lt' | 'gt' | 'le' | 'ge' | 'exists' | 'not_exists';

export interface SourcePosition {
  line: number;
  column: number;
}

/** A right-hand side: a literal, or a pointer into the object (or into a variable's values). */
export type Rhs = { kind: 'value'; value: unknown } | { kind: 'path'; pointer: string };

export interface VarDef {
  name: string;
  pointer: string;
}

export type Conditional =
  | { kind: 'time'; ts: number; op: TestOp; at: SourcePosition }
  | { kind: 'resource'; pointer: string; op: TestOp; rhs?: Rhs; var?: VarDef; at: SourcePosition };

/** `all` (`*`, or a command given no selector) or conditionals that must all hold. */
export type TraceSelector = { kind: 'all' } | { kind: 'list'; conditions: Conditional[] };

export type CommandAction =
  | { kind: 'delete' }
  | { kind: 'modify'; pointer: string; rhs: Rhs }
  | { kind: 'remove'; pointer: string };

export interface SkelCommand {
  selector: TraceSelector;
  action: CommandAction;
  /** The command's source text and where it starts, for error messages. */
  text: string;
  at: SourcePosition;
}

// ---------------------------------------------------------------------------------------------
// The parse tree grammar.generated.js builds (see skel.peggy's actions).

interface PathSegment {
  kind: 'key' | 'var' | 'index';
  text: string;
}
export interface PathNode {
  type: 'path';
  segments: PathSegment[];
  text: string;
  location: PeggyLocation;
}
type ValueNode =
  | { type: 'value'; value: unknown }
  | { type: 'number'; text: string; location: PeggyLocation };
type RhsNode = ValueNode | PathNode;
type ResourceTestNode =
  | { type: 'exists' | 'not_exists'; path: PathNode }
  | { type: 'compare'; path: PathNode; op: TestOp; rhs: RhsNode };
type ConditionalNode =
  | {
      type: 'time';
      op: TestOp;
      ts: { relative: boolean; digits: string; unit?: string };
      location: PeggyLocation;
    }
  | { type: 'resource'; test: ResourceTestNode; location: PeggyLocation }
  | { type: 'var_test'; name: string; path: PathNode; test: ResourceTestNode; location: PeggyLocation };
type SelectorNode = { type: 'all' } | { type: 'list'; conditions: ConditionalNode[] } | null;
export type CommandNode =
  | {
      type: 'modify';
      selector: SelectorNode;
      assignment: { path: PathNode; rhs: RhsNode };
      text: string;
      location: PeggyLocation;
    }
  | { type: 'delete'; selector: SelectorNode; text: string; location: PeggyLocation }
  | { type: 'remove'; selector: SelectorNode; path: PathNode; text: string; location: PeggyLocation };

const at = (loc: PeggyLocation): SourcePosition => ({ line: loc.start.line, column: loc.start.column });

// ---------------------------------------------------------------------------------------------

export function buildCommand(node: CommandNode, traceStartTs: number): SkelCommand {
  const defined = new Set<string>();
  const selector = buildSelector(node.selector, traceStartTs, defined);
  let action: CommandAction;
  switch (node.type) {
    case 'delete':
      action = { kind: 'delete' };
      break;
    case 'modify':
      action = {
        kind: 'modify',
        pointer: pointerOf(node.assignment.path, defined),
        rhs: buildRhs(node.assignment.rhs, defined),
      };
      break;
    case 'remove':
      action = { kind: 'remove', pointer: pointerOf(node.path, defined) };
      break;
  }
  return { selector, action, text: node.text, at: at(node.location) };
}

function buildSelector(node: SelectorNode, traceStartTs: number, defined: Set<string>): TraceSelector {
  if (node === null || node.type === 'all') return { kind: 'all' };
  return { kind: 'list', conditions: node.conditions.map((c) => buildConditional(c, traceStartTs, defined)) };
}

function buildConditional(node: ConditionalNode, traceStartTs: number, defined: Set<string>): Conditional {
  switch (node.type) {
    case 'time':
      return { kind: 'time', op: node.op, ts: timeOf(node, traceStartTs), at: at(node.location) };
    case 'resource':
      return resourceTest(node.test, undefined, defined, at(node.location));
    case 'var_test': {
      if (defined.has(node.name)) {
        throw new SkelError(`variable ${node.name} already defined`, at(node.location));
      }
      defined.add(node.name);
      const v: VarDef = { name: node.name, pointer: pointerOf(node.path, defined) };
      return resourceTest(node.test, v, defined, at(node.location));
    }
  }
}

function timeOf(node: Extract<ConditionalNode, { type: 'time' }>, traceStartTs: number): number {
  const n = Number(node.ts.digits);
  if (!Number.isSafeInteger(n)) {
    throw new SkelError(`time ${node.ts.digits} is too large`, at(node.location));
  }
  if (!node.ts.relative) return n;
  const unitSec = node.ts.unit === 'h' ? 3600 : node.ts.unit === 'm' ? 60 : 1;
  return traceStartTs + n * unitSec;
}

function resourceTest(
  test: ResourceTestNode,
  v: VarDef | undefined,
  defined: Set<string>,
  where: SourcePosition,
): Conditional {
  // The left-hand side may name the conditional's own variable only (SimKube: InvalidLHS).
  const own = new Set(v ? [v.name] : []);
  const lhsVar = test.path.segments[0]?.kind === 'var' ? test.path.segments[0].text : undefined;
  if (lhsVar !== undefined && !own.has(lhsVar)) {
    throw new SkelError(
      `variable ${lhsVar} is not present in selector ${test.path.text} on left-hand side`,
      at(test.path.location),
    );
  }
  const pointer = pointerOf(test.path, own);
  const base = { kind: 'resource' as const, pointer, at: where, ...(v ? { var: v } : {}) };
  switch (test.type) {
    case 'exists':
      return { ...base, op: 'exists' };
    case 'not_exists':
      return { ...base, op: 'not_exists' };
    case 'compare':
      return { ...base, op: test.op, rhs: buildRhs(test.rhs, defined) };
  }
}

function buildRhs(node: RhsNode, defined: Set<string>): Rhs {
  switch (node.type) {
    case 'value':
      return { kind: 'value', value: node.value };
    case 'number': {
      // SimKube reads an i64 (and panics beyond it); a JS number is exact up to 2^53.
      const n = Number(node.text);
      if (!Number.isSafeInteger(n))
        throw new SkelError(`number ${node.text} is too large`, at(node.location));
      return { kind: 'value', value: n };
    }
    case 'path':
      return { kind: 'path', pointer: pointerOf(node, defined) };
  }
}

/** The JSON pointer a resource path stands for; a variable must be defined. */
export function pointerOf(path: PathNode, defined: ReadonlySet<string>): string {
  const tokens: string[] = [];
  for (const s of path.segments) {
    if (s.kind === 'var' && !defined.has(s.text)) {
      throw new SkelError(`variable ${s.text} not defined`, at(path.location));
    }
    tokens.push(s.kind === 'key' ? s.text.replaceAll('/', '~1') : s.text);
  }
  return `/${tokens.join('/')}`;
}
