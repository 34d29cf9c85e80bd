/**
 * `sktrace serve [--port 7777] [--data-dir DIR] [--token T] [--host 127.0.0.1]`: the local stack
 * (lib/local/serve.ts) in the foreground until SIGINT or SIGTERM. Prints where it listens, the data
 * directory, the token and the local DynamoDB/S3 endpoints on stdout.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { SktraceError } from '../../errors.ts';
import { DEFAULT_HOST, DEFAULT_PORT, type LocalLogLevel, startLocalStack } from '../../local/serve.ts';

interface ServeOptions {
  port: string;
  host: string;
  dataDir: string;
  token?: string;
  urlTtl: string;
  retentionDays?: string;
  logLevel: string;
}

const LOG_LEVELS: readonly string[] = ['debug', 'info', 'warn', 'error', 'silent'];

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description(
      'run the local stack: the ingest and export API with DynamoDB (dynalite) and S3 (s3rver) in one process',
    )
    .option('--port <port>', 'port of the API (0: any free port)', String(DEFAULT_PORT))
    .option(
      '--host <address>',
      'interface to listen on (the API and the local S3 the signed URLs point at)',
      DEFAULT_HOST,
    )
    .option('--data-dir <dir>', 'where traces, tokens and exports persist', '.sktrace')
    .option(
      '--token <token>',
      'token valid for every cluster (default: kept in DATA_DIR/token, generated once)',
    )
    .option('--url-ttl <seconds>', 'lifetime of signed export URLs', '3600')
    .option('--retention-days <days>', 'how long history is kept (default 14)')
    .option('--log-level <level>', 'debug, info, warn, error or silent', 'warn')
    .action((opts: ServeOptions) => runServe(opts));
}

function integer(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new SktraceError(
      'usage',
      `${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

async function runServe(opts: ServeOptions): Promise<void> {
  const port = integer(opts.port, '--port', 0, 65_535);
  if (!LOG_LEVELS.includes(opts.logLevel.toLowerCase())) {
    throw new SktraceError(
      'usage',
      `--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(opts.logLevel)}`,
    );
  }
  const dataDir = resolve(opts.dataDir);
  let stack: Awaited<ReturnType<typeof startLocalStack>>;
  try {
    stack = await startLocalStack({
      port,
      host: opts.host,
      dataDir,
      ...(opts.token !== undefined ? { token: opts.token } : {}),
      urlTtlSec: integer(opts.urlTtl, '--url-ttl', 1, 7 * 24 * 3600),
      ...(opts.retentionDays !== undefined
        ? { retentionDays: integer(opts.retentionDays, '--retention-days', 1, 36_500) }
        : {}),
      logLevel: opts.logLevel.toUpperCase() as LocalLogLevel,
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new SktraceError(
        'usage',
        `${opts.host}:${port} is already in use: pick another --port (0 for any free one)`,
      );
    }
    if (code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new SktraceError('usage', `cannot listen on ${opts.host}:${port} (${code})`);
    }
    throw err;
  }
  const lines = [
    `sktrace serve: listening on ${stack.url}`,
    `data dir: ${dataDir}`,
    `token: ${stack.token}${stack.tokenSource === 'data-dir' ? ' (from the data dir)' : stack.tokenSource === 'generated' ? ' (generated; kept in the data dir)' : ''}`,
    `dynamodb: ${stack.endpoints.dynamo} (table ${stack.tableName}); s3: ${stack.endpoints.s3} (bucket ${stack.bucket})`,
    `try: SKTRACE_TOKEN=${stack.token} sktrace import TRACE --endpoint ${stack.url} --cluster demo`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  const signal = await new Promise<string>((done) => {
    process.once('SIGINT', () => done('SIGINT'));
    process.once('SIGTERM', () => done('SIGTERM'));
  });
  process.stdout.write(`sktrace serve: ${signal}: finishing running exports and closing\n`);
  await stack.close();
  process.stdout.write('sktrace serve: stopped\n');
}
