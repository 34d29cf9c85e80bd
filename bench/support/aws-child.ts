/**
 * Child-process entry: dynalite (DynamoDB wire protocol) and s3rver (S3 wire protocol) on free
 * loopback ports, the sktrace table and bucket created. Runs apart from the benchmark so the
 * benchmark's process.cpuUsage() counts the handler alone: dynalite's request parsing, LevelDB
 * and condition checks stay here, and are reported on request over IPC.
 *
 * Protocol (IPC): child sends `{ready: {dynamo, s3}}`; parent sends `{cpu: id}`, child answers
 * `{cpu: id, user, system, rssBytes}` (microseconds of this process since it started); parent sends
 * `{load: id, target, spread}`, child writes those changes' event items straight into dynalite's
 * LevelDB (bench/support/bulk-history.ts `loadHistoryEvents`) and answers `{load: id, written}` or
 * `{load: id, error}`. The items are generated here, next to the LevelDB they go to: gigabytes of
 * items need not cross the IPC channel.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDynamoClient } from '../../lib/aws/clients.ts';
import { ensureTable } from '../../lib/aws/table.ts';
import { type HistoryTarget, loadHistoryEvents } from './bulk-history.ts';
import { DirectItemWriter, startDynalite } from './dynalite-direct.ts';
import type { ChangeSpread } from './export-changes.ts';

const require = createRequire(import.meta.url);
// s3rver ships no types; these are the parts used here.
const S3rver = require('s3rver') as new (
  options: Record<string, unknown>,
) => { run(): Promise<AddressInfo>; close(): Promise<void> };

const tableName = process.env.BENCH_TABLE ?? 'sktrace';
const bucket = process.env.BENCH_BUCKET ?? 'sktrace';
/** LevelDB on disk under this directory when set; dynalite's in-memory store otherwise. */
const dataDir = process.env.BENCH_DYNAMO_DIR;

const { server, store } = startDynalite({
  createTableMs: 0,
  deleteTableMs: 0,
  updateTableMs: 0,
  ...(dataDir ? { path: dataDir } : {}),
});
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', () => resolve());
});
const dynamoEndpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

/** s3rver's files: kept in BENCH_S3_DIR when set (a seed cache, bench/support/export-seed.ts), else a temp dir removed on exit. */
const keptS3Dir = process.env.BENCH_S3_DIR;
const s3Dir = keptS3Dir ?? (await mkdtemp(join(tmpdir(), 'sktrace-bench-s3-')));
const s3rver = new S3rver({
  port: 0,
  address: '127.0.0.1',
  silent: true,
  directory: s3Dir,
  configureBuckets: [{ name: bucket }],
});
const s3Address = await s3rver.run();

const client = makeDynamoClient({ endpoint: dynamoEndpoint });
await ensureTable(client, tableName, 5);
client.destroy();

/** Threads building items for direct loads (BENCH_LOAD_WORKERS; the machine has 2 cores). */
const LOAD_WORKERS = Number(process.env.BENCH_LOAD_WORKERS ?? 2);

const startCpu = process.cpuUsage();
const writer = new DirectItemWriter(store, tableName);
process.on(
  'message',
  (msg: { cpu?: number; load?: number; target?: HistoryTarget; spread?: ChangeSpread }) => {
    if (msg.cpu !== undefined) {
      const cpu = process.cpuUsage(startCpu);
      process.send?.({
        cpu: msg.cpu,
        user: cpu.user,
        system: cpu.system,
        rssBytes: process.memoryUsage.rss(),
      });
    }
    if (msg.load !== undefined && msg.target && msg.spread) {
      const id = msg.load;
      const started = performance.now();
      let reported = 0;
      const onProgress = (written: number) => {
        // A line per million items: a 10× history of 1 M window changes takes minutes.
        if (written - reported < 1_000_000) return;
        reported = written;
        const perSec = (written / (performance.now() - started)) * 1000;
        process.stderr.write(
          `direct load ${msg.target?.cluster}: ${written} items, ${perSec.toFixed(0)} items/s\n`,
        );
      };
      loadHistoryEvents(writer, msg.target, msg.spread, { workers: LOAD_WORKERS, onProgress }).then(
        (written) => process.send?.({ load: id, written }),
        (err: unknown) => process.send?.({ load: id, error: String((err as Error)?.stack ?? err) }),
      );
    }
  },
);
process.on('disconnect', () => {
  server.closeAllConnections?.();
  server.close();
  void s3rver
    .close()
    .catch(() => undefined)
    .then(() => (keptS3Dir ? undefined : rm(s3Dir, { recursive: true, force: true })))
    .then(() => process.exit(0));
});
process.send?.({
  ready: { dynamo: dynamoEndpoint, s3: `http://127.0.0.1:${s3Address.port}`, tableName, bucket },
});
