/**
 * Local AWS for tests: dynalite (DynamoDB wire protocol, in memory) and s3rver (S3 wire protocol,
 * files in a temp dir) started in-process on port 0, the sktrace table and a bucket created, and
 * SDK clients pointed at them. Tests go through the production SDK calls; nothing is mocked.
 *
 *   const aws = await startLocalAws();
 *   try { … aws.dynamo, aws.s3, aws.tableName, aws.bucket … } finally { await aws.close(); }
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { makeDynamoClient, makeS3Client, type RetryPolicyOptions } from '../../lib/aws/clients.ts';
import { DynamoTraceStore, type DynamoTraceStoreOptions } from '../../lib/aws/dynamo-trace-store.ts';
import { S3BlobStore } from '../../lib/aws/s3-blob-store.ts';
import { ensureTable } from '../../lib/aws/table.ts';

const require = createRequire(import.meta.url);
// Neither package ships types; these are the parts used here.
const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;
const S3rver = require('s3rver') as new (
  options: Record<string, unknown>,
) => { run(): Promise<AddressInfo>; close(): Promise<void> };

export interface LocalAws {
  dynamo: DynamoDBClient;
  s3: S3Client;
  tableName: string;
  bucket: string;
  endpoints: { dynamo: string; s3: string };
  close(): Promise<void>;
}

export interface LocalAwsOptions {
  tableName?: string;
  bucket?: string;
  /** Retry policy of the clients (default: few attempts, millisecond backoff, so failing tests end fast). */
  retry?: RetryPolicyOptions;
}

export async function startLocalAws(options: LocalAwsOptions = {}): Promise<LocalAws> {
  const tableName = options.tableName ?? 'sktrace';
  const bucket = options.bucket ?? 'sktrace-test';
  const retry = options.retry ?? { maxAttempts: 4, baseDelayMs: 2, maxDelayMs: 20 };

  const dynaliteServer = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    dynaliteServer.once('error', reject);
    dynaliteServer.listen(0, '127.0.0.1', () => resolve());
  });
  const dynamoEndpoint = `http://127.0.0.1:${(dynaliteServer.address() as AddressInfo).port}`;

  const dir = await mkdtemp(join(tmpdir(), 'sktrace-s3-'));
  const s3rver = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: dir,
    configureBuckets: [{ name: bucket }],
  });
  const s3Address = await s3rver.run();
  const s3Endpoint = `http://127.0.0.1:${s3Address.port}`;

  const dynamo = makeDynamoClient({ endpoint: dynamoEndpoint, retry });
  const s3 = makeS3Client({ endpoint: s3Endpoint, retry });
  await ensureTable(dynamo, tableName, 5);

  return {
    dynamo,
    s3,
    tableName,
    bucket,
    endpoints: { dynamo: dynamoEndpoint, s3: s3Endpoint },
    async close() {
      dynamo.destroy();
      s3.destroy();
      dynaliteServer.closeAllConnections?.();
      await Promise.all([
        new Promise<void>((resolve) => dynaliteServer.close(() => resolve())),
        s3rver.close().catch(() => undefined),
      ]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A trace store on the local table and bucket; `options` as DynamoTraceStore's (defaults otherwise). */
export function localTraceStore(
  aws: LocalAws,
  options: Omit<DynamoTraceStoreOptions, 'dynamo' | 'tableName' | 'blobs'> = {},
): DynamoTraceStore {
  return new DynamoTraceStore({
    dynamo: aws.dynamo,
    tableName: aws.tableName,
    blobs: new S3BlobStore(aws.s3, aws.bucket),
    ...options,
  });
}
