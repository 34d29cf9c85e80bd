/**
 * Writes a trace to the export object store as it is assembled: events are encoded as they come
 * and cut into multipart-upload parts, so memory holds a bounded number of parts, never the trace.
 *
 * The trace is one msgpack map whose `events` array header holds the number of events, known
 * only at the end, and whose smallest encoding (what sk-tracer writes, and what `encodeTrace`
 * writes) is 1, 3 or 5 bytes long. So the first part — the head (map header, version, config)
 * plus the array header plus the first `partBytes` of events — is kept until the last event and
 * uploaded then (`endEvents`), with the header known, while the caller computes the tail (an index
 * spec hash per object). Parts 2… go out as soon as they are full, their buffers reused; the events
 * after the last full part (less than a part: S3 takes a part under 5 MiB only as the last one)
 * wait in their buffer for the tail and go with it as the last part. Until 2026-12-06 a full part
 * was held until the next one filled, so that every event byte was on its way before the tail was
 * computed: one more 5 MiB buffer for the whole of a long export (peak RSS) to save, once, the
 * upload of under 5 MiB after ~100 ms of hashing at 5,000 objects (docs/benchmarks.md "export").
 * A window whose events fit in one part is one PutObject; so is one whose events never left memory
 * (fewer than three parts of them, no part started by the last event) within `singlePutMaxBytes`:
 * those bytes would all go after the last event anyway, and one request replaces
 * CreateMultipartUpload, the parts and CompleteMultipartUpload. Such a trace is written whole in the
 * first buffer — sized for up to three parts of events, with room after them for the tail — and put
 * from there: at 10,000 changes, joining its 12.8 MB from three part buffers took 39–52 ms after the
 * last event. When that buffer fills, its first part is part 1 and its rest (two parts' worth) goes
 * out as part 2, its memory then reused as part buffers, so memory is what three part buffers took.
 * Result: the same bytes as `encodeTrace` (tests/export/stream.test.ts), memory ≤ (3 +
 * maxPartsInFlight) × partBytes for the encoding, plus one copy of the last event part and the tail
 * when the tail does not fit the part's buffer after it — or of the whole trace (≤ singlePutMaxBytes
 * + tail) when it goes in one put and its tail does not fit the room left for it. */
import { encodeArrayHeader, encodeTraceEventInto } from '../trace/codec.ts';
import type { TraceEvent } from '../trace/model.ts';
import type { ExportObjectStore, ExportUpload } from './ports.ts';

const MIB = 1024 * 1024;
/** S3's smallest part but the last. */
export const MIN_PART_BYTES = 5 * MIB;

export interface TraceStreamOptions {
  /** Bytes of events per part (≥ MIN_PART_BYTES against S3; smaller only in tests of the logic). */
  partBytes: number;
  /** Parts being uploaded at once; writing waits (drain()) beyond it. */
  maxPartsInFlight: number;
  /**
   * A trace whose events never left memory — no part had started by the last event (parts go out
   * one behind, so up to three part buffers' worth) — and whose head and events are at most this
   * many bytes goes as one `put` with its tail instead of a multipart upload: one request where
   * CreateMultipartUpload, the parts and CompleteMultipartUpload were three or more, and no
   * assembly of parts by the store (docs/benchmarks.md "export"). 0 (the default): never.
   */
  singlePutMaxBytes?: number;
  /**
   * Room left after the first buffer's events for the tail (index, pod_lifecycles), so that a
   * trace going as one put is written whole in that buffer — head, events and tail contiguous —
   * and handed to the store as it is, with no copy. A tail longer than this is joined with a copy.
   * The room is allocated but not written (Buffer.allocUnsafe): untouched pages take no memory.
   * Default 1 MiB (5,000 objects' index is ~0.2 MB).
   */
  tailRoomBytes?: number;
}

/**
 * Parts of S3's least size, one uploading while the next fills (two before writing waits): the
 * first part is held until the end, so its size is the upload left after the last event — with
 * 8 MiB parts a 12.8 MB trace (10,000 changes) was uploaded whole after its last event, ~0.5 s of a
 * 2.3 s export on s3rver — and memory for parts is ≤ 4 × 5 MiB (was 5 × 8 MiB). One part in
 * flight keeps up: the export produces ~10 MB/s of trace (docs/benchmarks.md "export"), a single
 * S3 upload stream takes several times that. At most 10,000 parts: 50 GB of trace, ~60 M changes
 * of ~1 KB.
 */
export const DEFAULT_TRACE_STREAM: TraceStreamOptions = {
  partBytes: MIN_PART_BYTES,
  maxPartsInFlight: 1,
  // S3ExportObjects' own threshold for one PutObject (lib/aws/s3-exports.ts).
  singlePutMaxBytes: 16 * MIB,
};

export class TraceStreamWriter {
  readonly #objects: ExportObjectStore;
  readonly #key: string;
  readonly #head: Uint8Array;
  readonly #partBytes: number;
  readonly #maxInFlight: number;

  /**
   * Event bytes the first buffer takes: a part, or — when one put may take more — up to three
   * (singlePutMaxBytes, capped at 3 × partBytes: the events a single put took before it held them
   * in three part buffers, see the stream tests' put-or-multipart rule). A trace whose events end
   * within it is head, events and tail in one buffer (no copy for the put). Filled, the buffer
   * becomes part 1 — its first partBytes, held for the header — and, when it holds two parts or
   * more, part 2 (its rest, sent at once); that memory is then reused as part buffers.
   */
  readonly #firstCapacity: number;
  /**
   * The first part's buffer, once its events are complete (the first buffer filled), kept until
   * the array header is known: it has `#headroom` bytes in front of its events where the head and
   * the header are written at the end, so the first part goes out without a copy of its 5 MiB.
   */
  #first: Uint8Array | undefined;
  readonly #headroom: number;
  #buf: Uint8Array;
  /** Where the events of `#buf` start: `#headroom` in the first buffer, 0 in the others. */
  #base: number;
  /** Event bytes `#buf` takes: `#firstCapacity` in the first buffer, partBytes in the others. */
  #capacity: number;
  #len = 0;
  #events = 0;
  #nextPart = 2;
  #upload: Promise<ExportUpload> | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  /**
   * Part buffers whose upload succeeded, for the next parts: a 1 M-change export fills ~170 parts,
   * and a fresh 5 MiB buffer each was external memory V8 collects late (peak RSS grew with the
   * window). The ports' contract: uploadPart keeps no reference once it has resolved.
   */
  readonly #spare: Uint8Array[] = [];
  #failure: { err: unknown } | undefined;
  #bytes: number;
  /** The events array's header, once endEvents() has closed it. */
  #header: Uint8Array | undefined;
  /** A multipart upload; else one PutObject at the end (the events never left the first buffer). */
  #multipart = false;
  readonly #singlePutMax: number;
  #done = false;

  readonly #append = (bytes: Uint8Array): void => this.#write(bytes);

  constructor(objects: ExportObjectStore, key: string, head: Uint8Array, options: TraceStreamOptions) {
    if (!(options.partBytes > 0) || !(options.maxPartsInFlight >= 1)) {
      throw new RangeError('partBytes must be positive and maxPartsInFlight at least 1');
    }
    this.#objects = objects;
    this.#key = key;
    this.#head = head;
    this.#partBytes = options.partBytes;
    this.#maxInFlight = options.maxPartsInFlight;
    this.#singlePutMax = options.singlePutMaxBytes ?? 0;
    this.#firstCapacity = Math.max(this.#partBytes, Math.min(3 * this.#partBytes, this.#singlePutMax));
    // The head and the longest array header (5 bytes) fit in front of the first part's events.
    this.#headroom = head.length + 5;
    // Not zero-filled: every byte sent is written first (events, then head and header, then tail).
    // A plain Uint8Array view, as the other part buffers are (a Buffer's slice() is a view).
    const first = Buffer.allocUnsafe(this.#headroom + this.#firstCapacity + (options.tailRoomBytes ?? MIB));
    this.#buf = new Uint8Array(first.buffer, first.byteOffset, first.length);
    this.#base = this.#headroom;
    this.#capacity = this.#firstCapacity;
    this.#bytes = head.length;
  }

  /** Bytes of the trace so far (the events array header counted at the end). */
  get bytesWritten(): number {
    return this.#bytes;
  }

  get eventCount(): number {
    return this.#events;
  }

  /** True when parts are queued beyond maxPartsInFlight: await drain() before writing more. */
  get mustDrain(): boolean {
    return this.#inFlight.size > this.#maxInFlight || this.#failure !== undefined;
  }

  /** Appends one event (synchronous; a full part starts uploading). */
  writeEvent(event: TraceEvent): void {
    if (this.#header) throw new Error('an event after endEvents(): the events array is closed');
    this.#events++;
    encodeTraceEventInto(event, this.#append);
  }

  /** Waits until at most maxPartsInFlight parts are uploading; throws an upload's failure. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > this.#maxInFlight) await Promise.race(this.#inFlight);
    if (this.#failure) throw this.#failure.err;
  }

  /**
   * No more events: the events array's header is known, so the held first part starts uploading
   * now, while the caller builds the tail (an index spec hash per object: ~100 ms at 5,000 objects,
   * which used to run before the first part's 5 MiB went out; docs/benchmarks.md "export").
   */
  endEvents(): void {
    if (this.#done) throw new Error('the trace stream is already finished');
    if (this.#header) return;
    this.#header = encodeArrayHeader(this.#events);
    this.#bytes += this.#header.length;
    const first = this.#first;
    if (!first) {
      // The events never left the first buffer: one put at finish() when they are less than a part
      // or within singlePutMaxBytes; else that buffer is part 1, the tail part 2.
      if (this.#len < this.#partBytes || this.#bytes <= this.#singlePutMax) return;
      this.#multipart = true;
      this.#startPart(1, this.#withHead(this.#buf, this.#base + this.#len));
      this.#len = 0;
      return;
    }
    // Part 1 goes now; the events after the last full part (less than a part, which S3 takes only
    // as the last one) wait in #buf for the tail, and go with it.
    this.#multipart = true;
    this.#first = undefined;
    this.#startPart(1, this.#withHead(first, first.length));
  }

  /**
   * Writes the tail (index, pod_lifecycles) — in the last part, after the events that follow the
   * last full part, when the events went out in parts (endEvents, if not yet) — and completes the
   * object. Returns its size in bytes.
   */
  async finish(tail: Uint8Array): Promise<number> {
    this.endEvents();
    this.#done = true;
    const header = this.#header!;
    this.#bytes += tail.length;
    if (!this.#multipart) {
      // Still the first buffer: the head and header go in front of its events, the tail after
      // them in the same buffer when it fits (no copy of the events: at 10,000 changes a copy of
      // the 12.8 MB trace took 39–52 ms; docs/benchmarks.md "export").
      const end = this.#tailInPlace(tail);
      const body =
        end !== undefined
          ? this.#withHead(this.#buf, end)
          : concat([this.#head, header, this.#written(), tail]);
      await this.#objects.put(this.#key, body);
      return this.#bytes;
    }
    // The last part: the events after the last full part (none: the tail alone), then the tail.
    if (this.#len === 0) this.#startPart(this.#nextPart++, tail);
    else {
      const end = this.#tailInPlace(tail);
      const last = end !== undefined ? this.#buf.subarray(this.#base, end) : concat([this.#written(), tail]);
      this.#startPart(this.#nextPart++, last);
    }
    await this.#settle();
    if (this.#failure) throw this.#failure.err;
    await (await this.#upload!).complete();
    return this.#bytes;
  }

  /** Drops what was uploaded (after a failure anywhere in the export). Never throws. */
  async abort(): Promise<void> {
    this.#done = true;
    await this.#settle();
    if (this.#upload) await this.#upload.then((u) => u.abort()).catch(() => undefined);
  }

  #write(bytes: Uint8Array): void {
    this.#bytes += bytes.length;
    let at = 0;
    while (at < bytes.length) {
      const n = Math.min(bytes.length - at, this.#capacity - this.#len);
      this.#buf.set(bytes.subarray(at, at + n), this.#base + this.#len);
      this.#len += n;
      at += n;
      if (this.#len === this.#capacity) this.#partFull();
    }
  }

  #partFull(): void {
    const full = this.#buf;
    const wasFirst = !this.#first;
    this.#buf = this.#spare.pop() ?? new Uint8Array(this.#partBytes);
    this.#base = 0;
    this.#len = 0;
    this.#capacity = this.#partBytes;
    if (!wasFirst) {
      this.#startPart(this.#nextPart++, full, true);
      return;
    }
    // Part 1 is the first partBytes of events (with the head in front, at endEvents); events
    // beyond two parts' worth make the rest a part of its own, sent now (its memory then reused).
    const firstEnd = this.#headroom + this.#partBytes;
    const eventsEnd = this.#headroom + this.#firstCapacity;
    if (this.#firstCapacity >= 2 * this.#partBytes) {
      this.#first = full.subarray(0, firstEnd);
      this.#startPart(this.#nextPart++, full.subarray(firstEnd, eventsEnd), true);
    } else {
      this.#first = full.subarray(0, eventsEnd);
    }
  }

  /** The events written in #buf. */
  #written(): Uint8Array {
    return this.#buf.subarray(this.#base, this.#base + this.#len);
  }

  /** Writes the tail after #buf's events when it has room (no copy); where it ends, else undefined. */
  #tailInPlace(tail: Uint8Array): number | undefined {
    const end = this.#base + this.#len;
    if (end + tail.length > this.#buf.length) return undefined;
    this.#buf.set(tail, end);
    return end + tail.length;
  }

  /** Whole part buffers in `bytes` (a part buffer, or the first buffer's rest: two parts or more). */
  #partsOf(bytes: Uint8Array): Uint8Array[] {
    const parts: Uint8Array[] = [];
    for (let at = 0; at + this.#partBytes <= bytes.length; at += this.#partBytes) {
      parts.push(bytes.subarray(at, at + this.#partBytes));
    }
    return parts;
  }

  /** The first buffer up to `end`, with the head and the events header written just before its events. */
  #withHead(first: Uint8Array, end: number): Uint8Array {
    const header = this.#header!;
    const start = this.#headroom - header.length - this.#head.length;
    first.set(this.#head, start);
    first.set(header, start + this.#head.length);
    return first.subarray(start, end);
  }

  #startPart(partNumber: number, bytes: Uint8Array, reusable = false): void {
    this.#upload ??= this.#objects.startUpload(this.#key);
    const upload = this.#upload;
    const p: Promise<void> = upload
      .then((u) => u.uploadPart(partNumber, bytes))
      .then(() => {
        if (reusable) this.#spare.push(...this.#partsOf(bytes));
      })
      .catch((err: unknown) => {
        this.#failure ??= { err };
      })
      .finally(() => {
        this.#inFlight.delete(p);
      });
    this.#inFlight.add(p);
  }

  async #settle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.race(this.#inFlight);
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const c of chunks) length += c.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
