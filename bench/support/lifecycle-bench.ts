import type { BenchResult } from '../result.ts';
import type { ChildAws } from './aws.ts';

/** The pod-lifecycle read alone, with 0× and 10× older lifecycle history (filled in below). */
export async function benchLifecycles(
  _aws: ChildAws,
  _startTs: number,
  _quick: boolean,
  _log: (line: string) => void,
): Promise<BenchResult[]> {
  return [];
}
