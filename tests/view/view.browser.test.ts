/**
 * The viewer in a real headless Chromium (tests/view/browser.ts): the page for dsb-scaling.sktrace
 * names its kind and every object the file holds, shows a diff between two versions, keeps its
 * view in the URL. `SKTRACE_UPDATE_SCREENSHOT=1` also writes docs/viewer.png (the README's image).
 */
import assert from 'node:assert/strict';
import { copyFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { loadTraceFile } from '../../lib/trace/codec-file.ts';
import { buildViewAssets } from '../../lib/view/assets.ts';
import { TraceView } from '../../lib/view/model.ts';
import { startViewServer, type ViewServer } from '../../lib/view/server.ts';
import { findChromium, type HeadlessBrowser, launchChromium, NO_CHROMIUM } from './browser.ts';
import { rawVersions, sharedTrace } from './support.ts';

const chromiumPath = findChromium();
const dsb = sharedTrace('dsb-scaling.sktrace');
const skip: string | false = !chromiumPath ? NO_CHROMIUM : !dsb.path ? dsb.skip : false;
if (skip) process.stdout.write(`# ${skip}\n`);

/** The page's globals, typed for functions that run in it (the tests compile without the DOM library). */
interface Dom {
  document: {
    querySelector(selector: string): { textContent: string | null } | null;
    querySelectorAll(selector: string): { length: number };
  };
  location: { search: string };
}

let server: ViewServer | undefined;
let chromium: HeadlessBrowser | undefined;

before(async () => {
  if (skip) return;
  const file = await loadTraceFile(dsb.path!);
  const view = new TraceView(file.trace, {
    label: 'dsb-scaling.sktrace',
    format: file.format,
    bytes: file.bytes.length,
  });
  server = await startViewServer(view, await buildViewAssets());
  chromium = await launchChromium(chromiumPath!);
});

after(async () => {
  await chromium?.close();
  await server?.close();
});

async function open(path: string): Promise<{ page: Page; errors: string[] }> {
  const page = await chromium!.browser.newPage({ viewport: { width: 1500, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('requestfailed', (req) => errors.push(`request failed: ${req.url()}`));
  page.on('request', (req) => {
    if (!req.url().startsWith(server!.url)) errors.push(`request outside the viewer: ${req.url()}`);
  });
  await page.goto(new URL(path, server!.url).toString());
  await page.waitForSelector('body[data-ready=true]', { timeout: 20_000 });
  return { page, errors };
}

test('the page names the kind and every object of dsb-scaling.sktrace, with its index check', {
  skip,
}, async () => {
  const { page, errors } = await open('/');
  assert.match((await page.textContent('#kinds')) ?? '', /apps\/v1\.Deployment/);
  assert.match((await page.textContent('#summary')) ?? '', /27 of 27/);
  const listed = await page.$$eval('#objects tr td.name', (cells) => cells.map((c) => c.textContent));
  const expected = [...rawVersions(dsb.path!).keys()].map((key) => key.slice(key.indexOf(' ') + 1)).sort();
  assert.deepEqual([...listed].sort(), expected);
  // The timeline drew its canvas.
  assert.ok(await page.$('#timeline canvas'), 'no timeline chart');
  assert.deepEqual(errors, []);
  await page.close();
});

test('selecting an object shows its versions and the diff from the version before', { skip }, async () => {
  const { page, errors } = await open('/');
  const versions = rawVersions(dsb.path!).get('apps/v1.Deployment dsb/compose-post-service')!;
  await page.click('#objects tr[data-key="apps/v1.Deployment dsb/compose-post-service"]');
  await page.waitForSelector('#diff .jsondiffpatch-delta');
  assert.equal(await page.$$eval('ol.versions li', (li) => li.length), versions.length);
  // The URL holds the selection, so a link (or a reload) shows the same object.
  assert.match(page.url(), /obj=apps%2Fv1\.Deployment\+dsb%2Fcompose-post-service/);
  // The last two versions differ in spec.replicas: the diff marks exactly that field as modified.
  const [before, last] = versions.slice(-2).map((v) => (v.spec as { replicas: number }).replicas);
  assert.notEqual(before, last);
  const modified = await page.$$eval('#diff .jsondiffpatch-modified', (els) =>
    els.map((el) => ({
      name: el.querySelector('.jsondiffpatch-property-name')?.textContent,
      left: el.querySelector('.jsondiffpatch-left-value')?.textContent,
      right: el.querySelector('.jsondiffpatch-right-value')?.textContent,
    })),
  );
  assert.deepEqual(
    modified
      .filter((m) => m.name === 'replicas')
      .map((m) => [m.left?.replace(/\D/g, ''), m.right?.replace(/\D/g, '')]),
    [[String(before), String(last)]],
  );
  // Another version by click: the caption names the pair compared.
  await page.click('ol.versions li[data-version="1"]');
  // A function, not a string: Playwright evaluates a string predicate with eval, which the
  // page's Content-Security-Policy (no 'unsafe-eval') refuses once it has to poll.
  await page.waitForFunction(
    () =>
      (globalThis as unknown as Dom).document
        .querySelector('#diff .caption')
        ?.textContent?.startsWith('version 0') === true,
  );
  assert.match(page.url(), /v=1/);
  await page.reload();
  await page.waitForSelector('body[data-ready=true]');
  await page.waitForSelector('#diff .caption');
  assert.match((await page.textContent('#diff .caption')) ?? '', /^version 0 .* → version 1/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('filters narrow the list and live in the URL; a screenshot for the README', { skip }, async () => {
  const { page, errors } = await open('/?q=media&obj=apps%2Fv1.Deployment+dsb%2Fnginx-thrift');
  const expected = [...rawVersions(dsb.path!).keys()].filter((k) => k.includes('media')).length;
  assert.equal(await page.$$eval('#objects tr', (rows) => rows.length), expected);
  assert.equal(await page.inputValue('#f-q'), 'media');
  await page.fill('#f-q', '');
  await page.waitForFunction(() => !(globalThis as unknown as Dom).location.search.includes('q='));
  await page.waitForFunction(
    () => (globalThis as unknown as Dom).document.querySelectorAll('#objects tr').length === 27,
  );
  await page.waitForSelector('#diff .jsondiffpatch-delta');
  const shot = join(tmpdir(), `sktrace-viewer-${process.pid}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(statSync(shot).size > 20_000, 'the screenshot is nearly empty');
  if (process.env.SKTRACE_UPDATE_SCREENSHOT === '1') {
    copyFileSync(shot, resolve(import.meta.dirname, '../../docs/viewer.png'));
  }
  assert.deepEqual(errors, []);
  await page.close();
});
