/**
 * A Query response parsed in groups of items (lib/aws/trace-store/query-json.ts). Oracles: Node's
 * `JSON.parse` of the whole text as UTF-8 (what the parse must equal), and the cuts the generator
 * knows it made (the commas it wrote between items, and which item starts with an eligible key).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { GROUP_BYTES, itemGroups, parseQueryResponse } from '../../lib/aws/trace-store/query-json.ts';

/** Characters that make JSON's structure inside strings and keys (escaped or not by JSON.stringify). */
const tricky = fc.string({
  unit: fc.constantFrom(',', '{', '}', '"', ':', '[', ']', '\\', ' ', 'a', 'S', 'é', '東', '🙂'),
  maxLength: 8,
});
const TAGS = ['S', 'N', 'B', 'SS', 'NS', 'BS', 'M', 'L', 'NULL', 'BOOL'];

const value: fc.Memo<unknown> = fc.memo((depth) =>
  depth <= 1
    ? fc.oneof(
        tricky.map((s) => ({ S: s })),
        fc.integer().map((n) => ({ N: String(n) })),
        fc.base64String({ maxLength: 12 }).map((b) => ({ B: b })),
        fc.boolean().map((b) => ({ BOOL: b })),
        fc.constant({ NULL: true }),
        fc.array(tricky, { maxLength: 3 }).map((ss) => ({ SS: ss })),
      )
    : fc.oneof(
        value(1),
        fc.dictionary(tricky, value(depth - 1), { maxKeys: 3 }).map((m) => ({ M: m })),
        fc.array(value(depth - 1), { maxLength: 3 }).map((l) => ({ L: l })),
      ),
);

/** An item: attributes in a random order, the first one's name sometimes a type tag or an escaped name. */
const item = fc
  .tuple(
    fc.oneof(
      fc.constantFrom('pk', 'sk', 'b'),
      fc.constantFrom(...TAGS),
      tricky.filter((s) => s.length > 0),
    ),
    value(3),
    fc.dictionary(fc.constantFrom('pk', 'sk', 'ts', 'b', 'enc'), value(3), { maxKeys: 4 }),
  )
  .map(([firstName, firstValue, others]) => {
    const out: Record<string, unknown> = { [firstName]: firstValue };
    for (const [k, v] of Object.entries(others)) if (!(k in out)) out[k] = v;
    return out;
  });

interface Page {
  bytes: Buffer;
  /** Offset of the Items array's `[`. */
  open: number;
  /** Offsets of the commas before items a cut may precede (their first key neither a tag nor escaped). */
  cuttable: number[];
}

/** A response text as DynamoDB writes one (no white space), the members around Items in either order. */
function page(items: Record<string, unknown>[], countFirst: boolean, lastKey: boolean): Page {
  const head = countFirst ? `{"Count":${items.length},"Items":[` : `{"Items":[`;
  const tail = [
    ...(countFirst ? [] : [`"Count":${items.length}`]),
    `"ScannedCount":${items.length + 1}`,
    ...(lastKey ? ['"LastEvaluatedKey":{"pk":{"S":"p"},"sk":{"S":"s,{\\"x\\":1}"}}'] : []),
    '"ConsumedCapacity":{"TableName":"t","CapacityUnits":2.5}',
  ];
  let text = head;
  const cuttable: number[] = [];
  items.forEach((it, i) => {
    if (i > 0) {
      // As the spec has it: a first key not a type tag, written without escapes, not starting
      // with a byte that may follow a closing quote (so `{"` cannot be read as a string's end).
      const first = Object.keys(it)[0]!;
      const plain = JSON.stringify(first) === `"${first}"` && !/^[":,}\] \t\n\r]/.test(first);
      if (first !== '' && plain && !TAGS.includes(first)) {
        cuttable.push(Buffer.byteLength(text));
      }
      text += ',';
    }
    text += JSON.stringify(it);
  });
  text += `],${tail.join(',')}}`;
  return { bytes: Buffer.from(text, 'utf8'), open: Buffer.byteLength(head) - 1, cuttable };
}

/** The cuts a group size asks for, from the generator's own boundaries: each group ends at the first one ≥ groupBytes past its start. */
function expectedGroups(p: Page, groupBytes: number): [number, number][] {
  const out: [number, number][] = [];
  let open = p.open;
  for (;;) {
    const close = p.cuttable.find((c) => c >= open + groupBytes);
    if (close === undefined) return out;
    out.push([open, close]);
    open = close;
  }
}

describe('parseQueryResponse (a Query page parsed in groups of items)', () => {
  it('equals JSON.parse of the whole text, cut exactly at the item boundaries it may use, bytes left as they were', () => {
    fc.assert(
      fc.property(
        fc.array(item, { maxLength: 14 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 400 }),
        (items, countFirst, lastKey, groupBytes) => {
          const p = page(items, countFirst, lastKey);
          const before = Buffer.from(p.bytes);
          const groups = itemGroups(p.bytes, groupBytes);
          assert.deepEqual(groups, expectedGroups(p, groupBytes));
          assert.deepEqual(parseQueryResponse(p.bytes, groupBytes), JSON.parse(before.toString('utf8')));
          assert.ok(p.bytes.equals(before), 'the response bytes changed');
        },
      ),
      { numRuns: 400 },
    );
  });

  it('cuts a page of 600 ~1.3 KB items into texts under V8’s largest regular object (128 KiB)', () => {
    const items = Array.from({ length: 600 }, (_, i) => ({
      pk: { S: `c#e#1796328000#${i % 4}` },
      sk: { S: `0001796328${String(i).padStart(6, '0')}#0001#apps/v1.Deployment#bench/dep-${i}` },
      b: { B: Buffer.alloc(960, i).toString('base64') },
      enc: { S: 'd1' },
    }));
    const p = page(items, true, true);
    const groups = itemGroups(p.bytes);
    // ~800 KB of items in groups of 48 KiB and up to one item more, one after the other; what is
    // left after the last cut (parsed with the object around Items) no longer than a group.
    const itemBytes = JSON.stringify(items[0]).length + 1;
    assert.ok(p.bytes.length > 750_000, `${p.bytes.length} bytes`);
    assert.equal(groups[0]![0], p.open);
    for (const [g, [open, close]] of groups.entries()) {
      assert.ok(close - open >= GROUP_BYTES && close - open <= GROUP_BYTES + itemBytes, `${open}..${close}`);
      if (g > 0) assert.equal(open, groups[g - 1]![1]);
    }
    assert.ok(p.bytes.length - groups.at(-1)![1] < GROUP_BYTES + 2 * itemBytes);
    assert.deepEqual(parseQueryResponse(p.bytes), JSON.parse(p.bytes.toString('latin1')));
  });

  it('falls back to the whole text where a cut would not be items: another array of objects after Items', () => {
    // Not a Query response's shape; a cut found in `Other` must not be taken for an item.
    const text =
      '{"Items":[{"a":{"S":"1"}},{"b":{"S":"2"}}],"Other":[{"x":{"S":"3"}},{"y":{"S":"4"}},{"z":{"S":"5"}}],"Count":2}';
    const bytes = Buffer.from(text);
    assert.deepEqual(itemGroups(bytes, 10), [
      [9, text.indexOf(',{"b"')],
      [text.indexOf(',{"b"'), text.indexOf(',{"y"')],
      [text.indexOf(',{"y"'), text.indexOf(',{"z"')],
    ]);
    assert.deepEqual(parseQueryResponse(bytes, 10), JSON.parse(text));
  });

  it('throws as JSON.parse does on a text that is not JSON', () => {
    const text = '{"Count":2,"Items":[{"a":{"S":"1"}},{"b":{"S":"2"}}';
    assert.throws(() => parseQueryResponse(Buffer.from(text), 1), SyntaxError);
  });

  // The text is read as latin1 when it is ASCII, as UTF-8 otherwise: the same string either way.
  const texts: [string, string][] = [
    ['ASCII', '{"Count":2,"Items":[{"b":{"B":"AAEC/+8="}},{"b":{"B":"AQ=="}}]}'],
    ['a non-ASCII character in the last item', '{"Count":2,"Items":[{"s":{"S":"a"}},{"s":{"S":"naïve"}}]}'],
    [
      '2-, 3- and 4-byte UTF-8 in the first item',
      '{"Items":[{"s":{"S":"東京 🙂"}},{"s":{"S":"x"}}],"Count":2}',
    ],
  ];
  for (const [name, text] of texts) {
    it(`reads ${name} as JSON.parse of its UTF-8 decoding does`, () => {
      for (const groupBytes of [1, 10_000]) {
        assert.deepEqual(parseQueryResponse(Buffer.from(text), groupBytes), JSON.parse(text));
      }
    });
  }
});
