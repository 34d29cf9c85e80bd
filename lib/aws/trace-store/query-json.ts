/**
 * A Query response's JSON parsed in groups of whole items, never as one text.
 *
 * An export reads its changes in Query pages of ~0.8 MB (reader.ts `EVENT_PAGE_ITEMS`). Made one
 * string, such a page is over V8's largest regular object (128 KiB) and under Node's threshold for
 * an external string (~1 MB), so it lands in V8's large-object space on pages mapped fresh for it:
 * 2.5 ms of CPU per 800 KB text here, half of it the kernel's page faults, against ~0.04 ms per
 * 64 KiB text made in the new space (docs/benchmarks.md "Session 11"). A 1,000,000-change export
 * with 10× history reads ~2,000 pages: ~5 s, an eighth of its CPU.
 *
 * So the Items array is cut at item boundaries into groups of about `GROUP_BYTES`, each parsed as
 * an array of its own, and the rest (the object around Items, with the items after the last cut)
 * parsed last. Finding a boundary needs no scan of the text: in valid JSON, `,{"` followed by a
 * key character (not `"`, `:`, `,`, `}`, `]` or white space) is a comma and an object's opening
 * brace outside any string, so an array element that is an object, with that key first. In a
 * Query response the arrays of objects are Items (keyed by attribute names) and `L` lists (each
 * value keyed by its one type tag), so an element whose first key has no backslash and is not a
 * type tag starts an item. (An item whose first attribute is named like a type tag is only not
 * cut before.) Anything else — no `"Items":[{` in the text, a group or the rest that does not
 * parse as an array or around one — and the whole text is parsed as before.
 */
import { isAscii } from 'node:buffer';
import type { Item } from './io.ts';

/** A group ends at the first item boundary at least this many bytes after it starts. */
export const GROUP_BYTES = 48 * 1024;

const ITEMS_OPEN = Buffer.from('"Items":[{');
const ELEMENT_OPEN = Buffer.from(',{"');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
/** Bytes that may follow a closing quote: after `{"`, any of them means the quote was not an opening one. */
const AFTER_STRING = new Set([QUOTE, 0x3a, COMMA, 0x7d, CLOSE_BRACKET, 0x20, 0x09, 0x0a, 0x0d]);
/** DynamoDB JSON's attribute value types: the one key of every object in an `L` list. */
const TYPE_TAGS = new Set(['S', 'N', 'B', 'SS', 'NS', 'BS', 'M', 'L', 'NULL', 'BOOL']);

/**
 * The response as `JSON.parse` of its whole text would return it, its Items parsed in groups
 * (`itemGroups`). The bytes are read only (a group's brackets are written over its bounding
 * commas for the time it takes to copy it out, and put back).
 */
export function parseQueryResponse(bytes: Buffer, groupBytes = GROUP_BYTES): Record<string, unknown> {
  // DynamoDB's JSON of the store's items is ASCII (keys, numbers, base64 bodies; names are ASCII in
  // Kubernetes), and ASCII read as latin1 is the same string, made without Node's UTF-8 decoder
  // (0.2 against 3.5 ms per 1.17 MB page here). A byte ≥ 0x80 anywhere: all of it read as UTF-8,
  // whose multi-byte sequences hold no ASCII byte, so no cut falls inside a character.
  const ascii = isAscii(bytes);
  const text = (from: number, to: number) =>
    ascii ? bytes.toString('latin1', from, to) : bytes.toString('utf8', from, to);
  const groups = itemGroups(bytes, groupBytes);
  if (groups.length > 0) {
    const parsed = parseGroups(bytes, groups, text);
    if (parsed !== undefined) return parsed;
  }
  return JSON.parse(text(0, bytes.length)) as Record<string, unknown>;
}

/**
 * Where the Items array is cut: each group as `[open, close]`, the byte offsets of the `[` before
 * its first item (the array's own, then the comma before a cut) and of the comma after its last
 * one. Empty when nothing is cut (a small page, or no Items array found).
 */
export function itemGroups(bytes: Buffer, groupBytes = GROUP_BYTES): [number, number][] {
  const items = bytes.indexOf(ITEMS_OPEN);
  if (items < 0) return [];
  const groups: [number, number][] = [];
  let open = items + ITEMS_OPEN.length - 2;
  for (let close = itemBoundary(bytes, open + groupBytes); close >= 0; ) {
    groups.push([open, close]);
    open = close;
    close = itemBoundary(bytes, open + groupBytes);
  }
  return groups;
}

/** The offset of the comma before the first item that starts at or after `from`, or -1. */
function itemBoundary(bytes: Buffer, from: number): number {
  for (let at = bytes.indexOf(ELEMENT_OPEN, from); at >= 0; at = bytes.indexOf(ELEMENT_OPEN, at + 1)) {
    const keyStart = at + ELEMENT_OPEN.length;
    if (keyStart >= bytes.length || AFTER_STRING.has(bytes[keyStart]!)) continue;
    const keyEnd = bytes.indexOf(QUOTE, keyStart);
    if (keyEnd < 0) return -1;
    const backslash = bytes.indexOf(BACKSLASH, keyStart);
    if (backslash >= 0 && backslash < keyEnd) continue;
    if (keyEnd - keyStart > 4 || !TYPE_TAGS.has(bytes.toString('latin1', keyStart, keyEnd))) return at;
  }
  return -1;
}

function parseGroups(
  bytes: Buffer,
  groups: [number, number][],
  text: (from: number, to: number) => string,
): Record<string, unknown> | undefined {
  const items: unknown[] = [];
  for (const [open, close] of groups) {
    const openByte = bytes[open]!;
    bytes[open] = OPEN_BRACKET;
    bytes[close] = CLOSE_BRACKET;
    const group = text(open, close + 1);
    bytes[open] = openByte;
    bytes[close] = COMMA;
    let parsed: unknown;
    try {
      parsed = JSON.parse(group);
    } catch {
      return undefined;
    }
    if (!Array.isArray(parsed)) return undefined;
    for (const item of parsed) items.push(item);
  }
  // The text up to the array's `[`, then from the last group's closing comma on (that comma left
  // out): the object around Items, with the items after the last cut.
  const firstOpen = groups[0]![0];
  const lastClose = groups.at(-1)![1];
  let rest: Record<string, unknown>;
  try {
    rest = JSON.parse(text(0, firstOpen + 1) + text(lastClose + 1, bytes.length)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (rest === null || typeof rest !== 'object' || !Array.isArray(rest.Items)) return undefined;
  for (const item of rest.Items as unknown[]) items.push(item);
  rest.Items = items as Item[];
  return rest;
}
