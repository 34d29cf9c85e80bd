import type { Command } from 'commander';
import { SktraceError } from '../../errors.ts';

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('(not implemented yet)')
    .action(() => {
      throw new SktraceError('not_implemented', 'import is not implemented yet');
    });
}
