/**
 * The recording endpoint of the forwarder benchmarks: gunzips and parses every batch posted to
 * `/v1/clusters/{cluster}/events`, counts its changes by type and answers 200 as the ingest
 * function does. It keeps counts only: tests/forwarder/support/ingest-recorder.ts keeps every
 * batch, which over the memory benchmark's hundreds of thousands of changes would hold gigabytes
 * in the measuring process.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { Change, ChangeType } from '../../lib/ingest/wire.ts';

export class CountingIngest {
  readonly #server: Server;
  readonly counts: Record<ChangeType, number> = {
    applied: 0,
    deleted: 0,
    relist: 0,
    lifecycle: 0,
    config: 0,
  };
  batches = 0;
  /** Batches that were not a gzipped `{changes: [...]}` (answered 400): must stay 0. */
  refused = 0;
  url = '';
  /** Answers no faster than this many changes per second (a slow store); unlimited when unset. */
  #changesPerSec: number | undefined;
  #freeAtMs = 0;
  #lastAnsweredMs: number | undefined;
  /**
   * Per batch: ms from the previous answer to this batch's arrival (the sender's turnaround:
   * the answer's way back, the sender's cut, compression and post), and ms spent reading,
   * gunzipping and parsing it before its service time starts.
   */
  readonly timings: { turnaroundMs: number; readMs: number }[] = [];

  private constructor(changesPerSec?: number) {
    this.#changesPerSec = changesPerSec;
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  static async start(opts: { changesPerSec?: number } = {}): Promise<CountingIngest> {
    const c = new CountingIngest(opts.changesPerSec);
    c.#server.listen(0, '127.0.0.1');
    await once(c.#server, 'listening');
    c.url = `http://127.0.0.1:${(c.#server.address() as AddressInfo).port}`;
    return c;
  }

  /** Changes the endpoint's rate from now on (undefined: unlimited). */
  setChangesPerSec(changesPerSec: number | undefined): void {
    this.#changesPerSec = changesPerSec;
    this.#freeAtMs = 0;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, 'close');
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const arrivedMs = performance.now();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    let changes: Change[];
    try {
      const text =
        req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
      changes = (JSON.parse(text) as { changes: Change[] }).changes;
    } catch (err) {
      this.refused++;
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'bad_body', message: String(err) } }));
      return;
    }
    if (this.#changesPerSec !== undefined) {
      // One batch at a time takes changes/rate seconds of the endpoint's time.
      const nowMs = performance.now();
      if (this.#lastAnsweredMs !== undefined && this.timings.length < 100_000)
        this.timings.push({ turnaroundMs: arrivedMs - this.#lastAnsweredMs, readMs: nowMs - arrivedMs });
      this.#freeAtMs = Math.max(this.#freeAtMs, nowMs) + (changes.length / this.#changesPerSec) * 1000;
      await new Promise((r) => setTimeout(r, this.#freeAtMs - nowMs));
    }
    for (const c of changes) this.counts[c.type]++;
    this.batches++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ accepted: changes.length, deduplicated: 0, reconciled_deletions: 0 }));
    this.#lastAnsweredMs = performance.now();
  }
}
