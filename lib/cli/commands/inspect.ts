import type { Command } from 'commander';
import { SktraceError } from '../../errors.ts';

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('(not implemented yet)')
    .action(() => {
      throw new SktraceError('not_implemented', 'inspect is not implemented yet');
    });
}
