/**
 * `sktrace token create|list|revoke --cluster ID`: bearer tokens of a cluster, kept in the trace
 * table (only their SHA-256; lib/aws/dynamo-token-store.ts). `create` prints the token once on
 * stdout and nowhere else, so `TOKEN=$(sktrace token create --cluster prod)` captures it.
 */
import type { Command } from 'commander';
import { generateToken } from '../../auth/token.ts';
import { openDynamoTokenStore, type TokenStoreConnection } from '../../aws/dynamo-token-store.ts';
import { SktraceError } from '../../errors.ts';
import { CLUSTER_ID_PATTERN, isValidClusterId } from '../../ingest/names.ts';
import type { TokenRecord } from '../../store/ports.ts';

export interface StoreFlags {
  cluster: string;
  table?: string;
  endpointUrl?: string;
  region?: string;
}

/** Where a token command prints, and its environment; process streams in the CLI, fakes in tests. */
export interface TokenIo {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  nowSec(): number;
}

const processIo: TokenIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
  nowSec: () => Math.floor(Date.now() / 1000),
};

export function registerToken(program: Command): void {
  const token = program
    .command('token')
    .description("manage a cluster's bearer tokens for the ingest and export API");

  withStoreFlags(token.command('create').description('create a token; prints it once on stdout'))
    .option('--description <text>', 'what the token is for (shown by list)')
    .action((opts: CreateFlags) => createToken(opts, processIo));

  withStoreFlags(token.command('list').description("list a cluster's tokens (ids, never the tokens)"))
    .option('--json', 'print JSON')
    .action((opts: ListFlags) => listTokens(opts, processIo));

  withStoreFlags(token.command('revoke').description('revoke a token by its id; it stops working at once'))
    .requiredOption('--token-id <id>', 'id shown by create and list (tok_…)')
    .action((opts: RevokeFlags) => revokeToken(opts, processIo));
}

export type CreateFlags = StoreFlags & { description?: string };
export type ListFlags = StoreFlags & { json?: boolean };
export type RevokeFlags = StoreFlags & { tokenId: string };

export async function createToken(opts: CreateFlags, io: TokenIo): Promise<void> {
  const { store, cluster } = open(opts, io);
  const created = generateToken();
  const record: TokenRecord = {
    cluster,
    tokenId: created.tokenId,
    tokenHash: created.tokenHash,
    createdAtSec: io.nowSec(),
    ...(opts.description === undefined ? {} : { description: opts.description }),
  };
  await store.put(record);
  io.out(`${created.token}\n`);
  io.err(
    `created ${created.tokenId} for cluster ${cluster}; the token above is shown only once: store it now\n`,
  );
}

export async function listTokens(opts: ListFlags, io: TokenIo): Promise<void> {
  const { store, cluster } = open(opts, io);
  const records = (await store.list(cluster)).sort((a, b) => a.createdAtSec - b.createdAtSec);
  if (opts.json) {
    const rows = records.map(({ tokenId, createdAtSec, description }) => ({
      tokenId,
      createdAtSec,
      description,
    }));
    io.out(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  if (records.length === 0) {
    io.out(`no tokens for cluster ${cluster}\n`);
    return;
  }
  for (const r of records) {
    const created = new Date(r.createdAtSec * 1000).toISOString();
    io.out(`${r.tokenId}\t${created}${r.description ? `\t${r.description}` : ''}\n`);
  }
}

export async function revokeToken(opts: RevokeFlags, io: TokenIo): Promise<void> {
  const { store, cluster } = open(opts, io);
  if (!(await store.revoke(cluster, opts.tokenId))) {
    throw new SktraceError('not_found', `cluster ${cluster} has no token ${opts.tokenId}`, {
      cluster,
      tokenId: opts.tokenId,
    });
  }
  io.out(`revoked ${opts.tokenId}\n`);
}

function withStoreFlags(command: Command): Command {
  return command
    .requiredOption('--cluster <id>', 'cluster id')
    .option('--table <name>', 'DynamoDB table (default: $SKTRACE_TABLE)')
    .option('--endpoint-url <url>', 'DynamoDB endpoint, e.g. a local one (default: AWS)')
    .option('--region <region>', 'AWS region (default: from the AWS provider chain)');
}

function open(opts: StoreFlags, io: TokenIo) {
  if (!isValidClusterId(opts.cluster)) {
    throw new SktraceError(
      'usage',
      `--cluster ${JSON.stringify(opts.cluster)} must match ${CLUSTER_ID_PATTERN.source}`,
    );
  }
  const tableName = opts.table ?? io.env.SKTRACE_TABLE;
  if (!tableName) throw new SktraceError('usage', 'no table: pass --table NAME or set SKTRACE_TABLE');
  const conn: TokenStoreConnection = { tableName };
  if (opts.endpointUrl !== undefined) conn.endpoint = opts.endpointUrl;
  if (opts.region !== undefined) conn.region = opts.region;
  return { store: openDynamoTokenStore(conn), cluster: opts.cluster };
}
