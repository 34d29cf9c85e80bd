/**
 * Bodies in S3 expire with retention (template.yaml `expire-unreferenced-bodies`), which is safe
 * only if every body a live object's state names is written back before it ages out: the
 * checkpoint does so twice a day (bodies.ts refreshDue). On dynalite + s3rver, through the real
 * store, a counting wrapper around the real S3 blob store shows which runs write the body back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { S3BlobStore } from '../../lib/aws/s3-blob-store.ts';
import { refreshDue } from '../../lib/aws/trace-store/bodies.ts';
import type { BlobStore } from '../../lib/store/ports.ts';
import { type LocalAws, startLocalAws } from '../support/local-aws.ts';
import { collect, deployment, makeStore, NOW } from './support.ts';

const HOUR = 3600;

describe('refreshDue', () => {
  // Hand-written: ages (s) → written back or not.
  const cases: [number, boolean][] = [
    [0, false],
    [11 * HOUR, false],
    [12 * HOUR, true],
    [12 * HOUR + 3599, true],
    [13 * HOUR, false],
    [24 * HOUR + 10, true],
    [30 * 86_400 + 1800, true],
    [30 * 86_400 + 2 * HOUR, false],
  ];
  for (const [age, due] of cases) {
    it(`age ${age} s → ${due}`, () => assert.equal(refreshDue(NOW - age, NOW), due));
  }
  it('an hourly run writes back a body at most twice and at least once per day, whatever its age', () => {
    for (let changeTs = NOW; changeTs < NOW + 86_400; changeTs += 997) {
      let lastWrite = changeTs;
      let writes = 0;
      for (let run = changeTs + 60; run < changeTs + 5 * 86_400; run += HOUR) {
        if (refreshDue(changeTs, run)) {
          assert.ok(run - lastWrite <= 13 * HOUR, `gap ${run - lastWrite} s`);
          lastWrite = run;
          writes++;
        }
      }
      assert.ok(writes >= 9 && writes <= 10, `${writes} writes in 5 days`);
    }
  });
});

class CountingBlobs implements BlobStore {
  readonly puts: string[] = [];
  readonly inner: BlobStore;
  constructor(inner: BlobStore) {
    this.inner = inner;
  }
  async put(key: string, bytes: Uint8Array): Promise<void> {
    this.puts.push(key);
    await this.inner.put(key, bytes);
  }
  get(key: string): Promise<Uint8Array | undefined> {
    return this.inner.get(key);
  }
}

describe('checkpoints write back the bodies of live objects (dynalite + s3rver)', () => {
  let aws: LocalAws;
  let blobs: CountingBlobs;
  let store: DynamoTraceStore;
  before(async () => {
    aws = await startLocalAws();
    blobs = new CountingBlobs(new S3BlobStore(aws.s3, aws.bucket));
    // A tiny inline limit: every body goes to S3.
    store = makeStore(aws, { blobs, inlineBodyLimitBytes: 16 });
  });
  after(() => aws.close());

  it('changes with blob bodies read back in order, bodies downloaded ahead and handed out as applied', async () => {
    // Every body is a blob here: the window reader starts their downloads as pages arrive and
    // hands them out in the merge's order (reader.ts PendingEvent).
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    await store.applyBatch(
      'blobs',
      {
        changes: names.map((n, i) => ({
          type: 'applied' as const,
          ts: NOW + i,
          object: deployment(n, 'shop', i + 1),
        })),
      },
      { nowSec: NOW + 10 },
    );
    await store.applyBatch(
      'blobs',
      { changes: [{ type: 'deleted', ts: NOW + 7, object: deployment('c', 'shop', 3) }] },
      { nowSec: NOW + 10 },
    );
    const read = await collect(store.changesBetween('blobs', NOW, NOW + 8, { readUnits: 0 }));
    assert.deepEqual(
      read.map(
        (c) =>
          `${c.ts} ${c.type} ${c.object.metadata.name} ${(c.object.spec as { replicas: number }).replicas}`,
      ),
      [
        `${NOW} applied a 1`,
        `${NOW + 1} applied b 2`,
        `${NOW + 2} applied c 3`,
        `${NOW + 3} applied d 4`,
        `${NOW + 4} applied e 5`,
        `${NOW + 5} applied f 6`,
        `${NOW + 7} deleted c 3`,
      ],
    );
  });

  it('writes a live object’s body back in the hour its age crosses 12 h, not before or after', async () => {
    await store.applyBatch(
      'refresh',
      { changes: [{ type: 'applied', ts: NOW, object: deployment('web') }] },
      { nowSec: NOW },
    );
    const bodyPuts = () => blobs.puts.filter((k) => k.startsWith('bodies/refresh/'));
    assert.equal(bodyPuts().length, 1, 'written once by ingest');
    const key = bodyPuts()[0]!;

    await store.writeCheckpoint('refresh', { nowSec: NOW + 2 * HOUR });
    assert.equal(bodyPuts().length, 1, 'two hours old: not due');
    await store.writeCheckpoint('refresh', { nowSec: NOW + 12 * HOUR + 600 });
    assert.deepEqual(bodyPuts(), [key, key], 'due: the same key written back');
    await store.writeCheckpoint('refresh', { nowSec: NOW + 13 * HOUR + 600 });
    assert.equal(bodyPuts().length, 2, 'not again within the day');
    assert.ok(await blobs.get(key), 'the body is there');

    // A deleted object's state names no body: nothing to keep.
    await store.applyBatch(
      'refresh',
      { changes: [{ type: 'deleted', ts: NOW + 60, object: deployment('web') }] },
      { nowSec: NOW + 60 },
    );
    const before = bodyPuts().length;
    await store.writeCheckpoint('refresh', { nowSec: NOW + 24 * HOUR + 600 });
    assert.equal(bodyPuts().length, before);
  });
});
