/**
 * `sktrace tail --endpoint URL --cluster ID [--token T] [--kind GVK] [--namespace NS] [-o json]
 * [--after CURSOR] [--interval SEC]`: follows the changes of a cluster as they land in the store
 * (GET /v1/clusters/{cluster}/changes), one line each, like `kubectl get -w`; `-o json` prints one
 * JSON document per line, with the object. It polls with a cursor (lib/cli/tail.ts): after a lost
 * connection or a restarted server it goes on from the same cursor, so nothing is lost or repeated;
 * on SIGINT/SIGTERM it prints the cursor to resume from with --after.
 */
import type { Command } from 'commander';
import { SktraceError } from '../../errors.ts';
import { ApiError, type ClientFlags, clientFlags, makeClient, Progress } from '../client.ts';
import { formatChangeLine, initialTail, stepTail, TAIL_HEADER, type TailInput } from '../tail.ts';

interface TailOptions extends ClientFlags {
  kind?: string;
  namespace?: string;
  output?: string;
  after?: string;
  interval: string;
}

export function registerTail(program: Command): void {
  clientFlags(
    program
      .command('tail')
      .description("follow a cluster's stored changes as they land (like kubectl get -w)"),
  )
    .option('--kind <gvk>', 'only this kind (group/version.Kind, e.g. apps/v1.Deployment)')
    .option('--namespace <ns>', 'only this namespace')
    .option('-o, --output <format>', 'json: one JSON document per change, with the object')
    .option('--after <cursor>', 'resume after this cursor (printed when tail stops) instead of now')
    .option('--interval <seconds>', 'pause between polls when caught up', '1')
    .action((opts: TailOptions) => runTail(opts));
}

async function runTail(opts: TailOptions): Promise<void> {
  if (opts.output !== undefined && opts.output !== 'json') {
    throw new SktraceError(
      'usage',
      `-o must be json (or left out for lines), got ${JSON.stringify(opts.output)}`,
    );
  }
  const intervalMs = Number(opts.interval) * 1000;
  if (!Number.isFinite(intervalMs) || intervalMs < 0 || intervalMs > 3_600_000) {
    throw new SktraceError(
      'usage',
      `--interval must be seconds from 0 to 3600, got ${JSON.stringify(opts.interval)}`,
    );
  }
  const progress = new Progress(process.stderr);
  const { client, cluster } = makeClient(opts, progress);
  const json = opts.output === 'json';
  let stopping = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopping = true;
    wake?.();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  let state = initialTail(opts.after);
  if (!json) process.stdout.write(`${TAIL_HEADER}\n`);
  let failures = 0;
  while (!stopping && state.phase === 'following') {
    let input: TailInput;
    let caughtUp = true;
    try {
      const page = await client.getChanges(cluster, {
        ...(state.cursor !== undefined ? { after: state.cursor } : {}),
        ...(opts.kind !== undefined ? { kind: opts.kind } : {}),
        ...(opts.namespace !== undefined ? { namespace: opts.namespace } : {}),
      });
      input = { type: 'page', changes: page.changes, cursor: page.cursor };
      caughtUp = page.caught_up;
      if (state.cursor === undefined) {
        process.stderr.write(`sktrace tail: following cluster ${cluster} from now\n`);
      }
      if (failures > 0) progress.note(`sktrace tail: reconnected; going on from ${state.cursor ?? 'now'}`);
      failures = 0;
    } catch (err) {
      // The client already retried with backoff; a server that is down or restarting is waited for.
      const retryable =
        !(err instanceof ApiError) || err.status === undefined || err.status === 429 || err.status >= 500;
      input = { type: 'failed', retryable, message: (err as Error).message };
      if (retryable) {
        failures++;
        progress.note(`sktrace tail: ${(err as Error).message}; retrying from the same cursor`);
      }
    }
    const step = stepTail(state, input);
    state = step.state;
    for (const c of step.print) {
      process.stdout.write(json ? `${JSON.stringify(c)}\n` : `${formatChangeLine(c)}\n`);
    }
    if (state.phase === 'following' && !stopping && (caughtUp || input.type === 'failed')) {
      await pause(input.type === 'failed' ? Math.min(30_000, 1000 * 2 ** Math.min(failures, 5)) : intervalMs);
    }
  }
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  if (state.cursor !== undefined) process.stderr.write(`sktrace tail: resume with --after ${state.cursor}\n`);
  if (state.phase === 'stopped') throw new SktraceError('tail_stopped', state.error);
}
