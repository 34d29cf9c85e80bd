/**
 * The real forwarder (`sktrace forward`) as a child process of the demo: its JSON log lines go to a
 * file (and warnings/errors to the demo's output), its ops listener tells when it is ready and how
 * much it still holds. Stopping it is SIGTERM (it flushes, then exits 0), SIGKILL past a deadline.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { SktraceError } from '../../lib/errors.ts';

export interface ForwarderProcessOptions {
  /** The repository root (where lib/cli/sktrace.mjs lives). */
  root: string;
  configPath: string;
  kubeconfigPath: string;
  endpoint: string;
  cluster: string;
  token: string;
  logPath: string;
  /** Told about each warn/error log line of the forwarder. */
  onProblem?: (line: string) => void;
}

/** Metrics as `name{labels}` → value, from Prometheus text 0.0.4. */
export type MetricSample = Map<string, number>;

export function parseMetrics(text: string): MetricSample {
  const out: MetricSample = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Sum of every series of a metric, whatever its labels. */
export function metricTotal(sample: MetricSample, name: string, labelFilter = ''): number {
  let total = 0;
  for (const [series, value] of sample) {
    if ((series === name || series.startsWith(`${name}{`)) && series.includes(labelFilter)) total += value;
  }
  return total;
}

export class ForwarderProcess {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  #ops: string | undefined;
  #stderr = '';
  #exitCode: number | null | undefined;
  readonly #log: WriteStream;

  private constructor(proc: ChildProcess, log: WriteStream, onProblem?: (line: string) => void) {
    this.proc = proc;
    this.#log = log;
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      log.write(d);
      buf += d.toString();
      for (let at = buf.indexOf('\n'); at >= 0; at = buf.indexOf('\n')) {
        const line = buf.slice(0, at);
        buf = buf.slice(at + 1);
        this.#onLine(line, onProblem);
      }
    });
    proc.stderr!.on('data', (d: Buffer) => {
      log.write(d);
      this.#stderr += d.toString();
    });
    this.exited = new Promise((resolve) =>
      proc.on('exit', (code) => {
        this.#exitCode = code;
        resolve(code);
      }),
    );
  }

  static start(opts: ForwarderProcessOptions): ForwarderProcess {
    // process.execPath: under `npm run demo` it is the Node 22 the project runs on.
    const proc = spawn(
      process.execPath,
      [
        'lib/cli/sktrace.mjs',
        'forward',
        '--config',
        opts.configPath,
        '--endpoint',
        opts.endpoint,
        '--cluster',
        opts.cluster,
        '--kubeconfig',
        opts.kubeconfigPath,
        '--listen',
        '127.0.0.1:0',
        '--grace-period',
        '10',
      ],
      {
        cwd: opts.root,
        // The token through the environment, as in the cluster (a Secret), not on the command line.
        env: { ...process.env, SKTRACE_TOKEN: opts.token },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    return new ForwarderProcess(proc, createWriteStream(opts.logPath, { flags: 'a' }), opts.onProblem);
  }

  #onLine(line: string, onProblem?: (line: string) => void): void {
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (rec.msg === 'forwarder configured' && typeof rec.ops === 'string') this.#ops = rec.ops;
    if (rec.level === 'warn' || rec.level === 'error')
      onProblem?.(line.length > 300 ? `${line.slice(0, 300)}…` : line);
  }

  get running(): boolean {
    return this.#exitCode === undefined;
  }

  /** Waits until /readyz answers 200: every kind and the pod watch have completed a list. */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new SktraceError(
          'demo_forwarder_exited',
          `the forwarder exited with code ${this.#exitCode} before it was ready: ${this.#stderr.trim() || 'see its log'}`,
        );
      }
      if (this.#ops) {
        const res = await fetch(`${this.#ops}/readyz`).catch(() => undefined);
        if (res?.status === 200) return;
        await res?.body?.cancel();
      }
      await sleep(100);
    }
    throw new SktraceError('demo_forwarder_not_ready', `the forwarder was not ready after ${timeoutMs} ms`);
  }

  async metrics(): Promise<MetricSample> {
    if (!this.#ops) return new Map();
    const res = await fetch(`${this.#ops}/metrics`);
    return parseMetrics(await res.text());
  }

  /** SIGTERM, then SIGKILL if it has not exited within `timeoutMs`. Resolves to the exit code. */
  async stop(timeoutMs = 15_000): Promise<number | null> {
    if (this.running) {
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
      await this.exited;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => this.#log.end(() => resolve()));
    return this.#exitCode ?? null;
  }

  /** Last resort on the demo's own exit: synchronous, no flush. */
  kill(): void {
    if (this.running) this.proc.kill('SIGKILL');
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
