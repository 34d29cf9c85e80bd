import type { Command } from 'commander';
import { SktraceError } from '../../errors.ts';

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('(not implemented yet)')
    .action(() => {
      throw new SktraceError('not_implemented', 'export is not implemented yet');
    });
}
