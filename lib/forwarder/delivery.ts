/**
 * Delivery of changes to the ingest endpoint: a bounded queue, batches cut by size and time,
 * up to `maxBatchesInFlight` batches in flight, retries with backoff.
 *
 * - Order: batches are cut and started in the order the changes were offered. A batch starts
 *   while others are in flight only when nothing in it depends on their order
 *   (batchesConflict): no object (kind + nsName, or a lifecycle's pod) in both, no relist page of
 *   a kind the other changes, no relist pages of two passes of one kind, no config change.
 *   Otherwise it waits until they have landed (accepted, or refused and dropped). So the
 *   changes of one object reach the store in the order the watch saw them, and a relist's pages
 *   after the applied changes before them; only independent changes may be stored in another
 *   order (the store applies each object's changes on their own: wire.ts, docs/ingest-api.md).
 *   While a batch is being retried no other batch starts: an endpoint that is down sees at
 *   most `maxBatchesInFlight` batches retrying.
 * - Idempotence: a retried batch is the very same gzipped bytes; the store applies a batch
 *   idempotently (wire.ts), so a retry after a lost response is harmless.
 * - Retried: connection errors, timeouts, 408, 429 and 5xx (honouring Retry-After), and also
 *   401/403/404, which mean a wrong token or endpoint: nothing would get through, so holding
 *   the queue (and then back-pressuring the watches) is better than dropping everything.
 * - Other 4xx (400, 413, 422…) mean the batch itself is bad, and the endpoint wrote nothing
 *   (a bad batch is rejected whole). The batch is split in halves, each sent on its own, down
 *   to the single change the endpoint refuses; that change is logged with the endpoint's error
 *   and counted (`sktrace_forwarder_changes_rejected_total`), and the rest goes through.
 * - Bounded memory: offers wait while the queue holds `maxQueueBytes` (the watch loops stop
 *   reading their streams: back-pressure up to the API server). An offer that waited
 *   `stallTimeoutMs` gives up and returns false: its kind drops the change and relists once
 *   the queue has room, which makes the store consistent again.
 */

import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Change, ChangeType } from '../ingest/wire.ts';
import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from './backoff.ts';
import type { Logger } from './log.ts';
import type { ForwarderMetrics, Series } from './metrics.ts';
import type { IngestPoster, Runtime } from './ports.ts';
import { BatchBodyWriter, JsonArena, type Queued } from './queued-bytes.ts';

const gzipAsync = promisify(gzip);

/**
 * zlib level 3, the strongest of zlib's fast (greedy) levels, rather than the default 6. Measured
 * on 500-change batches (zlib in one process, median of 15): bench Deployments 2.28 -> 0.85 µs per
 * change for 26 -> 28 compressed bytes; kube-sim realistic pods (3.4 KB sanitised) 8.0 -> 2.2 µs
 * for 45 -> 48 bytes. Compression runs on the libuv pool but is the forwarder's CPU all the same.
 */
const GZIP_LEVEL = 3;

export interface DeliveryOptions {
  /** Largest batch, in bytes of JSON before compression. */
  maxBatchBytes: number;
  maxBatchChanges: number;
  /** How long the first change of a batch waits for company. */
  lingerMs: number;
  /** Bound of the queue (JSON bytes, the batch in flight included). */
  maxQueueBytes: number;
  /** How long an offer waits for room before its kind gives up and relists later. */
  stallTimeoutMs: number;
  /**
   * Batches posted at once (independent ones only: see Order above). With one, the endpoint
   * idles while each response travels back and the next batch is cut, compressed and sent.
   */
  maxBatchesInFlight: number;
  backoff: BackoffOptions;
}

export const DEFAULT_DELIVERY: DeliveryOptions = {
  maxBatchBytes: 512 * 1024,
  maxBatchChanges: 500,
  lingerMs: 300,
  // 16 batches of 512 KiB ahead of the endpoint: enough to keep it busy (one batch is in flight
  // at a time), and 24 MiB less RSS than the 32 MiB it was when the endpoint is slower than the
  // cluster (bench/forwarder/scale.ts: the queue is full for the whole of a big list).
  maxQueueBytes: 8 * 1024 * 1024,
  stallTimeoutMs: 60_000,
  // Two keep an endpoint that serves one batch at a time busy: the next batch waits at the
  // endpoint while the one before is served (bench/forwarder/throughput.ts, phase `delivery`).
  maxBatchesInFlight: 2,
  backoff: { ...DEFAULT_BACKOFF, initialMs: 250 },
};

interface Waiter {
  items: Queued[];
  bytes: number;
  resolve: (queued: boolean) => void;
  cancel: AbortController;
  done: boolean;
}

/** A batch taken from the queue: waiting to start (held), or posted and not yet landed. */
interface Flight {
  batch: Queued[];
  bytes: number;
  /** Set once a post of it failed and it waits to be retried: no other batch starts meanwhile. */
  retrying: boolean;
  /** Its ordering keys (batchesConflict), built when first compared. */
  order?: BatchOrder;
}

export interface FlushResult {
  /** Changes that were still unsent when the grace period ended. */
  left: number;
}

export class Delivery {
  readonly #options: DeliveryOptions;
  readonly #poster: IngestPoster;
  readonly #runtime: Runtime;
  readonly #metrics: ForwarderMetrics;
  readonly #log: Logger;

  #queue: Queued[] = [];
  #head = 0;
  /** JSON bytes held: queued plus in flight. */
  #bytes = 0;
  /** Changes and bytes taken from the queue: posted, or held to start. */
  #inFlight = 0;
  #inFlightBytes = 0;
  readonly #flights = new Set<Flight>();
  /** The next batch, taken but not started: it waits for a slot or for batches it depends on. */
  #held: Flight | undefined;
  /** Wakes the loop when a flight lands. */
  #onLanded: (() => void) | undefined;
  /** A flight's unexpected failure, rethrown by the loop. */
  #crash: { error: unknown } | undefined;
  /** Numbers each offer: one offer's relist pages are one pass (Queued.key). */
  #offers = 0;
  /** The body writer's buffer is shared: one batch is written and compressed at a time. */
  #compressing: Promise<unknown> = Promise.resolve();
  #waiters: Waiter[] = [];
  #roomWaiters: Array<() => void> = [];
  #wakeSender: (() => void) | undefined;
  #linger = new AbortController();
  readonly #fills = new WeakMap<AbortSignal, Promise<void>>();
  /** Aborted when the grace period of a flush ends: cuts retries and the post in flight. */
  readonly #abandon = new AbortController();
  #closed = false;
  #flushing = false;
  #loop: Promise<void> | undefined;
  readonly #arena = new JsonArena();
  /**
   * Series updated per change (metrics.ts `series`); `changes_sent` by type created on first
   * use, so /metrics shows only the change types that were sent.
   */
  readonly #sent: Partial<Record<ChangeType, Series>> = {};
  readonly #queueChanges: Series;
  readonly #queueBytes: Series;
  readonly #body = new BatchBodyWriter();

  constructor(
    options: DeliveryOptions,
    deps: { poster: IngestPoster; runtime: Runtime; metrics: ForwarderMetrics; log: Logger },
  ) {
    this.#options = options;
    this.#poster = deps.poster;
    this.#runtime = deps.runtime;
    this.#metrics = deps.metrics;
    this.#log = deps.log;
    this.#queueChanges = deps.metrics.queueChanges.series();
    this.#queueBytes = deps.metrics.queueBytes.series();
  }

  /** Changes held (queued and in flight). */
  get depth(): number {
    return this.#queue.length - this.#head + this.#inFlight;
  }

  get bytes(): number {
    return this.#bytes;
  }

  start(): void {
    this.#loop ??= this.#run().catch((err: unknown) => {
      // Nothing in the loop is expected to throw; if it does, say so loudly rather than hang.
      this.#log.error('delivery loop crashed', { error: err });
      throw err;
    });
  }

  /**
   * Queues `changes` together, in order. Resolves true once queued, or false when the queue
   * stayed full for `stallTimeoutMs` (or delivery is shutting down): the changes were NOT
   * queued, and the caller must make up for them (its kind relists).
   */
  offer(changes: readonly Change[]): Promise<boolean> {
    const queued = this.offerNow(changes);
    return queued === true ? QUEUED : queued === false ? QUEUED_NOT : queued;
  }

  /**
   * `offer`, answering true or false at once when it need not wait: the watch path queues a
   * change per event, and without a promise to await its handling stays synchronous
   * (runner.ts: no microtask turns per event).
   */
  offerNow(changes: readonly Change[]): boolean | Promise<boolean> {
    if (this.#closed) return false;
    const nowMs = this.#runtime.nowMs();
    const items: Queued[] = [];
    let bytes = 0;
    const offer = ++this.#offers;
    for (const c of changes) {
      const q = this.#arena.add(c, nowMs);
      if (c.type === 'relist') q.key = offer;
      items.push(q);
      bytes += q.bytes;
    }
    if (this.#waiters.length === 0 && this.#fits(bytes)) {
      this.#push(items, bytes);
      return true;
    }
    return new Promise((resolve) => {
      const waiter: Waiter = { items, bytes, resolve, cancel: new AbortController(), done: false };
      this.#waiters.push(waiter);
      void this.#runtime.sleep(this.#options.stallTimeoutMs, waiter.cancel.signal).then(() => {
        if (waiter.done) return;
        waiter.done = true;
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        this.#arena.release(items);
        resolve(false);
      });
    });
  }

  /** Resolves once the queue is at most half full: when a stalled kind may list again. */
  waitForRoom(signal?: AbortSignal): Promise<void> {
    if (this.#hasRoom() || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      this.#roomWaiters.push(resolve);
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  /**
   * Stops accepting changes and sends what is held without lingering, for at most
   * `graceMs`; then abandons the rest (counted and returned, never silently).
   */
  async flush(graceMs: number): Promise<FlushResult> {
    this.#closed = true;
    this.#flushing = true;
    for (const w of this.#waiters.splice(0)) {
      w.done = true;
      w.cancel.abort();
      this.#arena.release(w.items);
      w.resolve(false);
    }
    this.#linger.abort();
    this.start();
    const loop = this.#loop!;
    this.#wakeSender?.();
    const grace = new AbortController();
    const timedOut = this.#runtime.sleep(graceMs, grace.signal).then(() => true);
    const graceEnded = await Promise.race([loop.then(() => false), timedOut]);
    grace.abort();
    if (graceEnded) {
      this.#abandon.abort();
      await loop;
    }
    const left = this.depth;
    if (left > 0) {
      this.#metrics.changesDropped.inc({ gvk: '', reason: 'shutdown' }, left);
      this.#log.error('shutdown grace period ended with changes unsent; the next start relists every kind', {
        left,
        bytes: this.#bytes,
      });
    }
    return { left };
  }

  #fits(bytes: number): boolean {
    // An empty queue takes anything, so one change larger than the bound still moves.
    return this.#bytes === 0 || this.#bytes + bytes <= this.#options.maxQueueBytes;
  }

  #hasRoom(): boolean {
    return this.#bytes <= this.#options.maxQueueBytes / 2;
  }

  #push(items: Queued[], bytes: number): void {
    for (const q of items) this.#queue.push(q);
    this.#bytes += bytes;
    this.#gauges();
    const pending = this.#queue.length - this.#head;
    const full =
      pending >= this.#options.maxBatchChanges || this.#pendingBytes() >= this.#options.maxBatchBytes;
    // Once, and with a reason made once: abort() without one builds a DOMException with a stack
    // trace (0.6 % of the watch phase's CPU profile at one per batch), even when the signal
    // already aborted, and behind an in-flight batch every queued change would call it.
    if (full && !this.#linger.signal.aborted) this.#linger.abort(WOKEN);
    this.#wakeSender?.();
  }

  #pendingBytes(): number {
    // Bytes not in flight; only compared against the batch size, so an estimate is fine.
    return this.#bytes - this.#inFlightBytes;
  }

  #release(bytes: number, count: number): void {
    this.#bytes -= bytes;
    this.#inFlight -= count;
    this.#inFlightBytes -= bytes;
    while (this.#waiters.length > 0 && this.#fits(this.#waiters[0]!.bytes)) {
      const w = this.#waiters.shift()!;
      w.done = true;
      w.cancel.abort(WOKEN);
      this.#push(w.items, w.bytes);
      w.resolve(true);
    }
    if (this.#hasRoom()) for (const r of this.#roomWaiters.splice(0)) r();
    this.#gauges();
  }

  #sentSeries(type: ChangeType): Series {
    let s = this.#sent[type];
    if (!s) {
      s = this.#metrics.changesSent.series({ type });
      this.#sent[type] = s;
    }
    return s;
  }

  #gauges(): void {
    this.#queueChanges.set(this.depth);
    this.#queueBytes.set(this.#bytes);
  }

  async #run(): Promise<void> {
    try {
      await this.#cutAndStart();
    } finally {
      // Every flight lands before the loop ends (at shutdown the abandon signal cuts their posts
      // and retries short); a batch never started goes back to the queue, counted as left.
      while (this.#flights.size > 0) await this.#landing();
      const held = this.#held;
      if (held) {
        this.#held = undefined;
        this.#unsent(held);
      }
    }
  }

  async #cutAndStart(): Promise<void> {
    const max = Math.max(1, this.#options.maxBatchesInFlight);
    for (;;) {
      if (this.#crash) throw this.#crash.error;
      if (this.#abandon.signal.aborted) return;
      let held = this.#held;
      if (!held) {
        const pending = this.#queue.length - this.#head;
        if (pending === 0) {
          if (this.#closed) return;
          const woken = new Promise<void>((resolve) => {
            this.#wakeSender = resolve;
          });
          // Nothing queued for TRIM_AFTER_IDLE_MS: give back the kept buffers (~1.5 MiB after a
          // busy spell), so a quiet forwarder's RSS does not keep its peak's. Not at every drain:
          // at a steady few hundred changes/s the queue drains after each batch, and
          // re-allocating the buffers each time would bring back the page faults they save.
          // A plain unref'd timer, not runtime.sleep: nothing waits for it and it changes no
          // behaviour, only memory (tests drive and record delivery's own sleeps).
          const trim = setTimeout(() => {
            if (this.#flights.size > 0) return;
            this.#arena.trim();
            this.#body.trim();
          }, TRIM_AFTER_IDLE_MS);
          trim.unref();
          await woken;
          clearTimeout(trim);
          this.#wakeSender = undefined;
          continue;
        }
        // No batch is cut while it could not start: it goes out as full as the queue allows.
        if (this.#flights.size >= max || this.#anyRetrying()) {
          await this.#landing();
          continue;
        }
        if (!this.#flushing) {
          const waitMs = this.#queue[this.#head]!.atMs + this.#options.lingerMs - this.#runtime.nowMs();
          const full =
            pending >= this.#options.maxBatchChanges || this.#pendingBytes() >= this.#options.maxBatchBytes;
          if (this.#flights.size > 0 && !full) {
            // Another batch is in flight: this one starts only once it is full (a backlog: what
            // several in flight are for) or that one has landed, so that at a low rate batches
            // are as large, and requests as few, as with one in flight (docs/cost.md).
            if (this.#linger.signal.aborted) this.#linger = new AbortController();
            await Promise.race([this.#landing(), this.#filled()]);
            continue;
          }
          if (waitMs > 0 && !full) {
            if (this.#linger.signal.aborted) this.#linger = new AbortController();
            await this.#runtime.sleep(waitMs, this.#linger.signal);
            if (!this.#flushing && this.#linger.signal.aborted) this.#linger = new AbortController();
            continue;
          }
        }
        const batch = this.#take();
        const bytes = batch.reduce((sum, q) => sum + q.bytes, 0);
        this.#inFlight += batch.length;
        this.#inFlightBytes += bytes;
        held = { batch, bytes, retrying: false };
        this.#held = held;
      }
      if (
        this.#flights.size > 0 &&
        (this.#flights.size >= max || this.#anyRetrying() || this.#waitsFor(held))
      ) {
        await this.#landing();
        continue;
      }
      this.#held = undefined;
      this.#start(held);
    }
  }

  /** Resolves when the current linger is cut short (a batch's worth queued, or a flush). */
  #filled(): Promise<void> {
    const signal = this.#linger.signal;
    let filled = this.#fills.get(signal);
    if (!filled) {
      // One listener per linger signal, however often the loop waits on it.
      filled = new Promise<void>((resolve) =>
        signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      this.#fills.set(signal, filled);
    }
    return filled;
  }

  #anyRetrying(): boolean {
    for (const f of this.#flights) if (f.retrying) return true;
    return false;
  }

  /** Whether `next` depends on the order of a batch in flight. */
  #waitsFor(next: Flight): boolean {
    next.order ??= batchOrderOf(next.batch);
    for (const f of this.#flights) {
      f.order ??= batchOrderOf(f.batch);
      if (batchesConflict(f.order, next.order)) return true;
    }
    return false;
  }

  /** Resolves when the next flight lands (or crashes). */
  #landing(): Promise<void> {
    return new Promise((resolve) => {
      const before = this.#onLanded;
      this.#onLanded = () => {
        before?.();
        resolve();
      };
    });
  }

  #start(flight: Flight): void {
    this.#flights.add(flight);
    void this.#send(flight.batch, flight).then(
      (sent) => {
        this.#flights.delete(flight);
        if (sent) {
          this.#arena.release(flight.batch);
          this.#release(flight.bytes, flight.batch.length);
        } else {
          this.#unsent(flight);
        }
        this.#landed();
      },
      (error: unknown) => {
        this.#flights.delete(flight);
        this.#crash ??= { error };
        this.#landed();
      },
    );
  }

  #landed(): void {
    const wake = this.#onLanded;
    this.#onLanded = undefined;
    wake?.();
  }

  /** Abandoned at the end of a shutdown grace period: back in the queue, to count what never left. */
  #unsent(flight: Flight): void {
    this.#queue.splice(this.#head, 0, ...flight.batch);
    this.#inFlight -= flight.batch.length;
    this.#inFlightBytes -= flight.bytes;
  }

  #take(): Queued[] {
    const batch: Queued[] = [];
    let bytes = 0;
    while (this.#head < this.#queue.length && batch.length < this.#options.maxBatchChanges) {
      const q = this.#queue[this.#head]!;
      if (batch.length > 0 && bytes + q.bytes > this.#options.maxBatchBytes) break;
      batch.push(q);
      bytes += q.bytes;
      this.#head += 1;
    }
    // Drop consumed entries (their JSON) once the queue is empty or mostly consumed, so memory
    // follows the live queue.
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return batch;
  }

  /** A change the endpoint refused: dropped, counted and logged with its object (cut to 2 KB). */
  #rejected(q: Queued, status: number, bodyText: string): void {
    this.#metrics.changesRejected.inc({ status: String(status) });
    const json = q.chunk.buf.toString('utf8', q.start, q.start + q.bytes);
    this.#log.error('ingest rejected a change; it is dropped', {
      status,
      error: bodyText,
      change: {
        type: q.type,
        ref: refOf(JSON.parse(json) as Change),
        bytes: q.bytes,
        json: json.length > MAX_LOGGED_CHANGE ? `${json.slice(0, MAX_LOGGED_CHANGE)}…` : json,
      },
    });
  }

  /** The gzipped body of `batch`, once no other batch is being written into the shared buffer. */
  async #compress(batch: readonly Queued[]): Promise<Buffer> {
    const before = this.#compressing;
    let done!: () => void;
    this.#compressing = new Promise<void>((resolve) => {
      done = resolve;
    });
    try {
      await before;
      return await gzipAsync(this.#body.write(batch), { level: GZIP_LEVEL });
    } finally {
      done();
    }
  }

  /**
   * Sends until accepted or isolated-and-rejected; false only when abandoned at shutdown.
   * `flight`: the batch's flight, marked `retrying` while a failed post waits to be retried.
   */
  async #send(batch: Queued[], flight: Flight): Promise<boolean> {
    const body = await this.#compress(batch);
    // Its own backoff: batches in flight fail and recover independently.
    let backoff: Backoff | undefined;
    for (;;) {
      if (this.#abandon.signal.aborted) return false;
      let status: number | undefined;
      let retryAfterMs: number | undefined;
      let bodyText = '';
      let reason: string;
      try {
        const res = await this.#poster.post(body, this.#abandon.signal);
        status = res.status;
        retryAfterMs = res.retryAfterMs;
        bodyText = res.bodyText;
        reason = String(status);
      } catch (err) {
        if (this.#abandon.signal.aborted) return false;
        reason = isTimeout(err) ? 'timeout' : 'connection';
        bodyText = err instanceof Error ? err.message : String(err);
      }
      if (status !== undefined && status >= 200 && status < 300) {
        flight.retrying = false;
        this.#metrics.batchesSent.inc();
        for (const q of batch) this.#sentSeries(q.type).inc();
        this.#metrics.lastSuccessSec.set({}, Math.floor(this.#runtime.nowMs() / 1000));
        return true;
      }
      if (status !== undefined && !isRetryable(status)) {
        // The endpoint rejects a bad batch whole and writes nothing. When it names the change
        // (docs/ingest-api.md: `error.index`), that change is dropped and the rest sent again at
        // once; otherwise the batch is split in halves, each sent on its own.
        const index = badChangeIndex(bodyText, batch.length);
        if (index !== undefined && batch.length > 1) {
          this.#rejected(batch[index]!, status, bodyText);
          return this.#send(
            batch.filter((_, i) => i !== index),
            flight,
          );
        }
        if (batch.length > 1) {
          const half = Math.ceil(batch.length / 2);
          this.#log.warn('ingest rejected a batch; splitting it to isolate the bad change', {
            status,
            changes: batch.length,
            error: bodyText,
          });
          return (
            (await this.#send(batch.slice(0, half), flight)) && (await this.#send(batch.slice(half), flight))
          );
        }
        this.#rejected(batch[0]!, status, bodyText);
        return true;
      }
      backoff ??= new Backoff(this.#options.backoff, this.#runtime.random);
      flight.retrying = true;
      const delayMs = backoff.next(this.#runtime.nowMs(), retryAfterMs);
      this.#metrics.deliveryRetries.inc({ reason });
      this.#log.warn('posting a batch failed; retrying the same batch', {
        reason,
        error: bodyText,
        changes: batch.length,
        retryInMs: delayMs,
        attempt: backoff.attempt,
      });
      await this.#runtime.sleep(delayMs, this.#abandon.signal);
    }
  }
}

/**
 * The ordering keys of a batch (Queued.group, Queued.key): what another batch in flight at the
 * same time must not touch.
 */
export interface BatchOrder {
  /** A config change: ordered against everything. */
  barrier: boolean;
  /** Objects and lifecycles changed (their keys). */
  objects: Set<number>;
  /** Kinds (groups) whose objects or lifecycles it changes. */
  groups: Set<number>;
  /** Kinds it holds relist pages of → the offers (passes) they came from. */
  relists: Map<number, Set<number>>;
}

export function batchOrderOf(batch: readonly Queued[]): BatchOrder {
  const order: BatchOrder = { barrier: false, objects: new Set(), groups: new Set(), relists: new Map() };
  for (const q of batch) {
    switch (q.type) {
      case 'config':
        order.barrier = true;
        break;
      case 'relist': {
        let passes = order.relists.get(q.group);
        if (!passes) {
          passes = new Set();
          order.relists.set(q.group, passes);
        }
        passes.add(q.key);
        break;
      }
      default:
        order.objects.add(q.key);
        order.groups.add(q.group);
    }
  }
  return order;
}

/**
 * Whether two batches must land one after the other (the earlier first): they share an object
 * or lifecycle; one holds relist pages of a kind whose objects the other changes (a page
 * reconciles against what the store holds: the applied changes before it must be stored first,
 * and a page must not judge a later change); both hold pages of one kind from different passes;
 * or either holds a config change.
 */
export function batchesConflict(a: BatchOrder, b: BatchOrder): boolean {
  if (a.barrier || b.barrier) return true;
  const [small, large] = a.objects.size <= b.objects.size ? [a, b] : [b, a];
  for (const k of small.objects) if (large.objects.has(k)) return true;
  for (const [group, passes] of a.relists) {
    if (b.groups.has(group)) return true;
    const other = b.relists.get(group);
    if (other && (other.size > 1 || passes.size > 1 || !passes.has([...other][0]!))) return true;
  }
  for (const group of b.relists.keys()) if (a.groups.has(group)) return true;
  return false;
}

// offer()'s answers when it need not wait, made once.
const QUEUED = Promise.resolve(true);
const QUEUED_NOT = Promise.resolve(false);

const TRIM_AFTER_IDLE_MS = 10_000;

/** The reason of aborts that only wake a sleep (a batch filled, an offer found room). */
const WOKEN = Object.freeze({ woken: true });

/** `error.index` of an ingest error body, when it names a change of this batch. */
function badChangeIndex(bodyText: string, size: number): number | undefined {
  try {
    const index = (JSON.parse(bodyText) as { error?: { index?: unknown } }).error?.index;
    return typeof index === 'number' && Number.isInteger(index) && index >= 0 && index < size
      ? index
      : undefined;
  } catch {
    return undefined;
  }
}

/** How much of a refused change's JSON goes into its log line. */
const MAX_LOGGED_CHANGE = 2048;

function isRetryable(status: number): boolean {
  return (
    status === 408 || status === 429 || status >= 500 || status === 401 || status === 403 || status === 404
  );
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
}

function refOf(change: Change): string {
  switch (change.type) {
    case 'applied':
    case 'deleted': {
      const m = change.object.metadata;
      const nsName = m.namespace ? `${m.namespace}/${m.name}` : String(m.name);
      return `${change.object.apiVersion}.${change.object.kind} ${nsName}`;
    }
    case 'relist':
      return `${change.gvk} (${change.after ?? ''}, ${change.through ?? ''}]`;
    case 'lifecycle':
      return `${change.owner.gvk} ${change.owner.ns_name} pod ${change.pod}`;
    case 'config':
      return 'config';
  }
}
