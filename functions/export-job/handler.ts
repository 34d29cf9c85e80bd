/**
 * The export-job function. Invoked asynchronously by the exports function
 * (lib/aws/lambda-launcher.ts) with `{kind: "export", cluster, id}`: runs that job
 * (lib/export/pipeline.ts) and records its outcome in the job. After a success it leaves a
 * checkpoint of the cluster's live set when the newest is over an hour old; the scheduled
 * checkpoint function (functions/checkpoint) does the same for clusters nobody exports.
 *
 * A failed export is recorded in its job and the invocation succeeds: Lambda's retries would only
 * repeat it. The invocation fails only when the job record itself cannot be read or written; then
 * Lambda's retry takes the job over (lib/export/job.ts).
 */
import type { Context } from 'aws-lambda';
import { SktraceError } from '../../lib/errors.ts';
import type { ExportJob } from '../../lib/export/job.ts';
import { type ExportJobDeps, runExportJob } from '../../lib/export/pipeline.ts';
import { isValidClusterId } from '../../lib/ingest/names.ts';
import { exportJobDepsFromEnv } from './deps.ts';
import { tuneExportHeap } from './heap.ts';

/** The launcher's payload (lib/aws/lambda-launcher.ts ExportJobInvocation). */
export interface ExportInvocation {
  kind: 'export';
  cluster: string;
  id: string;
}

export interface ExportJobResult {
  status: ExportJob['status'] | 'not_found';
}

export type ExportJobHandler = (event: unknown, context?: Context) => Promise<ExportJobResult>;

export function parseJobEvent(event: unknown): ExportInvocation {
  const e = (typeof event === 'object' && event !== null ? event : {}) as Record<string, unknown>;
  if (e.kind === 'export' && isValidClusterId(e.cluster) && typeof e.id === 'string' && e.id !== '') {
    return { kind: 'export', cluster: e.cluster, id: e.id };
  }
  throw new SktraceError('invalid_event', 'expected {kind: "export", cluster, id}', { event });
}

export function makeHandler(deps: ExportJobDeps): ExportJobHandler {
  return async (raw) => {
    const event = parseJobEvent(raw);
    const job = await runExportJob(deps, { cluster: event.cluster, id: event.id });
    return { status: job?.status ?? 'not_found' };
  };
}

let coldStart: ExportJobHandler | undefined;

export const handler: ExportJobHandler = async (event, context) => {
  if (!coldStart) {
    tuneExportHeap();
    coldStart = makeHandler(exportJobDepsFromEnv(process.env));
  }
  return coldStart(event, context);
};
