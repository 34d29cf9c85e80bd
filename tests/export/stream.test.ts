/**
 * The streamed export (lib/export/trace-stream.ts, `streamExport`) against the in-memory path it
 * replaces, kept as the oracle: `encodeTrace(assembleFromHistory(…))` — the whole trace assembled
 * from the full history with the store's rules, then encoded in one buffer. Random histories
 * (owner chains, bare pods with lifecycles that end before, inside and after the window, filters)
 * must give the same bytes, whatever the part size; parts obey S3's rules; a failed part aborts the
 * upload and stores nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Bodies, payloadOf } from '../../lib/aws/trace-store/bodies.ts';
import { decodeLive, type StoredVersion } from '../../lib/aws/trace-store/replay.ts';
import { streamExport } from '../../lib/export/pipeline.ts';
import { type TraceStreamOptions, TraceStreamWriter } from '../../lib/export/trace-stream.ts';
import {
  decodeBody,
  decodeCheckpointObjects,
  encodeBody,
  transcodeObjectBody,
} from '../../lib/store/body-codec.ts';
import type { CapturePlan } from '../../lib/store/json-msgpack.ts';
import type {
  BlobStore,
  ChangeReadOptions,
  ClusterId,
  LiveSet,
  ReadMeter,
  StoredOwnerLifecycles,
} from '../../lib/store/ports.ts';
import { assembleFromHistory, TraceAssembler } from '../../lib/trace/assemble.ts';
import {
  decodeTrace,
  encodeArrayHeader,
  encodeTrace,
  encodeTraceHead,
  encodeTraceTail,
} from '../../lib/trace/codec.ts';
import { exportableConfigDoc, tracerConfigFromDoc } from '../../lib/trace/config.ts';
import { EncodedObject } from '../../lib/trace/encoded-object.ts';
import { parseJson } from '../../lib/trace/float.ts';
import { gvkOf, nsNameOf } from '../../lib/trace/gvk.ts';
import type {
  KubeObject,
  ObjectChange,
  OwnerReference,
  TraceConfigDoc,
  TraceEvent,
} from '../../lib/trace/model.ts';
import { storeConsistentHistory } from '../support/history.ts';
import { HistoryReader, MemoryObjects } from './support.ts';

const CONFIG_DOC: TraceConfigDoc = {
  trackedObjects: {
    'apps/v1.Deployment': { trackLifecycle: true },
    'apps/v1.ReplicaSet': { trackLifecycle: true },
    'v1.Pod': { trackLifecycle: true },
  },
};
const config = tracerConfigFromDoc(CONFIG_DOC);

function ownerRef(kind: string, name: string): OwnerReference {
  return { apiVersion: 'apps/v1', kind, name, uid: `uid-${name}` } as OwnerReference;
}

function obj(gvk: string, nsName: string, owners?: OwnerReference[]): KubeObject {
  const dot = gvk.lastIndexOf('.');
  const [namespace, name] = nsName.split('/');
  return {
    apiVersion: gvk.slice(0, dot),
    kind: gvk.slice(dot + 1),
    metadata: { name: name!, namespace: namespace!, ...(owners ? { ownerReferences: owners } : {}) },
    spec: { rev: 1 },
  };
}

const universe: KubeObject[] = [];
for (const ns of ['a', 'b']) {
  for (let i = 0; i < 2; i++) {
    universe.push(obj('apps/v1.Deployment', `${ns}/web${i}`));
    universe.push(obj('v1.ServiceAccount', `${ns}/web${i}`));
    universe.push(obj('apps/v1.ReplicaSet', `${ns}/web${i}-rs`, [ownerRef('Deployment', `web${i}`)]));
    universe.push(obj('v1.Pod', `${ns}/web${i}-rs-p`, [ownerRef('ReplicaSet', `web${i}-rs`)]));
    universe.push(obj('v1.Pod', `${ns}/bare${i}`));
  }
}
// Bodies of different sizes (pad), so events straddle part boundaries at every offset.
const history = storeConsistentHistory(universe, { maxLength: 80, padUnit: 37 });

/** Lifecycles of the pods' owners and of bare pods, ending before, in and after the window, or running. */
const lifecycles = fc
  .array(
    fc.record({
      owner: fc.constantFrom(
        { gvk: 'apps/v1.ReplicaSet', nsName: 'a/web0-rs' },
        { gvk: 'apps/v1.Deployment', nsName: 'b/web1' },
        { gvk: 'v1.Pod', nsName: 'a/bare0' },
        { gvk: 'v1.Pod', nsName: 'b/bare1' },
      ),
      hash: fc.constantFrom(1n, 2n, (1n << 64n) - 1n),
      startTs: fc.integer({ min: 0, max: 400 }),
      span: fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined }),
    }),
    { maxLength: 8 },
  )
  .map((ls) =>
    ls.map(
      (l): StoredOwnerLifecycles => ({
        owner: l.owner,
        podSpecHash: l.hash,
        lifecycles: [{ startTs: l.startTs, ...(l.span === undefined ? {} : { endTs: l.startTs + l.span }) }],
      }),
    ),
  );

const filters = fc.record({
  excluded_namespaces: fc.subarray(['a', 'b']),
  excluded_labels: fc.subarray([{ matchLabels: { team: 'x' } }]),
});

const window = fc
  .record({ startTs: fc.integer({ min: 40, max: 400 }), span: fc.integer({ min: 1, max: 400 }) })
  .map((w) => ({ startTs: w.startTs, endTs: w.startTs + w.span }));

/**
 * The history as the DynamoDB store hands it out: each change's `{o, w}` stored as a body
 * (`encodeBody`), then read back transcoded (`transcodeObjectBody`, objects as `EncodedObject`)
 * when the export passes a plan, else decoded — what lib/aws/trace-store/reader.ts `changeOf` does.
 * The live set at the start as lib/aws/trace-store/checkpoints.ts `liveAt` gives it: every other
 * object from a checkpoint body (`decodeCheckpointObjects`), the others as the replay margin's last
 * versions (replay.ts `decodeLive`), bodies stored inline or — those over 200 bytes — as blobs.
 * Mutations caught (each tried by hand): the checkpoint's objects' bytes written over each other
 * (the shared output buffer's offset not advanced); a transcoded start object giving itself, the
 * captured parts, as its whole object (the index's spec hash of a start object differs).
 */
class StoredBodyReader extends HistoryReader {
  transcoded = 0;
  handedOut = 0;
  startTranscoded = 0;
  startObjects = 0;
  startBlobs = 0;

  override async liveAt(
    cluster: ClusterId,
    atTs: number,
    meter?: ReadMeter,
    options: ChangeReadOptions = {},
  ): Promise<LiveSet> {
    const live = await super.liveAt(cluster, atTs, meter);
    const plan = await options.encodedObjects;
    const checkpoint = live.objects.filter((_, i) => i % 2 === 0);
    const body = encodeBody({
      v: 1,
      cluster,
      validFromTs: atTs,
      replayFromTs: atTs,
      objects: checkpoint.map((c) => ({ ts: c.ts, o: c.object, w: c.owners })),
    });
    const objects: ObjectChange[] = decodeCheckpointObjects(body, 'd1', plan).map((c) => ({
      ts: c.ts,
      type: 'applied',
      object: c.o,
      owners: c.w,
    }));
    const bodies = new Bodies(new MemoryBlobs(), 200);
    const replayed = new Map<string, StoredVersion>();
    for (const c of live.objects.filter((_, i) => i % 2 === 1)) {
      const gvk = gvkOf(c.object);
      const nsName = nsNameOf(c.object);
      const stored = await bodies.store(cluster, { o: c.object, w: c.owners });
      if (stored.ref !== undefined) this.startBlobs++;
      replayed.set(`${gvk} ${nsName}`, { ts: c.ts, seq: 0, gvk, nsName, type: 'applied', body: stored });
    }
    objects.push(...(await decodeLive(replayed, new Map(), cluster, bodies, plan)));
    for (const c of objects) if (c.object instanceof EncodedObject) this.startTranscoded++;
    this.startObjects += objects.length;
    return { ...live, objects };
  }

  async *changeBatches(
    cluster: ClusterId,
    fromTs: number,
    toTs: number,
    meter?: ReadMeter,
    options: ChangeReadOptions = {},
  ): AsyncIterable<ObjectChange[]> {
    const plan: CapturePlan | undefined = await options.encodedObjects;
    const batch: ObjectChange[] = [];
    for await (const c of this.changesBetween(cluster, fromTs, toTs, meter)) {
      const body = encodeBody({ o: c.object, w: c.owners });
      const payload =
        (plan && transcodeObjectBody(body, 'd1', plan)) || payloadOf(decodeBody(body, 'd1'), cluster);
      if (payload.o instanceof EncodedObject) this.transcoded++;
      this.handedOut++;
      batch.push({ ts: c.ts, type: c.type, object: payload.o, owners: payload.w });
    }
    yield batch;
  }
}

class MemoryBlobs implements BlobStore {
  readonly #blobs = new Map<string, Uint8Array>();
  async put(key: string, bytes: Uint8Array): Promise<void> {
    this.#blobs.set(key, bytes);
  }
  async get(key: string): Promise<Uint8Array | undefined> {
    return this.#blobs.get(key);
  }
}

/**
 * Object contents the transcoder must carry exactly: integral floats (`2.0` stays float64),
 * integers beyond 2^53, unicode and escapes, index-like keys (JS objects list them first), empty
 * objects and arrays, deep nesting; as `parseJson` reads them from a stored body.
 */
const CONTENT_TEXTS = [
  '{"f":2.0,"g":-0.0,"h":1e3,"i":1.5,"j":-7}',
  '{"big":12345678901234567890,"u64":18446744073709551615,"neg":-9007199254740993,"u32":4294967296}',
  '{"s":"é中😀","e":"tab\\t quote\\" nul\\u0000 \\ud83d\\ude00","long":"' + 'x'.repeat(300) + '"}',
  '{"b":1,"0":2,"10":3,"2":4,"a":{"7":"x","y":"z"}}',
  '{"empty":{},"none":[],"n":null,"t":true,"f":false,"list":[[],{},[{}]]}',
  `{"deep":${'{"d":'.repeat(60)}[1]${'}'.repeat(60)}}`,
];
const content = fc.option(
  fc.oneof(
    fc.constantFrom(...CONTENT_TEXTS).map((text) => parseJson(text)),
    fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })),
  ),
  { nil: undefined },
);
const historyWithContent = fc
  .tuple(history, fc.array(content, { minLength: 80, maxLength: 80 }))
  .map(([h, cs]) =>
    h.map((c, i) =>
      c.type === 'applied' && cs[i] !== undefined
        ? {
            ...c,
            object: { ...c.object, spec: { ...(c.object.spec as object), content: cs[i] }, data: cs[i] },
          }
        : c,
    ),
  );

describe('streamExport', () => {
  it('writes the same bytes from stored bodies — start state and changes transcoded — as the in-memory path from objects (300 histories)', async () => {
    let transcoded = 0;
    let handedOut = 0;
    let startTranscoded = 0;
    let startObjects = 0;
    let startBlobs = 0;
    await fc.assert(
      fc.asyncProperty(historyWithContent, lifecycles, filters, window, async (h, ls, f, w) => {
        const want = encodeTrace(assembleFromHistory(h, w, f, config, ls));
        const objects = new MemoryObjects();
        objects.minPartBytes = 500;
        const reader = new StoredBodyReader(h, CONFIG_DOC, ls);
        await streamExport(
          reader,
          'prod',
          { window: w, filters: f },
          { readUnits: 0 },
          { objects, key: 'k', stream: { partBytes: 500, maxPartsInFlight: 2 } },
        );
        transcoded += reader.transcoded;
        handedOut += reader.handedOut;
        startTranscoded += reader.startTranscoded;
        startObjects += reader.startObjects;
        startBlobs += reader.startBlobs;
        assert.deepEqual(Buffer.from(objects.objects.get('k')!), Buffer.from(want));
      }),
      { numRuns: 300 },
    );
    // The objects were transcoded, not decoded (the comparison would hold either way): all but
    // those with a lone surrogate (fc.string may draw one), which take the object path — and, at
    // the start, every object of a checkpoint holding one, and blob bodies.
    assert.ok(transcoded >= 100 && transcoded >= 0.9 * handedOut, `${transcoded} of ${handedOut} transcoded`);
    assert.ok(
      startTranscoded >= 100 && startTranscoded >= 0.5 * startObjects && startBlobs >= 10,
      `${startTranscoded} of ${startObjects} start objects transcoded, ${startBlobs} blob bodies`,
    );
  });

  it('writes the same bytes as the in-memory path, in parts S3 accepts, for random histories and windows', async () => {
    await fc.assert(
      fc.asyncProperty(
        history,
        lifecycles,
        filters,
        window,
        fc.constantFrom(7, 64, 500, 1 << 20),
        // Limits that make the first buffer one part, under two (part 1 whole) or two and more
        // (part 1 and its rest, sent at once) when it fills: 700 and 1,100 against 500-byte parts.
        fc.constantFrom(0, 700, 1100, 2000, 1 << 30),
        // No room for the tail after the events (joined with a copy), a little, the default.
        fc.constantFrom(0, 16, undefined),
        async (h, ls, f, w, partBytes, singlePutMaxBytes, tailRoomBytes) => {
          const want = encodeTrace(assembleFromHistory(h, w, f, config, ls));
          const objects = new MemoryObjects();
          objects.minPartBytes = partBytes;
          const reader = new HistoryReader(h, CONFIG_DOC, ls);
          const { counts } = await streamExport(
            reader,
            'prod',
            { window: w, filters: f },
            { readUnits: 0 },
            {
              objects,
              key: 'k',
              stream: {
                partBytes,
                maxPartsInFlight: 2,
                singlePutMaxBytes,
                ...(tailRoomBytes === undefined ? {} : { tailRoomBytes }),
              },
            },
          );
          const got = objects.objects.get('k');
          assert.ok(got);
          assert.deepEqual(Buffer.from(got), Buffer.from(want));
          assert.equal(counts.bytes, want.length);
          const trace = decodeTrace(want);
          assert.equal(counts.events, trace.events.length);
          // One PutObject when the events fit one part, or when no part had started by the last
          // event (a third part filling starts the second: fewer than three parts of events) and
          // head and events are within singlePutMaxBytes; else one completed multipart upload.
          const eventBytes =
            want.length -
            encodeTraceHead(trace.config).length -
            encodeArrayHeader(trace.events.length).length -
            encodeTraceTail(trace).length;
          const single =
            eventBytes < partBytes ||
            (eventBytes < 3 * partBytes && want.length - encodeTraceTail(trace).length <= singlePutMaxBytes);
          assert.deepEqual(
            objects.uploads.map((u) => u.state),
            single ? [] : ['completed'],
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('aborts the multipart upload and stores nothing when a part fails', async () => {
    const h: ObjectChange[] = [];
    for (let ts = 100; ts < 160; ts++) {
      const o = obj('apps/v1.Deployment', `a/d${ts}`);
      h.push({ ts, type: 'applied', object: { ...o, spec: { pad: 'x'.repeat(100) } }, owners: [] });
    }
    const objects = new MemoryObjects();
    objects.failPart = 3;
    await assert.rejects(
      streamExport(
        new HistoryReader(h, CONFIG_DOC),
        'prod',
        { window: { startTs: 90, endTs: 200 }, filters: { excluded_namespaces: [], excluded_labels: [] } },
        { readUnits: 0 },
        { objects, key: 'k', stream: { partBytes: 256, maxPartsInFlight: 1 } },
      ),
      /part 3 failed/,
    );
    assert.equal(objects.objects.size, 0);
    assert.deepEqual(
      objects.uploads.map((u) => u.state),
      ['aborted'],
    );
  });
});

/**
 * One ConfigMap change a second from ts 1 to `until − 1`, spread over `names` objects (`a/c<i mod
 * names>`; one object, `a/c`, when names is 1), padded with `pad.char` repeated `i mod pad.mod` times.
 */
/** The in-memory export of `changes` without filters: the oracle's bytes. */
function inMemoryTrace(changes: ObjectChange[], w: { startTs: number; endTs: number }): Uint8Array {
  return encodeTrace(
    assembleFromHistory(changes, w, { excluded_namespaces: [], excluded_labels: [] }, config),
  );
}

/** The in-memory export of `changes` and the sizes of its events and tail. */
function expectedTrace(changes: ObjectChange[], w: { startTs: number; endTs: number }) {
  const want = inMemoryTrace(changes, w);
  const trace = decodeTrace(want);
  const tailBytes = encodeTraceTail(trace).length;
  const eventBytes =
    want.length -
    encodeTraceHead(trace.config).length -
    encodeArrayHeader(trace.events.length).length -
    tailBytes;
  return { want, eventBytes, tailBytes };
}

function configMapChanges(until: number, names: number, pad?: { char: string; mod: number }): ObjectChange[] {
  const changes: ObjectChange[] = [];
  for (let i = 1; i < until; i++) {
    const name = names === 1 ? 'a/c' : `a/c${i % names}`;
    const spec = pad ? { i, pad: pad.char.repeat(i % pad.mod) } : { i };
    changes.push({ ts: i, type: 'applied', object: { ...obj('v1.ConfigMap', name), spec }, owners: [] });
  }
  return changes;
}

/** `objects`, with `onPart` told of every part uploaded (its number and bytes) as it is sent. */
function watchParts(objects: MemoryObjects, onPart: (n: number, bytes: Uint8Array) => void): MemoryObjects {
  const startUpload = objects.startUpload.bind(objects);
  objects.startUpload = async (key) => {
    const upload = await startUpload(key);
    return {
      ...upload,
      uploadPart: (n, bytes) => {
        onPart(n, bytes);
        return upload.uploadPart(n, bytes);
      },
    };
  };
  return objects;
}

/** MemoryObjects taking parts of `minPartBytes` or more, counting its puts. */
function countingPuts(minPartBytes: number): { objects: MemoryObjects; puts: () => number } {
  const objects = new MemoryObjects();
  objects.minPartBytes = minPartBytes;
  let puts = 0;
  const put = objects.put.bind(objects);
  objects.put = async (key, bytes) => {
    puts++;
    await put(key, bytes);
  };
  return { objects, puts: () => puts };
}

/**
 * The export's streaming path by hand: every change through a TraceAssembler into a
 * TraceStreamWriter on `objects` (draining as the export does), the assembler and writer returned
 * for the test to end.
 */
async function streamChanges(
  objects: MemoryObjects,
  changes: ObjectChange[],
  window: { startTs: number; endTs: number },
  writerOptions: TraceStreamOptions,
): Promise<{ writer: TraceStreamWriter; assembler: TraceAssembler }> {
  const writer = new TraceStreamWriter(
    objects,
    'k',
    encodeTraceHead(exportableConfigDoc(config)),
    writerOptions,
  );
  const assembler = new TraceAssembler({
    window,
    filters: { excluded_namespaces: [], excluded_labels: [] },
    config,
    onEvent: (e: TraceEvent) => writer.writeEvent(e),
  });
  for (const c of changes) {
    assembler.addChange(c);
    if (writer.mustDrain) await writer.drain();
  }
  return { writer, assembler };
}

describe('TraceStreamWriter', () => {
  it('writes the events array header in its smallest form at 15/16, 65,535/65,536 events', async () => {
    const w = { startTs: 0, endTs: 100_000 };
    for (const n of [15, 16, 65_535, 65_536]) {
      // n − 1 seconds with one change each, plus the start event.
      const changes = configMapChanges(n, 1);
      const want = inMemoryTrace(changes, w);
      const objects = new MemoryObjects();
      const { writer, assembler } = await streamChanges(objects, changes, w, {
        partBytes: 100_000,
        maxPartsInFlight: 2,
      });
      const tail = assembler.finishStream();
      assert.equal(tail.eventCount, n);
      await writer.finish(encodeTraceTail(tail));
      assert.deepEqual(Buffer.from(objects.objects.get('k')!), Buffer.from(want), `${n} events`);
    }
  });

  it('sends the first part at endEvents(), before the tail exists; the events array is closed then', async () => {
    const w = { startTs: 0, endTs: 1000 };
    const changes = configMapChanges(400, 7);
    const want = inMemoryTrace(changes, w);
    const sent: number[] = [];
    const objects = new MemoryObjects();
    watchParts(objects, (n) => {
      sent.push(n);
    });
    const { writer, assembler } = await streamChanges(objects, changes, w, {
      partBytes: 4096,
      maxPartsInFlight: 1,
    });
    assembler.endEvents();
    writer.endEvents();
    // Let the upload's start settle: part 1 is asked for before the tail is computed.
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(sent.includes(1), `part 1 sent before finish (sent: ${sent.join(',')})`);
    assert.throws(() => assembler.addChange({ ...changes[0]!, ts: 999 }), /after endEvents/);
    assert.throws(() => writer.writeEvent({ ts: 999, applied_objs: [], deleted_objs: [] }), /endEvents/);
    const tail = assembler.finishStream();
    await writer.finish(encodeTraceTail(tail));
    assert.deepEqual(Buffer.from(objects.objects.get('k')!), Buffer.from(want));
    assert.equal(Math.max(...sent), objects.uploads[0]!.parts.size);
    assert.throws(() => assembler.finishStream(), /already assembled/);
  });

  it('sends each part as it fills; after endEvents() only part 1 and the last part go: the events after the last full part, then the tail', async () => {
    const w = { startTs: 0, endTs: 2000 };
    const changes = configMapChanges(1500, 11, { char: 'p', mod: 37 });
    const { want, eventBytes } = expectedTrace(changes, w);
    // Many parts; two parts (the first and its rest); the first part only; a part size that
    // divides the events exactly is not forced, but these leave rests of several sizes.
    for (const partBytes of [1000, 4096, Math.floor(eventBytes / 2) - 1, Math.floor(eventBytes / 2) + 1]) {
      const label = `part size ${partBytes}`;
      const sent: { n: number; bytes: Uint8Array; afterEnd: boolean }[] = [];
      let ended = false;
      const objects = new MemoryObjects();
      objects.minPartBytes = partBytes;
      watchParts(objects, (n, bytes) => {
        sent.push({ n, bytes: bytes.slice(), afterEnd: ended });
      });
      const { writer, assembler } = await streamChanges(objects, changes, w, {
        partBytes,
        maxPartsInFlight: 1,
      });
      // Once the last event is written: full parts only, numbered from 2 in order (part 1 waits for
      // the header); a tick lets the parts started by the last writes reach the store.
      assembler.endEvents();
      await new Promise((resolve) => setImmediate(resolve));
      const before = sent.map((p) => p.n);
      assert.deepEqual(
        before,
        before.map((_, i) => i + 2),
        label,
      );
      for (const p of sent)
        assert.ok(p.bytes.length >= partBytes, `${label}: part ${p.n} of ${p.bytes.length} bytes`);
      // No full part kept back: beside part 1's events, less than a part is left unsent.
      const unsent = eventBytes - partBytes - sent.reduce((n, p) => n + p.bytes.length, 0);
      assert.ok(
        unsent >= 0 && unsent < partBytes,
        `${label}: ${unsent} event bytes unsent at the last event`,
      );
      writer.endEvents();
      await new Promise((resolve) => setImmediate(resolve));
      ended = true;
      const tail = encodeTraceTail(assembler.finishStream());
      await writer.finish(tail);
      const got = objects.objects.get('k')!;
      assert.deepEqual(Buffer.from(got), Buffer.from(want), label);
      const numbers = sent.map((p) => p.n).sort((a, b) => a - b);
      assert.deepEqual(
        numbers,
        numbers.map((_, i) => i + 1),
        label,
      );
      const late = sent.filter((p) => p.afterEnd);
      assert.equal(late.length, 1, `${label}: one part after the tail is known`);
      const last = late[0]!;
      assert.equal(last.n, numbers.length, `${label}: it is the last`);
      // The trace's last bytes: the events after the last full part (fewer than a part), the tail.
      assert.deepEqual(
        Buffer.from(last.bytes),
        Buffer.from(want.subarray(want.length - last.bytes.length)),
        label,
      );
      assert.ok(last.bytes.length >= tail.length && last.bytes.length < tail.length + partBytes, label);
      for (const p of sent) {
        if (p.n !== numbers.length)
          assert.ok(p.bytes.length >= partBytes, `${label}: part ${p.n} of ${p.bytes.length} bytes`);
      }
    }
  });

  it('puts a trace whose events never left memory in one request (singlePutMaxBytes), else streams it in parts', async () => {
    const w = { startTs: 0, endTs: 2000 };
    const changes = configMapChanges(600, 11, { char: 'p', mod: 37 });
    const { want, eventBytes, tailBytes } = expectedTrace(changes, w);
    const headAndEvents = want.length - tailBytes;
    // [part size, limit, one put?]: events in 2.5 parts (all in the first buffer) go
    // whole within the limit and in parts one byte over it; events in 3.5 parts started part 2
    // before the end, and go in parts whatever the limit.
    const cases: Array<[number, number, boolean]> = [
      [Math.floor(eventBytes / 2.5), headAndEvents, true],
      [Math.floor(eventBytes / 2.5), headAndEvents - 1, false],
      [Math.floor(eventBytes / 3.5), 1 << 30, false],
      [Math.floor(eventBytes / 2.5), 0, false],
    ];
    for (const [partBytes, singlePutMaxBytes, whole] of cases) {
      const label = `part ${partBytes}, limit ${singlePutMaxBytes}`;
      const { objects, puts } = countingPuts(partBytes);
      const { writer, assembler } = await streamChanges(objects, changes, w, {
        partBytes,
        maxPartsInFlight: 1,
        singlePutMaxBytes,
      });
      assembler.endEvents();
      writer.endEvents();
      await writer.finish(encodeTraceTail(assembler.finishStream()));
      assert.deepEqual(Buffer.from(objects.objects.get('k')!), Buffer.from(want), label);
      assert.equal(puts(), whole ? 1 : 0, label);
      assert.deepEqual(
        objects.uploads.map((u) => u.state),
        whole ? [] : ['completed'],
        label,
      );
    }
  });

  it('writes a single put in its first buffer (tail in place, or joined when it does not fit) and, when that buffer fills, makes it part 1 and sends its rest', async () => {
    const w = { startTs: 0, endTs: 2000 };
    const changes = configMapChanges(600, 150, { char: 'p', mod: 37 });
    const { want, eventBytes: e, tailBytes } = expectedTrace(changes, w);
    const lead = want.length - tailBytes - e; // head and events array header
    const p25 = Math.floor(e / 2.5);
    const p35 = Math.floor(e / 3.5);
    const p45 = Math.floor(e / 4.5);
    const c15 = Math.floor(1.5 * p25);
    // [label, part size, limit, tail room, the parts' sizes by number ([] for one put)]. The first
    // buffer takes min(3 parts, limit) of events; filled, its first part is part 1 and its rest
    // (two parts or more) goes at once as part 2; the events after the last full part go with the
    // tail, as the last part.
    const cases: Array<[string, number, number, number | undefined, number[]]> = [
      ['one put, tail in place', p25, 1 << 30, undefined, []],
      ['one put, no room for the tail', p25, 1 << 30, 0, []],
      // At the limit the first buffer takes the head's size in events beyond these events: the room
      // after them is that and the tail room.
      ['one put at the limit, the tail just fits', p25, lead + e, tailBytes - lead, []],
      ['one put at the limit, the tail one byte over', p25, lead + e, tailBytes - lead - 1, []],
      [
        'filled at 3 parts; the last events go with the tail',
        p35,
        1 << 30,
        undefined,
        [lead + p35, 2 * p35, e - 3 * p35 + tailBytes],
      ],
      [
        'filled at 3 parts; then a 4th part fills',
        p45,
        1 << 30,
        undefined,
        [lead + p45, 2 * p45, p45, e - 4 * p45 + tailBytes],
      ],
      [
        'filled at 1.5 parts (the limit): part 1 is all of it',
        p25,
        c15,
        undefined,
        [lead + c15, p25, e - c15 - p25 + tailBytes],
      ],
    ];
    // 150 objects: a tail longer than the head.
    assert.ok(tailBytes > lead, `a tail (${tailBytes} bytes) longer than the head (${lead})`);
    for (const [label, partBytes, singlePutMaxBytes, tailRoomBytes, partSizes] of cases) {
      const { objects, puts } = countingPuts(partBytes);
      const { writer, assembler } = await streamChanges(objects, changes, w, {
        partBytes,
        maxPartsInFlight: 1,
        singlePutMaxBytes,
        ...(tailRoomBytes === undefined ? {} : { tailRoomBytes }),
      });
      assembler.endEvents();
      writer.endEvents();
      await writer.finish(encodeTraceTail(assembler.finishStream()));
      assert.deepEqual(Buffer.from(objects.objects.get('k')!), Buffer.from(want), label);
      assert.equal(puts(), partSizes.length === 0 ? 1 : 0, label);
      const sizes = [...(objects.uploads[0]?.parts ?? [])].sort(([a], [b]) => a - b).map(([, n]) => n);
      assert.deepEqual(sizes, partSizes, label);
    }
  });

  it('lets the parts started at endEvents() upload while the index is hashed (finishStreamPaused), with the same tail', async () => {
    const w = { startTs: 0, endTs: 1000 };
    const noFilters = { excluded_namespaces: [], excluded_labels: [] };
    const changes = configMapChanges(300, 40, { char: 'q', mod: 23 });
    const want = encodeTrace(assembleFromHistory(changes, w, noFilters, config));
    const assemble = (onEvent: (e: TraceEvent) => void) => {
      const assembler = new TraceAssembler({ window: w, filters: noFilters, config, onEvent });
      for (const c of changes) assembler.addChange(c);
      return assembler;
    };
    // The same tail as finishStream's, hashes and all; 40 objects in slices of 3: 13 pauses.
    const log: string[] = [];
    const plain = assemble(() => undefined).finishStream();
    const paused = await assemble(() => undefined).finishStreamPaused(async () => {
      log.push('pause');
    }, 3);
    assert.deepEqual(paused, plain);
    assert.equal(log.length, 13);

    // Through the writer: part uploads run between the slices, not after the last one.
    log.length = 0;
    const objects = new MemoryObjects();
    watchParts(objects, (n) => {
      log.push(`part ${n}`);
    });
    const writer = new TraceStreamWriter(objects, 'k', encodeTraceHead(exportableConfigDoc(config)), {
      partBytes: 2048,
      maxPartsInFlight: 1,
    });
    const assembler = assemble((e) => writer.writeEvent(e));
    assembler.endEvents();
    writer.endEvents();
    const sentBefore = log.length;
    const tail = await assembler.finishStreamPaused(async () => {
      log.push('pause');
      await new Promise((resolve) => setImmediate(resolve));
    }, 3);
    const lastPause = log.lastIndexOf('pause');
    const partsDuringHashes = log.slice(0, lastPause).filter((l) => l.startsWith('part')).length;
    assert.ok(partsDuringHashes > sentBefore, `uploads started during the hashes: ${log.join(', ')}`);
    await writer.finish(encodeTraceTail(tail));
    assert.deepEqual(Buffer.from(objects.objects.get('k')!), Buffer.from(want));
  });
});
