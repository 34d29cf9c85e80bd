/**
 * `sktrace import FILE… --endpoint URL --cluster ID [--token T]`: loads existing SimKube traces
 * (msgpack or JSON) into a cluster with their original timestamps (lib/roundtrip/import.ts says
 * how a trace becomes changes), in gzip batches within the ingest limits, retrying 429/5xx.
 * Progress on stderr when it is a terminal; one summary line per file on stdout.
 */
import type { Command } from 'commander';
import { SktraceError } from '../../errors.ts';
import { DEFAULT_BATCH_LIMITS, summarizeForImport } from '../../roundtrip/import.ts';
import { importTrace } from '../../roundtrip/transfer.ts';
import { loadTraceFile } from '../../trace/codec-file.ts';
import { type ClientFlags, clientFlags, makeClient, Progress } from '../client.ts';

interface ImportOptions extends ClientFlags {
  batchChanges: string;
}

export function registerImport(program: Command): void {
  clientFlags(
    program
      .command('import')
      .description(
        'load SimKube trace files (msgpack .sktrace or JSON) into a cluster, keeping their timestamps',
      )
      .argument('<file...>', 'trace files'),
  )
    .option('--batch-changes <n>', 'changes per request', String(DEFAULT_BATCH_LIMITS.maxChanges))
    .action((files: string[], opts: ImportOptions) => runImport(files, opts));
}

async function runImport(files: string[], opts: ImportOptions): Promise<void> {
  const maxChanges = Number(opts.batchChanges);
  if (!Number.isSafeInteger(maxChanges) || maxChanges < 1 || maxChanges > 5000) {
    throw new SktraceError(
      'usage',
      `--batch-changes must be an integer from 1 to 5000, got ${JSON.stringify(opts.batchChanges)}`,
    );
  }
  const progress = new Progress(process.stderr);
  const { client, cluster } = makeClient(opts, progress);
  for (const file of files) {
    const { trace, format } = await loadTraceFile(file);
    const summary = summarizeForImport(trace);
    let sentChanges = 0;
    let result: Awaited<ReturnType<typeof importTrace>>;
    try {
      result = await importTrace(client, cluster, trace, {
        limits: { ...DEFAULT_BATCH_LIMITS, maxChanges },
        onProgress: (p) => {
          sentChanges = p.changesSent;
          progress.update(
            `import ${file}`,
            `batch ${p.batch}/${p.batches}, ${p.changesSent}/${p.changes} changes`,
            p.changes > 0 ? p.changesSent / p.changes : undefined,
          );
        },
      });
    } catch (err) {
      progress.clear();
      if (!(err instanceof SktraceError)) throw err;
      // Batches are idempotent: running the same import again completes it without duplicates.
      const done =
        sentChanges > 0
          ? ` after ${sentChanges} changes were stored (run the import again to finish it)`
          : '';
      throw new SktraceError(err.code, `${file}: ${err.message}${done}`, err.context, { cause: err });
    }
    progress.clear();
    const window =
      summary.firstTs === undefined || summary.lastTs === undefined
        ? 'no events'
        : `window ${summary.firstTs}..${summary.lastTs} (export it with --start ${summary.firstTs} --end ${summary.lastTs + 1} --excluded-namespaces "")`;
    process.stdout.write(
      `imported ${file} (${format}) into cluster ${cluster}: ${summary.events} events, ${summary.applied} applied, ${summary.deleted} deleted, ${summary.lifecycles} lifecycles; ${result.changes} changes in ${result.batches} batch${result.batches === 1 ? '' : 'es'}, ${result.accepted} accepted, ${result.deduplicated} unchanged; ${window}\n`,
    );
  }
}
