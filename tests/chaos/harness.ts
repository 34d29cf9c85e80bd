/**
 * Chaos harness: the simulated API server with a workload that records the ground truth, the local
 * stack (the real ingest and export handlers on dynalite and s3rver) with an optional DynamoDB
 * fault proxy between the store and dynalite (tests/store/fault-proxy.ts), an HTTP fault proxy in
 * front of the ingest endpoint (ingest-proxy.ts), and the REAL forwarder as a child process
 * (`node lib/cli/sktrace.mjs forward …`) so that it can be SIGKILLed. A case injects its faults,
 * then `finish()` stops the workload, waits for quiescence, exports the full window through the
 * API and judges the trace against the ground truth (oracle.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ApiClient } from '../../lib/cli/client.ts';
import { type LocalStack, startLocalStack } from '../../lib/local/serve.ts';
import { NO_FILTERS } from '../../lib/roundtrip/reference.ts';
import { exportTrace } from '../../lib/roundtrip/transfer.ts';
import { gvkOf, nsNameOf } from '../../lib/trace/gvk.ts';
import type { KubeObject } from '../../lib/trace/model.ts';
import { KubeSim } from '../kube-sim/server.ts';
import { type FaultProxy, startFaultProxy } from '../store/fault-proxy.ts';
import { IngestFaultProxy } from './ingest-proxy.ts';
import {
  type Blind,
  blindUntil,
  DELETED,
  failuresOf,
  judge,
  traceEntries,
  truthKey,
  type Verdict,
} from './oracle.ts';
import { CHAOS_KINDS, ChaosWorkload, gvkOfPath, hashOf, type WorkloadOptions } from './workload.ts';

const CLI = join(import.meta.dirname, '../../lib/cli/sktrace.mjs');
export const CLUSTER = 'chaos';

export interface LogLine extends Record<string, unknown> {
  msg: string;
  /** When the harness read the line. */
  rxMs: number;
}

/** The real forwarder, as a child process. */
export class ForwarderChild {
  readonly proc: ChildProcess;
  readonly lines: LogLine[] = [];
  readonly exited: Promise<number | null>;
  stderr = '';
  #listeners: Array<() => void> = [];

  constructor(args: string[]) {
    this.proc = spawn(process.execPath, [CLI, 'forward', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SKTRACE_TOKEN: '' },
    });
    let buf = '';
    this.proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let at = buf.indexOf('\n');
      while (at >= 0) {
        const text = buf.slice(0, at);
        buf = buf.slice(at + 1);
        at = buf.indexOf('\n');
        try {
          this.lines.push({ ...(JSON.parse(text) as { msg: string }), rxMs: Date.now() });
        } catch {
          this.lines.push({ msg: `unparsable log line: ${text}`, rxMs: Date.now() });
        }
        for (const l of [...this.#listeners]) l();
      }
    });
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /** Resolves with the first line from index `from` on that matches. */
  waitForLine(
    match: (l: LogLine) => boolean,
    timeoutMs: number,
    from = 0,
    what = 'log line',
  ): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.lines.slice(from).find(match);
        if (!hit) return false;
        clearTimeout(timer);
        this.#listeners = this.#listeners.filter((l) => l !== onLine);
        resolve(hit);
        return true;
      };
      const onLine = () => void check();
      const timer = setTimeout(() => {
        this.#listeners = this.#listeners.filter((l) => l !== onLine);
        const recent = this.lines
          .slice(-12)
          .map((l) => JSON.stringify(l))
          .join('\n');
        reject(
          new Error(
            `forwarder: no ${what} after ${timeoutMs} ms; last log lines:\n${recent}\nstderr: ${this.stderr.slice(-2000)}`,
          ),
        );
      }, timeoutMs);
      if (!check()) this.#listeners.push(onLine);
    });
  }

  /** Resident set size from /proc (Linux), bytes. */
  rssBytes(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    await this.exited;
  }
}

export interface ChaosOptions {
  seed?: number;
  workload?: Partial<WorkloadOptions>;
  /** Put the DynamoDB fault proxy between the store and dynalite. */
  dynamoProxy?: boolean;
  /** `--max-queue-bytes` of the forwarder. */
  maxQueueBytes?: number;
  /** Watch timeout of the forwarder (s): short ones exercise clean re-watches too. */
  watchTimeoutSec?: number;
  /**
   * Negative control: the ingest proxy adds this many seconds to the stamp of every change it
   * forwards (a sender stamping late). The export window is widened to hold them.
   */
  shiftStampsSec?: number;
}

export interface CaseResult {
  /** The oracle's verdict holds and the case's own checks (memory, resync line…) passed. */
  ok: boolean;
  verdict: Verdict;
  /** Failed checks of the case itself, besides the oracle's. */
  problems: string[];
  changes: number;
  faults: number;
  restarts: number;
  durationMs: number;
  exportEvents: number;
  /** The exported trace and the ground truth, for a failure's post-mortem. */
  trace: import('../../lib/trace/model.ts').Trace;
  truth: ReadonlyMap<string, readonly import('./oracle.ts').TruthEntry[]>;
  blind: readonly Blind[];
  notes: Record<string, unknown>;
}

export class ChaosHarness {
  readonly sim: KubeSim;
  readonly stack: LocalStack;
  readonly ingest: IngestFaultProxy;
  readonly dynamo: FaultProxy | undefined;
  readonly workload: ChaosWorkload;
  readonly blind: Blind[] = [];
  readonly startedMs = Date.now();
  forwarder: ForwarderChild | undefined;
  restarts = 0;
  /** Faults injected by the case itself (kills, drops, compactions…), besides the proxies'. */
  faults = 0;
  readonly notes: Record<string, unknown> = {};
  /** Failed checks of the case itself (memory bound, resync line…), besides the oracle's. */
  readonly problems: string[] = [];
  /** List and watch requests the simulated API server received, by kind, with when they were seen. */
  readonly kubeRequests: Array<{ gvk: string; op: 'list' | 'watch'; atMs: number }> = [];
  #kubeSeen = 0;
  readonly #kubePoller: NodeJS.Timeout;
  /** Per kind, the truth time of the newest change that landed in the store. */
  readonly #landedUpToMs = new Map<string, number>();
  /**
   * Truth entries (with their kind) of changes posted by the current forwarder process, and of
   * those that landed: a change posted and not landed when the process is killed was in flight.
   */
  readonly #posted = new Map<import('./oracle.ts').TruthEntry, string>();
  readonly #landedEntries = new Set<import('./oracle.ts').TruthEntry>();
  /** Truth entries whose first landing was seen (later landings are re-sends, not stamps). */
  readonly #stamped = new Set<import('./oracle.ts').TruthEntry>();
  /**
   * Every landed applied/deleted change with a stamp in ms (its `seq`, microseconds of the
   * forwarder's clock when it read the change) and the truth entry it is: the measured stamping lag.
   */
  readonly #stamps: Array<{ gvk: string; truth: import('./oracle.ts').TruthEntry; stampMs: number }> = [];
  #closed = false;
  readonly #dir: string;
  readonly #options: ChaosOptions;
  readonly #kubeconfig: string;
  readonly #config: string;

  private constructor(
    parts: {
      sim: KubeSim;
      stack: LocalStack;
      ingest: IngestFaultProxy;
      dynamo: FaultProxy | undefined;
      dir: string;
      kubeconfig: string;
      config: string;
    },
    options: ChaosOptions,
  ) {
    this.sim = parts.sim;
    this.stack = parts.stack;
    this.ingest = parts.ingest;
    this.dynamo = parts.dynamo;
    this.#dir = parts.dir;
    this.#kubeconfig = parts.kubeconfig;
    this.#config = parts.config;
    this.#options = options;
    // The forwarder logs only a kind's first list; later relists are seen at the API server:
    // a watch request after a list request means that list was done.
    this.#kubePoller = setInterval(() => this.#pollKube(), 10);
    this.ingest.onLanded = (body, headers) => this.#landed(body, headers);
    this.ingest.onArrived = (body, headers) => {
      for (const { gvk, entry } of this.#entriesOf(body, headers)) this.#posted.set(entry, gvk);
    };
    this.ingest.shiftStampsSec = options.shiftStampsSec ?? 0;
    this.workload = new ChaosWorkload(this.sim, {
      seed: options.seed ?? 1,
      namesPerKind: 30,
      minGapMs: 1_500,
      ...options.workload,
    });
  }

  static async start(options: ChaosOptions = {}): Promise<ChaosHarness> {
    const dir = await mkdtemp(join(tmpdir(), 'sktrace-chaos-'));
    const sim = await KubeSim.start({ bookmarkIntervalMs: 1_000 });
    let dynamo: FaultProxy | undefined;
    const stack = await startLocalStack({
      port: 0,
      logLevel: 'SILENT',
      ...(options.dynamoProxy
        ? {
            dynamoVia: async (endpoint: string) => {
              dynamo = await startFaultProxy(endpoint);
              return dynamo.endpoint;
            },
          }
        : {}),
    });
    const ingest = await IngestFaultProxy.start(stack.url, options.seed ?? 1);
    const config = join(dir, 'tracer-config.yaml');
    await writeFile(config, `trackedObjects:\n${CHAOS_KINDS.map((k) => `  ${k}: {}\n`).join('')}`);
    const kubeconfig = await sim.writeKubeconfig(dir);
    return new ChaosHarness({ sim, stack, ingest, dynamo, dir, kubeconfig, config }, options);
  }

  /**
   * Starts the forwarder and waits until every kind is listed. Everything before that is blind
   * for the kind since `blindFromMs` (the start of the harness, or the kill it recovers from).
   */
  async startForwarder(blindFromMs = this.startedMs, why = 'start'): Promise<ForwarderChild> {
    const child = new ForwarderChild([
      '--config',
      this.#config,
      '--endpoint',
      this.ingest.url,
      '--cluster',
      CLUSTER,
      '--token',
      this.stack.token,
      '--kubeconfig',
      this.#kubeconfig,
      '--listen',
      '127.0.0.1:0',
      '--page-limit',
      '50',
      '--watch-timeout',
      String(this.#options.watchTimeoutSec ?? 290),
      ...(this.#options.maxQueueBytes ? ['--max-queue-bytes', String(this.#options.maxQueueBytes)] : []),
    ]);
    this.forwarder = child;
    await Promise.all(
      CHAOS_KINDS.map(async (gvk) => {
        const listed = await child.waitForLine(
          (l) => l.msg === 'listed a kind; watching it' && l.gvk === gvk,
          60_000,
          0,
          `first list of ${gvk}`,
        );
        this.blind.push({ gvk, fromMs: blindFromMs, toMs: listed.rxMs, why });
      }),
    );
    return child;
  }

  /** SIGKILLs the forwarder and starts another; the window around it is blind until relisted. */
  async killAndRestart(downMs: number): Promise<void> {
    const child = this.forwarder;
    if (!child) throw new Error('no forwarder running');
    const killedMs = Date.now();
    await child.kill('SIGKILL');
    this.faults++;
    await new Promise((r) => setTimeout(r, downMs));
    this.restarts++;
    // Changes the killed process had received but not delivered are lost with it (the delivery
    // queue is memory; the next start relists). Batches are cut in the order of the changes and a
    // kind's watch events come in the order of its changes, so every change queued after a posted
    // batch is newer than all of its changes. Up to two batches are in flight (delivery.ts), and a
    // later one may land before an earlier one that is then lost: so of each kind the store holds
    // every change up to the newest that landed, except those of batches posted and not landed,
    // and the kind is blind from the older of the two.
    const inFlight = new Map<string, number>();
    for (const [entry, gvk] of this.#posted) {
      if (!this.#landedEntries.has(entry))
        inFlight.set(gvk, Math.min(inFlight.get(gvk) ?? Infinity, entry.atMs));
    }
    this.#posted.clear();
    for (const gvk of CHAOS_KINDS) {
      const fromMs = Math.min(
        this.#landedUpToMs.get(gvk) ?? this.startedMs,
        inFlight.get(gvk) ?? Infinity,
        killedMs,
      );
      void this.#blindUntilListed(gvk, fromMs, killedMs, 'SIGKILL');
    }
    await this.startForwarder(killedMs, 'SIGKILL');
  }

  /** The applied/deleted changes of a batch, each with its kind and truth entry (when found). */
  #entriesOf(
    body: Buffer,
    headers: IncomingHttpHeaders,
  ): Array<{ gvk: string; entry: import('./oracle.ts').TruthEntry; seq: number | undefined }> {
    const text = (headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8');
    const batch = JSON.parse(text) as {
      changes: Array<{ type: string; object?: KubeObject; seq?: number }>;
    };
    const out: Array<{ gvk: string; entry: import('./oracle.ts').TruthEntry; seq: number | undefined }> = [];
    for (const c of batch.changes) {
      if ((c.type !== 'applied' && c.type !== 'deleted') || !c.object) continue;
      const gvk = gvkOf(c.object);
      const truth = this.workload.truth.get(truthKey(gvk, nsNameOf(c.object))) ?? [];
      const hash = c.type === 'deleted' ? DELETED : hashOf(c.object);
      const entry = truth.findLast((t) => t.hash === hash);
      if (entry) out.push({ gvk, entry, seq: c.seq });
    }
    return out;
  }

  /** Decodes a batch the endpoint took; notes the newest change of each kind it carried. */
  #landed(body: Buffer, headers: IncomingHttpHeaders): void {
    for (const { gvk, entry, seq } of this.#entriesOf(body, headers)) {
      this.#landedEntries.add(entry);
      if (entry.atMs > (this.#landedUpToMs.get(gvk) ?? 0)) this.#landedUpToMs.set(gvk, entry.atMs);
      // The first landing of a version is its stamp; later ones are a relist re-sending an
      // unchanged object (the store dedupes it) or a retried batch.
      if (seq !== undefined && !this.#stamped.has(entry)) {
        this.#stamped.add(entry);
        this.#stamps.push({ gvk, truth: entry, stampMs: seq / 1000 });
      }
    }
  }

  /** Blind for `gvk` from `fromMs` until its first list from `sinceMs` on is done. */
  async #blindUntilListed(gvk: string, fromMs: number, sinceMs: number, why: string): Promise<void> {
    const blind: Blind = { gvk, fromMs, toMs: Number.POSITIVE_INFINITY, why };
    this.blind.push(blind);
    while (!this.#closed) {
      const toMs = this.listedAfter(gvk, sinceMs);
      if (toMs !== undefined) {
        blind.toMs = toMs;
        return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  #pollKube(): void {
    const requests = this.sim.requests;
    // The request log is trimmed from the front past its limit (100,000, never reached here).
    if (this.#kubeSeen > requests.length) this.#kubeSeen = 0;
    for (; this.#kubeSeen < requests.length; this.#kubeSeen++) {
      const r = requests[this.#kubeSeen]!;
      const gvk = gvkOfPath(r.path);
      if (gvk)
        this.kubeRequests.push({ gvk, op: r.query.watch === 'true' ? 'watch' : 'list', atMs: Date.now() });
    }
  }

  /**
   * When the first list of `gvk` from `fromMs` on was done (seen as the first watch request after
   * it), or undefined if none yet; `last` takes the last such list instead.
   */
  listedAfter(gvk: string, fromMs: number, last = false): number | undefined {
    this.#pollKube();
    const mine = this.kubeRequests.filter((r) => r.gvk === gvk && r.atMs >= fromMs);
    const at = last ? mine.findLastIndex((r) => r.op === 'list') : mine.findIndex((r) => r.op === 'list');
    if (at < 0) return undefined;
    return mine.slice(at).find((r) => r.op === 'watch')?.atMs;
  }

  /**
   * Marks `gvk` blind from now until its next list is done (a 410 Gone relist): versions that came
   * and went in between are legitimately unseen.
   */
  async blindUntilRelisted(gvk: string, why: string, timeoutMs = 60_000): Promise<void> {
    const fromMs = Date.now();
    let toMs = this.listedAfter(gvk, fromMs);
    while (toMs === undefined) {
      if (Date.now() - fromMs > timeoutMs) throw new Error(`no relist of ${gvk} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
      toMs = this.listedAfter(gvk, fromMs);
    }
    this.blind.push({ gvk, fromMs, toMs, why });
  }

  /**
   * Drops the open watches (abrupt socket close). The forwarder resumes from its last
   * resourceVersion after its backoff; changes made meanwhile arrive together when it reconnects
   * and are stamped in the same second, where the store keeps the last of an object's changes. So
   * the kind is blind until a watch of it is open again.
   */
  dropWatches(gvk?: string): void {
    const fromMs = Date.now();
    const kinds = gvk ? [gvk] : [...CHAOS_KINDS];
    this.sim.dropWatches(gvk ? { gvk } : {});
    this.faults++;
    for (const k of kinds) {
      void (async () => {
        while (this.sim.watchCount({ gvk: k }) === 0) await new Promise((r) => setTimeout(r, 10));
        this.blind.push({ gvk: k, fromMs, toMs: Date.now(), why: 'watch dropped' });
      })();
    }
  }

  async metrics(): Promise<Map<string, number>> {
    const child = this.forwarder;
    const ops = child?.lines.find((l) => l.msg === 'forwarder configured')?.ops;
    const out = new Map<string, number>();
    if (typeof ops !== 'string') return out;
    const text = await (await fetch(`${ops}/metrics`)).text();
    for (const line of text.split('\n')) {
      if (line.startsWith('#') || !line.trim()) continue;
      const at = line.lastIndexOf(' ');
      out.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
    return out;
  }

  /**
   * Waits until the forwarder holds nothing (queue empty) and the endpoint saw no new request for
   * `quietMs`, every kind listed.
   */
  async quiesce(timeoutMs = 60_000, quietMs = 1_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastRequests = -1;
    let quietSince = Date.now();
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      const m = await this.metrics().catch(() => new Map<string, number>());
      const queued = m.get('sktrace_forwarder_queue_changes') ?? 1;
      const requests = this.ingest.counts.requests;
      if (requests !== lastRequests || queued > 0) {
        lastRequests = requests;
        quietSince = Date.now();
        continue;
      }
      if (Date.now() - quietSince >= quietMs) return;
    }
    throw new Error(`no quiescence within ${timeoutMs} ms`);
  }

  /**
   * Stops the workload, lets everything land (faults off), exports the full window through the API
   * and judges it against the ground truth.
   */
  async finish(): Promise<CaseResult> {
    await this.workload.stop();
    // The last changes are already in the watch streams; faults end so that they can land.
    this.ingest.mix = { rates: {} };
    this.ingest.down = false;
    if (this.dynamo) this.dynamo.policy = () => 'pass';
    await this.quiesce();
    const client = new ApiClient({ endpoint: this.stack.url, token: this.stack.token });
    const window = {
      startTs: Math.floor(this.startedMs / 1000) - 2,
      endTs: Math.floor(Date.now() / 1000) + 2 + Math.max(0, this.#options.shiftStampsSec ?? 0),
    };
    const { trace } = await exportTrace(client, CLUSTER, window, NO_FILTERS, { pollMs: 100, pollMaxMs: 500 });
    const verdict = judge({ truth: this.workload.truth, trace: traceEntries(trace), blind: this.blind });
    // The index must name exactly the live objects with their last spec hash.
    const live = this.workload.live();
    const indexed = new Map<string, string>();
    for (const [gvk, byName] of trace.index)
      for (const [nsName, hash] of byName) indexed.set(`${gvk} ${nsName}`, hash.toString());
    for (const [key, hash] of live)
      if (indexed.get(key) !== hash)
        verdict.finalMismatch.push(`index: ${key} is ${indexed.get(key)}, cluster ${hash}`);
    // Objects deleted in the window stay in the index (every object exported, as SimKube's), with
    // their last exported version.
    const entries = traceEntries(trace);
    for (const [key, hash] of indexed) {
      if (live.has(key)) continue;
      const lastApplied = [...(entries.get(key) ?? [])].reverse().find((t) => t.hash !== DELETED);
      if (lastApplied?.hash !== hash)
        verdict.finalMismatch.push(
          `index: deleted ${key} is ${hash}, its last exported version ${lastApplied?.hash}`,
        );
    }
    verdict.ok &&= verdict.finalMismatch.length === 0;
    this.notes.stampLagMs = this.stampLag();
    return {
      ok: verdict.ok && this.problems.length === 0,
      verdict,
      problems: this.problems,
      changes: this.workload.changes,
      faults: this.faults + this.ingest.faultsInjected() + dynamoFaults(this.dynamo),
      restarts: this.restarts,
      durationMs: Date.now() - this.startedMs,
      exportEvents: trace.events.length,
      trace,
      truth: this.workload.truth,
      blind: this.blind,
      notes: this.notes,
    };
  }

  /**
   * The measured stamping lag (forwarder stamp − the truth's `atMs`, ms) of the landed changes
   * made while their kind was watched: what STAMP_SLACK_MS must cover. A deletion's truth entry is
   * ambiguous (several per object), so only versions count; each version's hash is unique.
   */
  stampLag(): { n: number; min: number; p50: number; p99: number; max: number } {
    const lags = this.#stamps
      .filter(
        (s) =>
          s.truth.hash !== DELETED &&
          blindUntil(
            s.truth.atMs,
            this.blind.filter((b) => !b.gvk || b.gvk === s.gvk),
          ) === undefined,
      )
      .map((s) => s.stampMs - s.truth.atMs)
      .sort((a, b) => a - b);
    const at = (q: number) => Math.round(lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] ?? 0);
    return { n: lags.length, min: at(0), p50: at(0.5), p99: at(0.99), max: Math.round(lags.at(-1) ?? 0) };
  }

  async close(): Promise<void> {
    clearInterval(this.#kubePoller);
    this.#closed = true;
    await this.workload.stop();
    await this.forwarder?.kill('SIGKILL');
    await this.ingest.close();
    await this.stack.close();
    await this.dynamo?.close();
    await this.sim.close();
    await rm(this.#dir, { recursive: true, force: true });
  }
}

function dynamoFaults(proxy: FaultProxy | undefined): number {
  if (!proxy) return 0;
  let n = 0;
  for (const [label, count] of proxy.counts) if (!label.endsWith(' pass')) n += count;
  return n;
}

/** A verdict as a short message for assertion failures. */
export function explain(result: CaseResult): string {
  const v = result.verdict;
  const parts = [
    `changes ${v.changes}, required ${v.required}, matched ${v.matched}`,
    ...failuresOf(v).map((k) => `${k} (${v[k].length}): ${v[k].slice(0, 5).join('; ')}`),
    ...result.problems,
  ];
  return parts.join('\n');
}

/**
 * The ground truth, the trace and the blind intervals of the objects a failed verdict names (at
 * most `limit`), times in seconds: what to read first when a case fails.
 */
export function postMortem(result: CaseResult, limit = 5): string {
  const v = result.verdict;
  const named = [
    ...v.lost,
    ...v.duplicated,
    ...v.spuriousDeletions,
    ...v.outOfOrder,
    ...v.finalMismatch,
    ...v.mistimed,
  ];
  const keys = [...new Set(named.map((l) => l.split(' ').slice(0, 2).join(' ').replace(/:$/, '')))].slice(
    0,
    limit,
  );
  const entries = traceEntries(result.trace);
  const short = (h: string) => (h === DELETED ? 'deleted' : h.slice(0, 6));
  const out: string[] = [];
  for (const key of keys) {
    const truth = (result.truth.get(key) ?? []).map((t) => `${short(t.hash)}@${(t.atMs / 1000).toFixed(3)}`);
    const trace = (entries.get(key) ?? []).map((t) => `${short(t.hash)}@${t.ts}`);
    out.push(`${key}\n  truth ${truth.join(' ')}\n  trace ${trace.join(' ')}`);
  }
  const blind = result.blind.map(
    (b) => `${b.gvk ?? '*'} ${(b.fromMs / 1000).toFixed(3)}-${(b.toMs / 1000).toFixed(3)} ${b.why}`,
  );
  out.push(`blind:\n  ${blind.join('\n  ')}`);
  return out.join('\n');
}
