/**
 * `sktrace transform INPUT SKELFILE [--output OUT]`: SimKube's `skctl transform`: every event of
 * the trace through the SKEL file's commands (lib/skel), events left empty dropped, config, index
 * and pod lifecycles kept; written as msgpack to OUT (default `INPUT.YYYYmmddHHMMSS`, as skctl).
 * Bad SKEL: one line with its line and column, exit 2.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { SktraceError } from '../../errors.ts';
import { emptyStats, parseSkel, traceStartTs, transformTrace } from '../../skel/index.ts';
import { encodeTrace } from '../../trace/codec.ts';
import { loadTraceSource } from '../trace-source.ts';

export function registerTransform(program: Command): void {
  program
    .command('transform')
    .description('apply a SKEL file to a trace (SimKube skctl transform)')
    .argument('<input>', 'trace file or http(s) URL')
    .argument('<skelfile>', 'SKEL file')
    .option(
      '-o, --output <file>',
      'where to write the transformed trace (msgpack); default INPUT.<local time>',
    )
    .action(async (input: string, skelFile: string, opts: { output?: string }) => {
      let skelText: string;
      try {
        skelText = await readFile(skelFile, 'utf8');
      } catch (err) {
        throw new SktraceError(
          'usage',
          `cannot read SKEL file ${skelFile}: ${(err as Error).message}`,
          {},
          { cause: err },
        );
      }
      const { trace } = await loadTraceSource(input);
      const commands = parseSkel(skelText, traceStartTs(trace));
      const stats = emptyStats();
      const out = transformTrace(trace, commands, stats);
      const bytes = encodeTrace(out);
      const output = opts.output ?? `${input}.${localStamp(new Date())}`;
      const tmp = `${output}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        await writeFile(tmp, bytes);
        await rename(tmp, output);
      } catch (err) {
        await rm(tmp, { force: true });
        throw new SktraceError(
          'write_failed',
          `cannot write ${output}: ${(err as Error).message}`,
          {},
          { cause: err },
        );
      }
      process.stdout.write(
        `wrote ${output}: ${commands.length} commands, ${stats.objectsMatched} objects matched, ${stats.resourcesModified} resources modified, ${trace.events.length} → ${out.events.length} events, ${bytes.length} bytes\n`,
      );
    });
}

/** skctl's default suffix: `%Y%m%d%H%M%S` in local time. */
function localStamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}
