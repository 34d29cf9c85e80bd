/**
 * `sktrace export --endpoint URL --cluster ID [--token T] [--start T] [--end T]
 * [--excluded-namespaces a,b] [--excluded-labels SELECTOR]… [--transform SKELFILE] --output FILE`:
 * asks the server for a
 * trace of `[start, end)`, waits for the job, downloads it through its signed URL and writes it.
 * Defaults as `skctl export`: the last 30 minutes, skctl's excluded namespaces (`""` for none).
 * `--excluded-labels` takes kubectl selector syntax and may repeat (an object matching any of the
 * selectors is dropped, as SimKube's `excluded_labels` list). `--transform` sends a SKEL file
 * (`skctl export --transform`), checked here first (bad SKEL: exit 2 with line and column). Prints
 * the URL on stdout, and the validation counts of the exported trace (`sktrace validate`'s rules).
 */

import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { SktraceError } from '../../errors.ts';
import { exportTrace } from '../../roundtrip/transfer.ts';
import { checkSkel } from '../../skel/index.ts';
import type { LabelSelector } from '../../trace/model.ts';
import { parseSelector } from '../../trace/selector.ts';
import { RULES } from '../../validation/index.ts';
import { type ClientFlags, clientFlags, makeClient, Progress } from '../client.ts';
import { formatBytes } from '../progress.ts';
import { parseNamespaceList, parseTimeArg, SKCTL_EXCLUDED_NAMESPACES } from '../time.ts';

interface ExportOptions extends ClientFlags {
  start: string;
  end: string;
  excludedNamespaces: string;
  excludedLabels: string[];
  output: string;
  timeout: string;
  transform?: string;
}

export function registerExport(program: Command): void {
  clientFlags(
    program
      .command('export')
      .description(
        'export a window of a cluster as a SimKube trace (server-side job, downloaded through a signed URL)',
      ),
  )
    .option(
      '--start <time>',
      'window start: unix seconds, ISO 8601, now, or relative (-30m, -2h, -1d)',
      '-30m',
    )
    .option('--end <time>', 'window end (exclusive), same forms', 'now')
    .option(
      '--excluded-namespaces <list>',
      'comma-separated namespaces to leave out ("" for none)',
      SKCTL_EXCLUDED_NAMESPACES.join(','),
    )
    .option(
      '--excluded-labels <selector>',
      'leave out objects matching this label selector (kubectl syntax: app=web,tier in (a,b),!canary); may repeat',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--transform <skelfile>', 'SKEL file applied to every change before filtering and indexing')
    .requiredOption('--output <file>', 'where to write the trace (msgpack)')
    .option('--timeout <seconds>', 'how long to wait for the export job', '1200')
    .action((opts: ExportOptions) => runExport(opts));
}

function selectors(texts: string[]): LabelSelector[] {
  return texts.map((text, i) => {
    if (text.trim() === '') {
      // An empty selector matches every object (Kubernetes semantics): it would export nothing.
      throw new SktraceError('usage', `--excluded-labels #${i + 1} is empty: it would exclude every object`);
    }
    try {
      return parseSelector(text);
    } catch (err) {
      throw new SktraceError(
        'usage',
        `--excluded-labels ${JSON.stringify(text)}: ${(err as Error).message}`,
        {},
        { cause: err },
      );
    }
  });
}

async function runExport(opts: ExportOptions): Promise<void> {
  const nowSec = Math.floor(Date.now() / 1000);
  const startTs = parseTimeArg(opts.start, nowSec, '--start');
  const endTs = parseTimeArg(opts.end, nowSec, '--end');
  if (endTs <= startTs) {
    throw new SktraceError(
      'usage',
      `--end (${endTs}) must be after --start (${startTs}): the window [start, end) would be empty`,
    );
  }
  const timeoutSec = Number(opts.timeout);
  if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) {
    throw new SktraceError(
      'usage',
      `--timeout must be a positive number of seconds, got ${JSON.stringify(opts.timeout)}`,
    );
  }
  const filters = {
    excluded_namespaces: parseNamespaceList(opts.excludedNamespaces),
    excluded_labels: selectors(opts.excludedLabels),
  };
  let transform: string | undefined;
  if (opts.transform !== undefined) {
    try {
      transform = await readFile(opts.transform, 'utf8');
    } catch (err) {
      throw new SktraceError(
        'usage',
        `cannot read --transform ${opts.transform}: ${(err as Error).message}`,
        {},
        { cause: err },
      );
    }
    checkSkel(transform);
  }
  const progress = new Progress(process.stderr);
  const { client, cluster } = makeClient(opts, progress);
  const { job, bytes } = await exportTrace(client, cluster, { startTs, endTs }, filters, {
    timeoutMs: timeoutSec * 1000,
    ...(transform === undefined ? {} : { transform }),
    onStatus: (j, elapsedMs) => {
      const p = j.progress;
      const secs = `${Math.round(elapsedMs / 1000)} s`;
      if (!p) {
        progress.update(`export ${j.id}: ${j.status}`, secs);
        return;
      }
      // The share of the window's seconds read so far (changes are read in time order).
      const fraction =
        p.phase === 'finishing'
          ? 1
          : p.phase === 'changes' && p.reached_ts !== undefined
            ? (p.reached_ts - startTs) / (endTs - startTs)
            : 0;
      progress.update(
        `export ${j.id}: ${p.phase.replace('_', ' ')}`,
        `${p.changes_read} changes read, ${formatBytes(p.bytes_written)} written, ${secs}`,
        fraction,
      );
    },
  });
  progress.clear();
  // Written beside the target, then renamed: a failed write never leaves half a trace under the name.
  const tmp = `${opts.output}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, opts.output);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new SktraceError(
      'io',
      `cannot write ${opts.output}: ${(err as Error).message}`,
      {},
      { cause: err },
    );
  }
  const c = job.counts;
  process.stderr.write(
    `wrote ${opts.output}: window [${startTs}, ${endTs}), ${c ? `${c.events} events, ${c.objects} objects, ` : ''}${bytes.length} bytes (export ${job.id})\n`,
  );
  const found = Object.entries(c?.validation ?? {}).filter(([, n]) => n > 0);
  if (found.length > 0) {
    process.stderr.write(
      `validation: ${found.map(([code, n]) => `${RULES.find((r) => r.code === code)?.name ?? code} (${code}) ${n}`).join(', ')}; sktrace validate ${opts.output} --fix FILE writes a SKEL fix\n`,
    );
  }
  process.stdout.write(`${job.url}\n`);
}
