/**
 * `npm run chaos`: every fault-injection case of tests/chaos at the long scale (20 kills, 50%
 * endpoint errors, an outage past the forwarder's stall timeout…), one after the other, each
 * judged by the oracle of tests/chaos/oracle.ts. Prints a table (pass/fail, changes, faults,
 * restarts, durations) and writes bench/chaos-results.json. docs/fault-injection.md explains the
 * method and the oracle.
 *
 *   npm run chaos [-- --fast] [-- --only <substring>]...
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ALL_CASES, type Scale } from '../tests/chaos/cases.ts';
import { type CaseResult, explain, postMortem } from '../tests/chaos/harness.ts';

interface Row {
  name: string;
  scale: Scale;
  ok: boolean;
  changes: number;
  required: number;
  matched: number;
  faults: number;
  restarts: number;
  exportEvents: number;
  durationMs: number;
  failures: string;
  notes: Record<string, unknown>;
}

function rowOf(name: string, scale: Scale, r: CaseResult): Row {
  return {
    name,
    scale,
    ok: r.ok,
    changes: r.changes,
    required: r.verdict.required,
    matched: r.verdict.matched,
    faults: r.faults,
    restarts: r.restarts,
    exportEvents: r.exportEvents,
    durationMs: r.durationMs,
    failures: r.ok ? '' : explain(r),
    notes: r.notes,
  };
}

function table(rows: readonly Row[]): string {
  const head = [
    'case',
    'result',
    'changes',
    'required',
    'matched',
    'faults',
    'restarts',
    'events',
    'duration s',
  ];
  const body = rows.map((r) => [
    r.name,
    r.ok ? 'pass' : 'FAIL',
    String(r.changes),
    String(r.required),
    String(r.matched),
    String(r.faults),
    String(r.restarts),
    String(r.exportEvents),
    (r.durationMs / 1000).toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { fast: { type: 'boolean', default: false }, only: { type: 'string', multiple: true } },
  });
  const scale: Scale = values.fast ? 'fast' : 'long';
  const only = values.only ?? [];
  const cases = ALL_CASES.filter((c) => only.length === 0 || only.some((o) => c.name.includes(o)));
  const rows: Row[] = [];
  const startedMs = Date.now();
  for (const c of cases) {
    process.stderr.write(`${c.name} (${scale})…\n`);
    try {
      const r = await c.run(scale);
      rows.push(rowOf(c.name, scale, r));
      if (!r.ok) process.stderr.write(`  FAIL\n${explain(r)}\n${postMortem(r)}\n`);
    } catch (err) {
      rows.push({
        name: c.name,
        scale,
        ok: false,
        changes: 0,
        required: 0,
        matched: 0,
        faults: 0,
        restarts: 0,
        exportEvents: 0,
        durationMs: 0,
        failures: `crashed: ${(err as Error).stack ?? String(err)}`,
        notes: {},
      });
      process.stderr.write(`  CRASHED: ${(err as Error).stack ?? String(err)}\n`);
    }
  }
  console.log(table(rows));
  const out = join(import.meta.dirname, 'chaos-results.json');
  await writeFile(
    out,
    `${JSON.stringify({ scale, startedAt: new Date(startedMs).toISOString(), totalMs: Date.now() - startedMs, cases: rows }, null, 2)}\n`,
  );
  console.log(`\n${rows.filter((r) => r.ok).length}/${rows.length} passed; results in ${out}`);
  if (rows.some((r) => !r.ok)) process.exitCode = 1;
}

await main();
