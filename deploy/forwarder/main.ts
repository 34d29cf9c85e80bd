/**
 * Entry point of the forwarder image's bundle (`dist/forwarder/sktrace.cjs`; CommonJS, so no
 * top-level await): the `sktrace` command with only its `forward` sub-command. lib/cli/main.ts loads every sub-command on demand, and
 * bundling it would pull in `sktrace serve` with dynalite and s3rver (LevelDB native addons) that
 * the in-cluster forwarder never runs. Arguments and exit codes are those of `sktrace forward`.
 */
import { Command, CommanderError } from 'commander';
import { registerForward } from '../../lib/cli/commands/forward.ts';
import { SktraceError } from '../../lib/errors.ts';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('sktrace')
    .description('sktrace forwarder: watches a cluster and posts its changes to an sktrace endpoint')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerForward(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`sktrace: ${message}\n`);
    return err instanceof SktraceError && err.code === 'usage' ? 2 : 1;
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
