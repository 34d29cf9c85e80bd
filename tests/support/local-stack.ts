/**
 * The local stack as `sktrace serve` runs it (API Gateway emulation, the real handlers, dynalite,
 * s3rver), on port 0 and quiet, with an API client holding its token: what tests that import and
 * export through the HTTP API start in `before` and close in `after`.
 */
import { ApiClient } from '../../lib/cli/client.ts';
import { type LocalStack, startLocalStack } from '../../lib/local/serve.ts';

export async function startTestStack(): Promise<{ stack: LocalStack; client: ApiClient }> {
  const stack = await startLocalStack({ port: 0, logLevel: 'SILENT' });
  // Two attempts: a failing request fails the test quickly instead of retrying for seconds.
  const client = new ApiClient({ endpoint: stack.url, token: stack.token, retry: { maxAttempts: 2 } });
  return { stack, client };
}
