/**
 * An HTTP fault proxy in front of the ingest endpoint. Each request is passed through or answered
 * with a fault drawn from a seeded random source, the way a network and API Gateway misbehave:
 * 500 and 429 (with Retry-After) without reaching the handler, a timeout (held, then the socket
 * destroyed without an answer), a lost response (forwarded and written, then the socket destroyed:
 * the sender cannot know it landed), a duplicate (forwarded twice at once, like an overlapping
 * retry of a timed-out Lambda), a delay, or (negative control only) a 200 without forwarding. While `down`, every connection is destroyed on arrival.
 * Forwarded batches are kept so a "second sender" can replay old ones late (`replay`).
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';

export type IngestFault =
  | 'error500'
  | 'error429'
  | 'timeout'
  | 'lostResponse'
  | 'duplicate'
  | 'delay'
  /** 200 without forwarding: a silent loss, for the negative control (the oracle must see it). */
  | 'blackhole';

export interface IngestFaultMix {
  /** Fraction of requests per fault; the rest pass. The sum must be ≤ 1. */
  rates: Partial<Record<IngestFault, number>>;
  /** How long a `timeout` holds the request before dropping it (default 1,000 ms). */
  hangMs?: number;
  /** How long a `delay` holds a request before forwarding it (default 500 ms). */
  delayMs?: number;
  /** Retry-After of injected 429s, seconds (default 1). */
  retryAfterSec?: number;
  /** Faults for the next requests, in order, before the random draw resumes (a short run sees each). */
  first?: IngestFault[];
}

interface Kept {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** mulberry32: a small seeded generator, so a failing mix can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export class IngestFaultProxy {
  url = '';
  mix: IngestFaultMix = { rates: {} };
  down = false;
  /**
   * Negative control: seconds added to the `ts` (and `seq`, in µs) of every change of every batch
   * from the sender, as a sender stamping late would; 0 leaves the bytes untouched.
   */
  shiftStampsSec = 0;
  /** Called with every batch of the sender that the endpoint took (2xx), replays excluded. */
  onLanded: ((body: Buffer, headers: IncomingHttpHeaders) => void) | undefined;
  /** Called with every batch of the sender as it arrives, before any fault. */
  onArrived: ((body: Buffer, headers: IncomingHttpHeaders) => void) | undefined;
  /** Requests seen, and faults injected by kind. */
  readonly counts = { requests: 0, passed: 0, replayed: 0, faults: new Map<IngestFault | 'down', number>() };
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #upstream: URL;
  readonly #random: () => number;
  readonly #kept: Kept[] = [];
  #closing = false;

  private constructor(upstream: string, seed: number) {
    this.#upstream = new URL(upstream);
    this.#random = seededRandom(seed);
    this.#server = createServer((req, res) => {
      if (this.down) {
        this.#count('down');
        req.socket.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void this.#handle(req.url ?? '/', req.method ?? 'POST', req.headers, Buffer.concat(chunks), res);
      });
    });
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  static async start(upstream: string, seed = 1): Promise<IngestFaultProxy> {
    const p = new IngestFaultProxy(upstream, seed);
    await new Promise<void>((resolve) => p.#server.listen(0, '127.0.0.1', () => resolve()));
    p.url = `http://127.0.0.1:${(p.#server.address() as AddressInfo).port}`;
    return p;
  }

  faultsInjected(): number {
    let n = 0;
    for (const v of this.counts.faults.values()) n += v;
    return n;
  }

  /** Batches forwarded so far (the ones a late second sender could replay). */
  get keptBatches(): number {
    return this.#kept.length;
  }

  /**
   * A second sender replaying `count` old batches, oldest first from `fromIndex`, straight to the
   * endpoint: the store must keep the newest version of every object. Returns the statuses.
   */
  async replay(fromIndex: number, count: number): Promise<number[]> {
    const statuses: number[] = [];
    for (const k of this.#kept.slice(fromIndex, fromIndex + count)) {
      const a = await this.#forward('POST', k.path, k.headers, k.body, false);
      statuses.push(a.status);
      this.counts.replayed++;
    }
    return statuses;
  }

  async close(): Promise<void> {
    this.#closing = true;
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #count(f: IngestFault | 'down'): void {
    this.counts.faults.set(f, (this.counts.faults.get(f) ?? 0) + 1);
  }

  #draw(): IngestFault | undefined {
    const forced = this.mix.first?.shift();
    if (forced) return forced;
    let x = this.#random();
    for (const [f, rate] of Object.entries(this.mix.rates) as Array<[IngestFault, number]>) {
      if (x < rate) return f;
      x -= rate;
    }
    return undefined;
  }

  async #handle(
    path: string,
    method: string,
    headers: IncomingHttpHeaders,
    body: Buffer,
    res: import('node:http').ServerResponse,
  ): Promise<void> {
    this.counts.requests++;
    if (this.shiftStampsSec !== 0 && method === 'POST' && path.endsWith('/events'))
      [headers, body] = shiftStamps(headers, body, this.shiftStampsSec);
    if (method === 'POST' && path.endsWith('/events')) this.onArrived?.(body, headers);
    const fault = this.#draw();
    if (fault) this.#count(fault);
    const reply = (a: Answer) => {
      if (res.destroyed) return;
      res.writeHead(a.status, a.headers);
      res.end(a.body);
    };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    try {
      switch (fault) {
        case 'error500':
          reply(jsonAnswer(500, { error: { code: 'internal', message: 'injected 500' } }));
          return;
        case 'error429': {
          const a = jsonAnswer(429, { error: { code: 'throttled', message: 'injected 429' } });
          a.headers['retry-after'] = String(this.mix.retryAfterSec ?? 1);
          reply(a);
          return;
        }
        case 'timeout':
          await sleep(this.mix.hangMs ?? 1_000);
          res.socket?.destroy();
          return;
        case 'lostResponse':
          await this.#forward(method, path, headers, body);
          res.socket?.destroy();
          return;
        case 'duplicate': {
          const [first] = await Promise.all([
            this.#forward(method, path, headers, body),
            this.#forward(method, path, headers, body),
          ]);
          reply(first);
          return;
        }
        case 'blackhole':
          reply(jsonAnswer(200, { accepted: 0, deduplicated: 0 }));
          return;
        case 'delay':
          await sleep(this.mix.delayMs ?? 500);
          break;
        default:
          break;
      }
      this.counts.passed++;
      reply(await this.#forward(method, path, headers, body));
    } catch (err) {
      if (!this.#closing) reply(jsonAnswer(502, { error: { code: 'proxy', message: String(err) } }));
    }
  }

  #forward(
    method: string,
    path: string,
    headers: IncomingHttpHeaders,
    body: Buffer,
    fromSender = true,
  ): Promise<Answer> {
    const isBatch = method === 'POST' && path.endsWith('/events');
    if (isBatch && fromSender) this.#kept.push({ path, headers, body });
    return new Promise<Answer>((resolve, reject) => {
      const out = httpRequest(
        {
          host: this.#upstream.hostname,
          port: this.#upstream.port,
          method,
          path,
          headers: { ...headers, host: this.#upstream.host },
        },
        (up) => {
          const chunks: Buffer[] = [];
          up.on('data', (c: Buffer) => chunks.push(c));
          up.on('end', () => {
            const status = up.statusCode ?? 502;
            if (isBatch && fromSender && status >= 200 && status < 300) this.onLanded?.(body, headers);
            resolve({ status, headers: up.headers, body: Buffer.concat(chunks) });
          });
          up.on('error', reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });
  }
}

/** The batch with every change's `ts` and `seq` moved by `sec` seconds, as plain JSON. */
function shiftStamps(headers: IncomingHttpHeaders, body: Buffer, sec: number): [IncomingHttpHeaders, Buffer] {
  const text = (headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8');
  const batch = JSON.parse(text) as { changes: Array<{ ts: number; seq?: number }> };
  for (const c of batch.changes) {
    c.ts += sec;
    if (c.seq !== undefined) c.seq += sec * 1_000_000;
  }
  const out = Buffer.from(JSON.stringify(batch));
  const { 'content-encoding': _encoding, 'content-length': _length, ...rest } = headers;
  return [{ ...rest, 'content-length': String(out.length) }, out];
}

function jsonAnswer(status: number, body: unknown): Answer {
  return { status, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)) };
}
