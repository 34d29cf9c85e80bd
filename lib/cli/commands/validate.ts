/**
 * `sktrace validate FILE|URL [--json] [--fix SKELFILE] [--generate-skel]`: SimKube's
 * `skctl validate check` (lib/validation): the summary table of rule codes and counts, the SKEL
 * that fixes what was found. Exit 0 whatever is found (as skctl); 1 when the trace cannot be read.
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { SktraceError } from '../../errors.ts';
import { formatSummary, RULES, skelFix, validateTrace } from '../../validation/index.ts';
import { loadTraceSource } from '../trace-source.ts';

interface ValidateOptions {
  json?: boolean;
  fix?: string;
  generateSkel?: boolean;
  rules?: boolean;
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description("check a trace for what would break a simulation (SimKube's skctl validate rules)")
    .argument('[trace]', 'trace file or http(s) URL (msgpack .sktrace or JSON)')
    .option('--json', 'print the counts and every finding as JSON')
    .option(
      '--fix <skelfile>',
      'write the SKEL file that fixes what was found (apply it with sktrace transform)',
    )
    .option('--generate-skel', 'print that SKEL after the summary, as skctl validate check --generate-skel')
    .option('--rules', 'list the rules (code, name, description) and exit')
    .action(async (source: string | undefined, opts: ValidateOptions) => {
      if (opts.rules) {
        for (const r of RULES) process.stdout.write(`${r.code} (${r.name}): ${r.help}\n`);
        return;
      }
      if (!source) throw new SktraceError('usage', 'validate needs a trace file or URL');
      const { path, trace } = await loadTraceSource(source);
      const result = validateTrace(trace);
      if (opts.fix !== undefined) {
        try {
          await writeFile(opts.fix, skelFix(result, path));
        } catch (err) {
          throw new SktraceError(
            'write_failed',
            `cannot write ${opts.fix}: ${(err as Error).message}`,
            {},
            { cause: err },
          );
        }
      }
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify({ trace: path, counts: result.counts, findings: result.findings }, null, 2)}\n`,
        );
      } else {
        process.stdout.write(formatSummary(result, opts.generateSkel ? { skelFor: path } : {}));
        if (opts.fix !== undefined) process.stdout.write(`SKEL fix written to ${opts.fix}\n`);
      }
    });
}
