/**
 * The export-job function's entry: the payload it accepts (events/exports-job-invoke.json, what
 * the launcher sends) and the job it runs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { makeHandler, parseJobEvent } from '../../functions/export-job/handler.ts';
import { newJob } from '../../lib/export/job.ts';
import { HistoryReader, MemoryJobStore, MemoryObjects, recordingLog } from './support.ts';

function sample(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../../events/${name}`, import.meta.url), 'utf8'));
}

describe('export-job function', () => {
  it('parses the launcher’s payload, and refuses anything else', () => {
    assert.deepEqual(parseJobEvent(sample('exports-job-invoke.json')), {
      kind: 'export',
      cluster: 'demo',
      id: 'a'.repeat(26),
    });
    for (const bad of [
      null,
      {},
      { kind: 'export', cluster: 'Bad_Cluster', id: 'x' },
      { kind: 'export', cluster: 'demo', id: '' },
      { kind: 'checkpoint', clusters: ['demo'] },
    ]) {
      assert.throws(
        () => parseJobEvent(bad),
        (err: Error & { code?: string }) => err.code === 'invalid_event',
      );
    }
  });

  it('runs the job named by the payload', async () => {
    const jobs = new MemoryJobStore();
    const job = newJob(
      { cluster: 'demo', id: 'a'.repeat(26) },
      { window: { startTs: 1, endTs: 2 }, filters: { excluded_namespaces: [], excluded_labels: [] } },
      10,
      { retentionSec: 100 },
    );
    await jobs.create(job);
    const handler = makeHandler({
      jobs,
      reader: new HistoryReader([], undefined),
      objects: new MemoryObjects(),
      nowSec: () => 10,
      log: recordingLog(),
    });
    assert.deepEqual(await handler(sample('exports-job-invoke.json')), { status: 'succeeded' });
    assert.deepEqual(await handler({ kind: 'export', cluster: 'demo', id: 'b'.repeat(26) }), {
      status: 'not_found',
    });
  });
});
