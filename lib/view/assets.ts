/**
 * The viewer's static assets: web/index.html, and web/main.ts bundled by esbuild (with ECharts,
 * jsondiffpatch and their CSS) into one script and one stylesheet, in memory when `sktrace view`
 * starts (~0.5 s). No build step to forget and nothing fetched at run time: every byte the page
 * loads comes from this process.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { SktraceError } from '../errors.ts';

export const WEB_DIR = resolve(import.meta.dirname, '../../web');

export interface ViewAssets {
  /** Path → content type and bytes (`/`, `/assets/main.js`, `/assets/main.css`). */
  files: Map<string, { type: string; body: Buffer }>;
}

export async function buildViewAssets(webDir = WEB_DIR): Promise<ViewAssets> {
  let result: Awaited<ReturnType<typeof build>>;
  try {
    result = await build({
      entryPoints: { main: join(webDir, 'main.ts') },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      write: false,
      outdir: '/assets',
      logLevel: 'silent',
      legalComments: 'none',
    });
  } catch (err) {
    throw new SktraceError('view_assets', `cannot bundle the viewer (${webDir}): ${(err as Error).message}`, {
      webDir,
    });
  }
  const files = new Map<string, { type: string; body: Buffer }>();
  files.set('/', {
    type: 'text/html; charset=utf-8',
    body: await readFile(join(webDir, 'index.html')),
  });
  for (const out of result.outputFiles ?? []) {
    const name = out.path.slice(out.path.lastIndexOf('/') + 1);
    const type = name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
    files.set(`/assets/${name}`, { type, body: Buffer.from(out.contents) });
  }
  return { files };
}
