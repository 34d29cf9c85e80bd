/**
 * A real `sktrace forward` process for the benchmarks: the CLI through tsx
 * (`lib/cli/sktrace.mjs`, what `npx sktrace forward` runs) or the esbuild bundle the image ships
 * (deploy/forwarder/main.ts, built here into a temporary directory with deploy/build.ts's own
 * options). Its CPU and RSS come from /proc (proc.ts), its counters from its /metrics.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildBundle, FORWARDER_BUNDLE, ROOT_DIR } from '../../deploy/build.ts';
import { type ChildMemory, inspectorUrlOf, memoryAfterGc } from './inspector.ts';
import { type ProcSample, procSample, until } from './proc.ts';

export type ForwarderVariant = 'tsx' | 'bundle';

export interface ForwarderChild {
  pid: number;
  /** The V8 inspector's WebSocket URL (started with `inspect` only). */
  inspector: string | undefined;
  /** Base URL of its /healthz, /readyz, /metrics. */
  ops: string;
  sample(): Promise<ProcSample>;
  /**
   * A counter or gauge of its /metrics, summed over the label sets holding `label` (e.g.
   * `type="applied"`, or several that must all be there; all when absent); 0 when absent.
   */
  metric(name: string, label?: string | string[]): Promise<number>;
  /** Heap and RSS after a forced full GC (started with `inspect` only). */
  memoryAfterGc(): Promise<ChildMemory>;
  close(): Promise<void>;
}

export interface ForwarderStart {
  /** The CLI entry (`lib/cli/sktrace.mjs`) or a bundle's path. */
  entry: string;
  dir: string;
  configYaml: string;
  endpoint: string;
  cluster: string;
  token?: string;
  kubeconfigPath: string;
  /** Opens the V8 inspector on a free local port, for memoryAfterGc(). */
  inspect?: boolean;
  /** More Node options (`--cpu-prof`…), before the entry. */
  nodeArgs?: string[];
  /** More `sktrace forward` options. */
  extraArgs?: string[];
  /** Also appends all of its stdout here (e.g. `--trace-gc-nvp` lines); only the first 64 KiB are kept otherwise. */
  stdoutPath?: string;
}

export const TSX_ENTRY = join(ROOT_DIR, 'lib/cli/sktrace.mjs');

/**
 * The V8 flags the image runs the forwarder with: `ENV NODE_OPTIONS` of deploy/forwarder/Dockerfile
 * and the flags its ENTRYPOINT gives node (those Node refuses in NODE_OPTIONS), read from there so
 * the benchmarks measure what is deployed.
 */
export function imageNodeFlags(): string[] {
  const dockerfile = readFileSync(join(ROOT_DIR, 'deploy/forwarder/Dockerfile'), 'utf8');
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile);
  const argv = entrypoint ? (JSON.parse(entrypoint[1]!) as string[]) : [];
  return [
    ...(imageEnv().NODE_OPTIONS ?? '').split(/\s+/).filter((f) => f !== ''),
    ...argv.slice(1).filter((a) => a.startsWith('--')),
  ];
}

/** The image's MALLOC_* variables. */
function imageMallocEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(imageEnv()).filter(([k]) => k.startsWith('MALLOC_')));
}

/** Every `ENV NAME="value"` of deploy/forwarder/Dockerfile (V8 flags, glibc malloc tuning). */
export function imageEnv(): Record<string, string> {
  const dockerfile = readFileSync(join(ROOT_DIR, 'deploy/forwarder/Dockerfile'), 'utf8');
  const env: Record<string, string> = {};
  for (const m of dockerfile.matchAll(/^ENV (\w+)="([^"]*)"/gm)) env[m[1]!] = m[2]!;
  return env;
}

/** Builds the forwarder bundle (minified, as `npm run build` and SAM make it) into `outDir`. */
export async function buildForwarderBundle(outDir: string): Promise<string> {
  const built = await buildBundle(FORWARDER_BUNDLE, { outDir, sourcemap: false });
  return built.file;
}

export function sumMetric(text: string, name: string, label?: string | string[]): number {
  const labels = label === undefined ? [] : Array.isArray(label) ? label : [label];
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'gm'))) {
    if (labels.every((l) => m[1]?.includes(l))) sum += Number(m[2]);
  }
  return sum;
}

export async function startForwarder(s: ForwarderStart): Promise<ForwarderChild> {
  const config = join(s.dir, 'tracer-config.yaml');
  await writeFile(config, s.configYaml);
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...(s.inspect ? ['--inspect=127.0.0.1:0'] : []),
      ...(s.nodeArgs ?? []),
      s.entry,
      'forward',
      '--config',
      config,
      '--endpoint',
      s.endpoint,
      '--cluster',
      s.cluster,
      '--kubeconfig',
      s.kubeconfigPath,
      '--listen',
      '127.0.0.1:0',
      ...(s.token ? ['--token', s.token] : []),
      ...(s.extraArgs ?? []),
    ],
    // The image's environment (malloc tuning); its NODE_OPTIONS go in as arguments (nodeArgs).
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT_DIR, env: { ...process.env, ...imageMallocEnv() } },
  );
  let out = '';
  let err = '';
  let exited: number | null | undefined;
  const copy = s.stdoutPath ? createWriteStream(s.stdoutPath, { flags: 'a' }) : undefined;
  child.stdout!.on('data', (d: Buffer) => {
    copy?.write(d);
    // Only the start-up lines matter (one log line per event of note, never per watch event).
    if (out.length < 65_536) out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    if (err.length < 65_536) err += d.toString();
  });
  child.once('exit', (code) => {
    exited = code;
    copy?.end();
  });
  const opsRe = /"ops":"([^"]+)"/;
  await until(
    () => {
      if (exited !== undefined) throw new Error(`sktrace forward exited with ${exited}: ${err || out}`);
      return opsRe.test(out);
    },
    60_000,
    'sktrace forward to start',
    50,
  );
  const ops = opsRe.exec(out)![1]!;
  const inspector = s.inspect ? inspectorUrlOf(err) : undefined;
  if (s.inspect && !inspector) throw new Error(`no inspector URL on the forwarder's stderr: ${err}`);
  const pid = child.pid!;
  return {
    pid,
    inspector,
    ops,
    sample: () => procSample(pid),
    async metric(name, label) {
      return sumMetric(await (await fetch(`${ops}/metrics`)).text(), name, label);
    },
    memoryAfterGc() {
      if (!inspector) throw new Error('memoryAfterGc needs a forwarder started with inspect');
      return memoryAfterGc(inspector);
    },
    async close() {
      if (exited !== undefined) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
