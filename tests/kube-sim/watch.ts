/**
 * Watch streams as kube-apiserver's watch cache serves them (api-concepts, "Efficient detection of
 * changes" and "Watch bookmarks"; k8s.io/apiserver/pkg/storage/cacher):
 *
 * - HTTP 200, `Transfer-Encoding: chunked`, one JSON event per line: `{"type":…,"object":…}`.
 * - Events strictly after the requested resourceVersion; without one (or with "0") the stream
 *   starts with synthetic ADDED events for the current objects ("Get State and Start at Most
 *   Recent").
 * - An object entering a watcher's selector arrives as ADDED, leaving it as DELETED carrying the
 *   previous content with the new resourceVersion (cacheWatcher.convertToWatchEvent).
 * - BOOKMARK objects carry kind, apiVersion and only metadata.resourceVersion.
 * - A watcher that cannot keep up is terminated: its stream just ends ("Forcing watcher close due
 *   to unresponsiveness" in cache_watcher.go), after what was already written.
 *
 * Backpressure: each watcher writes until its socket holds `maxBufferedBytes`, then waits for
 * 'drain' and resumes from its cursor through the shared history (events are serialised once per
 * change, never queued per watcher). A watcher whose cursor falls out of the history (the
 * compaction window) cannot be resumed and is closed as too slow, so memory stays bounded by the
 * history plus one socket buffer per watcher.
 */
import type { ServerResponse } from 'node:http';
import type { ObjectMatcher } from './selectors.ts';
import type { KubeStatus } from './status.ts';
import type { HistoryEntry, ResourceState, SimStore, StoredVersion, WatchEventType } from './store.ts';

export interface WatchSpec {
  res: ResourceState;
  /** Key prefix of a namespaced watch in one namespace (`ns/`), '' otherwise. */
  keyPrefix: string;
  match: ObjectMatcher;
  bookmarks: boolean;
  /** Events after this revision are sent. */
  startRv: number;
  /** Send the current objects as ADDED first (watch without resourceVersion, or "0"). */
  initialEvents: boolean;
  /** sendInitialEvents=true: end the initial events with a bookmark annotated k8s.io/initial-events-end. */
  initialEventsEndBookmark: boolean;
  timeoutMs: number;
  /** Bytes queued on the socket before the watcher waits for it to drain. */
  maxBufferedBytes: number;
  /** Time a full (blocked) watcher may hold back a new event before it is closed as unresponsive; 0: never. */
  slowBudgetMs: number;
  nowMs: () => number;
}

export type WatchEndReason =
  | 'timeout'
  | 'ended'
  | 'at-once'
  | 'dropped'
  | 'too-slow'
  | 'error'
  | 'client-closed';

export class Watcher {
  readonly spec: WatchSpec;
  readonly #res: ServerResponse;
  readonly #store: SimStore;
  /** False while watches are paused (KubeSim.pauseWatches). */
  readonly #live: () => boolean;
  readonly #onDone: (w: Watcher, reason: WatchEndReason) => void;
  /** Every change up to this revision has been written or filtered out. */
  #cursorRv: number;
  /** Initial state still to send (a snapshot taken at start), and the next index in it. */
  #initial: StoredVersion[] | undefined;
  #initialIndex = 0;
  /** Waiting for the socket to drain, since #blockedAtMs. */
  #blocked = false;
  #blockedAtMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #done = false;

  constructor(
    res: ServerResponse,
    store: SimStore,
    spec: WatchSpec,
    live: () => boolean,
    onDone: (w: Watcher, reason: WatchEndReason) => void,
  ) {
    this.#res = res;
    this.#store = store;
    this.spec = spec;
    this.#live = live;
    this.#onDone = onDone;
    this.#cursorRv = spec.startRv;
    res.on('close', () => this.#finish('client-closed'));
    res.on('drain', () => {
      this.#blocked = false;
      this.resume();
    });
  }

  get done(): boolean {
    return this.#done;
  }

  /** Snapshots the initial state (if asked), arms the timeout and sends what it can. */
  start(): void {
    const { spec } = this;
    if (spec.initialEvents) {
      // The state at the start revision: the versions are immutable, so a snapshot of references
      // stays exact however long a slow client takes to read it.
      this.#initial = [];
      for (const key of spec.res.sortedKeys()) {
        if (key.startsWith(spec.keyPrefix)) this.#initial.push(spec.res.objects.get(key)!);
      }
      this.#cursorRv = this.#store.currentRv;
    }
    this.#timer = setTimeout(() => this.end('timeout'), spec.timeoutMs);
    this.resume();
  }

  /**
   * Watches are about to pause. A watcher with events flowing has seen every change so far, even
   * those of other kinds the hub never offered it: its cursor moves to the current revision, so
   * resuming does not mistake a quiet watch for one that fell behind the history.
   */
  pause(): void {
    if (this.#flowing() && this.#cursorRv < this.#store.currentRv) this.#cursorRv = this.#store.currentRv;
  }

  /** Events flow: not paused, not waiting for the socket, initial state sent. */
  #flowing(): boolean {
    return !this.#done && !this.#blocked && this.#initial === undefined && this.#live();
  }

  /**
   * Sends what is pending — the rest of the initial state, then every change after the cursor —
   * until done or the socket is full. Called at start, on 'drain' and when watches resume.
   */
  resume(): void {
    if (this.#done || this.#blocked || !this.#live()) return;
    const initial = this.#initial;
    if (initial) {
      while (this.#initialIndex < initial.length) {
        const version = initial[this.#initialIndex++]!;
        if (this.spec.match(version.object)) this.#write(initialLine(version));
        if (this.#done || this.#blocked) return;
      }
      this.#initial = undefined;
      if (this.spec.initialEventsEndBookmark) this.#write(this.#bookmarkLine(this.#cursorRv, true));
      if (this.#done || this.#blocked) return;
    }
    if (this.#cursorRv < this.#store.compactedRv) {
      this.end('too-slow');
      return;
    }
    for (const entry of this.#store.changesAfter(this.#cursorRv)) {
      this.#consider(entry);
      if (this.#done || this.#blocked) return;
    }
  }

  /** A change just committed. Written now if events flow; otherwise picked up later from history. */
  offer(entry: HistoryEntry): void {
    if (this.#flowing()) {
      this.#consider(entry);
    } else if (this.#blocked && this.#cursorRv < this.#store.compactedRv) {
      // What it still has to read is no longer in the history: it cannot catch up.
      this.end('too-slow');
    } else if (
      this.#blocked &&
      this.spec.slowBudgetMs > 0 &&
      entry.resource === this.spec.res &&
      this.spec.nowMs() - this.#blockedAtMs > this.spec.slowBudgetMs
    ) {
      // The cacher's dispatch cannot hand this watcher its event within the budget: closed, not
      // waited on forever (cache_watcher.go "Forcing watcher close due to unresponsiveness").
      // What was already written stays readable; the stream then ends cleanly.
      this.end('too-slow');
    }
  }

  #consider(entry: HistoryEntry): void {
    if (entry.rv <= this.#cursorRv) return;
    this.#cursorRv = entry.rv;
    if (entry.resource !== this.spec.res || !entry.key.startsWith(this.spec.keyPrefix)) return;
    const type = this.#eventType(entry);
    if (type !== undefined) this.#write(type === 'EXIT' ? entry.exitLine() : entry.line(type));
  }

  #eventType(entry: HistoryEntry): WatchEventType | 'EXIT' | undefined {
    const { match } = this.spec;
    const now = entry.type !== 'DELETED' && match(entry.version.object);
    const before = entry.prev !== undefined && match(entry.prev.object);
    if (now) return before ? 'MODIFIED' : 'ADDED';
    return before ? 'EXIT' : undefined;
  }

  /**
   * A BOOKMARK at the current revision, when every change up to it has been sent: only while events
   * flow, and not before a watch from a future resourceVersion has reached it.
   */
  bookmark(): void {
    if (!this.spec.bookmarks || !this.#flowing()) return;
    const rv = this.#store.currentRv;
    if (rv < this.#cursorRv) return;
    this.#cursorRv = rv;
    this.#write(this.#bookmarkLine(rv, false));
  }

  #bookmarkLine(rv: number, initialEventsEnd: boolean): Buffer {
    const metadata = initialEventsEnd
      ? { resourceVersion: String(rv), annotations: { 'k8s.io/initial-events-end': 'true' } }
      : { resourceVersion: String(rv) };
    const object = { kind: this.spec.res.res.kind, apiVersion: this.spec.res.apiVersion, metadata };
    return Buffer.from(`${JSON.stringify({ type: 'BOOKMARK', object })}\n`);
  }

  /** An ERROR event with a Status, then the end of the stream (HTTP status stays 200). */
  error(status: KubeStatus): void {
    if (this.#done) return;
    this.#write(Buffer.from(`${JSON.stringify({ type: 'ERROR', object: status })}\n`));
    this.end('error');
  }

  /** Ends the stream cleanly (terminating chunk), as a server-side timeout does. */
  end(reason: WatchEndReason): void {
    if (this.#done) return;
    // kube-apiserver sends a bookmark shortly before a watch's deadline so the client can resume
    // from the newest revision (cacheWatcher.nextBookmarkTime).
    if (reason === 'timeout' || reason === 'ended') this.bookmark();
    this.#finish(reason);
    this.#res.end();
  }

  /** Destroys the socket: the client sees the body stop without a terminating chunk. */
  drop(): void {
    if (this.#done) return;
    this.#finish('dropped');
    this.#res.socket?.destroy();
    this.#res.destroy();
  }

  #write(line: Buffer): void {
    const ok = this.#res.write(line);
    // write() returned false, so 'drain' will come; wait for it once the bounded buffer is full.
    if (!ok && this.#res.writableLength >= this.spec.maxBufferedBytes) {
      this.#blocked = true;
      this.#blockedAtMs = this.spec.nowMs();
    }
  }

  #finish(reason: WatchEndReason): void {
    if (this.#done) return;
    this.#done = true;
    this.#initial = undefined;
    if (this.#timer) clearTimeout(this.#timer);
    this.#onDone(this, reason);
  }
}

function initialLine(version: StoredVersion): Buffer {
  return Buffer.from(`{"type":"ADDED","object":${version.json}}\n`);
}
