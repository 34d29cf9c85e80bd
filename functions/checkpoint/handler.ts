/**
 * The checkpoint function: run hourly by an EventBridge schedule (template.yaml), it snapshots the
 * live set of each configured cluster (`Checkpointer.writeCheckpoint`, docs/storage.md
 * "Checkpoints"). Without checkpoints an export rebuilds its start state from the cluster's first
 * change, and once retention has expired part of that history it must refuse the export (the
 * start state would be incomplete): checkpoints are what keeps long-lived clusters exportable.
 *
 * - Clusters: every cluster that has sent a batch, from the store's cluster registry
 *   (`ClusterDirectory.listClusters`, one Query; docs/storage.md "Cluster registry"), so a new
 *   cluster is checkpointed from the next hour on without redeploying; an event
 *   `{"clusters": [...]}` (a manual invoke) overrides it.
 * - A cluster whose newest checkpoint is younger than `minIntervalSec` is skipped: Lambda retries a
 *   failed asynchronous invocation, and the retry must not redo the clusters that succeeded. The
 *   default, half the schedule's period, never skips the next hourly run (EventBridge fires within
 *   a minute of the hour, and a checkpoint's validFromTs is at most a few seconds past its build).
 * - Clusters run one after another: each checkpoint is built in memory (docs/storage.md), so the
 *   peak is one cluster's live set.
 * - Any cluster failing fails the invocation after all have been tried, so the function's Errors
 *   metric (and Lambda's retry) sees it; one log line per cluster says what happened.
 */
import type { Context } from 'aws-lambda';
import { SktraceError } from '../../lib/errors.ts';
import { isValidClusterId } from '../../lib/ingest/names.ts';
import type { Checkpointer, ClusterDirectory, ClusterId } from '../../lib/store/ports.ts';
import { checkpointDepsFromEnv } from './deps.ts';

export interface CheckpointLog {
  info(message: string, data: Record<string, unknown>): void;
  warn(message: string, data: Record<string, unknown>): void;
  error(message: string, data: Record<string, unknown>): void;
}

export interface CheckpointDeps {
  checkpointer: Checkpointer;
  /** Lists the clusters to checkpoint when the event names none. */
  directory: ClusterDirectory;
  /** Wall clock, unix seconds. */
  nowSec: () => number;
  /** Skip a cluster whose newest checkpoint is younger than this (default 1,800 s). */
  minIntervalSec?: number;
  log: CheckpointLog;
}

export const DEFAULT_MIN_INTERVAL_SEC = 1800;

export type ClusterOutcome =
  | { cluster: ClusterId; outcome: 'written'; validFromTs: number; objects: number }
  | { cluster: ClusterId; outcome: 'skipped'; validFromTs: number }
  | { cluster: ClusterId; outcome: 'failed'; error: string };

export interface CheckpointRunResult {
  clusters: ClusterOutcome[];
}

export type CheckpointHandler = (event: unknown, context?: Context) => Promise<CheckpointRunResult>;

export class CheckpointRunError extends SktraceError {
  constructor(failed: ClusterId[], outcomes: ClusterOutcome[]) {
    super('checkpoint_failed', `checkpoints failed for cluster(s) ${failed.join(', ')}`, {
      failed,
      outcomes,
    });
    this.name = 'CheckpointRunError';
  }
}

/** The clusters an event names (`{"clusters": [...]}`), or undefined for a scheduled event. */
export function clustersOfEvent(event: unknown): ClusterId[] | undefined {
  if (typeof event !== 'object' || event === null || !('clusters' in event)) return undefined;
  const clusters = (event as { clusters: unknown }).clusters;
  if (!Array.isArray(clusters) || !clusters.every(isValidClusterId)) {
    throw new SktraceError(
      'invalid_event',
      'event.clusters must be a list of cluster ids (lowercase DNS labels)',
      { clusters },
    );
  }
  return clusters;
}

export function makeHandler(deps: CheckpointDeps): CheckpointHandler {
  const minIntervalSec = deps.minIntervalSec ?? DEFAULT_MIN_INTERVAL_SEC;
  const { checkpointer, log } = deps;

  const one = async (cluster: ClusterId): Promise<ClusterOutcome> => {
    const nowSec = deps.nowSec();
    try {
      const latest = await checkpointer.latestCheckpointAtOrBefore(cluster, nowSec);
      if (latest && nowSec - latest.validFromTs < minIntervalSec) {
        return { cluster, outcome: 'skipped', validFromTs: latest.validFromTs };
      }
      const info = await checkpointer.writeCheckpoint(cluster, { nowSec });
      return { cluster, outcome: 'written', validFromTs: info.validFromTs, objects: info.objects };
    } catch (err) {
      log.error('checkpoint failed', { cluster, error: errorData(err) });
      return { cluster, outcome: 'failed', error: err instanceof Error ? err.message : String(err) };
    }
  };

  return async (event) => {
    // A failed listing throws: the invocation fails and Lambda retries it, as for a failed cluster.
    const clusters = [...new Set(clustersOfEvent(event) ?? (await deps.directory.listClusters()))];
    if (clusters.length === 0) log.warn('no clusters to checkpoint: none has sent a batch yet', {});
    const outcomes: ClusterOutcome[] = [];
    for (const cluster of clusters) {
      const outcome = await one(cluster);
      if (outcome.outcome !== 'failed') log.info(`checkpoint ${outcome.outcome}`, { ...outcome });
      outcomes.push(outcome);
    }
    const failed = outcomes.filter((o) => o.outcome === 'failed').map((o) => o.cluster);
    if (failed.length > 0) throw new CheckpointRunError(failed, outcomes);
    return { clusters: outcomes };
  };
}

function errorData(err: unknown): Record<string, unknown> {
  if (err instanceof SktraceError) {
    return { code: err.code, message: err.message, context: err.context, stack: err.stack };
  }
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { message: String(err) };
}

let coldStart: CheckpointHandler | undefined;

/**
 * The Lambda entry point: dependencies built from the environment on the first invocation of each
 * execution environment (functions/checkpoint/deps.ts), so importing this module opens nothing.
 */
export const handler: CheckpointHandler = async (event, context) => {
  if (!coldStart) coldStart = makeHandler(checkpointDepsFromEnv(process.env));
  return coldStart(event, context);
};
