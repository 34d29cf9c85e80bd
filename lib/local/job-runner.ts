/**
 * The local stand-in for Lambda's asynchronous invocation: `launch` returns at once and the job
 * runs in this process on the next turn of the event loop, through the same runner the
 * export-job function calls (lib/export/pipeline.ts). `drain` waits for the jobs in flight, so
 * `sktrace serve` can stop without cutting an export in half.
 */
import type { JobRef } from '../export/job.ts';
import { type ExportJobDeps, runExportJob } from '../export/pipeline.ts';
import type { JobLauncher } from '../export/ports.ts';

export class InProcessJobLauncher implements JobLauncher {
  readonly #deps: ExportJobDeps;
  readonly #running = new Set<Promise<void>>();
  #closed = false;

  constructor(deps: ExportJobDeps) {
    this.#deps = deps;
  }

  async launch(ref: JobRef): Promise<void> {
    if (this.#closed) throw new Error('the local job runner is shutting down');
    const run = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => runExportJob(this.#deps, ref))
      .then(
        () => undefined,
        (err: unknown) => {
          // Only the job record's own reads/writes can throw here (the runner records every other
          // failure in the job); Lambda would retry, locally the job shows as stalled then failed.
          this.#deps.log.error('export job runner failed', {
            ...ref,
            error: err instanceof Error ? err.message : String(err),
          });
        },
      )
      .finally(() => {
        this.#running.delete(run);
      });
    this.#running.add(run);
  }

  get inFlight(): number {
    return this.#running.size;
  }

  /** Waits until no job is running (jobs launched meanwhile included). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running]);
  }

  /** Refuses new jobs and waits for those running. */
  async drain(): Promise<void> {
    this.#closed = true;
    await this.idle();
  }
}
