import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ExportJob, exportKey, newJob } from '../../lib/export/job.ts';
import { checkWindowRetained, type ExportJobDeps, runExportJob } from '../../lib/export/pipeline.ts';
import { StoreThrottledError } from '../../lib/store/errors.ts';
import { assembleFromHistory } from '../../lib/trace/assemble.ts';
import { decodeTrace, encodeTrace } from '../../lib/trace/codec.ts';
import { tracerConfigFromDoc } from '../../lib/trace/config.ts';
import type { ExportFilters, KubeObject, ObjectChange, TraceWindow } from '../../lib/trace/model.ts';
import { oracleExport } from './oracle/collect-events.ts';
import { comparable } from './oracle/histories.ts';
import {
  DEPLOYMENT_CONFIG,
  deployment,
  HistoryReader,
  MemoryJobStore,
  MemoryObjects,
  RecordingCheckpointer,
  recordingLog,
} from './support.ts';

const NOW = 1_700_000_000;
const NO_FILTERS: ExportFilters = { excluded_namespaces: [], excluded_labels: [] };

function applied(ts: number, object: KubeObject): ObjectChange {
  return { ts, type: 'applied', object, owners: [] };
}
function deleted(ts: number, object: KubeObject): ObjectChange {
  return { ts, type: 'deleted', object, owners: [] };
}

const HISTORY: ObjectChange[] = [
  applied(100, deployment('a', 1)),
  applied(110, deployment('b', 1, { namespace: 'ops' })),
  applied(150, deployment('a', 2)),
  applied(200, deployment('c', 1, { labels: { canary: 'yes' } })),
  deleted(210, deployment('b', 1, { namespace: 'ops' })),
  applied(220, deployment('a', 3)),
];

async function setup(
  options: { window?: TraceWindow; filters?: ExportFilters; job?: Partial<ExportJob> } = {},
) {
  const jobs = new MemoryJobStore();
  const objects = new MemoryObjects();
  const reader = new HistoryReader(HISTORY, DEPLOYMENT_CONFIG);
  const log = recordingLog();
  let clock = NOW;
  const deps: ExportJobDeps = { jobs, reader, objects, log, nowSec: () => clock };
  const job: ExportJob = {
    ...newJob(
      { cluster: 'prod', id: 'j'.repeat(26) },
      { window: options.window ?? { startTs: 140, endTs: 215 }, filters: options.filters ?? NO_FILTERS },
      NOW - 5,
      { retentionSec: 86_400 },
    ),
    ...options.job,
  };
  await jobs.create(job);
  return { jobs, objects, reader, log, deps, job, tick: (s: number) => (clock += s) };
}

describe('runExportJob', () => {
  it('exports the window as the reference semantics do, stores it under the cluster key and succeeds', async () => {
    const filters: ExportFilters = {
      excluded_namespaces: [],
      excluded_labels: [{ matchLabels: { canary: 'yes' } }],
    };
    const { deps, job, objects, reader, jobs } = await setup({ filters });
    const done = await runExportJob(deps, job);
    assert.equal(done?.status, 'succeeded');
    const key = exportKey('prod', job.id);
    assert.equal(done?.key, key);
    const bytes = objects.objects.get(key);
    assert.ok(bytes);
    const want = assembleFromHistory(HISTORY, job.window, filters, tracerConfigFromDoc(DEPLOYMENT_CONFIG));
    assert.deepEqual(decodeTrace(bytes), decodeTrace(encodeTrace(want)));
    // Judged by the independent oracle too (tests/export/oracle): not the assembler it runs.
    assert.deepEqual(
      comparable(decodeTrace(bytes)),
      oracleExport(HISTORY, job.window, filters, DEPLOYMENT_CONFIG),
    );
    assert.deepEqual(done?.counts, { events: want.events.length, objects: 2, bytes: bytes.length });
    assert.ok((done?.readUnits ?? 0) > 0);
    assert.deepEqual(await jobs.get('prod', job.id), done);
    // Config at the window's last second; all lifecycles (finished bare pods leave the start state).
    assert.deepEqual(reader.calls, [
      'retentionHorizon',
      'configAt 214',
      'lifecycles all',
      'liveAt 140',
      'changesBetween 140 215',
    ]);
  });

  it('records its progress in the job record while running (phase, changes read, bytes), and clears it at the end', async () => {
    const { deps, job, jobs } = await setup({ window: { startTs: 90, endTs: 300 } });
    const seen: { phase: string; changesRead: number; bytesWritten: number; reachedTs?: number }[] = [];
    jobs.beforeReplace = (next) => {
      if (next.status === 'running' && next.progress) seen.push({ ...next.progress });
    };
    const done = await runExportJob({ ...deps, progressEverySec: 0 }, job);
    assert.equal(done?.status, 'succeeded');
    // One write per phase (the writes are throttled to one in flight; phases still all show).
    assert.deepEqual(
      seen.map((p) => p.phase),
      ['lifecycles', 'changes', 'finishing'],
    );
    assert.equal(seen.at(-1)?.changesRead, HISTORY.length);
    assert.equal(seen.at(-1)?.reachedTs, 220);
    assert.ok((seen.at(-1)?.bytesWritten ?? 0) > 0);
    assert.equal(done?.progress, undefined);
  });

  it('uses no live set for a window starting at or before the first change, and no changes for one ending before it', async () => {
    // Both are asked for before the horizon answers; what the horizon rules out must go unused.
    // A live set said to be incomplete would fail the export if it were used…
    const early = await setup({ window: { startTs: 50, endTs: 120 } });
    early.reader.liveComplete = false;
    assert.equal((await runExportJob(early.deps, early.job))?.status, 'succeeded');
    assert.deepEqual(early.reader.calls.slice(3), ['liveAt 50', 'changesBetween 50 120']);
    const trace = decodeTrace(early.objects.objects.get(exportKey('prod', early.job.id))!);
    assert.deepEqual(
      comparable(trace),
      oracleExport(HISTORY, { startTs: 50, endTs: 120 }, NO_FILTERS, DEPLOYMENT_CONFIG),
    );
    // …and so would a change read failing.
    const before = await setup({ window: { startTs: 10, endTs: 100 } });
    before.reader.failWith = new StoreThrottledError('must not be read', {});
    assert.equal((await runExportJob(before.deps, before.job))?.status, 'succeeded');
    assert.deepEqual(before.reader.calls.slice(3), ['liveAt 10', 'changesBetween 10 100']);
  });

  it('asks for the live set and the window changes before the horizon answers, and closes the change read of a refused window', async () => {
    const { deps, job, reader, objects } = await setup();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    reader.retentionHorizon = async () => {
      reader.calls.push('retentionHorizon');
      await gate;
      return { firstTs: 100, horizonTs: 145 };
    };
    let closed = false;
    const changesOf = reader.changesBetween.bind(reader);
    reader.changesBetween = async function* (...args: Parameters<typeof changesOf>) {
      try {
        yield* changesOf(...args);
      } finally {
        closed = true;
      }
    };
    const run = runExportJob(deps, job);
    for (let i = 0; i < 20 && !reader.calls.includes('liveAt 140'); i++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    const asked = [...reader.calls];
    release();
    const done = await run;
    assert.deepEqual(asked, [
      'retentionHorizon',
      'configAt 214',
      'lifecycles all',
      'liveAt 140',
      'changesBetween 140 215',
    ]);
    assert.equal(done?.status, 'failed');
    assert.match(done?.reason ?? '', /before the retention horizon 145/);
    assert.equal(objects.objects.size, 0);
    assert.equal(closed, true);
  });

  it('leaves a finished job alone (a duplicate invocation) and says so for an unknown one', async () => {
    const { deps, job, reader, jobs, log } = await setup({ job: { status: 'failed', reason: 'earlier' } });
    assert.equal((await runExportJob(deps, job))?.reason, 'earlier');
    assert.deepEqual(reader.calls, []);
    assert.equal(await runExportJob(deps, { cluster: 'prod', id: 'x'.repeat(26) }), undefined);
    assert.equal(log.lines.at(-1)?.message, 'export job not found');
    assert.equal((await jobs.get('prod', job.id))?.status, 'failed');
  });

  it('refuses a window reaching back past the retention horizon, with a reason saying so', async () => {
    const { deps, job, reader, objects } = await setup();
    reader.horizon = { firstTs: 100, horizonTs: 145 };
    const done = await runExportJob(deps, job);
    assert.equal(done?.status, 'failed');
    assert.match(done?.reason ?? '', /before the retention horizon 145.*incomplete/);
    assert.equal(objects.objects.size, 0);
  });

  it('refuses when the store says the live set at the start is incomplete', async () => {
    const { deps, job, reader } = await setup();
    reader.liveComplete = false;
    const done = await runExportJob(deps, job);
    assert.equal(done?.status, 'failed');
    assert.match(done?.reason ?? '', /cannot all be known.*expired/);
  });

  it('fails with a retry hint when the store is throttled, hiding the details', async () => {
    const { deps, job, reader, log } = await setup();
    reader.failWith = new StoreThrottledError('DynamoDB Query on secret-table failed', {
      table: 'secret-table',
    });
    const done = await runExportJob(deps, job);
    assert.equal(done?.status, 'failed');
    assert.match(done?.reason ?? '', /busy or unavailable.*request the export again/);
    assert.doesNotMatch(done?.reason ?? '', /secret-table/);
    assert.equal(log.lines.at(-1)?.level, 'error');
  });

  it('leaves a running job alone while its runner may be alive (a duplicate invocation)', async () => {
    const { deps, job, reader, objects } = await setup({
      job: { status: 'running', attempts: 1, startedAtSec: NOW - 100 },
    });
    const done = await runExportJob(deps, job);
    assert.equal(done?.status, 'running');
    assert.equal(done?.attempts, 1);
    assert.deepEqual(reader.calls, [], 'nothing read');
    assert.equal(objects.objects.size, 0, 'nothing exported');
  });

  it('fails a running job past the longest run (its runner died), without taking it over', async () => {
    const { deps, job, reader, jobs } = await setup({
      job: { status: 'running', attempts: 1, startedAtSec: NOW - 961 },
    });
    const done = await runExportJob(deps, job);
    assert.equal(done?.status, 'failed');
    assert.match(done?.reason ?? '', /stopped without finishing.*960 s/);
    assert.deepEqual(reader.calls, []);
    assert.equal((await jobs.get('prod', job.id))?.status, 'failed', 'written, not only shown');
  });

  it('never starts a pending job past its start deadline (its event waited too long)', async () => {
    const { deps, job, reader } = await setup({ job: { createdAtSec: NOW - 901 } });
    const done = await runExportJob(deps, job);
    assert.equal(done?.status, 'failed');
    assert.match(done?.reason ?? '', /did not start within 900 s/);
    assert.deepEqual(reader.calls, []);
  });

  it('of two claims of one pending job, only the first wins (the claim is conditional on attempts)', async () => {
    const { deps, job, jobs, objects } = await setup();
    // The second runner read the job as pending (attempts 0) just before the first claimed it.
    let interleaved = false;
    jobs.beforeReplace = (next) => {
      if (next.status === 'running' && !interleaved) {
        interleaved = true;
        const stored = jobs.jobs.get(`prod ${job.id}`)!;
        jobs.jobs.set(`prod ${job.id}`, { ...stored, status: 'running', attempts: 1, startedAtSec: NOW });
      }
    };
    const done = await runExportJob(deps, job);
    assert.equal(done?.status, 'running', 'this run lost the claim and left the job to the winner');
    assert.equal(objects.objects.size, 0);
  });

  it('drops its outcome when another run finished the job meanwhile', async () => {
    const { deps, job, jobs } = await setup();
    jobs.beforeReplace = (next) => {
      if (next.status === 'succeeded') {
        const stored = jobs.jobs.get(`prod ${job.id}`)!;
        jobs.jobs.set(`prod ${job.id}`, { ...stored, status: 'failed', reason: 'the other run' });
      }
    };
    const done = await runExportJob(deps, job);
    assert.equal(done?.status, 'failed');
    assert.equal(done?.reason, 'the other run');
  });

  it('exports an empty config when none was ever posted', async () => {
    const { deps, job, objects } = await setup();
    deps.reader = new HistoryReader(HISTORY, undefined);
    await runExportJob(deps, job);
    const trace = decodeTrace(objects.objects.get(exportKey('prod', job.id))!);
    assert.deepEqual(trace.config, { trackedObjects: {} });
  });

  it('leaves a checkpoint after a success unless a recent one exists, and never fails for it', async () => {
    const { deps, job, jobs, tick } = await setup();
    const checkpointer = new RecordingCheckpointer();
    const withCheckpoints = { ...deps, checkpointer, checkpointEverySec: 3600 };
    await runExportJob(withCheckpoints, job);
    assert.deepEqual(checkpointer.written, [NOW]);

    const second = {
      ...job,
      id: 'k'.repeat(26),
      status: 'pending' as const,
      attempts: 0,
      createdAtSec: NOW + 600,
    };
    await jobs.create(second);
    tick(600);
    await runExportJob(withCheckpoints, second);
    assert.deepEqual(checkpointer.written, [NOW], 'a checkpoint 10 min old is recent enough');

    const third = {
      ...job,
      id: 'm'.repeat(26),
      status: 'pending' as const,
      attempts: 0,
      createdAtSec: NOW + 4200,
    };
    await jobs.create(third);
    tick(3600);
    checkpointer.writeCheckpoint = async () => {
      throw new Error('S3 down');
    };
    assert.equal((await runExportJob(withCheckpoints, third))?.status, 'succeeded');
  });
});

describe('checkWindowRetained', () => {
  const cases: [string, { firstTs?: number; horizonTs?: number }, number, boolean][] = [
    ['no history', {}, 5, true],
    ['nothing expired, window before the first change', { firstTs: 100, horizonTs: 100 }, 50, true],
    ['expired, window after the horizon', { firstTs: 100, horizonTs: 200 }, 200, true],
    ['expired, window before the horizon', { firstTs: 100, horizonTs: 200 }, 199, false],
    ['expired, window before the first change', { firstTs: 100, horizonTs: 200 }, 50, false],
  ];
  for (const [name, horizon, startTs, ok] of cases) {
    it(`${name}: ${ok ? 'accepted' : 'refused'}`, () => {
      const run = () => checkWindowRetained(horizon, { startTs, endTs: startTs + 10 });
      if (ok) run();
      else assert.throws(run, (err: Error & { code?: string }) => err.code === 'window_expired');
    });
  }
});
