/**
 * Queued changes as bytes: the arena their JSON is written into once, outside the V8 heap, and the
 * writer that copies a batch of them into one request body. Delivery decides what is queued and
 * sent; this module only keeps the bytes.
 */
import type { Change, ChangeType } from '../ingest/wire.ts';

/** A queued change: its JSON lives in an arena chunk (outside the V8 heap), not in a string. */
export interface Queued {
  chunk: ArenaChunk;
  start: number;
  /** UTF-8 bytes of its JSON. */
  bytes: number;
  atMs: number;
  type: ChangeType;
  /**
   * What orders it against other changes (orderKeysOf): the 32-bit hash of its kind (or of pod
   * lifecycles), and of its object (kind and nsName; a lifecycle's pod) or, for a relist page, the
   * number of the offer that queued it (delivery.ts: one offer queues one pass's pages, which tile
   * the key space without overlap). Only compared when two batches would be in flight at once.
   */
  group: number;
  key: number;
}

/** One block of the arena; `live` counts the queued changes whose JSON it holds. */
export interface ArenaChunk {
  buf: Buffer;
  used: number;
  live: number;
}

/** Arena chunk size: ~280 changes of a 1 KB Deployment; a larger change gets a chunk of its own. */
const CHUNK_BYTES = 256 * 1024;
/** Empty chunks kept for reuse (each new one costs its pages' faults; RSS bound: this many). */
const SPARE_CHUNKS = 2;

/**
 * The queued changes' JSON, UTF-8 encoded into chunks of bytes outside the V8 heap. Changes wait
 * in the queue for as long as the endpoint takes (the profile of the watch benchmark showed a
 * median of 3 MiB queued): as strings each one survived a scavenge or two and was copied into
 * the old generation, which a full GC then had to collect — the largest part of the
 * forwarder's GC time. Here each change is one short-lived string (JSON.stringify) plus a small
 * record; its bytes are written once and copied once more, into the batch body.
 */
export class JsonArena {
  #current: ArenaChunk | undefined;
  readonly #spare: Buffer[] = [];

  /** Encodes `change` into the arena. */
  add(change: Change, atMs: number): Queued {
    const json = JSON.stringify(change);
    // A UTF-16 code unit is at most 3 UTF-8 bytes: count exactly only when that bound does not fit.
    // Each change is followed by a comma, so that changes queued one after the other are one run
    // of body bytes (BatchBodyWriter copies a run at once).
    let chunk = this.#current;
    if (!chunk || chunk.used + json.length * 3 + 1 > chunk.buf.length) {
      const bytes = Buffer.byteLength(json, 'utf8') + 1;
      if (!chunk || chunk.used + bytes > chunk.buf.length) chunk = this.#chunkFor(bytes);
    }
    const start = chunk.used;
    const bytes = chunk.buf.write(json, start, 'utf8');
    chunk.buf[start + bytes] = 0x2c; // ','
    chunk.used += bytes + 1;
    chunk.live++;
    const q: Queued = { chunk, start, bytes, atMs, type: change.type, group: 0, key: 0 };
    orderKeysOf(change, q);
    return q;
  }

  /** The JSON of `q`, decoded (for logs and tests). */
  json(q: Queued): string {
    return q.chunk.buf.toString('utf8', q.start, q.start + q.bytes);
  }

  /** Drops the spare chunks, and the current one if it holds no queued change. */
  trim(): void {
    for (const buf of this.#spare) freeNow(buf);
    this.#spare.length = 0;
    if (this.#current && this.#current.live === 0) {
      freeNow(this.#current.buf);
      this.#current = undefined;
    }
  }

  /** Frees the bytes of changes that left the queue (sent, rejected, or never queued). */
  release(items: readonly Queued[]): void {
    for (const q of items) {
      const chunk = q.chunk;
      if (--chunk.live > 0) continue;
      if (chunk === this.#current) chunk.used = 0;
      else if (chunk.buf.length === CHUNK_BYTES && this.#spare.length < SPARE_CHUNKS)
        this.#spare.push(chunk.buf);
      else freeNow(chunk.buf);
    }
  }

  #chunkFor(bytes: number): ArenaChunk {
    if (bytes > CHUNK_BYTES) {
      // Its own chunk, not made current: freed by GC once its change is sent.
      return { buf: Buffer.allocUnsafeSlow(bytes), used: 0, live: 0 };
    }
    const current = this.#current;
    if (current && current.live === 0) {
      current.used = 0;
      return current;
    }
    const chunk = { buf: this.#spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES), used: 0, live: 0 };
    this.#current = chunk;
    return chunk;
  }
}

/**
 * Gives a dropped chunk's memory back now instead of at V8's next major GC. A chunk holds changes
 * until the endpoint takes them, so it outlives a scavenge or two and is promoted: dead chunks
 * were freed only by mark-compacts (~11 MiB of dead ArrayBuffers once a 100,000-pod list was
 * delivered; docs/benchmarks.md forwarder_memory). Detaching its ArrayBuffer (transfer to 0
 * bytes) frees the memory at once. Only for a chunk nobody reads any more: every change in it
 * left the queue, and its bytes only ever went into batch bodies (copies), never to zlib or a socket.
 */
function freeNow(buf: Buffer): void {
  const ab = buf.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
  if (buf.byteOffset === 0 && ab.byteLength === buf.length) ab.transfer?.(0);
}

const BODY_HEAD = Buffer.from('{"changes":[');
const BODY_TAIL = Buffer.from(']}');
const INITIAL_BODY_BYTES = 64 * 1024;
/** The body buffer is kept up to this size between batches (a batch is at most 512 KiB of JSON). */
const MAX_RETAINED_BODY_BYTES = 2 * 1024 * 1024;

/**
 * Writes a batch's body, `{"changes":[…]}`, into one buffer kept from batch to batch. Joining the
 * changes' JSON into one string and encoding that allocated two fresh ~500 KB blocks per batch
 * (V8's large-object space and a malloc'd ArrayBuffer above the image's 128 KiB
 * MALLOC_MMAP_THRESHOLD_): every page of both was faulted in anew, ~6 µs per change measured
 * (bench/forwarder/profile-watch.ts). One batch is compressed at a time (`#send` awaits its gzip
 * before writing the next), so the bytes are never overwritten while zlib reads them.
 */
export class BatchBodyWriter {
  #buf = Buffer.allocUnsafe(INITIAL_BODY_BYTES);

  /** Drops a grown buffer (the next batch grows a new one as needed). */
  trim(): void {
    if (this.#buf.length > INITIAL_BODY_BYTES) this.#buf = Buffer.allocUnsafe(INITIAL_BODY_BYTES);
  }

  /** The body of `batch`: a view of the shared buffer, valid until the next call. */
  write(batch: readonly Queued[]): Buffer {
    let size = BODY_HEAD.length + BODY_TAIL.length + batch.length;
    for (const q of batch) size += q.bytes;
    let buf = this.#buf;
    if (size > buf.length) {
      let grown = buf.length * 2;
      while (grown < size) grown *= 2;
      buf = Buffer.allocUnsafe(grown);
      // One change above the batch bound must not pin a huge buffer for good.
      if (grown <= MAX_RETAINED_BODY_BYTES) this.#buf = buf;
    }
    let at = BODY_HEAD.copy(buf, 0);
    // Changes queued one after the other sit in their chunk as `json,json,…`: each run of them is
    // copied at once (a copy per change cost ~1 µs of call overhead each).
    let i = 0;
    while (i < batch.length) {
      const first = batch[i]!;
      let end = first.start + first.bytes;
      i++;
      while (i < batch.length && batch[i]!.chunk === first.chunk && batch[i]!.start === end + 1) {
        end = batch[i]!.start + batch[i]!.bytes;
        i++;
      }
      at += first.chunk.buf.copy(buf, at, first.start, end);
      if (i < batch.length) buf[at++] = 0x2c; // ','
    }
    at += BODY_TAIL.copy(buf, at);
    return buf.subarray(0, at);
  }
}

/** FNV-1a 32-bit offset basis and prime. */
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Continues an FNV-1a hash over the UTF-16 code units of `s`, then a separator. */
function fnv(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return Math.imul(h ^ 0xffff, FNV_PRIME);
}

const LIFECYCLES_GROUP = fnv(FNV_OFFSET, 'lifecycles');

/**
 * Sets `q.group` and `q.key` from `change` (see Queued). Hashes, not strings: nothing per change
 * stays on the V8 heap but the record itself. A collision only makes two independent batches wait
 * for each other (delivery.ts batchesConflict), never lets dependent ones pass.
 */
export function orderKeysOf(change: Change, q: Queued): void {
  switch (change.type) {
    case 'applied':
    case 'deleted': {
      const o = change.object;
      const m = o.metadata;
      const group = fnv(fnv(FNV_OFFSET, o.apiVersion), o.kind);
      q.group = group;
      q.key = fnv(fnv(group, typeof m.namespace === 'string' ? m.namespace : ''), String(m.name));
      return;
    }
    case 'relist': {
      // The same hash as its kind's objects: `group/version.Kind` split at the last dot.
      const dot = change.gvk.lastIndexOf('.');
      q.group = change.lifecycles
        ? LIFECYCLES_GROUP
        : fnv(fnv(FNV_OFFSET, change.gvk.slice(0, dot)), change.gvk.slice(dot + 1));
      return; // q.key: the offer's number, set by delivery
    }
    case 'lifecycle':
      q.group = LIFECYCLES_GROUP;
      q.key = fnv(LIFECYCLES_GROUP, change.pod);
      return;
    case 'config':
      return;
  }
}
