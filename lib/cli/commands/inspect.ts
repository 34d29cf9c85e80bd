/**
 * `sktrace inspect FILE [--json]`: what a trace holds, and whether its index agrees with its events.
 */
import type { Command } from 'commander';
import { loadTraceFile } from '../../trace/codec-file.ts';
import { checkIndex, type IndexCheck, summarizeTrace, type TraceSummary } from '../../trace/inspect.ts';

const MAX_LISTED = 20;

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('summarise a SimKube trace file (msgpack .sktrace or JSON)')
    .argument('<file>', 'trace file')
    .option('--json', 'print the summary as JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const { format, bytes, trace } = await loadTraceFile(file);
      const summary = summarizeTrace(trace);
      const index = checkIndex(trace);
      if (opts.json) {
        const doc = { file, format, bytes: bytes.length, ...summary, indexCheck: index };
        process.stdout.write(
          `${JSON.stringify(doc, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`,
        );
        return;
      }
      process.stdout.write(formatSummary(file, format, bytes.length, summary, index));
    });
}

export function formatSummary(
  file: string,
  format: string,
  size: number,
  s: TraceSummary,
  index: IndexCheck,
): string {
  const lines: string[] = [];
  lines.push(`${file}: SimKube trace v${s.version} (${format}, ${size} bytes)`);
  lines.push(`tracked kinds: ${s.trackedKinds.length ? s.trackedKinds.join(', ') : '(none)'}`);
  if (s.window) {
    const { firstTs, lastTs } = s.window;
    lines.push(
      `window: ${firstTs} .. ${lastTs} (${isoTime(firstTs)} .. ${isoTime(lastTs)}, ${lastTs - firstTs} s)`,
    );
  } else {
    lines.push('window: (no events)');
  }
  lines.push(`events: ${s.events}${s.emptyEvents ? ` (${s.emptyEvents} empty)` : ''}`);
  const kinds = Object.entries(s.kinds);
  lines.push(kinds.length ? 'objects:' : 'objects: (none)');
  for (const [gvk, k] of kinds) {
    lines.push(`  ${gvk}: ${plural(k.objects, 'object')}, ${k.applied} applied, ${k.deleted} deleted`);
  }
  const perKind = Object.entries(s.index)
    .map(([gvk, n]) => `${gvk} ${n}`)
    .join(', ');
  lines.push(`index: ${plural(s.indexEntries, 'entry', 'entries')}${perKind ? ` (${perKind})` : ''}`);
  lines.push(
    `  ${index.matched} of ${index.entries} equal the spec hash of the object's last applied version`,
  );
  if (index.matchedDocumentOrder) {
    lines.push(
      `  ${index.matchedDocumentOrder} equal instead older SimKube's hash (object keys in document order)`,
    );
  }
  for (const m of index.mismatched.slice(0, MAX_LISTED)) {
    const earlier =
      m.earlierVersionTs === undefined ? '' : ` (the index hashes its version of ts ${m.earlierVersionTs})`;
    lines.push(`  mismatch: ${m.gvk} ${m.nsName}: index ${m.indexHash}, spec hash ${m.specHash}${earlier}`);
  }
  if (index.missing.length) lines.push(`  ${index.missing.length} with no applied version in the events`);
  if (index.unindexed.length)
    lines.push(`  ${index.unindexed.length} applied object(s) missing from the index`);
  lines.push(
    `pod lifecycles: ${plural(s.lifecycles.owners, 'owner')}, ${plural(s.lifecycles.lifecycles, 'lifecycle')}`,
  );
  for (const o of s.lifecycles.perOwner.slice(0, MAX_LISTED)) {
    lines.push(
      `  ${o.gvk} ${o.nsName}: ${plural(o.podSpecs, 'pod spec')}, ${o.finished} finished, ${o.running} running`,
    );
  }
  if (s.lifecycles.perOwner.length > MAX_LISTED) {
    lines.push(`  … and ${s.lifecycles.perOwner.length - MAX_LISTED} more owners`);
  }
  return `${lines.join('\n')}\n`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function isoTime(tsSec: number): string {
  const d = new Date(tsSec * 1000);
  return Number.isNaN(d.getTime()) ? '?' : d.toISOString().replace('.000Z', 'Z');
}
