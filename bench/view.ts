/**
 * `npx tsx bench/view.ts [--mb 100]`: how fast `sktrace view` shows a large trace, as ratios to a
 * floor measured in the same run. The trace is synthetic (bench/support/objects.ts Deployments of
 * 3.4 KB, 6 versions each, 3 pod lifecycles per Deployment) and about `--mb` MB of msgpack.
 *
 * Floor: what `sktrace inspect` does on the same file (read, decode, summarise, check the index).
 * Measured: the viewer's start (read, decode, index, summary = the first answer the page asks for),
 * each later endpoint's time and JSON size, and, with Chromium, the page until its summary shows
 * and until every section is drawn. Three runs (`--runs N`); medians.
 */
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeTrace } from '../lib/trace/codec.ts';
import { loadTraceFile } from '../lib/trace/codec-file.ts';
import { specHash } from '../lib/trace/hash.ts';
import { checkIndex, summarizeTrace } from '../lib/trace/inspect.ts';
import type { KubeObject, Trace, TraceEvent } from '../lib/trace/model.ts';
import { buildViewAssets } from '../lib/view/assets.ts';
import { TraceView } from '../lib/view/model.ts';
import { startViewServer } from '../lib/view/server.ts';
import { findChromium, launchChromium } from '../tests/view/browser.ts';
import { median } from './result.ts';
import { NAMESPACE, objectName, sizedDeployment } from './support/objects.ts';

const VERSIONS = 6;
const OBJECT_BYTES = 3400;

function syntheticTrace(targetMb: number): Trace {
  const objects = Math.round((targetMb * 1_000_000) / (OBJECT_BYTES * 0.8 * VERSIONS));
  const startTs = 1_780_000_000;
  const events: TraceEvent[] = [];
  const index = new Map<string, bigint>();
  const lifecycles: Trace['podLifecycles'] = new Map();
  // Version v of object i lands at second startTs + v * 3600 + (i % 3600): a day of changes.
  const bySecond = new Map<number, KubeObject[]>();
  for (let i = 0; i < objects; i++) {
    const name = objectName(i);
    for (let v = 1; v <= VERSIONS; v++) {
      const obj = sizedDeployment(name, OBJECT_BYTES, v);
      const ts = startTs + v * 3600 + (i % 3600);
      const list = bySecond.get(ts) ?? [];
      list.push(obj);
      bySecond.set(ts, list);
      if (v === VERSIONS) index.set(`${NAMESPACE}/${name}`, specHash(obj.spec));
    }
    lifecycles.set(`apps/v1.Deployment ${NAMESPACE}/${name}`, {
      owner: { gvk: 'apps/v1.Deployment', nsName: `${NAMESPACE}/${name}` },
      bySpecHash: new Map([
        [
          BigInt(i + 1),
          [
            { startTs: startTs + 3600 + (i % 3600), endTs: startTs + 7200 + (i % 3600) },
            { startTs: startTs + 7300 + (i % 3600), endTs: startTs + 20_000 + (i % 3600) },
            { startTs: startTs + 20_100 + (i % 3600) },
          ],
        ],
      ]),
    });
  }
  for (const ts of [...bySecond.keys()].sort((a, b) => a - b)) {
    events.push({ ts, applied_objs: bySecond.get(ts)!, deleted_objs: [] });
  }
  return {
    version: 2,
    config: {
      trackedObjects: {
        'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/template'], trackLifecycle: true },
      },
    },
    events,
    index: new Map([['apps/v1.Deployment', index]]),
    podLifecycles: lifecycles,
  };
}

async function timed<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

const mbArg = process.argv.indexOf('--mb');
const targetMb = mbArg >= 0 ? Number(process.argv[mbArg + 1]) : 100;
const path = join(tmpdir(), `sktrace-bench-view-${process.pid}.sktrace`);
const bytes = encodeTrace(syntheticTrace(targetMb));
await writeFile(path, bytes);
process.stderr.write(`trace: ${(bytes.length / 1e6).toFixed(1)} MB at ${path}\n`);

const START = 'view start: read, decode, index, first answer (summary)';
const assets = await buildViewAssets();
const rows = new Map<string, number[]>();
const add = (name: string, value: number) => rows.set(name, [...(rows.get(name) ?? []), value]);
const sizes = new Map<string, number>();
const chromiumPath = findChromium();
try {
  const runsArg = process.argv.indexOf('--runs');
  const runs = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 3;
  for (let run = 0; run < runs; run++) {
    const inspect = await timed(async () => {
      const file = await loadTraceFile(path);
      return [summarizeTrace(file.trace), checkIndex(file.trace)];
    });
    add('floor: inspect (read, decode, summarise, check index)', inspect.ms);
    const start = await timed(async () => {
      const file = await loadTraceFile(path);
      const view = new TraceView(file.trace, { label: path, format: file.format, bytes: file.bytes.length });
      sizes.set(START, JSON.stringify(view.summary()).length);
      return view;
    });
    add(START, start.ms);
    const view = start.value;
    const endpoint = async (name: string, fn: () => unknown) => {
      const r = await timed(() => JSON.stringify(fn()));
      sizes.set(`then ${name}`, r.value.length);
      add(`then ${name}`, r.ms);
    };
    await endpoint('/api/timeline', () => view.timeline());
    await endpoint('/api/objects (first 200)', () => view.objects({ limit: 200 }));
    await endpoint(`/api/objects?q=${objectName(42)}`, () => view.objects({ q: objectName(42), limit: 200 }));
    const ref = { gvk: 'apps/v1.Deployment', nsName: `${NAMESPACE}/${objectName(42)}` };
    await endpoint('/api/object + /api/version (one object)', () => [
      view.object(ref),
      view.version(ref, -1),
    ]);
    await endpoint('/api/lifecycles (first 100 owners)', () => view.lifecycles({ limit: 100 }));
    if (chromiumPath) {
      // Browser floor: the same page for a one-object trace (script load, charts, one request each).
      const tiny = syntheticTrace(0.001);
      const pageTimes = async (v: TraceView, label: string) => {
        const server = await startViewServer(v, assets);
        const chromium = await launchChromium(chromiumPath);
        try {
          const page = await chromium.browser.newPage({ viewport: { width: 1500, height: 1000 } });
          await page.goto('about:blank'); // the browser's own start-up, not measured
          const stamps = async (when: string) => {
            await page.waitForSelector('body[data-ready=true]', { timeout: 120_000 });
            // Stamped by the page itself (ms since navigation): when the summary's frame was
            // painted and when every section was drawn (a driver polling the page sees them later
            // when a long task follows).
            const [summaryMs, readyMs] = await page.evaluate(() => {
              const d = (globalThis as unknown as { document: { body: { dataset: Record<string, string> } } })
                .document.body.dataset;
              return [Number(d.summaryMs), Number(d.readyMs)];
            });
            add(`page${label}: summary shown${when}`, summaryMs!);
            add(`page${label}: every section drawn${when}`, readyMs!);
          };
          await page.goto(server.url);
          await stamps('');
          // The same URL again: a second look (a shared link, a reload).
          await page.reload();
          await stamps(' on reload');
          const api = await timed(() => fetch(`${server.url}api/summary`).then((r) => r.text()));
          add(`page${label}: /api/summary over HTTP from Node`, api.ms);
        } finally {
          await chromium.close();
          await server.close();
        }
      };
      await pageTimes(
        new TraceView(tiny, { label: 'tiny', format: 'msgpack', bytes: 0 }),
        ' floor (1-object trace)',
      );
      await pageTimes(view, '');
    }
  }
  const floor = median(rows.values().next().value!);
  const pageFloor = rows.get('page floor (1-object trace): summary shown');
  const rss = process.memoryUsage().rss;
  process.stdout.write(
    `\n| step | median ms | ratio to inspect | JSON bytes |\n| --- | ---: | ---: | ---: |\n`,
  );
  for (const [name, ms] of rows) {
    const size = sizes.get(name);
    process.stdout.write(
      `| ${name} | ${median(ms).toFixed(0)} | ${(median(ms) / floor).toFixed(2)} | ${size?.toLocaleString('en') ?? ''} |\n`,
    );
  }
  if (pageFloor) {
    process.stdout.write(
      '\n| page (Chromium, headless) | median ms | ratio to the 1-object page |\n| --- | ---: | ---: |\n',
    );
    for (const [name, ms] of rows) {
      if (!name.startsWith('page')) continue;
      process.stdout.write(
        `| ${name} | ${median(ms).toFixed(0)} | ${(median(ms) / median(pageFloor)).toFixed(2)} |\n`,
      );
    }
  }
  process.stdout.write(
    `\ntrace ${(bytes.length / 1e6).toFixed(1)} MB; process RSS at the end ${(rss / 1e6).toFixed(0)} MB\n`,
  );
} finally {
  await rm(path, { force: true });
}
