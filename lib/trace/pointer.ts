/**
 * JSON pointers (RFC 6901) with SimKube's extension: a segment `*` stands for every element of an
 * array (sk-core `jsonutils::patch_ext`), as in the pod template path `/spec/containers/*`.
 *
 * On an object, `*` is the key "*" as RFC 6901 says, not a wildcard: SimKube applies `*` to
 * arrays only (anything else makes its lookup fail), and a path matching templates that SimKube
 * cannot find would record pods it will never replay.
 */
import { JsonPointerError } from './errors.ts';

/** Splits a pointer into unescaped segments (`~1` → `/`, then `~0` → `~`). `""` → no segments. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (pointer[0] !== '/') {
    throw new JsonPointerError(`JSON pointer ${JSON.stringify(pointer)} must be "" or start with "/"`, {
      pointer,
    });
  }
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => {
      if (/~(?![01])/.test(segment)) {
        throw new JsonPointerError(
          `JSON pointer ${JSON.stringify(pointer)} has a "~" not followed by 0 or 1 (escape "~" as "~0", "/" as "~1")`,
          { pointer },
        );
      }
      return segment.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

/** `["a/b", "c"]` → `/a~1b/c`. */
export function formatPointer(segments: readonly string[]): string {
  return segments.map((s) => `/${s.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/**
 * Every value `pointer` designates in `doc`, in document order; `[]` when nothing matches
 * (a missing key, an index out of range or not a number, a step into a scalar). `""` is the whole
 * document. Throws `JsonPointerError` only for a malformed pointer.
 */
export function resolvePointer(doc: unknown, pointer: string): unknown[] {
  let current: unknown[] = [doc];
  for (const segment of parsePointer(pointer)) {
    const next: unknown[] = [];
    for (const value of current) {
      if (Array.isArray(value)) {
        if (segment === '*') {
          for (const element of value) if (element !== undefined) next.push(element);
        } else if (/^(0|[1-9][0-9]*)$/.test(segment)) {
          // RFC 6901 array indexes: no leading zeros, no sign; "-" (past the end) matches nothing.
          const i = Number(segment);
          if (i < value.length && value[i] !== undefined) next.push(value[i]);
        }
      } else if (typeof value === 'object' && value !== null) {
        // An own property only (never the prototype's); `undefined` is absent, as in JSON.
        const child = Object.hasOwn(value, segment) ? (value as Record<string, unknown>)[segment] : undefined;
        if (child !== undefined) next.push(child);
      }
    }
    current = next;
    if (current.length === 0) break;
  }
  return current;
}
