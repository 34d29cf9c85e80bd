import type { Command } from 'commander';
import { SktraceError } from '../../errors.ts';

export function registerConformance(program: Command): void {
  program
    .command('conformance')
    .description('(not implemented yet)')
    .action(() => {
      throw new SktraceError('not_implemented', 'conformance is not implemented yet');
    });
}
