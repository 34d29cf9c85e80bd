/**
 * The checkpoint function: which clusters it checkpoints (the store's registry, or the event's),
 * when it skips one, how a failure surfaces; then the real wiring (deps from the environment)
 * against dynalite and s3rver, with the clusters coming from what was ingested.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkpointDepsFromEnv } from '../../functions/checkpoint/deps.ts';
import {
  type CheckpointLog,
  CheckpointRunError,
  clustersOfEvent,
  DEFAULT_MIN_INTERVAL_SEC,
  makeHandler,
} from '../../functions/checkpoint/handler.ts';
import { SktraceError } from '../../lib/errors.ts';
import type { Checkpointer, CheckpointInfo, ClusterDirectory, ClusterId } from '../../lib/store/ports.ts';
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

/** A registry holding `clusters`; counts its listings; fails them when `failWith` is set. */
class FakeDirectory implements ClusterDirectory {
  listings = 0;
  readonly #clusters: ClusterId[];
  readonly #failWith: Error | undefined;

  constructor(clusters: ClusterId[], failWith?: Error) {
    this.#clusters = clusters;
    this.#failWith = failWith;
  }

  async listClusters(): Promise<ClusterId[]> {
    this.listings++;
    if (this.#failWith) throw this.#failWith;
    return [...this.#clusters];
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
      name: 'an event naming clusters overrides the registry, duplicates once',
      event: { clusters: ['b', 'a', 'b'] },
      written: ['b', 'a'],
      outcomes: ['b:written', 'a:written'],
    },
    {
      name: 'a scheduled EventBridge event checkpoints every registered cluster',
      event: { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} },
      clusters: ['x', 'y'],
      written: ['x', 'y'],
      outcomes: ['x:written', 'y:written'],
    },
    { name: 'no cluster has sent a batch yet: nothing to do', clusters: [], written: [], outcomes: [] },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const checkpointer = new FakeCheckpointer(c.latest);
      const log = recordingLog();
      const directory = new FakeDirectory(c.clusters ?? ['prod']);
      const handler = makeHandler({ checkpointer, directory, nowSec: () => NOW, log });
      const result = await handler(c.event ?? {});
      // The registry is read only when the event names no clusters.
      assert.equal(directory.listings, clustersOfEvent(c.event ?? {}) === undefined ? 1 : 0);
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
    const directory = new FakeDirectory(['a', 'b', 'c']);
    const handler = makeHandler({ checkpointer, directory, nowSec: () => NOW, log });
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

  test('a registry that cannot be read fails the invocation (Lambda retries it) before any work', async () => {
    const checkpointer = new FakeCheckpointer();
    const down = new SktraceError('store_unavailable', 'DynamoDB Query failed');
    const handler = makeHandler({
      checkpointer,
      directory: new FakeDirectory(['a'], down),
      nowSec: () => NOW,
      log: recordingLog(),
    });
    await assert.rejects(handler({ source: 'aws.events' }), (err: unknown) => err === down);
    assert.deepEqual(checkpointer.written, []);
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
  test('checkpoints every cluster that sent a batch, exports start from them, a retry skips them', async () => {
    const aws = await startLocalAws();
    try {
      const nowSec = Math.floor(Date.now() / 1000);
      const store = makeStore(aws, { nowSec: () => nowSec + 60 });
      await store.applyBatch(
        'prod',
        { changes: [applied(nowSec - 30, deployment('web')), applied(nowSec - 20, deployment('api'))] },
        { nowSec },
      );
      // A cluster that only sent its tracer config is registered too (its live set is empty).
      await store.applyBatch(
        'quiet',
        { changes: [{ type: 'config', ts: nowSec - 10, config: { trackedObjects: {} } }] },
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
