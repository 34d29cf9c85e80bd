/**
 * In-memory stand-ins for the export's ports, for tests of the job's logic only (claims, outcomes,
 * reasons, what is read in which order). The real adapters are tested against dynalite and s3rver
 * in tests/export/*.integration.test.ts.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import type { ExportJob, ExportStatus } from '../../lib/export/job.ts';
import type { JobLog } from '../../lib/export/pipeline.ts';
import type {
  ExportJobStore,
  ExportObjectStore,
  ExportUpload,
  IdempotencyRecord,
} from '../../lib/export/ports.ts';
import type {
  Checkpointer,
  CheckpointInfo,
  ClusterId,
  LiveSet,
  ReadMeter,
  RetentionHorizon,
  StoredConfig,
  StoredOwnerLifecycles,
  TraceReader,
} from '../../lib/store/ports.ts';
import { refOf } from '../../lib/trace/gvk.ts';
import type { ObjectChange, TraceConfigDoc, TraceWindow } from '../../lib/trace/model.ts';
import { objKey } from '../../lib/trace/model.ts';

export class MemoryJobStore implements ExportJobStore {
  readonly jobs = new Map<string, ExportJob>();
  /** Called before each replace (tests interleave another runner there). */
  beforeReplace: (next: ExportJob) => void = () => {};

  async create(job: ExportJob): Promise<void> {
    const key = `${job.cluster} ${job.id}`;
    if (this.jobs.has(key)) throw new Error('exists');
    this.jobs.set(key, structuredClone(job));
  }
  async get(cluster: ClusterId, id: string): Promise<ExportJob | undefined> {
    const job = this.jobs.get(`${cluster} ${id}`);
    return job && structuredClone(job);
  }
  async replace(next: ExportJob, from: readonly ExportStatus[], attempts?: number): Promise<boolean> {
    this.beforeReplace(next);
    const key = `${next.cluster} ${next.id}`;
    const stored = this.jobs.get(key);
    if (!stored || !from.includes(stored.status)) return false;
    if (attempts !== undefined && stored.attempts !== attempts) return false;
    this.jobs.set(key, structuredClone(next));
    return true;
  }
  async unfinished(cluster: ClusterId): Promise<ExportJob[]> {
    return [...this.jobs.values()]
      .filter((j) => j.cluster === cluster && (j.status === 'pending' || j.status === 'running'))
      .map((j) => structuredClone(j));
  }
  readonly keys = new Map<string, IdempotencyRecord>();
  async getIdempotency(cluster: ClusterId, keyHash: string, nowSec: number) {
    const r = this.keys.get(`${cluster} ${keyHash}`);
    return r && r.expiresAtSec > nowSec ? { ...r } : undefined;
  }
  async putIdempotency(cluster: ClusterId, record: IdempotencyRecord, nowSec: number, replacing?: string) {
    const k = `${cluster} ${record.keyHash}`;
    const old = this.keys.get(k);
    const free = !old || old.expiresAtSec <= nowSec || (replacing !== undefined && old.jobId === replacing);
    if (!free) return { ...old };
    this.keys.set(k, { ...record });
    return undefined;
  }
}

export class MemoryObjects implements ExportObjectStore {
  readonly objects = new Map<string, Uint8Array>();
  /** Multipart uploads started, completed and aborted (by key), and the parts' sizes by number. */
  readonly uploads: { key: string; state: 'open' | 'completed' | 'aborted'; parts: Map<number, number> }[] =
    [];
  /** S3's rule for every part but the last (5 MiB there; tests of the logic use smaller parts). */
  minPartBytes = 0;
  /** When set, uploading this part number fails (an S3 fault stand-in for tests of the abort path). */
  failPart: number | undefined;

  async put(key: string, bytes: Uint8Array): Promise<void> {
    this.objects.set(key, bytes);
  }
  async startUpload(key: string): Promise<ExportUpload> {
    const record = {
      key,
      state: 'open' as 'open' | 'completed' | 'aborted',
      parts: new Map<number, number>(),
    };
    this.uploads.push(record);
    const parts = new Map<number, Uint8Array>();
    return {
      uploadPart: async (n, bytes) => {
        await new Promise((resolve) => setImmediate(resolve));
        if (n === this.failPart) throw new Error(`part ${n} failed`);
        // A copy, whatever view it is given (a Buffer's own slice() would be a view of the writer's buffer).
        parts.set(n, Uint8Array.prototype.slice.call(bytes));
        record.parts.set(n, bytes.length);
      },
      complete: async () => {
        const numbers = [...parts.keys()].sort((a, b) => a - b);
        numbers.forEach((n, i) => {
          if (n !== i + 1) throw new Error(`part ${i + 1} is missing`);
          if (i < numbers.length - 1 && parts.get(n)!.length < this.minPartBytes) {
            throw new Error(`part ${n} is ${parts.get(n)!.length} bytes, under ${this.minPartBytes}`);
          }
        });
        this.objects.set(key, Buffer.concat(numbers.map((n) => parts.get(n)!)));
        record.state = 'completed';
      },
      abort: async () => {
        record.state = 'aborted';
      },
    };
  }
  async presign(key: string, ttlSec: number): Promise<string> {
    return `memory://${key}?ttl=${ttlSec}`;
  }
}

/** A TraceReader over a ts-ordered history, with the store's rules for the live set (no dedupe needed here). */
export class HistoryReader implements TraceReader {
  readonly calls: string[] = [];
  horizon: RetentionHorizon | undefined;
  liveComplete = true;
  failWith: Error | undefined;

  readonly history: ObjectChange[];
  readonly config: TraceConfigDoc | undefined;
  readonly stored: StoredOwnerLifecycles[];

  constructor(
    history: ObjectChange[],
    config: TraceConfigDoc | undefined,
    stored: StoredOwnerLifecycles[] = [],
  ) {
    this.history = history;
    this.config = config;
    this.stored = stored;
  }

  async *changesBetween(
    _c: ClusterId,
    fromTs: number,
    toTs: number,
    meter?: ReadMeter,
  ): AsyncIterable<ObjectChange> {
    this.calls.push(`changesBetween ${fromTs} ${toTs}`);
    if (this.failWith) throw this.failWith;
    for (const c of this.history) {
      if (c.ts >= fromTs && c.ts < toTs) {
        if (meter) meter.readUnits += 1;
        yield c;
      }
    }
  }
  async liveAt(_c: ClusterId, atTs: number, meter?: ReadMeter): Promise<LiveSet> {
    this.calls.push(`liveAt ${atTs}`);
    const live = new Map<string, ObjectChange>();
    for (const c of this.history) {
      if (c.ts >= atTs) break;
      if (meter) meter.readUnits += 1;
      const key = objKey(refOf(c.object));
      if (c.type === 'applied') live.set(key, c);
      else live.delete(key);
    }
    return { atTs, objects: [...live.values()], complete: this.liveComplete };
  }
  async *lifecycles(_c: ClusterId, window?: TraceWindow): AsyncIterable<StoredOwnerLifecycles> {
    this.calls.push(`lifecycles ${window ? `${window.startTs} ${window.endTs}` : 'all'}`);
    yield* this.stored;
  }
  async configAt(_c: ClusterId, atTs: number): Promise<StoredConfig | undefined> {
    this.calls.push(`configAt ${atTs}`);
    return this.config && { ts: 0, config: this.config };
  }
  async retentionHorizon(): Promise<RetentionHorizon> {
    this.calls.push('retentionHorizon');
    const first = this.history[0]?.ts;
    return this.horizon ?? (first === undefined ? {} : { firstTs: first, horizonTs: first });
  }
}

export class RecordingCheckpointer implements Checkpointer {
  readonly written: number[] = [];
  latest: CheckpointInfo | undefined;
  async writeCheckpoint(cluster: ClusterId, options: { nowSec: number }): Promise<CheckpointInfo> {
    this.written.push(options.nowSec);
    this.latest = {
      cluster,
      validFromTs: options.nowSec,
      replayFromTs: options.nowSec - 1500,
      objects: 0,
      blobKey: 'b',
    };
    return this.latest;
  }
  async latestCheckpointAtOrBefore(): Promise<CheckpointInfo | undefined> {
    return this.latest;
  }
}

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  message: string;
  data: Record<string, unknown>;
}

export function recordingLog(): JobLog & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (message, data) => lines.push({ level: 'info', message, data }),
    warn: (message, data) => lines.push({ level: 'warn', message, data }),
    error: (message, data) => lines.push({ level: 'error', message, data }),
  };
}

export function silentLogger(): Logger {
  return new Logger({ serviceName: 'test', logLevel: 'SILENT' });
}

export function deployment(
  name: string,
  replicas: number,
  extra: { namespace?: string; labels?: Record<string, string> } = {},
) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: extra.namespace ?? 'shop',
      ...(extra.labels ? { labels: extra.labels } : {}),
    },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { spec: { containers: [{ name: 'c', image: 'nginx' }] } },
    },
  };
}

export const DEPLOYMENT_CONFIG: TraceConfigDoc = { trackedObjects: { 'apps/v1.Deployment': {} } };

/** A Lambda context for the sktrace-exports function, with the given memory and time left. */
export function exportsContext(opts: { memoryLimitInMB: string; remainingMs: number }): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'sktrace-exports',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:sktrace-exports',
    memoryLimitInMB: opts.memoryLimitInMB,
    awsRequestId: 'test',
    logGroupName: '/aws/lambda/sktrace-exports',
    logStreamName: 'test',
    getRemainingTimeInMillis: () => opts.remainingMs,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
