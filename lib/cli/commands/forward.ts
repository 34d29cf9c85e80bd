import type { Command } from 'commander';
import { SktraceError } from '../../errors.ts';

export function registerForward(program: Command): void {
  program
    .command('forward')
    .description('(not implemented yet)')
    .action(() => {
      throw new SktraceError('not_implemented', 'forward is not implemented yet');
    });
}
