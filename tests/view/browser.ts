/**
 * A real headless Chromium for the viewer's tests, driven by playwright-core. The browser is
 * Debian's `chromium` (playwright's own download needs a host the machines cannot reach): .ci/run
 * installs it; elsewhere `findChromium` returns undefined and the tests skip with one line saying
 * how to get it. The flags keep a browser on a closed network quiet (no update, sync or
 * background requests); playwright gives every launch a fresh temporary profile.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export const NO_CHROMIUM =
  'no Chromium at /usr/bin/chromium (or SKTRACE_CHROMIUM): `apt-get install -y chromium` to run the browser tests';

export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const given = env.SKTRACE_CHROMIUM;
  if (given) return existsSync(given) ? given : undefined;
  return CANDIDATES.find((path) => existsSync(path));
}

export interface HeadlessBrowser {
  browser: Browser;
  close(): Promise<void>;
}

export async function launchChromium(executablePath: string): Promise<HeadlessBrowser> {
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
    },
  };
}
