import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateBatch } from '../../lib/ingest/validate.ts';
import type { Change } from '../../lib/ingest/wire.ts';
import { importPodId, summarizeForImport, toBatches, traceToChanges } from '../../lib/roundtrip/import.ts';
import { generatedTrace, T0 } from './fixtures.ts';

describe('traceToChanges', () => {
  const trace = generatedTrace({ emptyFirstEvent: true });
  const changes = traceToChanges(trace);

  it('starts with the config at the first second', () => {
    assert.deepEqual(changes[0], { type: 'config', ts: T0, config: trace.config });
  });

  it('sends every object as it is in the file, applied before deleted, seq counting up within a second', () => {
    const objects = changes.filter((c) => c.type === 'applied' || c.type === 'deleted');
    const fromFile = trace.events.flatMap((e) => [
      ...e.applied_objs.map((o) => ['applied', e.ts, o]),
      ...e.deleted_objs.map((o) => ['deleted', e.ts, o]),
    ]);
    assert.deepEqual(
      objects.map((c) => [c.type, c.ts, (c as { object: unknown }).object]),
      fromFile,
    );
    // Same object identity: nothing rewritten on the way.
    assert.equal((objects[0] as { object: unknown }).object, trace.events[1]!.applied_objs[0]);
    const firstSecond = objects.filter((c) => c.ts === T0).map((c) => (c as { seq?: number }).seq);
    assert.deepEqual(firstSecond, [0, 1, 2, 3, 4]);
    assert.equal((objects.find((c) => c.ts === T0 + 10) as { seq?: number }).seq, 0);
  });

  it('sends lifecycles with synthesised pod ids that keep the file order and stay unique', () => {
    const lcs = changes.filter((c): c is Extract<Change, { type: 'lifecycle' }> => c.type === 'lifecycle');
    assert.equal(lcs.length, 8);
    const web = lcs.filter((c) => c.owner.ns_name === 'shop/web' && c.pod_spec_hash === '33333');
    assert.deepEqual(
      web.map((c) => c.pod),
      [importPodId(T0 + 41, 0), importPodId(T0 + 41, 1)],
    );
    assert.ok(importPodId(T0 + 41, 0) < importPodId(T0 + 41, 1));
    assert.equal(importPodId(5, 7), 'import-5-000007');
    const cron = lcs.filter((c) => c.owner.gvk === 'batch/v1.CronJob');
    assert.deepEqual(
      cron.map((c) => [c.ts, c.start_ts, c.end_ts, c.pod_spec_hash]),
      [
        [T0 + 15, T0 + 5, T0 + 15, '11111111111111111111'],
        [T0 + 75, T0 + 65, T0 + 75, '11111111111111111111'],
      ],
    );
    const running = lcs.find((c) => c.owner.ns_name === 'shop/bare-2')!;
    assert.equal(running.end_ts, undefined);
    assert.equal(running.ts, T0 + 62);
  });

  it('makes batches the ingest validation accepts', () => {
    for (const batch of toBatches(changes))
      validateBatch(JSON.parse(JSON.stringify(batch)), { nowSec: T0 + 1000, maxSkewSec: 300 });
  });

  it('summarises the trace: window including lifecycles, counts', () => {
    assert.deepEqual(summarizeForImport(trace), {
      firstTs: T0,
      lastTs: T0 + 100,
      events: 11,
      applied: 13,
      deleted: 2,
      lifecycles: 8,
    });
  });
});

describe('toBatches', () => {
  const change = (i: number): Change => ({ type: 'config', ts: i, config: { trackedObjects: {} } });
  const cases: [string, number, { maxChanges: number; maxBytes: number }, number[]][] = [
    ['one batch when small', 5, { maxChanges: 10, maxBytes: 1_000_000 }, [5]],
    ['cut by count', 25, { maxChanges: 10, maxBytes: 1_000_000 }, [10, 10, 5]],
    ['cut by bytes', 6, { maxChanges: 100, maxBytes: 201 }, [2, 2, 2]],
    ['an oversized change alone', 3, { maxChanges: 100, maxBytes: 10 }, [1, 1, 1]],
    ['nothing', 0, { maxChanges: 10, maxBytes: 100 }, []],
  ];
  for (const [name, n, limits, sizes] of cases) {
    it(name, () => {
      const changes = Array.from({ length: n }, (_, i) => change(i));
      const batches = toBatches(changes, limits, () => 99);
      assert.deepEqual(
        batches.map((b) => b.changes.length),
        sizes,
      );
      assert.deepEqual(
        batches.flatMap((b) => b.changes),
        changes,
        'order and content kept',
      );
    });
  }
});
