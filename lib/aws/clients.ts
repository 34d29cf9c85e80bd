/**
 * AWS SDK client factories: endpoint, region, credentials and the retry policy in one place.
 * In Lambda only the region comes from the environment (the SDK reads AWS_REGION and the role's
 * credentials itself); locally (`sktrace serve`, tests) the endpoints point at dynalite and s3rver,
 * which check no signatures, so placeholder credentials do.
 */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';

export interface AwsClientOptions {
  region?: string;
  /** e.g. `http://127.0.0.1:4567` for dynalite; omitted in AWS. */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  retry?: RetryPolicyOptions;
}

export interface RetryPolicyOptions {
  /** Attempts per request, the first included (default 6: ~5 s of backoff in the worst case). */
  maxAttempts?: number;
  /** First backoff ceiling (default 50 ms), doubled per retry… */
  baseDelayMs?: number;
  /** …up to this ceiling (default 2,000 ms). */
  maxDelayMs?: number;
  /** Source of jitter in [0, 1); injectable for tests. */
  random?: () => number;
}

// s3rver accepts only this key pair (it checks no signature); dynalite accepts any.
const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** Structural copy of the SDK's RetryToken (the type lives in a transitive package). */
interface BackoffToken {
  getRetryCount(): number;
  getRetryDelay(): number;
}

/**
 * Retries throttling (DynamoDB ProvisionedThroughputExceeded, ThrottlingException, S3 SlowDown),
 * transient errors and 5xx with exponential backoff and full jitter (delay drawn from
 * [0, min(max, base·2^n)), the AWS Architecture Blog's recommendation for contending clients).
 * Unlike the SDK's standard strategy it keeps no cross-request retry quota: a Lambda handles one
 * batch at a time, and the caller turns exhaustion into a 429/503 the sender retries.
 */
export class BackoffRetryStrategy {
  readonly maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #random: () => number;

  constructor(options: RetryPolicyOptions = {}) {
    this.maxAttempts = options.maxAttempts ?? 6;
    this.#baseDelayMs = options.baseDelayMs ?? 50;
    this.#maxDelayMs = options.maxDelayMs ?? 2_000;
    this.#random = options.random ?? Math.random;
  }

  /** Backoff before retry number `retry` (1-based). */
  delayMs(retry: number): number {
    const ceiling = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (retry - 1));
    return Math.floor(this.#random() * ceiling);
  }

  async acquireInitialRetryToken(_scope: string): Promise<BackoffToken> {
    return token(0, 0);
  }

  async refreshRetryTokenForRetry(
    previous: BackoffToken,
    info: { errorType: string },
  ): Promise<BackoffToken> {
    const retry = previous.getRetryCount() + 1;
    if (info.errorType === 'CLIENT_ERROR' || retry >= this.maxAttempts) {
      throw new Error(`no retry left after ${retry} attempts (${info.errorType})`);
    }
    return token(retry, this.delayMs(retry));
  }

  recordSuccess(_token: BackoffToken): void {}
}

function token(count: number, delayMs: number): BackoffToken {
  return { getRetryCount: () => count, getRetryDelay: () => delayMs };
}

/**
 * The SDK's default logger (NoOpLogger) has an `info` method, so its logger middleware
 * (@aws-sdk/core loggerMiddleware: `logger?.info?.({… output: outputFilterSensitiveLog(output)})`)
 * walks every response through the schema's sensitive-data filter before dropping the line: for a
 * 1 MB Query page that was a quarter of an export's CPU (docs/benchmarks.md "export"). Without
 * `info` the optional call skips the walk; like NoOpLogger, this logger writes nothing.
 */
type Logger = NonNullable<DynamoDBClientConfig['logger']>;
const QUIET_LOGGER = {
  debug: () => undefined,
  warn: () => undefined,
  error: () => undefined,
} as unknown as Logger;

/**
 * Binary attributes (bodies) arrive base64 in DynamoDB's JSON; the SDK's decoder first checks each
 * with a regular expression (~13 % of an export's CPU). Node's decoder alone is enough: a corrupted
 * body fails to inflate (lib/store/body-codec.ts) and is reported as such.
 */
const base64Decoder = (input: string): Uint8Array => Buffer.from(input, 'base64');

function baseConfig(options: AwsClientOptions) {
  const local = options.endpoint !== undefined;
  const retryStrategy = new BackoffRetryStrategy(options.retry);
  return {
    logger: QUIET_LOGGER,
    base64Decoder,
    ...(options.region !== undefined || local ? { region: options.region ?? 'us-east-1' } : {}),
    ...(local ? { endpoint: options.endpoint } : {}),
    ...(options.credentials !== undefined
      ? { credentials: options.credentials }
      : local
        ? { credentials: LOCAL_CREDENTIALS }
        : {}),
    maxAttempts: retryStrategy.maxAttempts,
    retryStrategy,
  };
}

export function makeDynamoClient(options: AwsClientOptions = {}): DynamoDBClient {
  return new DynamoDBClient(baseConfig(options));
}

export function makeS3Client(options: AwsClientOptions = {}): S3Client {
  return new S3Client({
    ...baseConfig(options),
    // Path-style addressing locally: s3rver serves buckets under the path, not as subdomains.
    forcePathStyle: options.endpoint !== undefined,
    // No `Expect: 100-continue` on bodies ≥ 2 MiB (the S3 client's default, `expectContinueHeader`,
    // aws-sdk-js-v3 #7450): for a request carrying it the SDK's Node handler opens a fresh
    // connection with keep-alive off (@smithy/node-http-handler) — a TCP and TLS handshake per
    // trace part or checkpoint blob — then waits a round trip for the server's 100 before sending
    // the body. What it saves is sending a body S3 would refuse on its headers alone (credentials,
    // a redirect), which for the stack's own buckets is a misconfiguration, not a case to optimise.
    expectContinueHeader: false,
  });
}
