/**
 * `sktrace view FILE|URL [--port P] [--no-open]`: a local web page for one trace (lib/view/). A
 * URL (an export's signed URL) is downloaded here, so the browser never needs AWS access; the page
 * then talks only to this process, on loopback. Runs until SIGINT or SIGTERM.
 */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { SktraceError } from '../../errors.ts';
import { buildViewAssets } from '../../view/assets.ts';
import { TraceView } from '../../view/model.ts';
import { startViewServer } from '../../view/server.ts';
import { simkubeFindings } from '../../view/validation.ts';
import { loadTraceSource } from '../trace-source.ts';

interface ViewOptions {
  port: string;
  open: boolean;
}

export function registerView(program: Command): void {
  program
    .command('view')
    .description(
      'look at a trace in the browser: summary, timeline, objects and diffs, pod lifecycles, index check',
    )
    .argument('<trace>', "trace file (msgpack or JSON) or an http(s) URL, such as an export's signed URL")
    .option('--port <port>', 'port on 127.0.0.1 (0: any free port)', '0')
    .option('--no-open', 'print the URL without opening a browser')
    .action((trace: string, opts: ViewOptions) => runView(trace, opts));
}

async function runView(target: string, opts: ViewOptions): Promise<void> {
  const port = Number(opts.port);
  if (!/^\d+$/.test(opts.port) || port > 65_535) {
    throw new SktraceError(
      'usage',
      `--port must be an integer from 0 to 65535, got ${JSON.stringify(opts.port)}`,
    );
  }
  const [file, assets] = await Promise.all([loadTraceSource(target), buildViewAssets()]);
  // The label never shows a URL's query: a signed URL's signature is a credential.
  const source = { label: file.path, format: file.format, bytes: file.bytes.length };
  const view = new TraceView(file.trace, source, { validator: simkubeFindings });
  let server: Awaited<ReturnType<typeof startViewServer>>;
  try {
    server = await startViewServer(view, assets, { port });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new SktraceError(
        'usage',
        `port ${port} is already in use: pick another --port (0 for any free one)`,
      );
    }
    throw err;
  }
  process.stdout.write(`sktrace view: ${server.url} (${source.label}; Ctrl-C to stop)\n`);
  if (opts.open) openBrowser(server.url);
  const signal = await new Promise<string>((done) => {
    process.once('SIGINT', () => done('SIGINT'));
    process.once('SIGTERM', () => done('SIGTERM'));
  });
  await server.close();
  process.stdout.write(`sktrace view: ${signal}: stopped\n`);
}

/** Opens the system's browser; where there is none, the printed URL is enough. */
function openBrowser(url: string): void {
  const [command, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '', url]]
        : ['xdg-open', [url]];
  try {
    const child = spawn(command, args, { stdio: 'ignore', detached: true });
    child.on('error', () =>
      process.stderr.write(`sktrace view: no browser to open (${command}); open ${url}\n`),
    );
    child.unref();
  } catch {
    process.stderr.write(`sktrace view: open ${url} in a browser\n`);
  }
}
