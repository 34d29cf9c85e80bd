/**
 * lib/kube/lines.ts against a deliberately naive oracle: the whole response decoded at once and
 * split at every newline (the last piece is a line only when not empty: a response may end
 * without a final newline). Random texts (ASCII, 2-, 3- and 4-byte UTF-8 characters, empty
 * lines, long lines), cut at random byte positions (so multi-byte characters split across
 * chunks) or, as string chunks, at random character positions, read through a random mix of
 * `next()` and `nextBatch()`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitLines } from '../../lib/kube/lines.ts';
import { seededRand } from '../support/rand.ts';

const PIECES = ['a', 'Z', '{', '"', ':', ' ', 'é', 'ß', '日本', '€', '😀', '\n', '\n', '\n\n'];

function randomText(rand: (n: number) => number): string {
  const n = rand(4) === 0 ? rand(3) : rand(200);
  let text = '';
  for (let i = 0; i < n; i++) {
    // Now and then a long run without a newline: a line over many chunks.
    text += rand(20) === 0 ? 'x'.repeat(rand(300)) : PIECES[rand(PIECES.length)]!;
  }
  return text;
}

/** The oracle: split the whole text at once. */
function naiveLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** Cuts `whole` (bytes or characters) at random positions into chunks, some of them empty. */
function cuts(length: number, rand: (n: number) => number): number[] {
  const at = [0];
  let pos = 0;
  while (pos < length) {
    pos = Math.min(length, pos + (rand(3) === 0 ? rand(4) : 1 + rand(length)));
    at.push(pos);
  }
  return at;
}

async function* asChunks<T>(parts: T[]): AsyncGenerator<T> {
  for (const p of parts) yield p;
}

async function readAll(
  it: ReturnType<typeof splitLines>,
  rand: (n: number) => number,
): Promise<{ lines: string[]; emptyBatches: number }> {
  const lines: string[] = [];
  let emptyBatches = 0;
  for (;;) {
    if (rand(2) === 0) {
      const r = await it.next();
      if (r.done) break;
      lines.push(r.value);
    } else {
      const batch = await it.nextBatch();
      if (batch === undefined) break;
      if (batch.length === 0) emptyBatches++;
      lines.push(...batch);
    }
  }
  return { lines, emptyBatches };
}

test('splitLines: every random chunking of random text gives the lines of one naive split, read by next() and nextBatch() mixed', async () => {
  const rand = seededRand(0x5eed11);
  for (let round = 0; round < 600; round++) {
    const text = randomText(rand);
    const want = naiveLines(text);
    const bytes = Buffer.from(text, 'utf8');
    const byteCuts = cuts(bytes.length, rand);
    const byteChunks = byteCuts.slice(1).map((end, i) => bytes.subarray(byteCuts[i]!, end));
    const got = await readAll(splitLines(asChunks(byteChunks), 1 << 20), rand);
    assert.deepEqual(got.lines, want, `round ${round}, byte chunks at ${byteCuts.join(',')}`);
    assert.equal(got.emptyBatches, 0, 'nextBatch() never answers an empty batch');

    const charCuts = cuts(text.length, rand);
    const stringChunks = charCuts.slice(1).map((end, i) => text.slice(charCuts[i]!, end));
    const gotS = await readAll(splitLines(asChunks(stringChunks), 1 << 20), rand);
    assert.deepEqual(gotS.lines, want, `round ${round}, string chunks at ${charCuts.join(',')}`);
  }
});

test('splitLines: nextBatch() hands out what next() left of a chunk, then the next chunk whole, then undefined for good', async () => {
  const it = splitLines(asChunks(['a\nb\nc\n', 'd\ne', 'f\n', 'g']), 100);
  assert.deepEqual(await it.next(), { value: 'a', done: false });
  assert.deepEqual(await it.nextBatch(), ['b', 'c']);
  assert.deepEqual(await it.nextBatch(), ['d']);
  assert.deepEqual(await it.nextBatch(), ['ef']);
  assert.deepEqual(await it.next(), { value: 'g', done: false });
  assert.equal(await it.nextBatch(), undefined);
  assert.equal(await it.nextBatch(), undefined);
  assert.deepEqual(await it.next(), { value: undefined, done: true });
});
