import type { Command } from 'commander';
import { SktraceError } from '../../errors.ts';

export function registerToken(program: Command): void {
  program
    .command('token')
    .description('(not implemented yet)')
    .action(() => {
      throw new SktraceError('not_implemented', 'token is not implemented yet');
    });
}
