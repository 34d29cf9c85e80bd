/**
 * Starts the export-job function asynchronously: Lambda `Invoke` with `InvocationType: Event`
 * queues the event and answers 202 at once, so POST returns while the job runs (up to the job
 * function's timeout, 15 min at most, far past API Gateway's 30 s). Lambda retries a failed
 * asynchronous invocation twice by default; the job runner is idempotent for that (lib/export/job.ts).
 * The payload is only the job reference (cluster, id): the job record holds the request.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { JobRef } from '../export/job.ts';
import type { JobLauncher } from '../export/ports.ts';
import { type AwsClientOptions, BackoffRetryStrategy } from './clients.ts';
import { toStoreError } from './errors.ts';

/** What the job function receives from the launcher. */
export interface ExportJobInvocation {
  kind: 'export';
  cluster: string;
  id: string;
}

export class LambdaJobLauncher implements JobLauncher {
  readonly #lambda: LambdaClient;
  readonly #functionName: string;

  constructor(options: { lambda: LambdaClient; functionName: string }) {
    this.#lambda = options.lambda;
    this.#functionName = options.functionName;
  }

  async launch(ref: JobRef): Promise<void> {
    const payload: ExportJobInvocation = { kind: 'export', cluster: ref.cluster, id: ref.id };
    try {
      const out = await this.#lambda.send(
        new InvokeCommand({
          FunctionName: this.#functionName,
          InvocationType: 'Event',
          Payload: new TextEncoder().encode(JSON.stringify(payload)),
        }),
      );
      // An accepted asynchronous invocation answers 202; anything else did not queue the event.
      if (out.StatusCode !== 202) {
        throw new Error(`Lambda answered ${out.StatusCode} to an asynchronous invocation, expected 202`);
      }
    } catch (err) {
      throw toStoreError(err, { operation: `Lambda Invoke (Event) of ${this.#functionName}`, ...ref });
    }
  }
}

export function makeLambdaClient(options: AwsClientOptions = {}): LambdaClient {
  const retryStrategy = new BackoffRetryStrategy(options.retry);
  return new LambdaClient({
    ...(options.region !== undefined ? { region: options.region } : {}),
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    maxAttempts: retryStrategy.maxAttempts,
    retryStrategy,
  });
}
