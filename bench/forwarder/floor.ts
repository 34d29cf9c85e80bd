/** The measuring side of floor-client.ts: starts it as a child process and drives it. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type ProcSample, procSample, until } from './proc.ts';

const SCRIPT = fileURLToPath(new URL('./floor-client.ts', import.meta.url));

export class FloorClient {
  readonly #child: ChildProcess;
  readonly pid: number;
  /** ADDED/MODIFIED events received by its watch, to the last multiple of 100. */
  watched = 0;
  #listed: number | undefined;
  #cpuUs: number | undefined;
  #watching = false;
  #exited: number | null | undefined;

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.pid = child.pid!;
    let rest = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      const lines = (rest + d).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const [word, n] = line.split(' ');
        if (word === 'count') this.watched = Number(n);
        else if (word === 'listed') this.#listed = Number(n);
        else if (word === 'cpu') this.#cpuUs = Number(n);
        else if (word === 'watching') this.#watching = true;
      }
    });
    child.once('exit', (code) => {
      this.#exited = code;
    });
  }

  static start(apiserverUrl: string, token: string): FloorClient {
    return new FloorClient(
      spawn(process.execPath, ['--import', 'tsx', SCRIPT, apiserverUrl, token], {
        stdio: ['pipe', 'pipe', 'inherit'],
      }),
    );
  }

  sample(): Promise<ProcSample> {
    return procSample(this.pid);
  }

  #alive(): boolean {
    if (this.#exited !== undefined) throw new Error(`floor client exited with ${this.#exited}`);
    return true;
  }

  /** Lists every Deployment, page by page; resolves with the item count. */
  async list(): Promise<number> {
    this.#listed = undefined;
    this.#child.stdin!.write('list\n');
    await until(() => this.#alive() && this.#listed !== undefined, 120_000, 'the floor client to list', 2);
    return this.#listed!;
  }

  /** Its own user + system CPU so far, in µs. */
  async cpuUs(): Promise<number> {
    this.#cpuUs = undefined;
    this.#child.stdin!.write('cpu\n');
    await until(() => this.#alive() && this.#cpuUs !== undefined, 10_000, 'the floor client CPU', 1);
    return this.#cpuUs!;
  }

  async watch(resourceVersion: string): Promise<void> {
    this.#child.stdin!.write(`watch ${resourceVersion}\n`);
    await until(() => this.#alive() && this.#watching, 30_000, 'the floor client to watch');
  }

  async close(): Promise<void> {
    if (this.#exited !== undefined) return;
    const gone = new Promise((r) => this.#child.once('exit', r));
    this.#child.kill('SIGTERM');
    await gone;
  }
}
