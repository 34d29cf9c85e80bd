/**
 * The chaos cases, each a function of its scale: `fast` runs in `npm test` (tests/chaos/*.test.ts,
 * seconds each), `long` in `npm run chaos` (bench/chaos.ts). Every case runs a workload on the
 * simulated cluster against the real forwarder and the local stack, injects its faults, and ends
 * with the oracle's verdict on the exported trace (harness.ts, oracle.ts).
 */
import { type CaseResult, ChaosHarness, type ChaosOptions } from './harness.ts';
import { CHAOS_KINDS } from './workload.ts';

export type Scale = 'fast' | 'long';

export interface ChaosCase {
  name: string;
  run(scale: Scale): Promise<CaseResult>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withHarness(
  options: ChaosOptions,
  body: (h: ChaosHarness) => Promise<void>,
): Promise<CaseResult> {
  const h = await ChaosHarness.start(options);
  try {
    h.workload.populate(10);
    await h.startForwarder();
    await body(h);
    return await h.finish();
  } finally {
    await h.close();
  }
}

/** The forwarder SIGKILLed and restarted while the workload runs. */
export const killRestart: ChaosCase = {
  name: 'forwarder SIGKILL + restart',
  run: (scale) =>
    withHarness({ seed: 11 }, async (h) => {
      const kills = scale === 'fast' ? 2 : 20;
      h.workload.start(20);
      for (let i = 0; i < kills; i++) {
        await sleep(3_000);
        await h.killAndRestart(scale === 'fast' ? 300 : 1_000);
      }
      await sleep(1_500);
    }),
};

/** Watches dropped (abrupt socket close) every N events: resumes from the last resourceVersion. */
export const droppedWatches: ChaosCase = {
  name: 'watches dropped every N events',
  run: (scale) =>
    withHarness({ seed: 12 }, async (h) => {
      const every = scale === 'fast' ? 30 : 20;
      const until = Date.now() + (scale === 'fast' ? 6_000 : 45_000);
      h.workload.start(25);
      let last = h.workload.changes;
      while (Date.now() < until) {
        await sleep(50);
        if (h.workload.changes - last >= every) {
          last = h.workload.changes;
          h.dropWatches();
        }
      }
    }),
};

/** 410 Gone storms on Deployments (compaction, then the watch dropped) while StatefulSets are busy. */
export const goneStorm: ChaosCase = {
  name: '410 Gone storm on one kind, another busy',
  run: (scale) =>
    withHarness({ seed: 13 }, async (h) => {
      const storms = scale === 'fast' ? 4 : 30;
      h.workload.start(25);
      h.notes.note = 'Deployments compacted + dropped; StatefulSets busy';
      for (let i = 0; i < storms; i++) {
        await sleep(1_000);
        const relisted = h.blindUntilRelisted('apps/v1.Deployment', '410 Gone');
        // A change of the busy kind first, then the compaction: the Deployment watch's last
        // resourceVersion (from an event or a bookmark) is now older than the compacted one, so
        // its resumption must get 410 Gone and relist — the other kind must not be touched.
        while (!h.workload.step(['apps/v1.StatefulSet'])) await sleep(20);
        h.sim.compact();
        h.sim.dropWatches({ gvk: 'apps/v1.Deployment' });
        h.faults++;
        await relisted;
      }
      await sleep(1_000);
    }),
};

/** The ingest endpoint answering 500, 429 (Retry-After), timeouts and lost responses for a fraction. */
export const ingestErrors: ChaosCase = {
  name: 'ingest 500/429/timeouts',
  run: (scale) =>
    withHarness({ seed: 14 }, async (h) => {
      const f = scale === 'fast' ? 0.2 : 0.5;
      h.ingest.mix = {
        rates: { error500: f * 0.3, error429: f * 0.3, timeout: f * 0.2, lostResponse: f * 0.2 },
        first: ['error500', 'error429', 'timeout', 'lostResponse'],
        hangMs: 800,
      };
      h.workload.start(20);
      await sleep(scale === 'fast' ? 6_000 : 45_000);
    }),
};

/** DynamoDB throttling and 5xx at the wire, below the store (the SDK's retries, then the sender's). */
export const dynamoFaults: ChaosCase = {
  name: 'DynamoDB throttling + 5xx',
  run: (scale) =>
    withHarness({ seed: 15, dynamoProxy: true }, async (h) => {
      let n = 0;
      const rate = scale === 'fast' ? 0.15 : 0.3;
      h.dynamo!.policy = (req) => {
        if (req.operation === 'DescribeTable') return 'pass';
        n++;
        const x = (Math.sin(n * 12.9898) * 43758.5453) % 1;
        const r = x < 0 ? x + 1 : x;
        return r < rate / 2 ? 'throttle' : r < rate ? 'server-error' : 'pass';
      };
      h.workload.start(20);
      await sleep(scale === 'fast' ? 6_000 : 45_000);
    }),
};

/** Duplicated deliveries (each forwarded twice at once) and a second sender replaying old batches late. */
export const duplicatesReplays: ChaosCase = {
  name: 'duplicate + late replayed batches',
  run: (scale) =>
    withHarness({ seed: 16 }, async (h) => {
      h.ingest.mix = { rates: { duplicate: 0.3, delay: 0.1 }, delayMs: 300 };
      h.workload.start(20);
      const rounds = scale === 'fast' ? 3 : 30;
      for (let i = 0; i < rounds; i++) {
        await sleep(2_000);
        // A second sender, late: replays a few old batches (older versions of live objects).
        const kept = h.ingest.keptBatches;
        const from = Math.max(0, Math.floor(kept / 3) - 2);
        const statuses = await h.ingest.replay(from, 4);
        h.faults += statuses.length;
      }
      await sleep(1_000);
      // And once more after the last change, the worst moment: nothing newer follows it.
      h.faults += (await h.ingest.replay(0, h.ingest.keptBatches)).length;
    }),
};

/**
 * The ingest function interrupted after a partial write: after every few writes the DynamoDB proxy
 * fails the next ones until the SDK's retries run out, so the handler fails mid-batch with some of
 * its items written, and the sender retries the whole batch.
 */
export const partialWrites: ChaosCase = {
  name: 'ingest interrupted after partial writes',
  run: (scale) =>
    withHarness({ seed: 17, dynamoProxy: true }, async (h) => {
      let writes = 0;
      let failing = 0;
      const isWrite = (op: string) => op === 'PutItem' || op === 'UpdateItem' || op === 'BatchWriteItem';
      h.dynamo!.policy = (req) => {
        if (!isWrite(req.operation)) return 'pass';
        if (failing > 0) {
          failing--;
          return 'server-error';
        }
        writes++;
        // Every 40th write: the next 12 write attempts fail (more than one call's retries).
        if (writes % 40 === 0) failing = 12;
        return 'pass';
      };
      h.workload.start(20);
      await sleep(scale === 'fast' ? 6_000 : 45_000);
    }),
};

/**
 * The endpoint down for a while under a steady workload, with a small delivery queue: the queue
 * fills, the watches are back-pressured, and (long scale: down past the forwarder's 60 s stall
 * timeout) each kind stops watching, logs the resync line and relists once the endpoint is back.
 * The child's RSS is sampled while it is down; it must plateau.
 */
export const endpointDown: ChaosCase = {
  name: 'endpoint down: bounded memory + resync',
  run: (scale) => {
    const maxQueueBytes = scale === 'fast' ? 64 * 1024 : 256 * 1024;
    return withHarness({ seed: 18, maxQueueBytes }, async (h) => {
      h.workload.start(20);
      await sleep(1_000);
      const downMs = scale === 'fast' ? 6_000 : 100_000;
      const downAtMs = Date.now();
      const fromLine = h.forwarder!.lines.length;
      h.ingest.down = true;
      h.faults++;
      const rss: Array<{ atMs: number; bytes: number }> = [];
      let maxQueueSeen = 0;
      let fullAtMs: number | undefined;
      while (Date.now() - downAtMs < downMs) {
        await sleep(500);
        rss.push({ atMs: Date.now() - downAtMs, bytes: h.forwarder!.rssBytes() });
        const queueBytes = (await h.metrics()).get('sktrace_forwarder_queue_bytes') ?? 0;
        maxQueueSeen = Math.max(maxQueueSeen, queueBytes);
        // Full: the next change (≈1 KiB of JSON here) would not fit.
        if (fullAtMs === undefined && queueBytes > maxQueueBytes - 4 * 1024) fullAtMs = Date.now();
      }
      h.ingest.down = false;
      const upAtMs = Date.now();
      // Caught up: the backlog the watches had left unread is read and the queue emptied.
      let caughtUpMs = upAtMs;
      while (Date.now() - upAtMs < 60_000) {
        await sleep(100);
        caughtUpMs = Date.now();
        // Under a steady workload the queue is never quite empty: a quarter full is drained.
        if (((await h.metrics()).get('sktrace_forwarder_queue_bytes') ?? 0) < maxQueueBytes / 4) break;
      }
      await sleep(1_000);
      const child = h.forwarder!;
      const after = child.lines.slice(fromLine);
      const stalls = after.filter((l) => l.msg.startsWith('delivery queue full for too long'));
      // Once the queue is full the watches are back-pressured: their changes are read, and stamped,
      // only when the endpoint is back, several versions of an object within one second, where the
      // store keeps the last (one item per object per second). A stalled kind relists. So each kind
      // is blind from the queue filling (less the 500 ms between samples) until it caught up and,
      // if it relisted, until that relist was done.
      if (fullAtMs !== undefined) {
        for (const gvk of CHAOS_KINDS) {
          const relistedMs = h.listedAfter(gvk, downAtMs, true) ?? 0;
          h.blind.push({
            gvk,
            fromMs: fullAtMs - 1_000,
            toMs: Math.max(caughtUpMs + 1_000, relistedMs),
            why: 'back-pressure',
          });
        }
      }
      h.notes.relists = after.filter((l) => l.msg === 'relisting a kind').length;
      h.notes.queueFullAfterMs = fullAtMs === undefined ? null : fullAtMs - downAtMs;
      h.notes.catchUpMs = caughtUpMs - upAtMs;
      h.notes.maxQueueBytes = maxQueueBytes;
      h.notes.maxQueueBytesSeen = maxQueueSeen;
      h.notes.stallLines = stalls.length;
      const summary = summariseRss(rss);
      h.notes.rss = summary;
      if (maxQueueSeen > maxQueueBytes)
        h.problems.push(`queue held ${maxQueueSeen} bytes, over its bound of ${maxQueueBytes}`);
      if (scale === 'long') {
        if (stalls.length === 0)
          h.problems.push('no "delivery queue full for too long" line while the endpoint was down');
        // Plateau: the second half of the outage adds at most 10% + 8 MiB over the first half's peak
        // (the heap grows in steps; an unbounded buffer at this rate would grow steadily).
        const limit = summary.firstHalfMaxBytes * 1.1 + 8 * 2 ** 20;
        if (summary.secondHalfMaxBytes > limit)
          h.problems.push(
            `RSS grew while the endpoint was down: ${mib(summary.firstHalfMaxBytes)} MiB then ${mib(summary.secondHalfMaxBytes)} MiB`,
          );
      }
    });
  },
};

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

export interface RssSummary {
  samples: number;
  /** Peak RSS in the first and the second half of the outage, bytes. */
  firstHalfMaxBytes: number;
  secondHalfMaxBytes: number;
  maxBytes: number;
}

export function summariseRss(samples: ReadonlyArray<{ atMs: number; bytes: number }>): RssSummary {
  const endMs = samples.at(-1)?.atMs ?? 0;
  const first = samples.filter((s) => s.atMs <= endMs / 2).map((s) => s.bytes);
  const second = samples.filter((s) => s.atMs > endMs / 2).map((s) => s.bytes);
  return {
    samples: samples.length,
    firstHalfMaxBytes: Math.max(0, ...first),
    secondHalfMaxBytes: Math.max(0, ...second),
    maxBytes: Math.max(0, ...first, ...second),
  };
}

/**
 * Negative control: 10% of batches answered 200 without reaching the store, a silent loss no
 * retry can repair. The oracle must report lost changes, else it proves nothing; `ok` here means
 * it did.
 */
export const controlSilentLoss: ChaosCase = {
  name: 'control: silently dropped batches are caught',
  run: async (scale) => {
    const r = await withHarness({ seed: 19 }, async (h) => {
      h.ingest.mix = { rates: { blackhole: 0.1 } };
      h.workload.start(20);
      await sleep(scale === 'fast' ? 6_000 : 20_000);
    });
    const caught = r.verdict.lost.length > 0;
    return {
      ...r,
      notes: { ...r.notes, lostCaught: r.verdict.lost.length },
      ok: caught,
      problems: caught ? [] : ['the oracle did not notice batches dropped after a 200'],
    };
  },
};

/**
 * Negative control for time: every change reaches the store stamped 40 s late (the ingest proxy
 * moves `ts` and `seq`), as a forwarder stamping changes when it sent them rather than when it saw
 * them would, only more so. Nothing is lost or duplicated, so only the oracle's time rule can
 * notice; `ok` here means it did, and nothing else failed.
 */
export const controlLateStamps: ChaosCase = {
  name: 'control: changes stamped 40 s late are caught',
  run: async (scale) => {
    const r = await withHarness({ seed: 20, shiftStampsSec: 40 }, async (h) => {
      h.workload.start(20);
      await sleep(scale === 'fast' ? 4_000 : 20_000);
    });
    const v = r.verdict;
    const others = [...v.lost, ...v.duplicated, ...v.spuriousDeletions, ...v.outOfOrder, ...v.unknown];
    const caught = v.mistimed.length > 0 && v.mistimed.length === v.matched && others.length === 0;
    return {
      ...r,
      notes: { ...r.notes, mistimedCaught: v.mistimed.length },
      ok: caught,
      problems: caught
        ? []
        : [
            `expected every matched change (${v.matched}) mistimed and nothing else: ${v.mistimed.length} mistimed, ${others.length} other failures`,
          ],
    };
  },
};

export const ALL_CASES: ChaosCase[] = [
  killRestart,
  droppedWatches,
  goneStorm,
  ingestErrors,
  dynamoFaults,
  duplicatesReplays,
  partialWrites,
  endpointDown,
  controlSilentLoss,
  controlLateStamps,
];
