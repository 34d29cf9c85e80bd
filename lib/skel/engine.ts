/**
 * The SKEL engine: applies parsed commands to trace events, after SimKube's sk-skel engine.rs and
 * the json-patch-ext functions it calls (`matches`, `patch_ext`):
 * - each command runs on every object of an event, applied and deleted alike; `delete` drops the
 *   object from the event, and an event left with no object is dropped from the trace;
 * - a selector is `all` or conditionals that must all hold, checked in order (a failing one stops
 *   the check, so later variables stay unbound);
 * - a resource conditional looks up every value its pointer matches (`*` expands over an array's
 *   elements); it holds when any match passes the test (`!exists` holds when nothing matches). A
 *   missing field is no match: `name != "a"` skips elements without a name. `==`/`!=` compare
 *   JSON values exactly (an integer 2 is not the float 2.0, as serde_json has it);
 * - a variable `$x := P | test` binds the prefix of every passing match that P's pattern covers
 *   (`/spec/containers/*` → `/spec/containers/0`, `/spec/containers/2`); the action then runs once
 *   per bound pointer, for every variable it names;
 * - `remove` deletes a field or array element (a missing parent is no error; removing several
 *   elements of one array shifts the later indices, as SimKube does); `modify` replaces a field or
 *   adds it, creating missing parent objects; its value must be exactly one.
 * Objects are copied before the first change: the input trace is never modified.
 */

import { Float64 } from '../trace/float.ts';
import type { KubeObject, TraceEvent } from '../trace/model.ts';
import type { Conditional, Rhs, SkelCommand, TestOp, TraceSelector, VarDef } from './ast.ts';
import { SkelEvalError } from './errors.ts';

/** What a transform did, as SimKube's transform summary counts it. */
export interface SkelStats {
  /** Objects (per command) whose selector matched. */
  objectsMatched: number;
  /** Pointers a modify or remove acted on. */
  resourcesModified: number;
}

export function emptyStats(): SkelStats {
  return { objectsMatched: 0, resourcesModified: 0 };
}

/** Pointers and values a variable is bound to, in match order. */
interface VarBinding {
  pointers: string[];
  values: unknown[];
}

/** The variables bound while matching one object against one selector (ordered by name). */
type MatchContext = Map<string, VarBinding>;

class EvalFailure extends Error {}

/**
 * The event after every command, or undefined when no object is left in it. Objects are copied
 * when the event has any; `stats` is updated in place.
 */
export function transformEvent(
  commands: readonly SkelCommand[],
  event: TraceEvent,
  stats: SkelStats = emptyStats(),
): TraceEvent | undefined {
  let applied = event.applied_objs.map((o) => deepCopy(o) as KubeObject);
  let deleted = event.deleted_objs.map((o) => deepCopy(o) as KubeObject);
  for (const cmd of commands) {
    applied = applyToObjects(cmd, applied, event.ts, stats);
    deleted = applyToObjects(cmd, deleted, event.ts, stats);
  }
  if (applied.length === 0 && deleted.length === 0) return undefined;
  return { ts: event.ts, applied_objs: applied, deleted_objs: deleted };
}

function applyToObjects(cmd: SkelCommand, objs: KubeObject[], ts: number, stats: SkelStats): KubeObject[] {
  const out: KubeObject[] = [];
  for (const obj of objs) {
    try {
      const kept = applyToObject(cmd, obj, ts, stats);
      if (kept) out.push(obj);
    } catch (err) {
      if (!(err instanceof EvalFailure)) throw err;
      throw new SkelEvalError(err.message, {
        line: cmd.at.line,
        column: cmd.at.column,
        command: cmd.text.length > 80 ? `${cmd.text.slice(0, 80)}…` : cmd.text,
        object: describeObject(obj),
      });
    }
  }
  return out;
}

/** Applies `cmd` to `obj` in place; false when the object is deleted. */
export function applyToObject(cmd: SkelCommand, obj: KubeObject, ts: number, stats: SkelStats): boolean {
  const ctx: MatchContext = new Map();
  if (!selectorMatches(cmd.selector, ts, obj, ctx)) return true;
  stats.objectsMatched++;
  switch (cmd.action.kind) {
    case 'delete':
      return false;
    case 'modify': {
      const values = rhsValues(cmd.action.rhs, obj, ctx);
      if (values.length !== 1) {
        throw new EvalFailure(
          `only one matched value allowed in modify context, found ${values.length}: ${short(values)}`,
        );
      }
      const pointers = reifyPointers(cmd.action.pointer, ctx);
      for (const p of pointers) {
        const tokens = parsePointer(p);
        const found = resolve(obj, tokens);
        if (found.ok) addOrReplace(obj, tokens, values[0], true);
        else if (found.notFound) addOrReplace(obj, tokens, values[0], false);
        else throw new EvalFailure(`cannot modify ${p}: ${found.reason}`);
      }
      stats.resourcesModified += pointers.length;
      return true;
    }
    case 'remove': {
      const pointers = reifyPointers(cmd.action.pointer, ctx);
      removeAll(obj, pointers);
      stats.resourcesModified += pointers.length;
      return true;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Matching

export function selectorMatches(sel: TraceSelector, ts: number, obj: unknown, ctx: MatchContext): boolean {
  if (sel.kind === 'all') return true;
  for (const cond of sel.conditions) {
    const ok = cond.kind === 'time' ? timeMatches(ts, cond.op, cond.ts) : resourceMatches(cond, obj, ctx);
    if (!ok) return false;
  }
  return true;
}

export function timeMatches(eventTs: number, op: TestOp, ts: number): boolean {
  switch (op) {
    case 'eq':
      return eventTs === ts;
    case 'ne':
      return eventTs !== ts;
    case 'lt':
      return eventTs < ts;
    case 'gt':
      return eventTs > ts;
    case 'le':
      return eventTs <= ts;
    case 'ge':
      return eventTs >= ts;
    default:
      return false;
  }
}

/**
 * engine.rs `resource_conditional_matches`: with a variable, its name in the left-hand pointer is
 * replaced by its pattern; each passing match binds the part of its concrete pointer that the
 * pattern covers.
 */
export function resourceMatches(
  cond: Extract<Conditional, { kind: 'resource' }>,
  obj: unknown,
  ctx: MatchContext,
): boolean {
  const v = cond.var;
  const lhs = v ? (substituteVariable(cond.pointer, v.name, v.pointer) ?? cond.pointer) : cond.pointer;
  const binding: VarBinding = { pointers: [], values: [] };
  let found = false;
  const pattern = v ? varPattern(v) : undefined;
  for (const [ptr, value] of matches(lhs, obj)) {
    if (cond.op === 'exists' || cond.op === 'not_exists' || compare(value, cond.op, cond.rhs, obj, ctx)) {
      found = true;
      if (pattern) {
        const prefix = pattern.exec(ptr)?.[1];
        if (prefix === undefined) continue;
        const first = matches(prefix, obj)[0];
        binding.pointers.push(prefix);
        binding.values.push(first?.[1]);
      }
    }
  }
  if (cond.op === 'not_exists') return !found;
  if (!found) return false;
  if (v) ctx.set(v.name, binding);
  return true;
}

function varPattern(v: VarDef): RegExp {
  const escaped = v.pointer
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('\\d+');
  return new RegExp(`^(${escaped})`);
}

function compare(lhs: unknown, op: TestOp, rhs: Rhs | undefined, obj: unknown, ctx: MatchContext): boolean {
  if (rhs === undefined) return false;
  const candidates = rhsValues(rhs, obj, ctx);
  switch (op) {
    case 'eq':
      return candidates.some((c) => jsonEqual(c, lhs));
    case 'ne':
      return !candidates.some((c) => jsonEqual(c, lhs));
    default:
      // SimKube: `unimplemented!()` — its transform panics here.
      throw new EvalFailure(`the comparison ${OP_TEXT[op]} is not supported on resources (only == and !=)`);
  }
}

const OP_TEXT: Record<TestOp, string> = {
  eq: '==',
  ne: '!=',
  lt: '<',
  gt: '>',
  le: '<=',
  ge: '>=',
  exists: 'exists',
  not_exists: '!exists',
};

/** The values a right-hand side stands for: a literal, a field of the object, or a field of each of a variable's values. */
export function rhsValues(rhs: Rhs, obj: unknown, ctx: MatchContext): unknown[] {
  if (rhs.kind === 'value') return [rhs.value];
  const tokens = parsePointer(rhs.pointer);
  if (tokens[0]?.startsWith('$')) {
    const name = tokens[0];
    const binding = ctx.get(name);
    if (!binding) throw new EvalFailure(`variable ${name} is not bound (its conditional bound nothing)`);
    const rest = tokens.slice(1);
    const out: unknown[] = [];
    for (const v of binding.values) {
      const r = resolve(v, rest);
      if (r.ok) out.push(r.value);
    }
    return out;
  }
  const r = resolve(obj, tokens);
  if (!r.ok) throw new EvalFailure(`${rhs.pointer} does not resolve (${r.reason})`);
  return [r.value];
}

/** engine.rs `variable_substitution`: every occurrence replaced, then `//` collapsed; undefined when nothing changed. */
export function substituteVariable(input: string, name: string, pointer: string): string | undefined {
  const out = input.split(name).join(pointer).split('//').join('/');
  return out === input ? undefined : out;
}

/** engine.rs `reify_pointers`: the action's pointer for every bound pointer of every variable it names. */
export function reifyPointers(pointer: string, ctx: MatchContext): string[] {
  const out: string[] = [];
  for (const name of [...ctx.keys()].sort()) {
    for (const p of ctx.get(name)!.pointers) {
      const r = substituteVariable(pointer, name, p);
      if (r !== undefined) out.push(r);
    }
  }
  return out.length > 0 ? out : [pointer];
}

// ---------------------------------------------------------------------------------------------
// JSON pointers with `*` (json-patch-ext)

export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

const encodeToken = (t: string) => t.replaceAll('~', '~0').replaceAll('/', '~1');
const INDEX = /^(0|[1-9][0-9]*)$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Float64);
}

type Resolved = { ok: true; value: unknown } | { ok: false; notFound: boolean; reason: string };

/** jsonptr `resolve`: a missing object key is "not found"; anything else failing is another error. */
export function resolve(value: unknown, tokens: readonly string[]): Resolved {
  let cur = value;
  for (const t of tokens) {
    if (Array.isArray(cur)) {
      if (!INDEX.test(t)) return { ok: false, notFound: false, reason: `"${t}" is not an array index` };
      const i = Number(t);
      if (i >= cur.length) return { ok: false, notFound: false, reason: `index ${i} is out of bounds` };
      cur = cur[i];
    } else if (isObject(cur)) {
      if (!Object.hasOwn(cur, t)) return { ok: false, notFound: true, reason: `no field "${t}"` };
      cur = cur[t];
    } else {
      return { ok: false, notFound: false, reason: `"${t}" is below a value that is not an object or array` };
    }
  }
  return { ok: true, value: cur };
}

/** json-patch-ext `matches`: every concrete pointer the pattern reaches, with its value. */
export function matches(pointer: string, value: unknown): [string, unknown][] {
  const star = pointer.indexOf('/*');
  if (star < 0) {
    const r = resolve(value, parsePointer(pointer));
    return r.ok ? [[pointer, r.value]] : [];
  }
  const head = pointer.slice(0, star);
  const afterStar = pointer.indexOf('/', star + 1);
  const rest = afterStar < 0 ? '' : pointer.slice(afterStar);
  const h = resolve(value, parsePointer(head));
  if (!h.ok || !Array.isArray(h.value)) return [];
  const out: [string, unknown][] = [];
  h.value.forEach((el, i) => {
    for (const [p, v] of matches(rest, el)) out.push([`${head}/${i}${p}`, v]);
  });
  return out;
}

type Mode = 'error' | 'create' | 'skip';

/** json-patch-ext `patch_ext_helper`: the containers a pointer (with `*`) reaches. */
function targets(tokens: readonly string[], value: unknown, mode: Mode): unknown[] {
  const star = tokens.indexOf('*');
  const head = star < 0 ? tokens : tokens.slice(0, star);
  const r = resolve(value, head);
  let at: unknown;
  if (r.ok) {
    at = r.value;
  } else if (mode === 'skip') {
    return [];
  } else if (mode === 'error') {
    throw new EvalFailure(`${pointerText(head)} does not exist`);
  } else {
    at = assign(value, head, star < 0 ? {} : []);
  }
  if (star < 0) return [at];
  if (!Array.isArray(at)) throw new EvalFailure(`${pointerText(head)} is not an array`);
  return at.flatMap((el) => targets(tokens.slice(star + 1), el, mode));
}

/** jsonptr `assign` for a missing path: parent objects created as needed; returns what it set. */
function assign(root: unknown, tokens: readonly string[], leaf: unknown): unknown {
  let cur = root;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const last = i === tokens.length - 1;
    if (isObject(cur)) {
      if (last) cur[t] = leaf;
      else if (!Object.hasOwn(cur, t)) cur[t] = {};
      cur = cur[t];
    } else if (Array.isArray(cur)) {
      if (t === '-' || t === String(cur.length)) {
        cur.push(last ? leaf : {});
        cur = cur[cur.length - 1];
      } else if (INDEX.test(t) && Number(t) < cur.length) {
        if (last) cur[Number(t)] = leaf;
        cur = cur[Number(t)];
      } else {
        throw new EvalFailure(`cannot create ${pointerText(tokens)}: "${t}" is not a usable array index`);
      }
    } else {
      throw new EvalFailure(
        `cannot create ${pointerText(tokens)}: a value that is not an object is in the way`,
      );
    }
  }
  return cur;
}

function addOrReplace(obj: unknown, tokens: readonly string[], value: unknown, replace: boolean): void {
  if (tokens.length === 0) return;
  const key = tokens[tokens.length - 1]!;
  for (const target of targets(tokens.slice(0, -1), obj, replace ? 'error' : 'create')) {
    if (isObject(target)) {
      if (replace && !Object.hasOwn(target, key))
        throw new EvalFailure(`${pointerText(tokens)} does not exist`);
      target[key] = deepCopy(value);
    } else if (Array.isArray(target)) {
      if (key === '-') {
        target.push(deepCopy(value));
      } else if (INDEX.test(key) && Number(key) < target.length) {
        if (replace) target[Number(key)] = deepCopy(value);
        else target.splice(Number(key), 0, deepCopy(value));
      } else {
        throw new EvalFailure(`${pointerText(tokens)}: index "${key}" is out of bounds`);
      }
    } else {
      throw new EvalFailure(`${pointerText(tokens)}: the parent is not an object or array`);
    }
  }
}

/**
 * engine.rs `remove_all_pointers`: removing array elements one after the other shifts the later
 * ones down, so an index is lowered by the removals before it under the same array.
 */
function removeAll(obj: unknown, pointers: readonly string[]): void {
  let removed = 0;
  let parent = '';
  for (const p of pointers) {
    let tokens = parsePointer(p);
    const last = tokens[tokens.length - 1];
    if (last !== undefined && INDEX.test(last)) {
      const base = pointerText(tokens.slice(0, -1));
      if (base !== parent) {
        removed = 0;
        parent = base;
      }
      const index = Number(last) - removed;
      if (index < 0) throw new EvalFailure(`${p}: removing it after earlier removals leaves no such element`);
      tokens = [...tokens.slice(0, -1), String(index)];
    }
    removed++;
    removeOne(obj, tokens);
  }
}

function removeOne(obj: unknown, tokens: readonly string[]): void {
  if (tokens.length === 0) throw new EvalFailure('cannot remove the whole object (use delete)');
  const key = tokens[tokens.length - 1]!;
  for (const target of targets(tokens.slice(0, -1), obj, 'skip')) {
    if (isObject(target)) {
      delete target[key];
    } else if (Array.isArray(target)) {
      if (key === '*') target.length = 0;
      else if (INDEX.test(key) && Number(key) < target.length) target.splice(Number(key), 1);
      else throw new EvalFailure(`${pointerText(tokens)}: index "${key}" is out of bounds`);
    } else {
      throw new EvalFailure(`${pointerText(tokens)}: the parent is not an object or array`);
    }
  }
}

const pointerText = (tokens: readonly string[]) => tokens.map((t) => `/${encodeToken(t)}`).join('');

// ---------------------------------------------------------------------------------------------
// JSON values

/** serde_json `Value` equality: objects by keys and values, an integer never equal to a float. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a instanceof Float64 || b instanceof Float64) {
    return a instanceof Float64 && b instanceof Float64 && a.value === b.value;
  }
  if (typeof a === 'bigint' || typeof b === 'bigint') {
    return (typeof a === 'bigint' || typeof a === 'number') && BigInt(a) === BigInt(b as bigint | number);
  }
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/** A deep copy that keeps Float64 (structuredClone would turn it into a plain object). */
export function deepCopy(v: unknown): unknown {
  if (typeof v !== 'object' || v === null || v instanceof Float64) return v;
  if (Array.isArray(v)) return v.map(deepCopy);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = deepCopy(x);
  return out;
}

function describeObject(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  return `${obj.kind} ${ns ? `${ns}/` : ''}${obj.metadata?.name ?? '(unnamed)'}`;
}

function short(values: unknown[]): string {
  const text = JSON.stringify(values, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) ?? '';
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}
