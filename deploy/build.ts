/**
 * `npm run build`: esbuild bundles of every Lambda function (`functions/<name>/handler.ts` →
 * `dist/functions/<name>/handler.mjs`) and of the forwarder (`deploy/forwarder/main.ts` →
 * `dist/forwarder/sktrace.cjs`, copied into the image by deploy/forwarder/Dockerfile).
 *
 *   npm run build                       # bundles + size table
 *   npm run build -- --measure 15       # + median cold-import time of each bundle over 15 runs
 *   npm run build -- --compare-sdk      # + the same functions with the AWS SDK left to the runtime
 *   npm run build -- --out DIR --only ingest,forwarder
 *
 * The options are the ones template.yaml gives SAM's esbuild builder (`Metadata.BuildProperties`;
 * tests/deploy/template.test.ts checks they agree), so `sam build` and this script produce the same
 * bundles: ESM (`.mjs`, so Node needs no package.json to know the format), node22, minified, with a
 * source map. docs/deploy.md records the sizes and times, and why the AWS SDK is bundled.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { SktraceError } from '../lib/errors.ts';

export const ROOT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * ESM bundles keep the CommonJS dependencies' `require()` calls (the AWS SDK's and others' use of
 * Node built-ins): esbuild's ESM output has no `require`, so each bundle defines one from its own
 * URL. The alias cannot clash with the minified bundle's short identifiers.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __sktraceCreateRequire } from 'node:module'; const require = __sktraceCreateRequire(import.meta.url);";

/** Lambda's nodejs22.x runtime (and the forwarder image) run Node 22. */
export const NODE_TARGET = 'node22';

/** Packages the nodejs22.x runtime ships (AWS SDK for JavaScript v3), for the `--compare-sdk` variant. */
export const RUNTIME_PROVIDED_PACKAGES = ['@aws-sdk/*', '@smithy/*'];

export interface BundleSpec {
  /** Function directory name, or `forwarder`. */
  name: string;
  /** Entry point, relative to the repository root. */
  entry: string;
  /** Output file, relative to the output directory. */
  out: string;
  /**
   * A long-running process rather than a Lambda handler (the forwarder image): CommonJS, and
   * identifiers and lines kept readable instead of a source map (see FORWARDER_BUNDLE).
   */
  process?: true;
}

/**
 * The forwarder image's bundle. CommonJS: Node 22 running an ESM entry (any `.mjs`, even an empty
 * one serving HTTP) sits at ~57.5 MiB RSS against ~46.5 MiB for the same code as CommonJS (its ESM
 * loader), and the forwarder's whole idle RSS budget is 60 MiB (issue #11): 61.5 -> 55.6 MiB idle
 * (docs/benchmarks.md forwarder_memory). Syntax-minified only, so stack traces name the real
 * functions at lines of a readable file (each module under a `// lib/…` comment): the image runs
 * without --enable-source-maps, which costs ~6 MiB of RSS for the parsed map (idle 55.6 -> 61.4).
 */
export const FORWARDER_BUNDLE: BundleSpec = {
  name: 'forwarder',
  entry: 'deploy/forwarder/main.ts',
  out: 'forwarder/sktrace.cjs',
  process: true,
};

/** Every `functions/<name>/handler.ts`, sorted by name. */
export function functionBundles(rootDir: string = ROOT_DIR): BundleSpec[] {
  const dir = join(rootDir, 'functions');
  return readdirSync(dir)
    .filter((name) => statSync(join(dir, name)).isDirectory() && existsSync(join(dir, name, 'handler.ts')))
    .sort()
    .map((name) => ({
      name,
      entry: `functions/${name}/handler.ts`,
      out: `functions/${name}/handler.mjs`,
    }));
}

export function allBundles(rootDir: string = ROOT_DIR): BundleSpec[] {
  return [...functionBundles(rootDir), FORWARDER_BUNDLE];
}

export interface BundleOptions {
  rootDir?: string;
  outDir: string;
  /** Leave the AWS SDK out of the bundle (the Lambda runtime's copy is used). Default false. */
  externalAwsSdk?: boolean;
  minify?: boolean;
  sourcemap?: boolean;
}

/** esbuild options of one bundle: the same settings as template.yaml's BuildProperties. */
export function bundleOptions(spec: BundleSpec, options: BundleOptions): BuildOptions {
  const rootDir = options.rootDir ?? ROOT_DIR;
  const minify = options.minify ?? true;
  return {
    absWorkingDir: rootDir,
    entryPoints: [join(rootDir, spec.entry)],
    outfile: join(options.outDir, spec.out),
    bundle: true,
    platform: 'node',
    target: NODE_TARGET,
    ...(spec.process
      ? { format: 'cjs' as const, minifySyntax: minify }
      : { format: 'esm' as const, minify, banner: { js: ESM_REQUIRE_BANNER } }),
    sourcemap: options.sourcemap ?? true,
    // Stack traces need file:line mappings only; sources inside the map would more than double it.
    sourcesContent: false,
    external: options.externalAwsSdk ? RUNTIME_PROVIDED_PACKAGES : [],
    metafile: true,
    logLevel: 'warning',
  };
}

export interface BuiltBundle {
  spec: BundleSpec;
  file: string;
  bytes: number;
  gzipBytes: number;
  metafile: Metafile;
}

export async function buildBundle(spec: BundleSpec, options: BundleOptions): Promise<BuiltBundle> {
  const config = bundleOptions(spec, options);
  const result = await build(config);
  const file = config.outfile!;
  const code = await readFile(file);
  return {
    spec,
    file,
    bytes: code.byteLength,
    gzipBytes: gzipSync(code).byteLength,
    metafile: result.metafile!,
  };
}

/**
 * Source files (outside node_modules) that contribute code to a bundle, relative to `rootDir`:
 * the files whose code survives tree-shaking (bytesInOutput > 0). tests/deploy use it to derive the
 * AWS calls each function can make.
 */
export function ownSourcesOf(metafile: Metafile): string[] {
  const out = new Set<string>();
  for (const output of Object.values(metafile.outputs)) {
    if (!output.entryPoint) continue;
    for (const [path, input] of Object.entries(output.inputs)) {
      if (input.bytesInOutput > 0 && !path.includes('node_modules/')) out.add(path);
    }
  }
  return [...out].sort();
}

export interface ImportTiming {
  /** Wall clock from the start of the import to its end. */
  wallMs: number;
  /** CPU time (user + system) the import took: steadier than wall time on a busy machine. */
  cpuMs: number;
}

/**
 * Cost of importing `file` in a fresh Node process, `runs` times: what a cold start spends loading
 * and evaluating the code before the first invocation (the runtime's own start is not in it).
 * The forwarder bundle runs its CLI when imported; it is imported as `sktrace forward --help`.
 * `nodeArgs` e.g. `--enable-source-maps`, as template.yaml sets NODE_OPTIONS.
 */
export async function coldImport(
  file: string,
  runs: number,
  nodeArgs: string[] = [],
): Promise<ImportTiming[]> {
  const url = JSON.stringify(pathToFileURL(file).href);
  const argv = file.endsWith(FORWARDER_BUNDLE.out.split('/').pop()!)
    ? `process.argv = [process.argv[0], ${JSON.stringify(file)}, 'forward', '--help'];`
    : '';
  const script = `${argv} const c = process.cpuUsage(); const t = performance.now(); await import(${url}); const w = performance.now() - t; const d = process.cpuUsage(c); process.stdout.write('\\nTIMING ' + w + ' ' + (d.user + d.system) / 1000 + '\\n');`;
  const timings: ImportTiming[] = [];
  for (let i = 0; i < runs; i++) {
    const out = await run(process.execPath, [...nodeArgs, '--input-type=module', '-e', script]);
    const line = out.split('\n').find((l) => l.startsWith('TIMING '));
    if (!line) throw new SktraceError('build_measure', `no timing from importing ${file}`, { file, out });
    const [, wall, cpu] = line.split(' ');
    timings.push({ wallMs: Number(wall), cpuMs: Number(cpu) });
  }
  return timings;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Imported handlers read no environment; the SDK's region lookup must not reach for IMDS.
      env: { ...process.env, AWS_REGION: process.env.AWS_REGION ?? 'us-east-1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolvePromise(stdout);
      else {
        reject(
          new SktraceError(
            'build_measure',
            `${command} ${args.join(' ')} exited ${code}: ${stderr.slice(0, 2000)}`,
            {
              code,
            },
          ),
        );
      }
    });
  });
}

export interface CliOptions {
  outDir: string;
  only?: Set<string>;
  measureRuns: number;
  compareSdk: boolean;
}

export function parseBuildArgs(argv: string[]): CliOptions {
  const options: CliOptions = { outDir: join(ROOT_DIR, 'dist'), measureRuns: 0, compareSdk: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new SktraceError('usage', `${arg} needs a value`);
      return v;
    };
    if (arg === '--out') options.outDir = resolve(value());
    else if (arg === '--only') options.only = new Set(value().split(','));
    else if (arg === '--measure') options.measureRuns = Number(value());
    else if (arg === '--compare-sdk') options.compareSdk = true;
    else
      throw new SktraceError(
        'usage',
        `unknown argument ${arg} (expected --out DIR, --only a,b, --measure N, --compare-sdk)`,
      );
  }
  if (!Number.isInteger(options.measureRuns) || options.measureRuns < 0) {
    throw new SktraceError('usage', '--measure takes a whole number of runs');
  }
  return options;
}

const RUNTIME_SDK_DIR = join(ROOT_DIR, 'dist', '.runtime-sdk');

const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ')).join('\n');
}

async function main(argv: string[]): Promise<void> {
  const options = parseBuildArgs(argv);
  const known = allBundles();
  const unknown = [...(options.only ?? [])].filter((name) => !known.some((s) => s.name === name));
  if (unknown.length > 0) {
    throw new SktraceError(
      'usage',
      `--only: no bundle named ${unknown.join(', ')} (bundles: ${known.map((s) => s.name).join(', ')})`,
    );
  }
  const specs = known.filter((s) => !options.only || options.only.has(s.name));
  // A full build starts from an empty directory; --only replaces just the bundles it builds.
  if (!options.only) await rm(options.outDir, { recursive: true, force: true });
  for (const spec of specs)
    await rm(dirname(join(options.outDir, spec.out)), { recursive: true, force: true });
  await mkdir(options.outDir, { recursive: true });

  const measuring = options.measureRuns > 0;
  const rows: string[][] = [
    ['bundle', 'file', 'size', 'gzip', ...(measuring ? ['cold import, median CPU / wall'] : [])],
  ];
  const variants: { label: string; externalAwsSdk: boolean; outDir: string }[] = [
    { label: 'bundled SDK', externalAwsSdk: false, outDir: options.outDir },
  ];
  if (options.compareSdk) {
    variants.push({
      label: 'runtime SDK',
      externalAwsSdk: true,
      // Inside the repository (dist/ is git-ignored), so the left-out SDK resolves from its
      // node_modules as the runtime's own copy would from /var/runtime/node_modules.
      outDir: RUNTIME_SDK_DIR,
    });
  }
  for (const variant of variants) {
    for (const spec of specs) {
      if (variant.externalAwsSdk && spec.name === FORWARDER_BUNDLE.name) continue;
      const built = await buildBundle(spec, {
        outDir: variant.outDir,
        externalAwsSdk: variant.externalAwsSdk,
      });
      let timing = '';
      if (measuring) {
        const plain = await coldImport(built.file, options.measureRuns);
        const withMaps = await coldImport(built.file, options.measureRuns, ['--enable-source-maps']);
        const ms = (ts: ImportTiming[], k: keyof ImportTiming) => median(ts.map((t) => t[k])).toFixed(0);
        timing = `${ms(plain, 'cpuMs')} / ${ms(plain, 'wallMs')} ms; with source maps ${ms(withMaps, 'cpuMs')} / ${ms(withMaps, 'wallMs')} ms`;
      }
      rows.push([
        variant.externalAwsSdk ? `${spec.name} (${variant.label})` : spec.name,
        relative(process.cwd(), built.file),
        kib(built.bytes),
        kib(built.gzipBytes),
        ...(measuring ? [timing] : []),
      ]);
    }
  }
  if (options.compareSdk) await rm(RUNTIME_SDK_DIR, { recursive: true, force: true });
  process.stdout.write(`${table(rows)}\n`);
  if (measuring) {
    process.stdout.write(
      `cold import: a fresh \`node\` ${process.version} per run, ${options.measureRuns} runs per figure; the forwarder imported as \`forward --help\`\n`,
    );
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`build: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
