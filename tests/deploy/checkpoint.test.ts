/**
 * The checkpoint function: which clusters it checkpoints, when it skips one, how a failure
 * surfaces; then the real wiring (deps from the environment) against dynalite and s3rver.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkpointDepsFromEnv, parseClusters } from '../../functions/checkpoint/deps.ts';
import {
  type CheckpointLog,
  CheckpointRunError,
  clustersOfEvent,
  DEFAULT_MIN_INTERVAL_SEC,
  makeHandler,
} from '../../functions/checkpoint/handler.ts';
import { SktraceError } from '../../lib/errors.ts';
import type { Checkpointer, CheckpointInfo, ClusterId } from '../../lib/store/ports.ts';
import { applied, deployment, makeStore } from '../store/support.ts';
import { startLocalAws } from '../support/local-aws.ts';

const NOW = 1_700_000_000;

function recordingLog(): CheckpointLog & { lines: { level: string; message: string; data: unknown }[] } {
  const lines: { level: string; message: string; data: unknown }[] = [];
  return {
    lines,
    info: (message, data) => lines.push({ level: 'info', message, data }),
    warn: (message, data) => lines.push({ level: 'warn', message, data }),
    error: (message, data) => lines.push({ level: 'error', message, data }),
  };
}

/** A Checkpointer whose newest checkpoint per cluster is given; `failing` clusters throw on write. */
class FakeCheckpointer implements Checkpointer {
  readonly written: ClusterId[] = [];
  readonly #latest: Map<ClusterId, number>;
  readonly #failing: Set<ClusterId>;

  constructor(latestValidFromTs: Record<ClusterId, number> = {}, failing: ClusterId[] = []) {
    this.#latest = new Map(Object.entries(latestValidFromTs));
    this.#failing = new Set(failing);
  }

  async latestCheckpointAtOrBefore(cluster: ClusterId, atTs: number): Promise<CheckpointInfo | undefined> {
    const validFromTs = this.#latest.get(cluster);
    if (validFromTs === undefined || validFromTs > atTs) return undefined;
    return { cluster, validFromTs, replayFromTs: validFromTs - 1500, objects: 1, blobKey: 'k' };
  }

  async writeCheckpoint(cluster: ClusterId, options: { nowSec: number }): Promise<CheckpointInfo> {
    if (this.#failing.has(cluster)) throw new SktraceError('store_unavailable', `store down for ${cluster}`);
    this.written.push(cluster);
    return {
      cluster,
      validFromTs: options.nowSec - 5,
      replayFromTs: options.nowSec - 1500,
      objects: 7,
      blobKey: 'k',
    };
  }
}

describe('checkpoint function', () => {
  const cases: {
    name: string;
    latest?: Record<string, number>;
    event?: unknown;
    clusters?: string[];
    written: string[];
    outcomes: string[];
  }[] = [
    { name: 'no checkpoint yet: writes one', written: ['prod'], outcomes: ['prod:written'] },
    {
      name: "last hour's checkpoint: writes the next",
      latest: { prod: NOW - 3600 - 1500 },
      written: ['prod'],
      outcomes: ['prod:written'],
    },
    {
      name: 'one younger than the interval (a retry after a partial failure): skips it',
      latest: { prod: NOW - DEFAULT_MIN_INTERVAL_SEC + 1 },
      written: [],
      outcomes: ['prod:skipped'],
    },
    {
      name: 'exactly the interval old: writes',
      latest: { prod: NOW - DEFAULT_MIN_INTERVAL_SEC },
      written: ['prod'],
      outcomes: ['prod:written'],
    },
    {
      name: 'an event naming clusters overrides the configured ones, duplicates once',
      event: { clusters: ['b', 'a', 'b'] },
      written: ['b', 'a'],
      outcomes: ['b:written', 'a:written'],
    },
    {
      name: 'a scheduled EventBridge event uses the configured clusters',
      event: { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} },
      clusters: ['x', 'y'],
      written: ['x', 'y'],
      outcomes: ['x:written', 'y:written'],
    },
    { name: 'no clusters configured: nothing to do', clusters: [], written: [], outcomes: [] },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const checkpointer = new FakeCheckpointer(c.latest);
      const log = recordingLog();
      const handler = makeHandler({ checkpointer, clusters: c.clusters ?? ['prod'], nowSec: () => NOW, log });
      const result = await handler(c.event ?? {});
      assert.deepEqual(checkpointer.written, c.written);
      assert.deepEqual(
        result.clusters.map((o) => `${o.cluster}:${o.outcome}`),
        c.outcomes,
      );
      // One log line per cluster, or a warning that there is nothing to do.
      assert.equal(log.lines.length, Math.max(1, c.outcomes.length));
    });
  }

  test('a failing cluster does not stop the others, then fails the invocation naming it', async () => {
    const checkpointer = new FakeCheckpointer({}, ['b']);
    const log = recordingLog();
    const handler = makeHandler({ checkpointer, clusters: ['a', 'b', 'c'], nowSec: () => NOW, log });
    await assert.rejects(handler({}), (err: unknown) => {
      assert.ok(err instanceof CheckpointRunError);
      assert.equal(err.code, 'checkpoint_failed');
      assert.deepEqual(err.context.failed, ['b']);
      assert.match(err.message, /cluster\(s\) b$/);
      return true;
    });
    assert.deepEqual(checkpointer.written, ['a', 'c']);
    const errors = log.lines.filter((l) => l.level === 'error');
    assert.equal(errors.length, 1);
    assert.equal((errors[0]!.data as { cluster: string }).cluster, 'b');
  });

  test('events with clusters that are not cluster ids are refused before any work', async () => {
    for (const event of [
      { clusters: 'prod' },
      { clusters: ['Prod'] },
      { clusters: ['a#b'] },
      { clusters: [1] },
    ]) {
      assert.throws(() => clustersOfEvent(event), /event\.clusters must be a list of cluster ids/);
    }
    assert.equal(clustersOfEvent(null), undefined);
    assert.equal(clustersOfEvent({ source: 'aws.events' }), undefined);
  });

  test('CLUSTERS: comma-separated ids, blanks ignored, a bad id fails the cold start', () => {
    assert.deepEqual(parseClusters(''), []);
    assert.deepEqual(parseClusters(' prod , staging-2,,'), ['prod', 'staging-2']);
    assert.throws(() => parseClusters('prod,Staging'), /CLUSTERS holds "Staging"/);
  });

  test('deps from the environment: table and bucket are required', () => {
    assert.throws(() => checkpointDepsFromEnv({ BUCKET_NAME: 'b' }), /TABLE_NAME is required/);
    assert.throws(() => checkpointDepsFromEnv({ TABLE_NAME: 't' }), /BUCKET_NAME is required/);
    assert.throws(
      () => checkpointDepsFromEnv({ TABLE_NAME: 't', BUCKET_NAME: 'b', CHECKPOINT_MIN_INTERVAL_SEC: '-1' }),
      /CHECKPOINT_MIN_INTERVAL_SEC must be a positive number/,
    );
  });
});

describe('checkpoint function on dynalite and s3rver', () => {
  test('writes a checkpoint per cluster that exports then start from, and skips them on a retry', async () => {
    const aws = await startLocalAws();
    try {
      const nowSec = Math.floor(Date.now() / 1000);
      const store = makeStore(aws, { nowSec: () => nowSec + 60 });
      await store.applyBatch(
        'prod',
        { changes: [applied(nowSec - 30, deployment('web')), applied(nowSec - 20, deployment('api'))] },
        { nowSec },
      );
      const log = recordingLog();
      const deps = {
        ...checkpointDepsFromEnv({
          TABLE_NAME: aws.tableName,
          BUCKET_NAME: aws.bucket,
          DYNAMODB_ENDPOINT: aws.endpoints.dynamo,
          S3_ENDPOINT: aws.endpoints.s3,
          AWS_REGION: 'us-east-1',
          CLUSTERS: 'prod,quiet',
        }),
        log,
      };
      const handler = makeHandler(deps);

      const first = await handler({ source: 'aws.events' });
      assert.deepEqual(
        first.clusters.map((o) => [o.cluster, o.outcome, o.outcome === 'written' ? o.objects : undefined]),
        [
          ['prod', 'written', 2],
          ['quiet', 'written', 0],
        ],
      );
      // The export's start state now comes from the checkpoint.
      const live = await store.liveAt('prod', nowSec + 60);
      assert.equal(live.complete, true);
      assert.ok(live.checkpointTs !== undefined, 'liveAt used the checkpoint');
      assert.deepEqual(live.objects.map((o) => o.object.metadata.name).sort(), ['api', 'web']);

      const retry = await handler({ source: 'aws.events' });
      assert.deepEqual(
        retry.clusters.map((o) => o.outcome),
        ['skipped', 'skipped'],
      );
    } finally {
      await aws.close();
    }
  });
});
