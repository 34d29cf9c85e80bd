/**
 * Entry point of the `sktrace` command. Each sub-command lives in its own module under
 * `commands/` and registers itself on the program.
 */
import { Command, CommanderError } from 'commander';
import { SktraceError } from '../errors.ts';
import { registerConformance } from './commands/conformance.ts';
import { registerExport } from './commands/export.ts';
import { registerForward } from './commands/forward.ts';
import { registerImport } from './commands/import.ts';
import { registerInspect } from './commands/inspect.ts';
import { registerServe } from './commands/serve.ts';
import { registerToken } from './commands/token.ts';

export function buildProgram(): Command {
  const program = new Command('sktrace')
    .description('Serverless, storage-backed Kubernetes tracer writing SimKube traces')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const register of [
    registerServe,
    registerForward,
    registerImport,
    registerExport,
    registerInspect,
    registerToken,
    registerConformance,
  ]) {
    register(program);
  }
  return program;
}

/** Runs the command line and returns the exit code. Errors are one clear line on stderr. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      return err.exitCode;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`sktrace: ${message}\n`);
    if (process.env.SKTRACE_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return err instanceof SktraceError && err.code === 'usage' ? 2 : 1;
  }
}
