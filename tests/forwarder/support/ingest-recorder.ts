/**
 * A stand-in for the ingest endpoint: a real node:http server that gunzips and records every
 * batch posted to `/v1/clusters/{cluster}/events`, and on demand answers errors, hangs, or
 * refuses changes, so delivery can be tested against real HTTP.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { Change } from '../../../lib/ingest/wire.ts';

export interface RecordedRequest {
  path: string;
  headers: IncomingMessage['headers'];
  /** The body exactly as received (gzipped). */
  raw: Buffer;
  changes: Change[];
  status: number;
}

type Fault = { status: number; retryAfterSec?: number; body?: string } | { hang: true };

export class IngestRecorder {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly requests: RecordedRequest[] = [];
  #faults: Fault[] = [];
  #rejects: Array<{ match: (c: Change) => boolean; status: number; named: boolean }> = [];
  #failsWhen: Array<{ match: (c: Change) => boolean; times: number; status: number }> = [];
  #holds: Array<{ match: (c: Change) => boolean; released: Promise<void> }> = [];
  /** The changes of every request, in the order the requests arrived (before any answer). */
  readonly arrivals: Change[][] = [];
  #down = false;
  #hung: ServerResponse[] = [];
  #listeners: Array<() => void> = [];
  url = '';

  private constructor() {
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  static async start(): Promise<IngestRecorder> {
    const r = new IngestRecorder();
    r.#server.listen(0, '127.0.0.1');
    await once(r.#server, 'listening');
    r.url = `http://127.0.0.1:${(r.#server.address() as AddressInfo).port}`;
    return r;
  }

  /** The next `times` requests get `status` (with a Status-like JSON body). */
  fail(times: number, status: number, retryAfterSec?: number): void {
    for (let i = 0; i < times; i++)
      this.#faults.push(retryAfterSec === undefined ? { status } : { status, retryAfterSec });
  }

  /** The next `times` requests are never answered. */
  hang(times: number): void {
    for (let i = 0; i < times; i++) this.#faults.push({ hang: true });
  }

  /**
   * Any batch holding a matching change is refused whole with `status`, like the real ingest;
   * `named`: the error body names the change (`field`, `index`) as the real ingest does for
   * problems inside the batch; false for errors that name none (a body limit).
   */
  reject(match: (c: Change) => boolean, status = 400, opts: { named?: boolean } = {}): void {
    this.#rejects.push({ match, status, named: opts.named ?? true });
  }

  /** The next `times` requests holding a matching change get `status` (retryable ones: 5xx, 429). */
  failWhen(match: (c: Change) => boolean, times: number, status = 503): void {
    this.#failsWhen.push({ match, times, status });
  }

  /**
   * Requests holding a matching change are not answered until `release()` (those arriving after
   * it are answered at once): a batch kept in flight for as long as a test needs.
   */
  hold(match: (c: Change) => boolean): { release: () => void } {
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#holds.push({ match, released });
    return { release };
  }

  /** While down, connections are destroyed on arrival (as a dead endpoint or a reset). */
  setDown(down: boolean): void {
    this.#down = down;
  }

  /** Changes of accepted batches, in arrival order. */
  accepted(): Change[] {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300).flatMap((r) => r.changes);
  }

  acceptedRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300);
  }

  /** Resolves once `predicate` holds (checked after each request), or rejects after `timeoutMs`. */
  async waitFor(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    if (predicate()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#listeners = this.#listeners.filter((l) => l !== check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.#listeners = this.#listeners.filter((l) => l !== check);
        resolve();
      };
      this.#listeners.push(check);
    });
  }

  async close(): Promise<void> {
    for (const res of this.#hung) res.destroy();
    for (const s of this.#sockets) s.destroy();
    this.#server.close();
    await once(this.#server, 'close');
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.#down) {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    let changes: Change[] = [];
    let status = 200;
    let body = '';
    try {
      const text =
        req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
      changes = (JSON.parse(text) as { changes: Change[] }).changes;
    } catch (err) {
      status = 400;
      body = JSON.stringify({ error: { code: 'bad_body', message: String(err) } });
    }
    this.arrivals.push(changes);
    this.#notify();
    for (const h of this.#holds) if (changes.some(h.match)) await h.released;
    const when = this.#failsWhen.find((f) => f.times > 0 && changes.some(f.match));
    if (when) {
      when.times--;
      this.requests.push({ path: req.url ?? '', headers: req.headers, raw, changes, status: when.status });
      res.writeHead(when.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'injected', message: `injected ${when.status}` } }));
      this.#notify();
      return;
    }
    const fault = this.#faults.shift();
    if (fault && 'hang' in fault) {
      this.requests.push({ path: req.url ?? '', headers: req.headers, raw, changes, status: 0 });
      this.#hung.push(res);
      this.#notify();
      return;
    }
    if (status === 200 && fault) {
      status = fault.status;
      body = JSON.stringify({ error: { code: 'injected', message: `injected ${fault.status}` } });
      if (fault.retryAfterSec !== undefined) res.setHeader('retry-after', String(fault.retryAfterSec));
    }
    if (status === 200) {
      for (const r of this.#rejects) {
        const bad = changes.findIndex(r.match);
        if (bad >= 0) {
          status = r.status;
          const error: Record<string, unknown> = {
            code: 'invalid_change',
            message: `changes[${bad}] is invalid`,
          };
          if (r.named) Object.assign(error, { field: `changes[${bad}]`, index: bad });
          body = JSON.stringify({ error });
          break;
        }
      }
    }
    if (status === 200) {
      const count = (t: string) => changes.filter((c) => c.type === t).length;
      body = JSON.stringify({
        accepted: changes.length,
        deduplicated: 0,
        reconciled_deletions: count('relist') * 0,
      });
    }
    this.requests.push({ path: req.url ?? '', headers: req.headers, raw, changes, status });
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
    this.#notify();
  }

  #notify(): void {
    for (const l of [...this.#listeners]) l();
  }
}
