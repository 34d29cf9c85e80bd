/**
 * Delivery of changes to the ingest endpoint: a bounded queue, batches cut by size and time,
 * one batch in flight at a time, retries with backoff.
 *
 * - Order: changes leave in the order they were offered, one batch at a time, so the changes
 *   of one object reach the store in the order the watch saw them.
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
  backoff: { ...DEFAULT_BACKOFF, initialMs: 250 },
};

interface Waiter {
  items: Queued[];
  bytes: number;
  resolve: (queued: boolean) => void;
  cancel: AbortController;
  done: boolean;
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
  readonly #backoff: Backoff;

  #queue: Queued[] = [];
  #head = 0;
  /** JSON bytes held: queued plus in flight. */
  #bytes = 0;
  #inFlight = 0;
  #inFlightBytes = 0;
  #waiters: Waiter[] = [];
  #roomWaiters: Array<() => void> = [];
  #wakeSender: (() => void) | undefined;
  #linger = new AbortController();
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
    this.#backoff = new Backoff(options.backoff, deps.runtime.random);
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
    if (this.#closed) return QUEUED_NOT;
    const nowMs = this.#runtime.nowMs();
    const items: Queued[] = [];
    let bytes = 0;
    for (const c of changes) {
      const q = this.#arena.add(c, nowMs);
      items.push(q);
      bytes += q.bytes;
    }
    if (this.#waiters.length === 0 && this.#fits(bytes)) {
      this.#push(items, bytes);
      return QUEUED;
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
    // Once: abort() builds its default reason (a DOMException with a stack trace) even when the
    // signal already aborted, and behind an in-flight batch every queued change would call it.
    if (full && !this.#linger.signal.aborted) this.#linger.abort();
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
      w.cancel.abort();
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
    for (;;) {
      if (this.#abandon.signal.aborted) return;
      const pending = this.#queue.length - this.#head;
      if (pending === 0) {
        if (this.#closed) return;
        const woken = new Promise<void>((resolve) => {
          this.#wakeSender = resolve;
        });
        // Nothing queued for TRIM_AFTER_IDLE_MS: give back the kept buffers (~1.5 MiB after a busy
        // spell), so a quiet forwarder's RSS does not keep its peak's. Not at every drain: at a
        // steady few hundred changes/s the queue drains after each batch, and re-allocating the
        // buffers each time would bring back the page faults they save.
        // A plain unref'd timer, not runtime.sleep: nothing waits for it and it changes no
        // behaviour, only memory (tests drive and record delivery's own sleeps).
        const trim = setTimeout(() => {
          this.#arena.trim();
          this.#body.trim();
        }, TRIM_AFTER_IDLE_MS);
        trim.unref();
        await woken;
        clearTimeout(trim);
        this.#wakeSender = undefined;
        continue;
      }
      if (!this.#flushing) {
        const waitMs = this.#queue[this.#head]!.atMs + this.#options.lingerMs - this.#runtime.nowMs();
        const full =
          pending >= this.#options.maxBatchChanges || this.#pendingBytes() >= this.#options.maxBatchBytes;
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
      const sent = await this.#send(batch);
      if (!sent) {
        // Abandoned at the end of a shutdown grace period: count what never left.
        this.#queue.splice(this.#head, 0, ...batch);
        this.#inFlight -= batch.length;
        this.#inFlightBytes -= bytes;
        return;
      }
      this.#arena.release(batch);
      this.#release(bytes, batch.length);
    }
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

  /** Sends until accepted or isolated-and-rejected; false only when abandoned at shutdown. */
  async #send(batch: Queued[]): Promise<boolean> {
    const body = await gzipAsync(this.#body.write(batch), { level: GZIP_LEVEL });
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
        this.#backoff.reset();
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
          return this.#send(batch.filter((_, i) => i !== index));
        }
        if (batch.length > 1) {
          const half = Math.ceil(batch.length / 2);
          this.#log.warn('ingest rejected a batch; splitting it to isolate the bad change', {
            status,
            changes: batch.length,
            error: bodyText,
          });
          return (await this.#send(batch.slice(0, half))) && (await this.#send(batch.slice(half)));
        }
        this.#rejected(batch[0]!, status, bodyText);
        return true;
      }
      const delayMs = this.#backoff.next(this.#runtime.nowMs(), retryAfterMs);
      this.#metrics.deliveryRetries.inc({ reason });
      this.#log.warn('posting a batch failed; retrying the same batch', {
        reason,
        error: bodyText,
        changes: batch.length,
        retryInMs: delayMs,
        attempt: this.#backoff.attempt,
      });
      await this.#runtime.sleep(delayMs, this.#abandon.signal);
    }
  }
}

// offer()'s answers when it need not wait, made once: an offer per watch event.
const QUEUED = Promise.resolve(true);
const QUEUED_NOT = Promise.resolve(false);

const TRIM_AFTER_IDLE_MS = 10_000;

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
