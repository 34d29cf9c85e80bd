/**
 * The live set at a window's start (checkpoints.ts `liveAt`, replay.ts): a checkpoint plus the
 * changes of its replay margin, keeping each object's last version before the start — bodies of
 * superseded versions never decoded or downloaded. Against dynalite + s3rver; every expectation is
 * written by hand from the history the test posts.
 *
 * Mutations caught (each tried by hand): the replay keeping an object's first version instead of
 * its last (tests 1, 2); the shards' pages applied in arrival order instead of merged by ts and seq
 * (test 2); the replay starting at the checkpoint's validFromTs instead of its replayFromTs, so a
 * change the fuzzy snapshot missed is lost (test 3); the late-batch check dropped, so a checkpoint
 * that missed a late change is used (test 3); the range's end included (a change at the start
 * second itself in the start state, test 1); deleted objects kept (test 1).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { exportObjectReads } from '../../lib/export/object-reads.ts';
import { shardOf } from '../../lib/store/keys.ts';
import type { LiveSet } from '../../lib/store/ports.ts';
import { encodeTraceEventInto } from '../../lib/trace/codec.ts';
import { EncodedObject } from '../../lib/trace/encoded-object.ts';
import { Float64 } from '../../lib/trace/float.ts';
import type { KubeObject, TraceEvent } from '../../lib/trace/model.ts';
import { seededRand } from '../support/rand.ts';
import { applied, deleted, localTables, makeStore, NOW, obj } from './support.ts';

const local = localTables();

const D = 'apps/v1.Deployment';
const HOUR = 3600;
/** An hour boundary well inside retention. */
const B = Math.floor((NOW - 10 * HOUR) / HOUR) * HOUR;

/** `name v<spec.v> @ts` of each live object, sorted. */
function summary(live: LiveSet): string[] {
  return live.objects
    .map((c) => `${c.object.metadata.name} v${(c.object.spec as { v: number }).v} @${c.ts - B}`)
    .sort();
}

async function post(store: DynamoTraceStore, nowSec: number, changes: Parameters<typeof applied>[]) {
  await store.applyBatch(
    'c1',
    { changes: changes.map(([ts, object, seq]) => applied(ts, object, seq)) },
    { nowSec },
  );
}

test("each object's last version before the start: checkpoint, then changes over three hour buckets", async () => {
  const store = makeStore(local.aws, { tableName: await local.freshTable() });
  const t0 = B - 2 * HOUR;
  await post(
    store,
    t0,
    ['a', 'b', 'c', 'd', 'e'].map((name) => [t0, obj(D, `ns/${name}`, { v: 1 })]),
  );
  const cp = await store.writeCheckpoint('c1', { nowSec: B });
  const atTs = B + 2 * HOUR;
  // Each batch posted at its changes' time (none late).
  const at = async (ts: number, change: Parameters<typeof store.applyBatch>[1]['changes'][number]) =>
    store.applyBatch('c1', { changes: [change] }, { nowSec: ts });
  await at(B + 100, applied(B + 100, obj(D, 'ns/a', { v: 2 })));
  await at(B + 200, deleted(B + 200, obj(D, 'ns/b', { v: 1 })));
  await at(B + 300, applied(B + 300, obj(D, 'ns/c', { v: 2 })));
  await at(B + 400, applied(B + 400, obj(D, 'ns/f', { v: 1 })));
  await at(B + 500, applied(B + 500, obj(D, 'ns/e', { v: 2 })));
  await at(B + 3700, applied(B + 3700, obj(D, 'ns/a', { v: 3 })));
  await at(B + 3800, applied(B + 3800, obj(D, 'ns/b', { v: 5 })));
  await at(B + 3900, deleted(B + 3900, obj(D, 'ns/c', { v: 2 })));
  // At the start second itself and after: not part of the start state.
  await at(atTs, applied(atTs, obj(D, 'ns/e', { v: 3 })));
  await at(atTs + 100, applied(atTs + 100, obj(D, 'ns/a', { v: 4 })));

  const live = await store.liveAt('c1', atTs);
  assert.equal(live.checkpointTs, cp.validFromTs, 'read from the checkpoint');
  assert.equal(live.complete, true);
  assert.deepEqual(summary(live), ['a v3 @3700', 'b v5 @3800', 'd v1 @-7200', 'e v2 @500', 'f v1 @400']);
  assert.ok(live.objects.every((c) => c.type === 'applied'));
});

test('versions in two shards (the shard count changed) are applied in ts and seq order, not page order', async () => {
  const tableName = await local.freshTable();
  const four = makeStore(local.aws, { tableName, shards: 4 });
  const one = makeStore(local.aws, { tableName, shards: 1 });
  // Objects outside shard 0 of four: their later versions, written with one shard, land in shard 0,
  // whose pages the reader (four shards) takes first.
  const names = ['x1', 'x2', 'x3', 'x4', 'x5', 'x6']
    .filter((n) => shardOf(D, `ns/${n}`, 4) !== 0)
    .slice(0, 2);
  assert.equal(names.length, 2);
  const [x, y] = names as [string, string];
  const t = B + 100;
  await post(four, t, [
    [t, obj(D, `ns/${x}`, { v: 1 })],
    [t, obj(D, `ns/${y}`, { v: 1 }), 1],
  ]);
  // x: a later second; y: the same second, a later seq.
  await post(one, t + 50, [
    [t + 50, obj(D, `ns/${x}`, { v: 2 })],
    [t, obj(D, `ns/${y}`, { v: 2 }), 2],
  ]);
  const live = await four.liveAt('c1', B + HOUR);
  assert.equal(live.checkpointTs, undefined);
  assert.deepEqual(summary(live), [`${x} v2 @150`, `${y} v2 @100`].sort());
});

test('a change the fuzzy snapshot missed is replayed; a checkpoint a late batch may have missed is skipped', async () => {
  const store = makeStore(local.aws, { tableName: await local.freshTable() });
  const t0 = B - 2 * HOUR;
  await post(store, t0, [
    [t0, obj(D, 'ns/a', { v: 1 })],
    [t0, obj(D, 'ns/b', { v: 1 })],
  ]);
  await post(store, B - 100, [[B - 100, obj(D, 'ns/a', { v: 2 })]]);
  const cp = await store.writeCheckpoint('c1', { nowSec: B });
  // The snapshot's newest change is a's: valid from the second after it, replayed from 25 minutes
  // (lateMarginSec 600 + maxBatchSec 900) before it was built.
  assert.equal(cp.validFromTs, B - 99);
  assert.equal(cp.replayFromTs, B - 1500);
  // Posted a minute after the snapshot, 500 s old: not late, so no record of it anywhere but the
  // events — and older than the checkpoint's validFromTs.
  await post(store, B + 60, [[B - 500, obj(D, 'ns/b', { v: 2 })]]);
  const live = await store.liveAt('c1', B + 100);
  assert.equal(live.checkpointTs, cp.validFromTs);
  assert.deepEqual(summary(live), ['a v2 @-100', 'b v2 @-500']);

  // A late batch (2,000 s old at ingest, older than the replay start) after the snapshot: the
  // checkpoint may lack it, so the live set is rebuilt from the whole history instead.
  await post(store, B + 120, [[B - 2000, obj(D, 'ns/c', { v: 1 })]]);
  const rebuilt = await store.liveAt('c1', B + 100);
  assert.equal(rebuilt.checkpointTs, undefined);
  assert.deepEqual(summary(rebuilt), ['a v2 @-100', 'b v2 @-500', 'c v1 @-2000']);
});

test('a superseded version is never downloaded; a missing last version is an error, not a gap', async () => {
  const store = makeStore(local.aws, { tableName: await local.freshTable() });
  // ~600 KB of incompressible data: the body goes to the blob store.
  const big = (v: number) =>
    obj(D, 'ns/big', { v }, { data: { blob: randomBytes(450_000).toString('base64') } } as never);
  await post(store, B + 10, [[B + 10, big(1)]]);
  await post(store, B + 20, [[B + 20, obj(D, 'ns/big', { v: 2 })]]);
  const listed = await local.aws.s3.send(
    new ListObjectsV2Command({ Bucket: local.aws.bucket, Prefix: 'bodies/c1/' }),
  );
  const keys = (listed.Contents ?? []).map((o) => o.Key!);
  assert.equal(keys.length, 1);
  await local.aws.s3.send(new DeleteObjectCommand({ Bucket: local.aws.bucket, Key: keys[0] }));
  // v1's blob is gone, but v2 (inline) superseded it.
  assert.deepEqual(summary(await store.liveAt('c1', B + HOUR)), ['big v2 @20']);
  // At B + 15 v1 is the last version: its body is needed, and missing.
  await assert.rejects(store.liveAt('c1', B + 15), { code: 'store_blob_missing' });
});

// --- The start state transcoded (liveAt with the export's plan) -------------------------------

const PLAN = exportObjectReads({
  'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/template'] },
  'v1.Pod': { podSpecTemplatePaths: [''] },
});

/** The start event's bytes for the live set's objects, in its order. */
function startEventBytes(live: LiveSet): Buffer {
  const pieces: Uint8Array[] = [];
  const event: TraceEvent = { ts: 1, applied_objs: live.objects.map((c) => c.object), deleted_objs: [] };
  encodeTraceEventInto(event, (b) => pieces.push(b.slice()));
  return Buffer.concat(pieces);
}

/**
 * Contents the transcoder must carry exactly, as a sender's objects hold them: integral floats
 * (Float64, written `2.0`), integers beyond 2^53 (as doubles: JSON writes their digits), unicode
 * keys, index-like keys; and one it refuses, a lone surrogate (the checkpoint holding it is then
 * parsed whole; a replayed version holding it is decoded alone).
 */
const CONTENTS: ((rand: (n: number) => number) => unknown)[] = [
  (r) => ({ f: new Float64(r(5)), g: new Float64(-0), h: 1.5, n: r(1000) }),
  () => ({ big: 2 ** 64 + 2 ** 12, neg: -(2 ** 53) - 2, u32: 4294967296 }),
  (r) => ({ ключ: 'é中😀', '7': { '0': r(3) }, 'a b': [null, true, {}] }),
  () => ({ template: { spec: { serviceAccountName: 'sa', containers: [{ name: 'c', env: [] }] } } }),
  () => ({ odd: '\ud800' }),
];

test('transcoded, the live set is the object path’s byte for byte: random histories with deletions and blob bodies', async () => {
  // Mutations caught (each tried by hand): a checkpoint entry's owners dropped (the Pods' `w`
  // differ); the replay's last versions left on the object path (no error, so the test counts
  // both kinds transcoded: "… / 0"). The last run's checkpoint holds a lone surrogate: parsed
  // whole, as before, beside transcoded replayed versions.
  const rand = seededRand(13);
  let transcodedCheckpoint = 0;
  let transcodedReplayed = 0;
  for (let run = 0; run < 4; run++) {
    // 300-byte inline limit: bodies with larger contents go to s3rver.
    const store = makeStore(local.aws, { tableName: await local.freshTable(), inlineBodyLimitBytes: 300 });
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    const version = (name: string, v: number) => {
      const pick = rand(CONTENTS.length + 2);
      // The refused content only in the last run (the others' checkpoints come transcoded), where
      // the checkpoint surely holds it (a's first version).
      const refused = CONTENTS.length - 1;
      const content =
        run === 3 && name === 'a' && v === 1
          ? CONTENTS[refused]!(rand)
          : pick >= CONTENTS.length || (pick === refused && run !== 3)
            ? undefined
            : CONTENTS[pick]!(rand);
      const big = rand(4) === 0 ? { pad: randomBytes(400).toString('base64') } : {};
      const kind = names.indexOf(name) % 2 === 0 ? D : 'v1.Pod';
      return obj(
        kind === D ? D : 'v1.Pod',
        `ns/${name}`,
        { v, ...(content === undefined ? {} : { content }), ...big },
        {
          metadata: {
            namespace: 'ns',
            name,
            labels: { app: name },
            ...(rand(3) === 0
              ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'r' }] }
              : {}),
          },
        } as Partial<KubeObject>,
      );
    };
    const t0 = B - 2 * HOUR;
    // Pods with an owner chain resolved by the sender (the body's `w`).
    const withOwners = (change: ReturnType<typeof applied>) =>
      change.object.kind === 'Pod'
        ? {
            ...change,
            owners: [
              { gvk: 'apps/v1.ReplicaSet', ns_name: 'ns/r' },
              { gvk: D, ns_name: `ns/${change.object.metadata.name}` },
            ],
          }
        : change;
    await store.applyBatch(
      'c1',
      { changes: names.map((name) => withOwners(applied(t0, version(name, 1)))) },
      { nowSec: t0 },
    );
    const cp = await store.writeCheckpoint('c1', { nowSec: B });
    // The replay margin (from cp.replayFromTs) and after: applied versions and deletions.
    let ts = cp.replayFromTs;
    for (let k = 0; k < 24; k++) {
      ts += 1 + rand(120);
      const name = names[rand(names.length)]!;
      const change =
        rand(4) === 0 ? deleted(ts, version(name, 0)) : withOwners(applied(ts, version(name, k + 2)));
      await store.applyBatch('c1', { changes: [change] }, { nowSec: ts });
    }
    for (const atTs of [cp.validFromTs, cp.replayFromTs + 900, ts + 1]) {
      const want = await store.liveAt('c1', atTs);
      const got = await store.liveAt('c1', atTs, undefined, { encodedObjects: Promise.resolve(PLAN) });
      assert.equal(got.checkpointTs, cp.validFromTs);
      assert.equal(got.objects.length, want.objects.length, `run ${run} at ${atTs}`);
      for (let i = 0; i < got.objects.length; i++) {
        const g = got.objects[i]!;
        const w = want.objects[i]!;
        assert.equal(g.ts, w.ts);
        assert.equal(g.type, w.type);
        assert.deepEqual(g.owners, w.owners);
        if (g.object instanceof EncodedObject) {
          assert.deepEqual(g.object.fullObject(), w.object);
          if (g.ts === t0) transcodedCheckpoint++;
          else transcodedReplayed++;
        } else {
          assert.deepEqual(g.object, w.object);
        }
      }
      assert.deepEqual(startEventBytes(got), startEventBytes(want), `run ${run} at ${atTs}: start event`);
    }
  }
  assert.ok(
    transcodedCheckpoint >= 10 && transcodedReplayed >= 10,
    `${transcodedCheckpoint} / ${transcodedReplayed}`,
  );
});

// --- Margin versions the checkpoint already holds (checkpoint body v3's digests) ---------------

/** `name v<spec.v> @ts` of each live object, sorted, whether decoded whole or transcoded. */
function contents(live: LiveSet): string[] {
  return live.objects
    .map((c) => {
      const o = c.object instanceof EncodedObject ? c.object.fullObject() : c.object;
      return `${o.metadata.name} v${(o.spec as { v: number }).v} @${c.ts - B}`;
    })
    .sort();
}

test('a margin version whose body the checkpoint holds is taken from it, not downloaded; a v2 checkpoint has no digests to match', async () => {
  // Mutations caught (each tried by hand): the match always false (the deleted blob is downloaded:
  // store_blob_missing); the match by (ts, seq) alone (x: the same second and seq, another body,
  // posted after the snapshot — the checkpoint's v2 comes out instead of v3); by ts alone (y: the
  // same second, a later seq).
  for (const format of [undefined, 'msgpack2'] as const) {
    const tableName = await local.freshTable();
    const store = makeStore(local.aws, {
      tableName,
      ...(format ? { checkpointFormat: format } : {}),
    });
    const big = (v: number) =>
      obj(D, 'ns/big', { v }, { data: { blob: randomBytes(450_000).toString('base64') } } as never);
    const bodyBlobs = async () =>
      (
        (
          await local.aws.s3.send(
            new ListObjectsV2Command({ Bucket: local.aws.bucket, Prefix: 'bodies/c1/' }),
          )
        ).Contents ?? []
      ).map((o) => o.Key!);
    const before = await bodyBlobs();
    const t0 = B - 2 * HOUR;
    await post(store, t0, [
      [t0, obj(D, 'ns/x', { v: 1 })],
      [t0, obj(D, 'ns/y', { v: 1 })],
      [t0, obj(D, 'ns/z', { v: 1 })],
      [t0, big(1)],
    ]);
    // In the margin, before the snapshot: the checkpoint holds these versions.
    await post(store, B - 400, [[B - 400, big(2)]]);
    await post(store, B - 300, [[B - 300, obj(D, 'ns/x', { v: 2 })]]);
    await post(store, B - 200, [[B - 200, obj(D, 'ns/y', { v: 2 }), 1]]);
    await post(store, B - 100, [[B - 100, obj(D, 'ns/z', { v: 2 })]]);
    const cp = await store.writeCheckpoint('c1', { nowSec: B });
    assert.ok(cp.replayFromTs < B - 400);
    // After the snapshot, not late: x again at its very (ts, seq) with another body (a sender
    // without seqs sends 0 for every change); y in its second at a later seq.
    await post(store, B + 30, [[B - 300, obj(D, 'ns/x', { v: 3 })]]);
    await post(store, B + 30, [[B - 200, obj(D, 'ns/y', { v: 3 }), 2]]);
    // big's blobs are gone (this test's: the bucket is the file's): only the checkpoint's copy of
    // big v2 remains.
    const blobs = (await bodyBlobs()).filter((key) => !before.includes(key));
    assert.equal(blobs.length, 2);
    for (const key of blobs) {
      await local.aws.s3.send(new DeleteObjectCommand({ Bucket: local.aws.bucket, Key: key }));
    }
    const want = ['big v2 @-400', 'x v3 @-300', 'y v3 @-200', 'z v2 @-100'];
    for (const options of [{}, { encodedObjects: Promise.resolve(PLAN) }]) {
      const read = store.liveAt('c1', B + 60, undefined, options);
      if (format === 'msgpack2') {
        await assert.rejects(read, { code: 'store_blob_missing' });
        continue;
      }
      const live = await read;
      assert.equal(live.checkpointTs, cp.validFromTs);
      assert.deepEqual(contents(live), want);
    }
  }
});

test('random histories with the checkpoint amid the margin: the live set is a simple model’s', async () => {
  // The model: each object's state moves on to a change not older (ts, then seq) than it — a
  // deletion only of a live object — and that change's event fills its (ts, object) slot; the
  // live set at atTs is each object's newest event before atTs, if applied. Changes after the
  // snapshot rewrite margin versions at their very (ts, seq) or at a later seq of their second, or
  // come later. Each live object's trace bytes are the posted version's. Mutations caught: the
  // match by (ts, seq) or by ts alone, or always taken.
  type Posted = { ts: number; seq: number; name: string; type: 'applied' | 'deleted'; v: number };
  const rand = seededRand(8);
  let compared = 0;
  for (let run = 0; run < 6; run++) {
    const store = makeStore(local.aws, { tableName: await local.freshTable(), inlineBodyLimitBytes: 300 });
    const names = ['a', 'b', 'c', 'd', 'e'];
    const state = new Map<string, Posted & { live: boolean }>();
    const slots = new Map<string, Posted>();
    let v = 0;
    const version = (name: string, at: number) =>
      obj(
        D,
        `ns/${name}`,
        { v: at },
        (rand(4) === 0 ? { data: { pad: randomBytes(400).toString('base64') } } : {}) as never,
      );
    // Each posted version's object, by v: what the live set's must encode to (trace bytes).
    const posted = new Map<number, KubeObject>();
    const send = async (c: Posted, nowSec: number) => {
      const object = version(c.name, c.v);
      posted.set(c.v, object);
      const change = c.type === 'applied' ? applied(c.ts, object, c.seq) : deleted(c.ts, object, c.seq);
      await store.applyBatch('c1', { changes: [change] }, { nowSec });
      const cur = state.get(c.name);
      const older = cur !== undefined && (c.ts < cur.ts || (c.ts === cur.ts && c.seq < cur.seq));
      if (older || (c.type === 'deleted' && !cur?.live)) return;
      state.set(c.name, { ...c, live: c.type === 'applied' });
      slots.set(`${c.ts} ${c.name}`, c);
    };
    const t0 = B - 2 * HOUR;
    for (const name of names) await send({ ts: t0, seq: 0, name, type: 'applied', v: ++v }, t0);
    // Before the snapshot, inside the margin (replayFromTs is B − 1,500) and young enough to be
    // rewritten after it without being late (lateMarginSec 600).
    const margin: Posted[] = [];
    let ts = B - 560;
    for (let k = 0; k < 12; k++) {
      ts += rand(3) === 0 ? 0 : 1 + rand(40);
      const c: Posted = {
        ts,
        seq: rand(3),
        name: names[rand(names.length)]!,
        type: rand(5) === 0 ? 'deleted' : 'applied',
        v: ++v,
      };
      margin.push(c);
      await send(c, Math.max(ts, B - 560));
    }
    const cp = await store.writeCheckpoint('c1', { nowSec: B });
    assert.equal(cp.replayFromTs, B - 1500);
    let after = B;
    for (let k = 0; k < 12; k++) {
      const pick = rand(3);
      const old = margin[rand(margin.length)]!;
      if (pick === 2) after += 1 + rand(200);
      const c: Posted =
        pick === 0
          ? { ...old, type: 'applied', v: ++v }
          : pick === 1
            ? { ...old, seq: old.seq + 1 + rand(2), type: rand(4) === 0 ? 'deleted' : 'applied', v: ++v }
            : {
                ts: after,
                seq: rand(3),
                name: names[rand(names.length)]!,
                type: rand(4) === 0 ? 'deleted' : 'applied',
                v: ++v,
              };
      await send(c, B + 30 + k);
    }
    for (const atTs of [cp.validFromTs, B + 1, B + 300, after + 1]) {
      const want: string[] = [];
      for (const name of names) {
        let last: Posted | undefined;
        for (const c of slots.values()) {
          if (c.name !== name || c.ts >= atTs) continue;
          if (!last || c.ts > last.ts || (c.ts === last.ts && c.seq > last.seq)) last = c;
        }
        if (last?.type === 'applied') want.push(`${name} v${last.v} @${last.ts - B}`);
      }
      for (const options of [{}, { encodedObjects: Promise.resolve(PLAN) }]) {
        const live = await store.liveAt('c1', atTs, undefined, options);
        assert.equal(live.checkpointTs, cp.validFromTs, `run ${run}: the checkpoint is used`);
        assert.deepEqual(contents(live), want.sort(), `run ${run} at ${atTs - B}`);
        // Taken from the checkpoint or decoded, each object encodes as the version posted.
        for (const c of live.objects) {
          const v = (
            (c.object instanceof EncodedObject ? c.object.fullObject() : c.object).spec as { v: number }
          ).v;
          const one = (object: KubeObject) => startEventBytes({ ...live, objects: [{ ...c, object }] });
          assert.deepEqual(one(c.object), one(posted.get(v)!), `run ${run} at ${atTs - B}: v${v}'s bytes`);
        }
        compared++;
      }
    }
  }
  assert.equal(compared, 48);
});
