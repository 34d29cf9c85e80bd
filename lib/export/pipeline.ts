/**
 * The export job: store reads → the trace core's assembly → msgpack → the export object store,
 * with the job record moved along. Pure orchestration over ports; the clock is injected.
 *
 * Reads, in the order the assembler wants them (lib/trace/assemble.ts):
 * - the retention horizon: a window starting before it would lack changes that expired;
 * - the config in force at the window's last second (the kinds the trace declares);
 * - the lifecycles overlapping the window;
 * - the live set at the start (the store reads its newest usable checkpoint plus the changes
 *   after it, so this scales with the objects alive then and the changes since the checkpoint,
 *   not with the history before it), refused when the store says it is incomplete;
 * - the window's changes, streamed page by page.
 * Memory: the start state and the window's exported objects (the assembler's), then the encoded
 * trace — never the history before the window.
 *
 * After a successful export the job also leaves a checkpoint of the current live set when the
 * newest one is older than `checkpointEverySec`, so later exports (whose windows start after
 * now) read from it; a scheduled run of the job function does the same for quiet clusters.
 */
import { SktraceError } from '../errors.ts';
import { changeTransform } from '../skel/index.ts';
import type { CapturePlan } from '../store/json-msgpack.ts';
import type { Checkpointer, ClusterId, ReadMeter, RetentionHorizon, TraceReader } from '../store/ports.ts';
import { TraceAssembler } from '../trace/assemble.ts';
import { encodeTraceHead, encodeTraceTail } from '../trace/codec.ts';
import { exportableConfigDoc, type TracerConfig, tracerConfigFromDoc } from '../trace/config.ts';
import { gvkOf, refOf } from '../trace/gvk.ts';
import { overlapsWindow } from '../trace/lifecycle.ts';
import type { ObjectChange, ObjectRef, Trace, TraceWindow } from '../trace/model.ts';
import { ownerRefsOf } from '../trace/owners.ts';
import { TraceValidator } from '../validation/index.ts';
import { WindowExpiredError } from './errors.ts';
import {
  CLAIMABLE,
  claimed,
  DEFAULT_MAX_RUN_SEC,
  DEFAULT_START_DEADLINE_SEC,
  type ExportCounts,
  type ExportJob,
  type ExportProgress,
  exportKey,
  failed,
  isFinal,
  type JobRef,
  succeeded,
  withProgress,
} from './job.ts';
import { exportObjectReads } from './object-reads.ts';
import type { ExportJobStore, ExportObjectStore } from './ports.ts';
import type { ExportRequest } from './request.ts';
import { DEFAULT_TRACE_STREAM, type TraceStreamOptions, TraceStreamWriter } from './trace-stream.ts';

export interface JobLog {
  info(message: string, data: Record<string, unknown>): void;
  warn(message: string, data: Record<string, unknown>): void;
  error(message: string, data: Record<string, unknown>): void;
}

export interface ExportJobDeps {
  jobs: ExportJobStore;
  reader: TraceReader;
  objects: ExportObjectStore;
  /** When given, a checkpoint is left after an export if the newest is older than checkpointEverySec. */
  checkpointer?: Checkpointer;
  checkpointEverySec?: number;
  /** Wall clock, unix seconds. */
  nowSec: () => number;
  log: JobLog;
  /** Part size and parallelism of the trace's upload (DEFAULT_TRACE_STREAM). */
  stream?: TraceStreamOptions;
  /** Least seconds between two progress writes to the job record (default 5). */
  progressEverySec?: number;
  /** A `running` job older than this has a dead runner (default DEFAULT_MAX_RUN_SEC). */
  maxRunSec?: number;
  /** A `pending` job older than this is never started (default DEFAULT_START_DEADLINE_SEC). */
  startDeadlineSec?: number;
}

const POD_GVK = 'v1.Pod';

/** One checkpoint per time bucket of the event index (an hour): replay after it stays within one bucket or two. */
export const DEFAULT_CHECKPOINT_EVERY_SEC = 3600;

/**
 * Refuses a window whose start lies before the retention horizon: changes between the start and
 * the horizon may have expired. A window starting before the cluster's first change is fine
 * (nothing existed to expire) as long as nothing has expired since.
 */
export function checkWindowRetained(horizon: RetentionHorizon, window: TraceWindow): void {
  const { firstTs, horizonTs } = horizon;
  if (firstTs === undefined || horizonTs === undefined || horizonTs <= firstTs) return;
  if (window.startTs < horizonTs) {
    throw new WindowExpiredError(
      `start_ts ${window.startTs} is before the retention horizon ${horizonTs}: history before it has expired, so the trace's start state would be incomplete; export a window starting at or after ${horizonTs}`,
      { startTs: window.startTs, horizonTs },
    );
  }
}

/** The config in force at the window's last second; none posted yet means no tracked kinds. */
async function configFor(
  reader: TraceReader,
  cluster: ClusterId,
  window: TraceWindow,
  meter: ReadMeter,
): Promise<TracerConfig> {
  const stored = await reader.configAt(cluster, window.endTs - 1, meter);
  return stored ? tracerConfigFromDoc(stored.config) : { trackedObjects: new Map() };
}

/** Where an export is, for the job record and the CLI (lib/export/job.ts `ExportProgress`). */
export type ProgressSink = (progress: ExportProgress) => void;

/**
 * Reads the window from the store into an assembler, in the order it wants: horizon, config,
 * lifecycles, the live set at the start, the window's changes. `afterChange` runs after each
 * change (the streaming writer's back-pressure).
 *
 * The reads start together: horizon, config, lifecycles, the live set (checkpoint + replay) and
 * the window's first change pages (primed: the reader's prefetch runs while the rest is read), all
 * at once, before the horizon's verdict. They used to run one after the other, a fixed cost the
 * size of several round trips plus the checkpoint's download and decoding ahead of the first
 * window page: at 10,000 changes that was most of the export's overhead over reading the window
 * (docs/benchmarks.md "export"). Consumption keeps the assembler's order, and nothing read is used
 * before the horizon says the window is retained.
 */
async function feedExport(
  reader: TraceReader,
  cluster: ClusterId,
  request: ExportRequest,
  meter: ReadMeter,
  makeAssembler: (config: TracerConfig, transform: ChangeTransform | undefined) => TraceAssembler,
  progress: { report: ProgressSink; afterChange?: () => Promise<void> | undefined },
  /** Objects of the window's changes read transcoded with this plan (lib/export/object-reads.ts). */
  encodedObjects?: (config: TracerConfig, transform: ChangeTransform | undefined) => CapturePlan | undefined,
): Promise<TraceAssembler> {
  const { window } = request;
  // The plan needs the config, read while the first change pages are on their way.
  let planFor: (plan: CapturePlan | undefined) => void = () => undefined;
  const plan = encodedObjects
    ? new Promise<CapturePlan | undefined>((resolve) => {
        planFor = resolve;
      })
    : undefined;
  const readOptions = plan ? { encodedObjects: plan } : {};
  // Those overlapping the window, read by window when the store can (docs/storage.md "Lifecycles
  // by window"); then, below, the earlier ones of bare pods alive at the start: a bare pod that
  // finished before the start leaves the start state, and only those say it finished
  // (lib/trace/assemble.ts). A store without `lifecyclesOf` gives them all here.
  const byWindow = reader.lifecyclesOf !== undefined;
  const pending = new Pending();
  try {
    // Every read is asked for at once, the live set and the window's first change pages
    // included: they used to wait for the horizon's verdict (two round trips), and each reads the
    // horizon again itself, so the checkpoint's download started four round trips in — most of the
    // idle time before the start state (docs/benchmarks.md "export"). A refused window wastes their
    // first reads (the change reader is closed at once; the live set's read is left to finish and
    // dropped); a window starting at or before the cluster's first change drops the live set
    // unused, one ending before it closes the change reader unread.
    const horizonRead = pending.track(reader.retentionHorizon(cluster, meter));
    const configRead = pending.track(configFor(reader, cluster, window, meter));
    const lifecyclesRead = pending.track(
      collect(reader.lifecycles(cluster, byWindow ? window : undefined, meter)),
    );
    const liveAsked = pending.track(reader.liveAt(cluster, window.startTs, meter, readOptions));
    // Nothing is stored before the cluster's first change: the store's reader starts there itself,
    // so the window's changes are asked for from its start.
    const source =
      reader.changeBatches?.(cluster, window.startTs, window.endTs, meter, readOptions) ??
      oneByOne(reader.changesBetween(cluster, window.startTs, window.endTs, meter));
    let batches: AsyncIterator<ObjectChange[]> | undefined = source[Symbol.asyncIterator]();
    pending.onFailure(() => {
      planFor(undefined);
      return batches?.return?.();
    });
    let firstBatch: Promise<IteratorResult<ObjectChange[]>> | undefined = pending.track(batches.next());

    const horizon = await horizonRead;
    checkWindowRetained(horizon, window);
    const { firstTs } = horizon;
    // No live set to rebuild before the first change, and no changes in a window ending before it.
    const liveRead = firstTs !== undefined && window.startTs > firstTs ? liveAsked : undefined;
    if (firstTs === undefined || window.endTs <= firstTs) {
      const unread = batches;
      batches = undefined;
      firstBatch = undefined;
      planFor(undefined);
      unread.return?.()?.catch(() => undefined);
    }

    const config = await configRead;
    // SKEL `transform` of the request (lib/skel), applied by the assembler to every change and
    // start object before filters, owners and index.
    const transform = request.transform ? changeTransform(request.transform, window.startTs) : undefined;
    const assembler = makeAssembler(config, transform);
    planFor(encodedObjects?.(config, transform));
    const state: ExportProgress = { phase: 'lifecycles', changesRead: 0, bytesWritten: 0 };
    progress.report(state);
    for (const l of await lifecyclesRead) assembler.addLifecycles(l.owner, l.podSpecHash, l.lifecycles);
    if (liveRead) {
      progress.report({ ...state, phase: 'start_state' });
      const live = await liveRead;
      if (!live.complete) {
        throw new WindowExpiredError(
          `the objects alive at start_ts ${window.startTs} cannot all be known: the history they are rebuilt from has expired (retention) and no checkpoint covers it; export a later window`,
          {
            startTs: window.startTs,
            ...(live.checkpointTs === undefined ? {} : { checkpointTs: live.checkpointTs }),
          },
        );
      }
      for (const change of live.objects) assembler.addStartObject(change);
      if (byWindow) {
        // As the assembler sees them: after the transform.
        const bare: ObjectRef[] = [];
        for (const c of live.objects) {
          const seen = transform ? transform(c) : c;
          if (seen && gvkOf(seen.object) === POD_GVK && ownerRefsOf(seen.object).length === 0) {
            bare.push(refOf(seen.object));
          }
        }
        if (bare.length > 0) {
          for await (const l of reader.lifecyclesOf!(cluster, bare, meter)) {
            // Those overlapping the window came above; the rest only tell whether the pod finished.
            const others = l.lifecycles.filter((lc) => !overlapsWindow(lc, window));
            if (others.length > 0) assembler.addLifecycles(l.owner, l.podSpecHash, others);
          }
        }
      }
    }
    if (batches && firstBatch) {
      state.phase = 'changes';
      progress.report(state);
      let reportedAt = 0;
      for (let next = await firstBatch; !next.done; next = await batches.next()) {
        const batch = next.value;
        for (const change of batch) {
          assembler.addChange(change);
          const wait = progress.afterChange?.();
          if (wait) await wait;
        }
        state.changesRead += batch.length;
        if (batch.length > 0) state.reachedTs = batch[batch.length - 1]!.ts;
        if (state.changesRead - reportedAt >= 1024) {
          reportedAt = state.changesRead;
          progress.report(state);
        }
      }
    }
    progress.report({ ...state, phase: 'finishing' });
    return assembler;
  } catch (err) {
    pending.fail();
    throw err;
  }
}

/**
 * Reads started ahead of their turn. Each is given a rejection handler at once (a read that fails
 * while an earlier one is awaited must not be an unhandled rejection; its turn rethrows it), and
 * on failure the window's change reader is closed so no Query runs on.
 */
class Pending {
  readonly #onFailure: (() => unknown)[] = [];

  track<T>(promise: Promise<T>): Promise<T> {
    promise.catch(() => undefined);
    return promise;
  }

  onFailure(stop: () => unknown): void {
    this.#onFailure.push(stop);
  }

  fail(): void {
    for (const stop of this.#onFailure.splice(0)) {
      try {
        const stopped = stop();
        if (stopped instanceof Promise) stopped.catch(() => undefined);
      } catch {
        // Closing is best effort: the failure being thrown is what the caller needs.
      }
    }
  }
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

type ChangeTransform = (change: ObjectChange) => ObjectChange | undefined;

async function* oneByOne<T>(items: AsyncIterable<T>): AsyncGenerator<T[]> {
  for await (const item of items) yield [item];
}

/** Reads the window from the store and assembles its trace in memory (tests, the bench's floor). */
export async function assembleExport(
  reader: TraceReader,
  cluster: ClusterId,
  request: ExportRequest,
  meter: ReadMeter,
): Promise<Trace> {
  const { window, filters } = request;
  const assembler = await feedExport(
    reader,
    cluster,
    request,
    meter,
    (config, transform) =>
      new TraceAssembler({ window, filters, config, ...(transform ? { transform } : {}) }),
    { report: () => undefined },
  );
  return assembler.finish();
}

export interface StreamedExport {
  counts: ExportCounts;
}

/**
 * Reads the window and writes its trace to `objects` under `key` as it goes (lib/export/trace-stream.ts):
 * memory holds the start state, one record per exported object and a few upload parts, never the
 * window's events. The bytes equal `encodeTrace(await assembleExport(…))`. On failure the upload is
 * aborted and nothing is stored.
 */
export async function streamExport(
  reader: TraceReader,
  cluster: ClusterId,
  request: ExportRequest,
  meter: ReadMeter,
  target: { objects: ExportObjectStore; key: string; stream?: TraceStreamOptions },
  report: ProgressSink = () => undefined,
): Promise<StreamedExport> {
  const { window, filters } = request;
  let writer: TraceStreamWriter | undefined;
  // SimKube's validation rules over the events as they go out (the job record keeps the counts).
  let validator: TraceValidator | undefined;
  try {
    const assembler = await feedExport(
      reader,
      cluster,
      request,
      meter,
      (config, transform) => {
        const assembler = new TraceAssembler({
          window,
          filters,
          config,
          ...(transform ? { transform } : {}),
          onEvent: (event) => {
            writer!.writeEvent(event);
            validator!.checkEvent(event);
          },
        });
        const configDoc = exportableConfigDoc(config);
        validator = new TraceValidator(configDoc.trackedObjects);
        writer = new TraceStreamWriter(
          target.objects,
          target.key,
          encodeTraceHead(configDoc),
          target.stream ?? DEFAULT_TRACE_STREAM,
        );
        return assembler;
      },
      {
        report: (p) => report({ ...p, bytesWritten: writer?.bytesWritten ?? 0 }),
        afterChange: () => (writer!.mustDrain ? writer!.drain() : undefined),
      },
      // Changes' objects transcoded straight to trace bytes, unless a transform rewrites them.
      (config, transform) =>
        transform ? undefined : exportObjectReads(exportableConfigDoc(config).trackedObjects),
    );
    // The last event out and part 1's upload started before the tail's spec hashes are computed,
    // in slices that let the uploads run (TraceAssembler.finishStreamPaused); the events after the
    // last full part go with the tail.
    assembler.endEvents();
    writer!.endEvents();
    const tail = await assembler.finishStreamPaused(() => new Promise((resolve) => setImmediate(resolve)));
    const bytes = await writer!.finish(encodeTraceTail(tail));
    let objects = 0;
    for (const byName of tail.index.values()) objects += byName.size;
    const validation = Object.fromEntries(
      validator!
        .result()
        .counts.filter((c) => c.count > 0)
        .map((c) => [c.code, c.count]),
    );
    return {
      counts: {
        events: tail.eventCount,
        objects,
        bytes,
        ...(Object.keys(validation).length > 0 ? { validation } : {}),
      },
    };
  } catch (err) {
    await writer?.abort();
    throw err;
  }
}

/** Reasons shown to the user; only our own, actionable messages pass through verbatim. */
export function failureReason(err: unknown): string {
  if (err instanceof SktraceError) {
    if (
      err.code === 'window_expired' ||
      err.code === 'tracer_config' ||
      err.code === 'skel_eval_failed' ||
      err.code === 'skel_invalid'
    ) {
      return err.message;
    }
    if (err.code === 'store_throttled' || err.code === 'store_unavailable') {
      return 'the store was busy or unavailable while reading the window; request the export again';
    }
    return `internal error (${err.code}) while exporting; see the export job's logs`;
  }
  return "internal error while exporting; see the export job's logs";
}

/**
 * Runs one export job to its end. Safe to invoke any number of times for a job, at once or later
 * (Lambda delivers async events at least once and retries failed ones): only the invocation whose
 * conditional claim (`pending` with the attempts it read → `running`) succeeds runs it; the others
 * leave it alone. A final job is left alone; a `running` job past the longest run is failed (its
 * runner died), never taken over; a `pending` job past its start deadline is failed, never started.
 * Resolves with the job as stored at the end, or undefined when there is no such job.
 */
export async function runExportJob(deps: ExportJobDeps, ref: JobRef): Promise<ExportJob | undefined> {
  const { jobs, log } = deps;
  const maxRunSec = deps.maxRunSec ?? DEFAULT_MAX_RUN_SEC;
  const startDeadlineSec = deps.startDeadlineSec ?? DEFAULT_START_DEADLINE_SEC;
  const job = await jobs.get(ref.cluster, ref.id);
  if (!job) {
    log.warn('export job not found', { ...ref });
    return undefined;
  }
  if (isFinal(job.status)) {
    log.info('export job already finished', { ...ref, status: job.status });
    return job;
  }
  const nowSec = deps.nowSec();
  if (job.status === 'running') {
    const startedAtSec = job.startedAtSec ?? job.updatedAtSec;
    if (nowSec - startedAtSec <= maxRunSec) {
      log.info('export job is running elsewhere; this duplicate invocation does nothing', { ...ref });
      return job;
    }
    const stale = failed(
      job,
      `the export job stopped without finishing (it ran past ${maxRunSec} s or crashed); request the export again`,
      nowSec,
    );
    await jobs.replace(stale, ['running'], job.attempts);
    log.warn('export job failed: its runner died', { ...ref, startedAtSec });
    return jobs.get(ref.cluster, ref.id);
  }
  if (nowSec - job.createdAtSec > startDeadlineSec) {
    const late = failed(
      job,
      `the export job did not start within ${startDeadlineSec} s; request the export again`,
      nowSec,
    );
    await jobs.replace(late, CLAIMABLE, job.attempts);
    log.warn('export job failed: started too late', { ...ref, createdAtSec: job.createdAtSec });
    return jobs.get(ref.cluster, ref.id);
  }
  const running = claimed(job, nowSec);
  if (!(await jobs.replace(running, CLAIMABLE, job.attempts))) {
    log.info('export job claimed or finished elsewhere', { ...ref });
    return jobs.get(ref.cluster, ref.id);
  }

  const meter: ReadMeter = { readUnits: 0 };
  let done: ExportJob;
  try {
    const key = exportKey(ref.cluster, ref.id);
    const { counts } = await streamExport(
      deps.reader,
      ref.cluster,
      running,
      meter,
      { objects: deps.objects, key, ...(deps.stream ? { stream: deps.stream } : {}) },
      progressRecorder(deps, running),
    );
    done = succeeded(running, { key, counts, readUnits: meter.readUnits }, deps.nowSec());
    log.info('export succeeded', { ...ref, ...counts, readUnits: meter.readUnits, window: running.window });
  } catch (err) {
    done = failed(running, failureReason(err), deps.nowSec(), meter.readUnits);
    const data = { ...ref, readUnits: meter.readUnits, error: errorData(err) };
    if (err instanceof SktraceError && err.code === 'window_expired') log.warn('export refused', data);
    else log.error('export failed', data);
  }
  if (!(await jobs.replace(done, ['running'], running.attempts))) {
    // The job was failed meanwhile (this run outlived DEFAULT_MAX_RUN_SEC); that outcome stands.
    log.warn('export job finished elsewhere; dropping this outcome', { ...ref, status: done.status });
    return jobs.get(ref.cluster, ref.id);
  }
  if (done.status === 'succeeded' && deps.checkpointer) {
    await maybeCheckpoint(deps.checkpointer, ref.cluster, deps, log);
  }
  return done;
}

/**
 * Records progress in the job record at most every `progressEverySec` (and at each phase change),
 * one write in the background at a time; a failed write only delays the next one. A phase change
 * reported while a write is in flight is written when that write ends (the reads run together, so
 * phases can follow each other faster than a write).
 */
function progressRecorder(deps: ExportJobDeps, running: ExportJob): ProgressSink {
  const every = deps.progressEverySec ?? DEFAULT_PROGRESS_EVERY_SEC;
  let lastSec = Number.NEGATIVE_INFINITY;
  let lastPhase: ExportProgress['phase'] | undefined;
  let writing = false;
  let queued: ExportProgress | undefined;
  const write = (progress: ExportProgress): void => {
    const nowSec = deps.nowSec();
    lastSec = nowSec;
    lastPhase = progress.phase;
    writing = true;
    deps.jobs
      .replace(withProgress(running, progress, nowSec), ['running'], running.attempts)
      .catch((err: unknown) => deps.log.warn('export progress not recorded', { error: errorData(err) }))
      .finally(() => {
        writing = false;
        const next = queued;
        queued = undefined;
        if (next) write(next);
      });
  };
  return (progress) => {
    const phaseChanged = progress.phase !== lastPhase;
    if (writing) {
      // The sink's argument may be mutated afterwards: keep a copy.
      if (phaseChanged || queued !== undefined) queued = { ...progress };
      return;
    }
    if (!phaseChanged && deps.nowSec() - lastSec < every) return;
    write(progress);
  };
}

export const DEFAULT_PROGRESS_EVERY_SEC = 5;

/** Writes a checkpoint of the cluster's live set unless a recent one exists. Never throws. */
export async function maybeCheckpoint(
  checkpointer: Checkpointer,
  cluster: ClusterId,
  deps: { nowSec: () => number; checkpointEverySec?: number },
  log: JobLog,
): Promise<boolean> {
  const nowSec = deps.nowSec();
  const every = deps.checkpointEverySec ?? DEFAULT_CHECKPOINT_EVERY_SEC;
  try {
    const latest = await checkpointer.latestCheckpointAtOrBefore(cluster, nowSec);
    if (latest && nowSec - latest.validFromTs < every) return false;
    const info = await checkpointer.writeCheckpoint(cluster, { nowSec });
    log.info('checkpoint written', { cluster, validFromTs: info.validFromTs, objects: info.objects });
    return true;
  } catch (err) {
    // A missing checkpoint only makes later exports read more; it never makes them wrong.
    log.warn('checkpoint failed', { cluster, error: errorData(err) });
    return false;
  }
}

function errorData(err: unknown): Record<string, unknown> {
  if (err instanceof SktraceError) {
    return { code: err.code, message: err.message, context: err.context, stack: err.stack };
  }
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { message: String(err) };
}
