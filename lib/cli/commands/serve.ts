import type { Command } from 'commander';
import { SktraceError } from '../../errors.ts';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('(not implemented yet)')
    .action(() => {
      throw new SktraceError('not_implemented', 'serve is not implemented yet');
    });
}
