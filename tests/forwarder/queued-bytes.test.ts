/**
 * JsonArena's memory (lib/forwarder/queued-bytes.ts): a chunk dropped once none of its changes is
 * queued gives its bytes back at once (its ArrayBuffer detached), and never while one is.
 * delivery.test.ts checks that every queued change still reads back as its JSON.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JsonArena, type Queued } from '../../lib/forwarder/queued-bytes.ts';
import type { Change } from '../../lib/ingest/wire.ts';

const change = (i: number): Change => ({
  type: 'applied',
  ts: 1_700_000_000,
  seq: i,
  object: {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { namespace: 'ns', name: `cm-${i}` },
    data: { pad: 'x'.repeat(4000) },
  },
});

test('JsonArena: chunks dropped after their last change left are freed at once; spares, the current chunk and chunks still holding a change are not', () => {
  const arena = new JsonArena();
  const queued: Queued[] = [];
  // ~4 KB changes: 64 per 256 KiB chunk; 6 chunks' worth.
  for (let i = 0; i < 6 * 64; i++) queued.push(arena.add(change(i), 0));
  const chunks = [...new Set(queued.map((q) => q.chunk))];
  assert.ok(chunks.length >= 6, `${chunks.length} chunks`);
  const freed = () => chunks.map((c) => c.buf.buffer.byteLength === 0);
  // Every change but the last of the first chunk leaves: nothing is freed.
  const first = queued.filter((q) => q.chunk === chunks[0]);
  arena.release(first.slice(0, -1));
  assert.deepEqual(
    freed(),
    chunks.map(() => false),
  );
  assert.equal(arena.json(first.at(-1)!), JSON.stringify(change(first.length - 1)));
  // Everything leaves: two chunks become spares, the current one stays, the rest are freed.
  arena.release(queued.filter((q) => q !== first.at(-1) && q.chunk !== chunks[0]));
  arena.release([first.at(-1)!]);
  const current = chunks.at(-1)!;
  const afterRelease = freed();
  assert.equal(afterRelease.at(-1), false, 'the current chunk is kept');
  assert.equal(afterRelease.filter((f) => !f).length, 3, `freed: ${afterRelease.join()}`);
  // Reused chunks still hold new changes correctly.
  const again = arena.add(change(9999), 0);
  assert.equal(arena.json(again), JSON.stringify(change(9999)));
  arena.release([again]);
  // trim() gives back the spares and the empty current chunk too.
  arena.trim();
  assert.deepEqual(
    freed(),
    chunks.map(() => true),
  );
  assert.equal(current.buf.length, 0);
});
