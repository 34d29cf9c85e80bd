/**
 * Export reads scale with the window, not with the history before it (DESIGN.md, targets): a
 * cluster with 10× more history before the window — the same objects changed ten times as often —
 * costs the same read units to export once a checkpoint covers that history, here the one the
 * first export job leaves behind. Without a checkpoint the live set is rebuilt from all history and
 * the reads grow with it (the control that shows the measurement can tell the difference).
 * Read units are DynamoDB's ConsumedCapacity as dynalite reports it; S3 reads (the checkpoint
 * body) cost requests, not read units.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DynamoExportJobStore } from '../../lib/aws/dynamo-export-jobs.ts';
import type { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { S3ExportObjects } from '../../lib/aws/s3-exports.ts';
import { newJob } from '../../lib/export/job.ts';
import { assembleExport, runExportJob } from '../../lib/export/pipeline.ts';
import type { Change } from '../../lib/ingest/wire.ts';
import type { ReadMeter } from '../../lib/store/ports.ts';
import { assembleFromHistory } from '../../lib/trace/assemble.ts';
import { encodeTrace } from '../../lib/trace/codec.ts';
import { tracerConfigFromDoc } from '../../lib/trace/config.ts';
import type { ObjectChange, Trace, TraceWindow } from '../../lib/trace/model.ts';
import { type LocalAws, localTraceStore, startLocalAws } from '../support/local-aws.ts';
import { oracleExport } from './oracle/collect-events.ts';
import { comparable } from './oracle/histories.ts';
import { DEPLOYMENT_CONFIG, deployment, recordingLog } from './support.ts';

const HOUR = 3600;
// Two days ago, on an hour: all history stays well inside the default 14-day retention.
const T0 = Math.floor((Math.floor(Date.now() / 1000) - 2 * 86_400) / HOUR) * HOUR;
const HISTORY_SEC = 4 * HOUR;
const OBJECTS = 5;
const VERSIONS = 3;
const CHECKPOINT_AT = T0 + HISTORY_SEC + 2000;
const WINDOW: TraceWindow = { startTs: CHECKPOINT_AT + 50, endTs: CHECKPOINT_AT + 500 };
/** A window at the end of the history, exported before any checkpoint exists (the control). */
const EARLY_WINDOW: TraceWindow = { startTs: T0 + HISTORY_SEC - 600, endTs: T0 + HISTORY_SEC };
const NO_FILTERS = { excluded_namespaces: [], excluded_labels: [] };

/**
 * `factor` times the base history: the same objects changing at the same pace, for `factor` times
 * as long (so it starts `factor` times further back); both end at the same second.
 */
function history(factor: number): Change[] {
  const fromTs = T0 + HISTORY_SEC - factor * HISTORY_SEC;
  const changes: Change[] = [{ type: 'config', ts: fromTs, config: DEPLOYMENT_CONFIG }];
  const total = OBJECTS * VERSIONS * factor;
  for (let k = 0; k < total; k++) {
    const ts = fromTs + Math.floor((k * factor * HISTORY_SEC) / total);
    changes.push({ type: 'applied', ts, object: deployment(`d${k % OBJECTS}`, 1 + Math.floor(k / OBJECTS)) });
  }
  return changes;
}

function windowChanges(): Change[] {
  return Array.from({ length: OBJECTS }, (_, i) => ({
    type: 'applied' as const,
    ts: CHECKPOINT_AT + 100 + 60 * i,
    object: deployment(`d${i}`, 1000 + i),
  }));
}

function asHistory(changes: Change[]): ObjectChange[] {
  return changes.flatMap((c) =>
    c.type === 'applied' ? [{ ts: c.ts, type: 'applied' as const, object: c.object, owners: [] }] : [],
  );
}

describe('export read units with 10× older history', () => {
  let aws: LocalAws;
  let clock = T0;
  let store: DynamoTraceStore;

  /** Applies changes as a forwarder would have, on time: batches of up to 10 minutes, posted at their end. */
  async function ingest(cluster: string, changes: Change[]): Promise<void> {
    let batch: Change[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      await store.applyBatch(cluster, { changes: batch }, { nowSec: batch.at(-1)!.ts });
      batch = [];
    };
    for (const change of changes) {
      if (batch.length > 0 && change.ts - batch[0]!.ts >= 600) await flush();
      batch.push(change);
    }
    await flush();
  }

  async function measure(cluster: string, window: TraceWindow): Promise<{ readUnits: number; trace: Trace }> {
    const meter: ReadMeter = { readUnits: 0 };
    const trace = await assembleExport(store, cluster, { window, filters: NO_FILTERS }, meter);
    return { readUnits: meter.readUnits, trace };
  }

  before(async () => {
    aws = await startLocalAws();
    store = localTraceStore(aws, {
      nowSec: () => clock,
    });
    await ingest('small', history(1));
    await ingest('big', history(10));
  });

  after(async () => {
    await aws.close();
  });

  it('stay flat once the first export job has left a checkpoint; grow with history without one', async (t) => {
    // Control: before any checkpoint, the live set at a window's start is rebuilt from all history.
    clock = CHECKPOINT_AT;
    const smallRaw = await measure('small', EARLY_WINDOW);
    const bigRaw = await measure('big', EARLY_WINDOW);

    // An export job at CHECKPOINT_AT leaves a checkpoint of the live set then.
    const jobs = new DynamoExportJobStore({ client: aws.dynamo, tableName: aws.tableName });
    const deps = {
      jobs,
      reader: store,
      checkpointer: store,
      objects: new S3ExportObjects({ s3: aws.s3, bucket: aws.bucket }),
      nowSec: () => clock,
      log: recordingLog(),
    };
    for (const cluster of ['small', 'big']) {
      const job = newJob(
        { cluster, id: `${cluster[0]}${'a'.repeat(25)}` },
        { window: EARLY_WINDOW, filters: NO_FILTERS },
        clock,
        {
          retentionSec: 86_400,
        },
      );
      await jobs.create(job);
      assert.equal((await runExportJob(deps, job))?.status, 'succeeded');
      assert.ok(
        await store.latestCheckpointAtOrBefore(cluster, WINDOW.startTs),
        `${cluster} has a checkpoint`,
      );
    }
    clock = CHECKPOINT_AT + 100;
    for (const cluster of ['small', 'big']) await ingest(cluster, windowChanges());
    clock = WINDOW.endTs + 60;
    const small = await measure('small', WINDOW);
    const big = await measure('big', WINDOW);
    t.diagnostic(
      `read units — with the checkpoint: 1× history ${small.readUnits}, 10× ${big.readUnits}; before it: 1× ${smallRaw.readUnits}, 10× ${bigRaw.readUnits}`,
    );

    assert.ok(
      big.readUnits <= small.readUnits * 1.1 + 1,
      `10× older history must not cost more reads: ${big.readUnits} vs ${small.readUnits}`,
    );
    assert.ok(
      bigRaw.readUnits > smallRaw.readUnits * 3,
      `without a checkpoint the replay reads all history: ${bigRaw.readUnits} vs ${smallRaw.readUnits}`,
    );
    // The checkpoint changes the cost, never the result.
    const config = tracerConfigFromDoc(DEPLOYMENT_CONFIG);
    for (const [name, got, factor] of [
      ['small', small, 1],
      ['big', big, 10],
    ] as const) {
      const want = assembleFromHistory(
        asHistory([...history(factor), ...windowChanges()]),
        WINDOW,
        NO_FILTERS,
        config,
      );
      assert.deepEqual(encodeTrace(got.trace), encodeTrace(want), name);
      // And by the independent oracle (tests/export/oracle), not only the assembler the export runs.
      const all = asHistory([...history(factor), ...windowChanges()]);
      assert.deepEqual(comparable(got.trace), oracleExport(all, WINDOW, NO_FILTERS, DEPLOYMENT_CONFIG), name);
    }
    assert.equal(big.trace.events[0]!.applied_objs.length, OBJECTS, 'every object is in the start state');
  });
});
