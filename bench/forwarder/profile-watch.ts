/**
 * A CPU profile of the forwarder bundle under the `forwarder_throughput` watch phase, for
 * docs/benchmarks.md's breakdown of where its CPU per watch event goes. Not part of `npm run bench`:
 *
 *   npx node --import tsx bench/forwarder/profile-watch.ts [events=40000] [out.cpuprofile]
 *   npx node --import tsx bench/forwarder/profile-watch.ts saved.cpuprofile [events]   (summarise one)
 *
 * The same set-up as throughput.ts (10,000 Deployments, counting endpoint, spec updates as fast as
 * the forwarder takes them), the child started with `--inspect=127.0.0.1:0`; the V8 sampling
 * profiler (`Profiler.start`/`stop` over the inspector protocol) runs only while the updates
 * stream, so start-up and the first list are not in it. Prints self time per category and the
 * top functions; writes the profile (open it in Chrome DevTools) when a path is given.
 */
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBundle, FORWARDER_BUNDLE } from '../../deploy/build.ts';
import { KubeSim } from '../../tests/kube-sim/server.ts';
import { startForwarder } from './child.ts';
import { CountingIngest } from './counting-ingest.ts';
import { DEPLOYMENT_CONFIG, DeploymentFleet } from './fleet.ts';
import { GC_READ, GC_WATCH } from './gc-watch.ts';
import { inspector } from './inspector.ts';
import { until } from './proc.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

interface HeapSampleNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapSampleNode[];
}
interface HeapSample {
  head: HeapSampleNode;
}

/** Live (or, sampled with collected objects, allocated) bytes by allocating stack (innermost 5 frames). */
function summariseHeap(p: HeapSample, top = 25, events?: number): string {
  const byStack = new Map<string, number>();
  let total = 0;
  const walk = (n: HeapSampleNode, stack: string[]) => {
    const here = [n.callFrame.functionName || '(anonymous)', ...stack];
    if (n.selfSize > 0) {
      const key = here.slice(0, 5).join(' < ');
      byStack.set(key, (byStack.get(key) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c, here);
  };
  walk(p.head, []);
  const lines = [
    `sampled bytes ${(total / 2 ** 20).toFixed(1)} MiB${events ? ` (${(total / events).toFixed(0)} B per event)` : ''}, by allocation stack:`,
  ];
  for (const [k, b] of [...byStack].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(
      `${((100 * b) / total).toFixed(1).padStart(5)} %  ${(b / 1024).toFixed(0).padStart(6)} KiB${events ? ` ${(b / events).toFixed(0).padStart(5)} B/event` : ''}  ${k}`,
    );
  }
  return lines.join('\n');
}

/** Self time per node id, in µs. */
function selfTimes(p: Profile): Map<number, number> {
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? 0;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
  }
  return self;
}

/**
 * Where self time goes in the breakdown table (docs/benchmarks.md): the innermost frame of the
 * sample's stack whose function is named here decides (a native `write` under our `add` is the
 * queue's UTF-8 encoding; under zlib's processChunk, compression). `ours` marks rules that match
 * only functions of the forwarder bundle (its names are generic: value, object, string…).
 */
const STAGES: { stage: string; names: RegExp; ours?: boolean }[] = [
  { stage: 'GC', names: /^\(garbage collector\)$/ },
  { stage: 'JSON.parse of watch lines', names: /^parseWatchLine$/, ours: true },
  { stage: 'sanitise', names: /^sanitize(Object|Metadata)$/, ours: true },
  {
    stage: 'spec hash (SipHash-1-3 over the canonical byte stream)',
    names:
      /^(sip\w+|specHash|hash|finish|value|object|string|number|float|bigint|u64|ensure|reset|utf16OrderIsUtf8Order)$/,
    ours: true,
  },
  {
    stage: 'queue: JSON.stringify of each change (+ UTF-8 into the arena)',
    names: /^(add|toQueued)$/,
    ours: true,
  },
  {
    stage: 'delivery: batch body, gzip, POST',
    names:
      /^(offer|#push|#take|#send|#run|#release|#gauges|#sentSeries|write|release|processChunk|zlibBuffer\w*|Zlib|request|_finish|writev)$/,
  },
  {
    stage: 'watch stream: HTTP, chunks, line splitting',
    names:
      /^(splitLines|linesOf|socketOnData|execute|parserOnBody|onStreamRead|fromList|createAsyncIterator|readableAddChunk\w*|addChunk|Readable\.\w+|emitReadable\w*)$/,
  },
  {
    stage: 'change pipeline: step, dedupe map, stamps, metrics',
    names:
      /^(#applied|handle|#apply|#watch|step|onWatchLine|sink|next|inc|set|entry|nowMs|nsNameOf|hasOwners|labelKey)$/,
    ours: true,
  },
  {
    stage: 'promises and microtasks',
    names: /^(runMicrotasks|processTicksAndRejections|processPromiseRejections|nextTick)$/,
  },
  { stage: "the profiler's own /metrics scrapes", names: /^memoryUsage$/ },
];

function stageOf(frames: ProfileNode['callFrame'][]): string {
  for (const f of frames) {
    for (const r of STAGES) {
      if (r.names.test(f.functionName) && (!r.ours || /sktrace\.[cm]js$/.test(f.url))) return r.stage;
    }
  }
  return 'other (V8, Node internals)';
}

export function summarise(p: Profile, events?: number, top = 40): string {
  const self = selfTimes(p);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  let total = 0;
  let idle = 0;
  const perFn = new Map<string, number>();
  const perStack = new Map<string, number>();
  const perStage = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    if (f.functionName === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const name = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}:${f.columnNumber + 1}`;
    perFn.set(name, (perFn.get(name) ?? 0) + us);
    const frames: ProfileNode['callFrame'][] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at))
      frames.push(byId.get(at)!.callFrame);
    const stack = frames
      .slice(0, 6)
      .map((cf) => cf.functionName || '(anonymous)')
      .join(' < ');
    perStack.set(stack, (perStack.get(stack) ?? 0) + us);
    const stage = stageOf(frames);
    perStage.set(stage, (perStage.get(stage) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1)} %`;
  const lines = [
    `busy ${(total / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms`,
    '',
    'top self time:',
  ];
  for (const [name, us] of [...perFn].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`${pct(us).padStart(7)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}`);
  }
  lines.push('', 'by stack (self frame < callers):');
  for (const [stack, us] of [...perStack].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`${pct(us).padStart(7)}  ${stack}`);
  }
  lines.push('', `by stage (| stage | share of busy time |${events ? ' busy µs per event |' : ''}):`);
  for (const [stage, us] of [...perStage].sort((a, b) => b[1] - a[1])) {
    lines.push(`| ${stage} | ${pct(us)} |${events ? ` ${(us / events).toFixed(1)} |` : ''}`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (process.argv[2]?.endsWith('.cpuprofile')) {
    // Summarise a profile written before (this script's, or `node --cpu-prof`'s).
    // A second argument: the events the profile covers, for a µs-per-event column.
    const events = process.argv[3] ? Number(process.argv[3]) : undefined;
    process.stdout.write(
      `${summarise(JSON.parse(await readFile(process.argv[2], 'utf8')) as Profile, events)}\n`,
    );
    return;
  }
  const events = Number(process.argv[2] ?? 40_000);
  const out = process.argv[3];
  const objects = 10_000;
  const dir = await mkdtemp(join(tmpdir(), 'sktrace-profile-watch-'));
  const sim = await KubeSim.start();
  const ingest = await CountingIngest.start();
  try {
    const fleet = new DeploymentFleet(sim, objects);
    // Not minified, so the profile names our functions; V8 runs the same code either way.
    // PROFILE_ROOT: build the forwarder from another checkout (e.g. an older commit, for a
    // before/after pair under the same load).
    const rootDir = process.env.PROFILE_ROOT;
    const bundle = (
      await buildBundle(FORWARDER_BUNDLE, {
        outDir: dir,
        sourcemap: false,
        minify: false,
        ...(rootDir ? { rootDir } : {}),
      })
    ).file;
    const port = await freePort();
    const fw = await startForwarder({
      entry: bundle,
      dir,
      configYaml: DEPLOYMENT_CONFIG,
      endpoint: ingest.url,
      cluster: 'bench',
      kubeconfigPath: await sim.writeKubeconfig(dir),
      // PROFILE_NODE_ARGS: more V8 flags for the child, e.g. the image's
      // `--max-semi-space-size=2 --max-old-space-size=192`.
      // PROFILE_FORWARD_ARGS: more `sktrace forward` options, e.g. `--max-queue-bytes 1048576`.
      extraArgs: (process.env.PROFILE_FORWARD_ARGS ?? '').split(/\s+/).filter(Boolean),
      // PROFILE_STDOUT: a file for the child's whole stdout (with PROFILE_NODE_ARGS=--trace-gc-nvp…).
      ...(process.env.PROFILE_STDOUT ? { stdoutPath: process.env.PROFILE_STDOUT } : {}),
      nodeArgs: [
        `--inspect=127.0.0.1:${port}`,
        ...(process.env.PROFILE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
      ],
    });
    try {
      await until(
        () => ingest.counts.relist > 0 && ingest.counts.applied >= objects,
        120_000,
        'the first list',
      );
      const url = await inspectorUrl(port);
      const ins = await inspector(url);
      await ins.call('Profiler.enable');
      await ins.call('Profiler.setSamplingInterval', { interval: 250 });
      const before = ingest.counts.applied;
      const s0 = await fw.sample();
      // GC pauses by kind while the updates stream (perf_hooks' `gc` entries, in the child).
      await ins.call('Runtime.evaluate', { expression: GC_WATCH });
      // PROFILE=0: CPU per event only, without the profiler's own cost.
      // PROFILE=heap: instead, what is still alive of what was allocated during the run (the
      // sampling heap profiler without the objects GC collected), by allocation stack, sampled
      // PROFILE_HEAP_AT_MS (default 2000) after the updates start.
      // PROFILE=alloc: everything allocated during the run, collected or not (the sampling heap
      // profiler keeping what GC freed), by allocation stack, with bytes per event.
      const mode = process.env.PROFILE;
      const profiling = mode !== '0' && mode !== 'heap' && mode !== 'alloc';
      const heap = mode === 'heap';
      const alloc = mode === 'alloc';
      if (profiling) await ins.call('Profiler.start');
      if (heap) await ins.call('HeapProfiler.startSampling', { samplingInterval: 4096 });
      if (alloc) {
        await ins.call('HeapProfiler.startSampling', {
          samplingInterval: 1024,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        });
      }
      let liveSample: HeapSample | undefined;
      const heapAt = setTimeout(
        () => {
          if (!heap) return;
          // Mid-stream: what is alive then is what the scavenger copies.
          void (ins.call('HeapProfiler.getSamplingProfile') as Promise<{ profile: HeapSample }>).then(
            (r) => {
              liveSample = r.profile;
            },
            (err: unknown) => process.stderr.write(`heap sample: ${String(err)}\n`),
          );
        },
        Number(process.env.PROFILE_HEAP_AT_MS ?? 2000),
      );
      const t0 = performance.now();
      // The delivery queue's depth, sampled while the updates stream (what stays alive in it).
      const depths: number[] = [];
      const sampler = setInterval(() => {
        void fw.metric('sktrace_forwarder_queue_bytes').then((b) => depths.push(b));
      }, 100);
      await fleet.pump(events, () => ingest.counts.applied - before);
      clearInterval(sampler);
      clearTimeout(heapAt);
      await until(() => ingest.counts.applied - before >= events, 300_000, 'the updates', 2);
      const wallMs = performance.now() - t0;
      const profile = profiling
        ? ((await ins.call('Profiler.stop')) as { profile: Profile }).profile
        : undefined;
      const s1 = await fw.sample();
      process.stdout.write(
        `${events} events in ${wallMs.toFixed(0)} ms; CPU ${((s1.cpuUs - s0.cpuUs) / events).toFixed(1)} µs/event ${profiling ? ' (with the profiler on)' : ''}\n`,
      );
      const gc = (await ins.call('Runtime.evaluate', {
        expression: GC_READ,
        returnByValue: true,
      })) as { result: { value: string } };
      if (heap) await ins.call('HeapProfiler.stopSampling');
      if (alloc) {
        const r = (await ins.call('HeapProfiler.stopSampling')) as { profile: HeapSample };
        process.stdout.write(`${summariseHeap(r.profile, 30, events)}\n`);
      }
      ins.close();
      if (liveSample) process.stdout.write(`${summariseHeap(liveSample)}\n`);
      depths.sort((a, b) => a - b);
      process.stdout.write(
        `delivery queue KiB, median ${(depths[depths.length >> 1]! / 1024).toFixed(0)}, max ${(depths.at(-1)! / 1024).toFixed(0)} (${depths.length} samples)\n`,
      );
      process.stdout.write(`GC pauses (ms, count) by kind: ${gc.result.value}\n`);
      if (profile) process.stdout.write(`${summarise(profile, events)}\n`);
      if (profile && out) await writeFile(out, JSON.stringify(profile));
    } finally {
      await fw.close();
    }
  } finally {
    await ingest.close();
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** A loopback port free a moment ago, for the child's `--inspect` (read back from /json/list). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  server.close();
  await once(server, 'close');
  return port;
}

async function inspectorUrl(port: number): Promise<string> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
    webSocketDebuggerUrl: string;
  }[];
  return targets[0]!.webSocketDebuggerUrl;
}

await main();
