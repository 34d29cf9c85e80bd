/**
 * The shape of one measurement in `bench/results.json`, shared by every benchmark, and the
 * statistics and table formatting they all use. Every figure is "lower is better" (a rate is
 * expressed as time per unit), so `ratio = median / floor_median` always reads the same way:
 * how many times the floor's cost ours is, the floor being measured in the same run.
 */

export interface BenchResult {
  name: string;
  params: Record<string, string | number | boolean>;
  unit: string;
  median: number;
  min: number;
  max: number;
  runs: number;
  /** The floor's median, same unit, measured in the same run. */
  floor_median: number;
  /** median / floor_median: lower is better. */
  ratio: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of no figures');
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Rounds to `digits` significant digits (figures are noisy; more digits would only mislead). */
export function sig(x: number, digits = 3): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  return Number(x.toPrecision(digits));
}

/** A result from raw figures (one per run) and the floor's figures, both in `unit`. */
export function resultOf(
  name: string,
  params: BenchResult['params'],
  unit: string,
  figures: readonly number[],
  floorFigures: readonly number[],
): BenchResult {
  const med = median(figures);
  const floor = median(floorFigures);
  return {
    name,
    params,
    unit,
    median: sig(med),
    min: sig(Math.min(...figures)),
    max: sig(Math.max(...figures)),
    runs: figures.length,
    floor_median: sig(floor),
    ratio: floor > 0 ? sig(med / floor) : Number.NaN,
  };
}

function paramsText(params: BenchResult['params']): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/** A fixed-width text table, one row per result. */
export function formatTable(results: readonly BenchResult[]): string {
  const header = ['name', 'params', 'unit', 'median', 'min', 'max', 'runs', 'floor', 'ratio'];
  const rows = results.map((r) => [
    r.name,
    paramsText(r.params),
    r.unit,
    String(r.median),
    String(r.min),
    String(r.max),
    String(r.runs),
    String(r.floor_median),
    String(r.ratio),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** The same as a markdown table, for docs/benchmarks.md. */
export function formatMarkdown(results: readonly BenchResult[]): string {
  const header = '| name | params | unit | median | min | max | runs | floor | ratio |';
  const rule = '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |';
  const rows = results.map(
    (r) =>
      `| ${r.name} | ${paramsText(r.params)} | ${r.unit} | ${r.median} | ${r.min} | ${r.max} | ${r.runs} | ${r.floor_median} | ${r.ratio} |`,
  );
  return [header, rule, ...rows].join('\n');
}
