/**
 * The round-trip check (`sktrace conformance --roundtrip DIR`): for each trace file, import it into
 * a local stack with its original timestamps, export windows of it through the API, and compare:
 * - its full window with the reference export (lib/roundtrip/reference.ts) — must be equal — and
 *   with the file itself, whose differences are listed as notes: each is a store rule at work
 *   (a deletion of an object never applied is no change, a spec-unchanged re-apply is no event) or
 *   the file's own index disagreeing with its events;
 * - a window inside the trace, and the full window with filters, with their reference exports.
 * Each file gets its own cluster, so files never see each other's objects.
 */
import { basename } from 'node:path';
import { ApiClient } from '../cli/client.ts';
import type { ExportCounts } from '../export/job.ts';
import { startLocalStack } from '../local/serve.ts';
import { loadTraceFile } from '../trace/codec-file.ts';
import type { ExportFilters, Trace, TraceWindow } from '../trace/model.ts';
import { type Comparison, compareTraces } from './compare.ts';
import { fullWindow, NO_FILTERS, referenceExport } from './reference.ts';
import { exportTrace, type ImportResult, importTrace } from './transfer.ts';

export interface RoundTripCase {
  name: string;
  window: TraceWindow;
  filters: ExportFilters;
}

export interface CaseResult extends RoundTripCase {
  exportId?: string;
  counts?: ExportCounts;
  readUnits?: number;
  /** Against the reference export: must be equal. */
  comparison?: Comparison;
  /** Full window only: against the file itself (differences are notes). */
  fidelity?: Comparison;

  error?: string;
}

export interface FileResult {
  file: string;
  cluster: string;
  imported?: ImportResult;
  cases: CaseResult[];
  error?: string;
  ok: boolean;
}

/** The windows and filters checked for one trace. */
export function casesFor(trace: Trace): RoundTripCase[] {
  const full = fullWindow(trace);
  if (!full) return [];
  const cases: RoundTripCase[] = [{ name: 'full window', window: full, filters: NO_FILTERS }];
  const span = full.endTs - full.startTs;
  if (span >= 3) {
    const startTs = full.startTs + Math.floor(span / 3);
    const endTs = full.startTs + Math.ceil((2 * span) / 3);
    if (endTs > startTs)
      cases.push({ name: 'inner window', window: { startTs, endTs }, filters: NO_FILTERS });
  }
  const filters = filtersFor(trace);
  if (filters) cases.push({ name: 'full window, filtered', window: full, filters });
  return cases;
}

/**
 * Filters that exclude part of the trace: the label (key=value) closest to splitting its objects
 * in half, and the first namespace when there are several. None when nothing splits it.
 */
function filtersFor(trace: Trace): ExportFilters | undefined {
  const namespaces = new Set<string>();
  const objects = new Set<string>();
  const withLabel = new Map<string, Set<string>>();
  for (const event of trace.events) {
    for (const obj of event.applied_objs) {
      const id = `${obj.apiVersion} ${obj.kind} ${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`;
      objects.add(id);
      if (obj.metadata.namespace) namespaces.add(obj.metadata.namespace);
      for (const [key, value] of Object.entries(obj.metadata.labels ?? {})) {
        const label = JSON.stringify([key, value]);
        let set = withLabel.get(label);
        if (!set) {
          set = new Set();
          withLabel.set(label, set);
        }
        set.add(id);
      }
    }
  }
  let best: { label: string; score: number } | undefined;
  for (const [label, ids] of withLabel) {
    const score = Math.min(ids.size, objects.size - ids.size);
    if (score > 0 && (!best || score > best.score || (score === best.score && label < best.label))) {
      best = { label, score };
    }
  }
  const filters: ExportFilters = { excluded_namespaces: [], excluded_labels: [] };
  if (namespaces.size > 1) filters.excluded_namespaces.push([...namespaces].sort()[0]!);
  if (best) {
    const [key, value] = JSON.parse(best.label) as [string, string];
    filters.excluded_labels.push({ matchExpressions: [{ key, operator: 'In', values: [value] }] });
  }
  return filters.excluded_namespaces.length + filters.excluded_labels.length > 0 ? filters : undefined;
}

export function clusterFor(file: string, index: number): string {
  const stem = basename(file)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return `rt-${index}-${stem || 'trace'}`.replace(/-+$/, '');
}

export async function roundTripTrace(
  client: ApiClient,
  cluster: string,
  file: string,
  trace: Trace,
): Promise<FileResult> {
  const result: FileResult = { file, cluster, cases: [], ok: false };
  try {
    result.imported = await importTrace(client, cluster, trace);
  } catch (err) {
    result.error = `import failed: ${err instanceof Error ? err.message : String(err)}`;
    return result;
  }
  for (const c of casesFor(trace)) {
    const out: CaseResult = { ...c };
    result.cases.push(out);
    try {
      const exported = await exportTrace(client, cluster, c.window, c.filters, {
        pollMs: 50,
        pollMaxMs: 500,
      });
      out.exportId = exported.job.id;
      if (exported.job.counts) out.counts = exported.job.counts;
      if (exported.job.read_units !== undefined) out.readUnits = exported.job.read_units;
      out.comparison = compareTraces(referenceExport(trace, c.window, c.filters), exported.trace);
      if (c.name === 'full window') out.fidelity = compareTraces(trace, exported.trace);
    } catch (err) {
      out.error = err instanceof Error ? err.message : String(err);
    }
  }
  result.ok =
    result.cases.length > 0 &&
    result.cases.every((c) => c.error === undefined && c.comparison?.equal === true);
  if (result.cases.length === 0) result.error = 'the trace holds nothing to export';
  return result;
}

/** Runs the round trip over files in a fresh in-memory local stack. */
export async function roundTripFiles(files: string[]): Promise<FileResult[]> {
  const stack = await startLocalStack({ port: 0, logLevel: 'SILENT' });
  try {
    const client = new ApiClient({ endpoint: stack.url, token: stack.token, retry: { maxAttempts: 3 } });
    const results: FileResult[] = [];
    for (const [i, file] of files.entries()) {
      let trace: Trace;
      try {
        trace = (await loadTraceFile(file)).trace;
      } catch (err) {
        results.push({
          file,
          cluster: '',
          cases: [],
          ok: false,
          error: err instanceof Error ? err.message : String(err),
        });
        continue;
      }
      results.push(await roundTripTrace(client, clusterFor(file, i), file, trace));
    }
    return results;
  } finally {
    await stack.close();
  }
}

export function formatRoundTrip(r: FileResult): string {
  const lines = [`${basename(r.file)} (cluster ${r.cluster || '-'})`];
  if (r.imported) {
    const i = r.imported;
    lines.push(
      `  import: ${i.changes} changes in ${i.batches} batch(es), ${i.accepted} accepted, ${i.deduplicated} deduplicated`,
    );
  }
  if (r.error) lines.push(`  ERROR: ${r.error}`);
  for (const c of r.cases) {
    const where = `[${c.window.startTs}, ${c.window.endTs})`;
    const counts = c.counts
      ? `, ${c.counts.events} events, ${c.counts.objects} objects, ${c.counts.bytes} bytes`
      : '';
    const ru = c.readUnits !== undefined ? `, ${c.readUnits} read units` : '';
    if (c.error) {
      lines.push(`  ${c.name} ${where}: ERROR: ${c.error}`);
      continue;
    }
    const cmp = c.comparison!;
    lines.push(
      `  ${c.name} ${where}${counts}${ru}: ${cmp.equal ? 'equals the reference export' : 'DIFFERS from the reference export'}`,
    );
    for (const d of cmp.differences) lines.push(`    ${d.area}: ${d.message}`);
    if (c.fidelity) {
      const f = c.fidelity;
      lines.push(
        f.equal
          ? '    same as the file (events per second, index hashes, lifecycles, config)'
          : `    differs from the file in ${f.differenceCount} place(s)${cmp.equal ? ", each one the reference export's too (store and export rules, or the file's own quirks)" : ''}:`,
      );
      for (const d of f.differences) lines.push(`      ${d.area}: ${d.message}`);
      if (f.differenceCount > f.differences.length) {
        lines.push(`      … and ${f.differenceCount - f.differences.length} more`);
      }
      for (const n of [...f.notes, ...cmp.notes]) lines.push(`    note: ${n}`);
    }
  }
  lines.push(r.ok ? '  ok' : '  FAIL');
  return `${lines.join('\n')}\n`;
}

/** `sktrace conformance --roundtrip`: runs the round trip over the files, prints, returns the exit code. */
export async function runRoundTripConformance(files: string[], json: boolean): Promise<number> {
  const results = await roundTripFiles(files);
  const failing = results.filter((r) => !r.ok).length;
  if (json) {
    process.stdout.write(`${JSON.stringify({ files: results.length, failing, results }, null, 2)}\n`);
  } else {
    for (const r of results) process.stdout.write(formatRoundTrip(r));
    process.stdout.write(`round trip: ${results.length} trace file(s), ${failing} failing\n`);
  }
  return failing > 0 ? 1 : 0;
}
