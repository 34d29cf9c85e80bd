/**
 * Entry point of the `sktrace` command. Each sub-command lives in its own module under
 * `commands/` and registers itself on the program. Only the invoked command's module is
 * loaded: some pull in heavy dependencies (`@kubernetes/client-node` alone takes seconds to
 * import), and `sktrace import` should not pay for `sktrace forward`.
 */
import { Command, CommanderError } from 'commander';
import { SktraceError } from '../errors.ts';

type Register = (program: Command) => void;

const COMMANDS: Record<string, () => Promise<Register>> = {
  serve: async () => (await import('./commands/serve.ts')).registerServe,
  forward: async () => (await import('./commands/forward.ts')).registerForward,
  import: async () => (await import('./commands/import.ts')).registerImport,
  export: async () => (await import('./commands/export.ts')).registerExport,
  inspect: async () => (await import('./commands/inspect.ts')).registerInspect,
  token: async () => (await import('./commands/token.ts')).registerToken,
  conformance: async () => (await import('./commands/conformance.ts')).registerConformance,
  validate: async () => (await import('./commands/validate.ts')).registerValidate,
  transform: async () => (await import('./commands/transform.ts')).registerTransform,
};

export async function buildProgram(invoked?: string): Promise<Command> {
  const program = new Command('sktrace')
    .description('Serverless, storage-backed Kubernetes tracer writing SimKube traces')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const wanted = invoked && invoked in COMMANDS ? [invoked] : Object.keys(COMMANDS);
  for (const name of wanted) (await COMMANDS[name]!())(program);
  return program;
}

/** Runs the command line and returns the exit code. Errors are one clear line on stderr. */
export async function main(argv: string[]): Promise<number> {
  try {
    const program = await buildProgram(argv.find((arg) => !arg.startsWith('-')));
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
    // Usage errors and bad SKEL (lib/skel SkelError) exit 2, like a bad flag.
    return err instanceof SktraceError && (err.code === 'usage' || err.code === 'skel_invalid') ? 2 : 1;
  }
}
