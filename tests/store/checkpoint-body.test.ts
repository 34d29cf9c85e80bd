/**
 * The checkpoint body of versions 2 and 3 (lib/store/checkpoint-body.ts: each object as its trace
 * bytes; v3 with each stored body's digest) against version 1 (JSON, read by the transcoder or parsed whole), kept as the oracle: the same
 * live set written both ways reads back as the same objects — the same trace bytes, the same
 * captured parts, the same whole object and spec hash, the same owners and ts. Old (v1) checkpoints
 * and v2 are still read, through the store too; v3's digests read back as written; a damaged body is refused with a StoreError naming the
 * damage, and a blob that does not match its key's digest is refused before it is read.
 *
 * Mutations caught (each applied by hand): the capture walker not filling an array's uncaptured
 * elements with null, or a presence path captured as the value (the random comparison); -0.0 or
 * an integral float decoded as an integer (the float contents); `__proto__` set as the prototype
 * (the hand-written contents); truncation or a changed version byte accepted (the damage cases);
 * the digest check dropped (the store case); the v1 fallback for a lone surrogate dropped; a v3
 * entry's digest read from the wrong place (the random comparison).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import type { CheckpointFormat } from '../../lib/aws/trace-store/checkpoints.ts';
import { exportObjectReads } from '../../lib/export/object-reads.ts';
import { decodeCheckpointObjects, encodeBinaryBody, encodeBody } from '../../lib/store/body-codec.ts';
import { decodeCheckpointMsgpack, encodeCheckpointMsgpack } from '../../lib/store/checkpoint-body.ts';
import { StoreError } from '../../lib/store/errors.ts';
import { EncodedObject } from '../../lib/trace/encoded-object.ts';
import { Float64, parseJson } from '../../lib/trace/float.ts';
import { specHash } from '../../lib/trace/hash.ts';
import type { KubeObject, ObjectRef } from '../../lib/trace/model.ts';
import { applied, localTables, makeStore, NOW, obj } from './support.ts';

const TRACKED = {
  'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/template'] },
  'v1.Pod': { podSpecTemplatePaths: [''] },
  'batch/v1.CronJob': { podSpecTemplatePaths: ['/spec/jobTemplate/spec/template'] },
};
const PLAN = exportObjectReads(TRACKED);
const HEADER = { cluster: 'c1', validFromTs: 2000, replayFromTs: 1000 };

type Entry = { ts: number; digest?: Uint8Array; o: KubeObject; w: ObjectRef[] };

/** A v1 body as checkpoints.ts wrote it before version 2. */
const v1Body = (objects: Entry[]) =>
  encodeBody({ v: 1, ...HEADER, objects: objects.map(({ ts, o, w }) => ({ ts, o, w })) });
const v2Body = (objects: Entry[]) => encodeBinaryBody(encodeCheckpointMsgpack(HEADER, objects, 2)!);
const v3Body = (objects: Entry[]) => encodeBinaryBody(encodeCheckpointMsgpack(HEADER, withDigests(objects))!);

/** Each entry with a 16-byte digest of its own (its index and ts: any bytes will do). */
function withDigests(objects: Entry[]): Entry[] {
  return objects.map((e, k) => {
    const digest = Buffer.alloc(16, k & 0xff);
    digest.writeUIntBE(e.ts, 0, 6);
    return { ...e, digest };
  });
}

/** What an export reads of a decoded checkpoint object: its trace bytes, own fields, whole object, hash. */
function view(o: KubeObject) {
  if (!(o instanceof EncodedObject)) return { plain: o };
  const whole = o.fullObject();
  return {
    fields: { ...o },
    bytes: Buffer.from(o.takeMsgpack()!),
    whole,
    hash: o.specHashFromBytes() ?? specHash(whole.spec),
  };
}

/** Contents that must survive exactly (as stored JSON text holds them). */
const CONTENT_TEXTS = [
  '{"f":2.0,"g":-0.0,"h":1e3,"i":1.5,"j":-7,"k":0.1}',
  '{"big":12345678901234567890,"u32":4294967296,"neg":-4294967297,"i64":-9007199254740991}',
  '{"s":"é中😀","e":"tab\\t quote\\" nul\\u0000 \\ud83d\\ude00","long":"' + 'x'.repeat(300) + '"}',
  '{"b":1,"0":2,"10":3,"2":4,"a":{"7":"x","y":"z"},"__proto__":{"polluted":true}}',
  '{"empty":{},"none":[],"n":null,"t":true,"f":false,"list":[[],{},[{}]]}',
  `{"deep":${'{"d":'.repeat(60)}[1]${'}'.repeat(60)}}`,
];

function deployment(name: string, content: unknown, withStatus: boolean): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'a', labels: { app: name }, ownerReferences: [] },
    spec: {
      replicas: 2,
      template: {
        metadata: { labels: { app: name } },
        spec: {
          // Elements before and after the one that captures something capture nothing (arrays of
          // captured parts hold null for them, as the transcoder's do).
          containers: [
            { name: 'c', image: 'i:1' },
            {
              name: 'd',
              image: 'i:2',
              env: [
                { name: 'A', value: '1' },
                { name: 'X', valueFrom: { configMapKeyRef: { name: 'cm', key: 'k' } } },
                { name: 'Z', value: '2' },
              ],
            },
            { name: 'e', image: 'i:3' },
          ],
          volumes: [{ name: 'v', secret: { secretName: 's' } }],
          serviceAccountName: 'sa',
        },
      },
      content,
    },
    ...(withStatus ? { status: content ?? null } : {}),
  };
}

describe('checkpoint bodies v2 and v3 against v1', () => {
  for (const [version, body] of [
    [2, v2Body],
    [3, v3Body],
  ] as const) {
    it(`v${version} reads hand-written contents back as v1 does (bytes, captured parts, whole object, hash)`, () => {
      readsHandWritten(body, version);
    });
  }

  function readsHandWritten(body: (objects: Entry[]) => Uint8Array, version: 2 | 3) {
    const objects: Entry[] = CONTENT_TEXTS.map((text, i) => ({
      ts: 1000 + i,
      o: deployment(`d${i}`, parseJson(text), i % 2 === 0),
      w: i === 1 ? [{ gvk: 'apps/v1.Deployment', nsName: 'a/owner' }] : [],
    }));
    const want = decodeCheckpointObjects(v1Body(objects), 'd1', PLAN);
    const got = decodeCheckpointObjects(body(objects), 'd1', PLAN);
    assert.equal(got.length, want.length);
    const digests = withDigests(objects).map((e) => e.digest);
    for (let k = 0; k < got.length; k++) {
      assert.equal(got[k]!.ts, want[k]!.ts);
      const digest = got[k]!.digest && Buffer.from(got[k]!.digest!);
      assert.deepEqual(digest, version === 2 ? undefined : digests[k]);
      assert.deepEqual(got[k]!.w, want[k]!.w);
      assert.ok(got[k]!.o instanceof EncodedObject, `object ${k} carries its bytes`);
      assert.deepEqual(view(got[k]!.o), view(want[k]!.o), `object ${k}`);
    }
    // The `__proto__` key is an own key of the whole object, not its prototype.
    const proto = (got[3]!.o as EncodedObject).fullObject();
    const content = (proto.spec as { content: Record<string, unknown> }).content;
    assert.ok(Object.hasOwn(content, '__proto__'));
    assert.equal(Object.getPrototypeOf(content), Object.prototype);
    // Integral floats stay floats.
    const floats = ((got[0]!.o as EncodedObject).fullObject().spec as { content: Record<string, unknown> })
      .content;
    assert.ok(floats.f instanceof Float64 && floats.g instanceof Float64 && Object.is(floats.g.value, -0));
  }

  it('v2 and v3 read random live sets back as v1 does, with and without a capture plan', () => {
    const content = fc.oneof(
      fc.constantFrom(...CONTENT_TEXTS).map((t) => parseJson(t)),
      fc.jsonValue({ maxDepth: 3 }),
      fc.constant(undefined),
    );
    const entry = fc.record({
      ts: fc.integer({ min: 0, max: 2 ** 40 }),
      content,
      status: fc.boolean(),
      owners: fc.array(fc.record({ gvk: fc.constant('apps/v1.ReplicaSet'), nsName: fc.string() }), {
        maxLength: 2,
      }),
    });
    fc.assert(
      fc.property(
        fc.array(entry, { maxLength: 8 }),
        fc.constantFrom(2 as const, 3 as const),
        (entries, version) => {
          const objects: Entry[] = entries.map((e, i) => ({
            ts: e.ts,
            o: deployment(`d${i}`, e.content, e.status),
            w: e.owners,
          }));
          // JSON.stringify drops what JSON cannot hold (-0 → 0, undefined keys): both bodies come
          // from the same JSON round trip, as the checkpoint function's objects come from stored bodies.
          const stored = (parseJson(JSON.stringify({ objects })) as { objects: Entry[] }).objects;
          const digested = withDigests(stored);
          const packed = encodeCheckpointMsgpack(HEADER, digested, version);
          if (packed === undefined) {
            // Only a lone surrogate sends the writer back to v1.
            assert.match(JSON.stringify(stored), /\\ud[89a-f]/i);
            return;
          }
          for (const plan of [PLAN, undefined]) {
            const want = decodeCheckpointObjects(v1Body(stored), 'd1', plan);
            const got = decodeCheckpointObjects(encodeBinaryBody(packed), 'd1', plan);
            assert.equal(got.length, want.length);
            for (let k = 0; k < got.length; k++) {
              assert.equal(got[k]!.ts, want[k]!.ts);
              const digest = got[k]!.digest && Buffer.from(got[k]!.digest!);
              assert.deepEqual(digest, version === 2 ? undefined : digested[k]!.digest);
              assert.deepEqual(got[k]!.w, want[k]!.w);
              if (plan === undefined) assert.deepEqual(got[k]!.o, want[k]!.o);
              else if (want[k]!.o instanceof EncodedObject)
                assert.deepEqual(view(got[k]!.o), view(want[k]!.o));
              else assert.deepEqual(view(got[k]!.o).whole, want[k]!.o);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('writes v1 when an object holds a lone surrogate (UTF-8 cannot carry it)', () => {
    const objects: Entry[] = [{ ts: 1, o: deployment('d', { s: 'x\ud800y' }, false), w: [] }];
    assert.equal(encodeCheckpointMsgpack(HEADER, objects), undefined);
  });
});

describe('damaged v3 bodies', () => {
  const objects: Entry[] = [0, 1, 2].map((i) => ({
    ts: 100 + i,
    o: deployment(`d${i}`, parseJson(CONTENT_TEXTS[i]!), i === 1),
    w: [],
  }));
  const packed = Buffer.from(encodeCheckpointMsgpack(HEADER, withDigests(objects))!);

  const refused = (bytes: Uint8Array, what: RegExp) =>
    assert.throws(
      () => decodeCheckpointMsgpack(bytes, PLAN),
      (err: unknown) =>
        err instanceof StoreError && err.code === 'store_corrupt_item' && what.test(err.message),
    );

  it('refuses every truncation', () => {
    for (let n = 1; n < packed.length; n++) refused(packed.subarray(0, n), /damaged/);
  });

  it('refuses bytes after the objects, another version, a float32, a non-UTF-8 captured string', () => {
    refused(Buffer.concat([packed, Buffer.of(0xc0)]), /bytes after the objects/);
    const v = Buffer.from(packed);
    v[3] = 4; // `v: 3` → 4 (0x85, fixstr "v", then the int)
    refused(v, /version 4 is neither 2 nor 3/);
    const v2 = Buffer.from(packed);
    v2[3] = 2; // v3's entries read as v2's: the first is not [ts, w, o]
    refused(v2, /object 0 is not \[ts, w, o\]/);
    const digest = packed.indexOf(Buffer.of(0xc4, 16));
    const shortDigest = Buffer.from(packed);
    shortDigest[digest + 1] = 15;
    refused(shortDigest, /a bin of 16 bytes expected/);
    const name = packed.indexOf(Buffer.from('d1'));
    const notUtf8 = Buffer.from(packed);
    notUtf8[name] = 0xff;
    refused(notUtf8, /not UTF-8/);
    const replicas = packed.indexOf(Buffer.from([0xa8, ...Buffer.from('replicas'), 0x02]));
    const float32 = Buffer.concat([
      packed.subarray(0, replicas + 9),
      Buffer.of(0xca, 0, 0, 0, 0),
      packed.subarray(replicas + 10),
    ]);
    refused(float32, /0xca/);
  });

  it('every single changed byte gives a StoreError or a body of the same layout, never another error', () => {
    for (let k = 0; k < packed.length; k++) {
      const changed = Buffer.from(packed);
      changed[k] = changed[k]! ^ 0xff;
      try {
        decodeCheckpointMsgpack(changed, PLAN);
      } catch (err) {
        assert.ok(
          err instanceof StoreError && err.code === 'store_corrupt_item',
          `byte ${k}: ${String(err)}`,
        );
      }
    }
  });
});

describe('checkpoints in the store', () => {
  const local = localTables();
  const D = 'apps/v1.Deployment';
  const B = Math.floor((NOW - 10 * 3600) / 3600) * 3600;

  async function liveSet(format: CheckpointFormat | undefined) {
    const tableName = await local.freshTable();
    const writer = makeStore(local.aws, { tableName, ...(format ? { checkpointFormat: format } : {}) });
    await writer.applyBatch(
      'c1',
      {
        changes: ['a', 'b', 'c'].map((n, i) =>
          applied(
            B - 100 + i,
            obj(D, `ns/${n}`, { v: i, f: new Float64(2), content: parseJson(CONTENT_TEXTS[i]!) }),
          ),
        ),
      },
      { nowSec: B - 50 },
    );
    const cp = await writer.writeCheckpoint('c1', { nowSec: B });
    const listed = await local.aws.s3.send(
      new ListObjectsV2Command({ Bucket: local.aws.bucket, Prefix: 'checkpoints/c1/' }),
    );
    const key = listed.Contents!.map((o) => o.Key!).find((k) => k === cp.blobKey)!;
    // Read with today's store (writes v3, reads all three).
    const reader = makeStore(local.aws, { tableName });
    const read = () =>
      reader.liveAt('c1', B + 10, { readUnits: 0 }, { encodedObjects: Promise.resolve(PLAN) });
    return { key, read, tableName };
  }

  it('writes v3 by default and still reads v1 and v2 checkpoints to the same live set', async () => {
    const v3 = await liveSet(undefined);
    const v2 = await liveSet('msgpack2');
    const v1 = await liveSet('json');
    const firstByte = async (key: string) => {
      const got = await local.aws.s3.send(new GetObjectCommand({ Bucket: local.aws.bucket, Key: key }));
      const { inflateRawSync } = await import('node:zlib');
      const { BODY_DICTIONARY_V1 } = await import('../../lib/store/body-dictionary.ts');
      const bytes = await got.Body!.transformToByteArray();
      return inflateRawSync(bytes, { dictionary: Buffer.from(BODY_DICTIONARY_V1, 'utf8') })[0];
    };
    assert.equal(await firstByte(v3.key), 0x85, 'v3: a msgpack map of five');
    assert.equal(await firstByte(v2.key), 0x85, 'v2: a msgpack map of five');
    assert.equal(await firstByte(v1.key), 0x7b, 'v1: JSON');
    assert.notEqual(v3.key, v2.key, 'v3 differs from v2 (its digests)');
    const views = async (set: typeof v1) =>
      (await set.read()).objects.map((c) => ({ ts: c.ts, w: c.owners, o: view(c.object) }));
    const want = await views(v1);
    assert.equal(want.length, 3);
    assert.deepEqual(await views(v2), want);
    assert.deepEqual(await views(v3), want);
  });

  it('refuses a checkpoint blob that does not match its digest', async () => {
    const v2 = await liveSet(undefined);
    const got = await local.aws.s3.send(new GetObjectCommand({ Bucket: local.aws.bucket, Key: v2.key }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    const at = bytes.length >> 1;
    bytes[at] = bytes[at]! ^ 0x01;
    await local.aws.s3.send(new PutObjectCommand({ Bucket: local.aws.bucket, Key: v2.key, Body: bytes }));
    await assert.rejects(
      v2.read(),
      (err: unknown) =>
        err instanceof StoreError &&
        err.code === 'store_corrupt_item' &&
        /does not match its digest/.test(err.message),
    );
  });
});
