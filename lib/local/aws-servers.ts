/**
 * DynamoDB and S3 for the local stack, in this process: dynalite (DynamoDB's wire protocol over
 * LevelDB) and s3rver (S3's wire protocol over files). With a data directory both persist there
 * (`<dir>/dynamo`, a LevelDB database; `<dir>/s3`, s3rver's files), so a restarted `sktrace serve`
 * finds its traces, tokens and exports again; without one, DynamoDB lives in memory and S3 in a
 * temporary directory removed on close. The table and bucket are created when missing.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { makeDynamoClient, makeS3Client } from '../aws/clients.ts';
import { ensureTable } from '../aws/table.ts';

const require = createRequire(import.meta.url);
// Neither package ships types; these are the parts used here.
const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;
const S3rver = require('s3rver') as new (
  options: Record<string, unknown>,
) => { run(): Promise<AddressInfo>; close(): Promise<void> };

export interface LocalAwsServersOptions {
  /** Where data persists; in memory / a temp dir when absent. */
  dataDir?: string;
  tableName: string;
  bucket: string;
}

/**
 * Both servers listen on loopback only, whatever interface the gateway serves: dynalite and
 * s3rver take any credentials, so on another interface anyone reaching it could read and write
 * every trace and token. Remote clients of `sktrace serve --host` download exports through the
 * gateway (lib/local/serve.ts proxies presigned GETs of exports/ to s3rver).
 */
export const LOCAL_AWS_HOST = '127.0.0.1';

export interface LocalAwsServers {
  dynamo: DynamoDBClient;
  s3: S3Client;
  endpoints: { dynamo: string; s3: string };
  close(): Promise<void>;
}

/** A host as it goes into a URL: IPv6 literals in brackets; a wildcard address is reached on loopback. */
export function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

export async function startLocalAwsServers(options: LocalAwsServersOptions): Promise<LocalAwsServers> {
  const { dataDir } = options;
  const host = LOCAL_AWS_HOST;
  let dynamoPath: string | undefined;
  let s3Dir: string;
  let tempDir: string | undefined;
  if (dataDir !== undefined) {
    dynamoPath = join(dataDir, 'dynamo');
    s3Dir = join(dataDir, 's3');
    await mkdir(s3Dir, { recursive: true });
  } else {
    tempDir = await mkdtemp(join(tmpdir(), 'sktrace-serve-'));
    s3Dir = tempDir;
  }

  const dynaliteServer = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(dynamoPath ? { path: dynamoPath } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    dynaliteServer.once('error', reject);
    dynaliteServer.listen(0, host, () => resolve());
  });
  const dynamoEndpoint = `http://${connectHost(host)}:${(dynaliteServer.address() as AddressInfo).port}`;

  const s3rver = new S3rver({
    port: 0,
    address: host,
    silent: true,
    directory: s3Dir,
    configureBuckets: [{ name: options.bucket }],
  });
  let s3Address: AddressInfo;
  try {
    s3Address = await s3rver.run();
  } catch (err) {
    await new Promise<void>((resolve) => dynaliteServer.close(() => resolve()));
    throw err;
  }
  const s3Endpoint = `http://${connectHost(host)}:${s3Address.port}`;

  const dynamo = makeDynamoClient({ endpoint: dynamoEndpoint });
  const s3 = makeS3Client({ endpoint: s3Endpoint });
  await ensureTable(dynamo, options.tableName, 5);

  let closed: Promise<void> | undefined;
  return {
    dynamo,
    s3,
    endpoints: { dynamo: dynamoEndpoint, s3: s3Endpoint },
    close() {
      closed ??= (async () => {
        dynamo.destroy();
        s3.destroy();
        // Keep-alive sockets would hold dynalite's close (which waits for them before closing LevelDB).
        dynaliteServer.closeAllConnections?.();
        await Promise.all([
          new Promise<void>((resolve) => dynaliteServer.close(() => resolve())),
          s3rver.close().catch(() => undefined),
        ]);
        if (tempDir) await rm(tempDir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}
