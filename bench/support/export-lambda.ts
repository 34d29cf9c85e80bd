/**
 * How the export benchmark's children run: as the export job function runs in Lambda, not as the
 * TypeScript sources under tsx.
 *
 * - Code: the child (bench/support/export-child.ts, all three modes: export and both floors) bundled
 *   with the export job function's esbuild options (deploy/build.ts `bundleOptions`, which
 *   template.yaml's BuildProperties match: ESM, node22, minified, source map).
 * - Node flags: the function's `NODE_OPTIONS` (template.yaml Globals, overridden per key by the
 *   function's own Environment, as SAM merges them) in the environment, and on the command line
 *   the flags Lambda's Node.js runtime starts every function with. Its `/var/runtime/bootstrap`
 *   (the public.ecr.aws/lambda/nodejs images; the same script since nodejs14.x) runs
 *   `node --expose-gc --max-http-header-size 81920 --max-semi-space-size=M/20
 *   --max-old-space-size=M-M/10` with M = AWS_LAMBDA_FUNCTION_MEMORY_SIZE in MB (integer
 *   division): at the default 2,048 MB a 102 MB semi-space, where a plain `node` has 16 MB
 *   (fewer scavenges of a young generation that holds more of the export's short-lived garbage).
 *
 * `BENCH_EXPORT_RUNTIME=tsx` runs the children as before (TypeScript under tsx, plain Node flags),
 * for comparison (docs/benchmarks.md "export").
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BundleSpec, buildBundle, ROOT_DIR } from '../../deploy/build.ts';
import { parseCfn } from '../../tests/deploy/support.ts';

export type ExportRuntime = 'lambda' | 'tsx';

export function exportRuntime(): ExportRuntime {
  const value = process.env.BENCH_EXPORT_RUNTIME ?? 'lambda';
  if (value !== 'lambda' && value !== 'tsx') {
    throw new Error(`BENCH_EXPORT_RUNTIME must be lambda or tsx, not ${value}`);
  }
  return value;
}

interface TemplateView {
  Parameters: Record<string, { Default?: unknown }>;
  Globals: { Function: { Environment?: { Variables?: Record<string, unknown> } } };
  Resources: Record<
    string,
    { Properties: { MemorySize?: unknown; Environment?: { Variables?: Record<string, unknown> } } }
  >;
}

export interface LambdaNodeSetup {
  /** The function's NODE_OPTIONS (template.yaml). */
  nodeOptions: string;
  /** The function's GLIBC_TUNABLES (template.yaml; its malloc's settings), or undefined. */
  glibcTunables: string | undefined;
  /** The runtime bootstrap's command-line flags at the function's memory size. */
  argv: string[];
  memoryMb: number;
}

/**
 * The Node flags the export job function runs with (template.yaml + Lambda's runtime bootstrap);
 * `root`: the checkout whose template.yaml says (another one for a paired A/B of a flag).
 */
export function exportJobNodeSetup(root = ROOT_DIR): LambdaNodeSetup {
  const t = parseCfn(readFileSync(join(root, 'template.yaml'), 'utf8')) as unknown as TemplateView;
  const fn = t.Resources.ExportJobFunction?.Properties;
  if (!fn) throw new Error('template.yaml has no ExportJobFunction');
  const memory = fn.MemorySize as { Ref?: string } | number | undefined;
  const memoryMb = Number(
    typeof memory === 'object' && memory?.Ref ? t.Parameters[memory.Ref]?.Default : memory,
  );
  if (!Number.isInteger(memoryMb) || memoryMb <= 0) throw new Error('ExportJobFunction MemorySize unknown');
  const env = {
    ...(t.Globals.Function.Environment?.Variables ?? {}),
    ...(fn.Environment?.Variables ?? {}),
  };
  const newSpace = Math.floor(memoryMb / 10);
  return {
    nodeOptions: typeof env.NODE_OPTIONS === 'string' ? env.NODE_OPTIONS : '',
    glibcTunables: typeof env.GLIBC_TUNABLES === 'string' ? env.GLIBC_TUNABLES : undefined,
    argv: [
      '--expose-gc',
      '--max-http-header-size',
      '81920',
      `--max-semi-space-size=${Math.floor(newSpace / 2)}`,
      `--max-old-space-size=${memoryMb - newSpace}`,
    ],
    memoryMb,
  };
}

/** The benchmark child bundled as the export job function is (deploy/build.ts); returns its path. */
export async function buildExportChild(outDir: string): Promise<string> {
  const spec: BundleSpec = {
    name: 'export-child',
    entry: 'bench/support/export-child.ts',
    out: 'export-child.mjs',
  };
  const built = await buildBundle(spec, { outDir });
  return built.file;
}
