/**
 * A window the store can no longer export completely is refused with a reason, never exported
 * silently incomplete: history expires `retentionDays` after it was written (here 1 day, with a
 * clock), and reads drop expired items themselves (dynalite, like DynamoDB's lazy TTL, keeps them).
 * A checkpoint taken while the history was still there makes later windows exportable again:
 * objects whose creation has expired come from it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DynamoExportJobStore } from '../../lib/aws/dynamo-export-jobs.ts';
import type { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { S3BlobStore } from '../../lib/aws/s3-blob-store.ts';
import { S3ExportObjects } from '../../lib/aws/s3-exports.ts';
import { type ExportJob, newJob, newJobId } from '../../lib/export/job.ts';
import { type ExportJobDeps, runExportJob } from '../../lib/export/pipeline.ts';
import { decodeTrace } from '../../lib/trace/codec.ts';
import type { TraceWindow } from '../../lib/trace/model.ts';
import { type LocalAws, localTraceStore, startLocalAws } from '../support/local-aws.ts';
import { DEPLOYMENT_CONFIG, deployment, recordingLog } from './support.ts';

const DAY = 86_400;
const T = Math.floor(Date.now() / 1000 / DAY) * DAY - 10 * DAY;
const LATER = T + 1.5 * DAY;
const NO_FILTERS = { excluded_namespaces: [], excluded_labels: [] };

describe('exports and retention', () => {
  let aws: LocalAws;
  let clock = T;
  let store: DynamoTraceStore;
  let deps: ExportJobDeps;
  let jobs: DynamoExportJobStore;

  async function exportJob(
    cluster: string,
    window: TraceWindow,
  ): Promise<{ job: ExportJob; bytes?: Uint8Array }> {
    const job = newJob({ cluster, id: newJobId(randomBytes) }, { window, filters: NO_FILTERS }, clock, {
      retentionSec: DAY,
    });
    await jobs.create(job);
    const done = (await runExportJob(deps, job))!;
    const bytes = done.key ? await new S3BlobStore(aws.s3, aws.bucket).get(done.key) : undefined;
    return { job: done, ...(bytes ? { bytes } : {}) };
  }

  before(async () => {
    aws = await startLocalAws();
    store = localTraceStore(aws, {
      retentionDays: 1,
      nowSec: () => clock,
    });
    jobs = new DynamoExportJobStore({ client: aws.dynamo, tableName: aws.tableName });
    deps = {
      jobs,
      reader: store,
      checkpointer: store,
      objects: new S3ExportObjects({ s3: aws.s3, bucket: aws.bucket }),
      nowSec: () => clock,
      log: recordingLog(),
    };
    for (const cluster of ['plain', 'checkpointed']) {
      clock = T;
      await store.applyBatch(
        cluster,
        {
          changes: [
            { type: 'config', ts: T, config: DEPLOYMENT_CONFIG },
            { type: 'applied', ts: T, object: deployment('old', 1) },
          ],
        },
        { nowSec: T },
      );
      if (cluster === 'checkpointed') {
        // A checkpoint (the scheduled checkpointer's) while the old history is still there.
        clock = LATER - 3600;
        await store.writeCheckpoint(cluster, { nowSec: clock });
      }
      clock = LATER;
      await store.applyBatch(
        cluster,
        { changes: [{ type: 'applied', ts: LATER, object: deployment('new', 1) }] },
        { nowSec: LATER },
      );
    }
    // Past the day on which the first changes expire, before the later ones do.
    clock = T + 2.2 * DAY;
  });

  after(async () => {
    await aws.close();
  });

  it('fails a window starting before the retention horizon, saying why', async () => {
    const horizon = await store.retentionHorizon('plain');
    assert.ok(horizon.horizonTs! > horizon.firstTs!, 'something has expired');
    const { job, bytes } = await exportJob('plain', { startTs: T, endTs: LATER + 10 });
    assert.equal(job.status, 'failed');
    assert.match(job.reason!, new RegExp(`before the retention horizon ${horizon.horizonTs}.*incomplete`));
    assert.equal(bytes, undefined);
  });

  it('fails a later window whose start state needs expired history when no checkpoint covers it', async () => {
    const { job } = await exportJob('plain', { startTs: LATER - 100, endTs: LATER + 10 });
    assert.equal(job.status, 'failed');
    assert.match(job.reason!, /cannot all be known.*expired/);
  });

  it('exports that window completely from a checkpoint, the expired creation included', async () => {
    const { job, bytes } = await exportJob('checkpointed', { startTs: LATER - 100, endTs: LATER + 10 });
    assert.equal(job.status, 'succeeded', job.reason);
    const trace = decodeTrace(bytes!);
    assert.deepEqual(
      trace.events.map((e) => [e.ts, e.applied_objs.map((o) => o.metadata.name)]),
      [
        [LATER - 100, ['old']],
        [LATER, ['new']],
      ],
    );
  });
});
