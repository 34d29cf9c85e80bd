/**
 * The real SimKube traces of ../shared/simkube-traces through the whole product: imported into a
 * local stack (the production handlers on dynalite and s3rver) with their original timestamps,
 * then exported over their whole window (`sktrace conformance [--roundtrip]` on them: conformance.test.ts).
 *
 * Oracle: the files. The exported events must be the file's events byte for byte (a search for the
 * top-level keys, not the codec), the index and pod lifecycles equal as data (SimKube writes its
 * hash maps in hash order, so their byte order is not the file's), and the config the file's with
 * SimKube's documented default template paths written out (DESIGN.md: known kinds' defaults;
 * the export spells them, SimKube accepts either). Known exceptions, each asserted exactly:
 * bare-pods.sktrace was edited after export — it lacks SimKube's start-state first event (the
 * export has it, empty: nothing was alive before its first second) and its index is not its
 * events' (the export indexes the 4 pods it holds, with their spec hashes).
 *
 * Mutations caught: an export that drops, reorders, re-times or rewrites any object of these
 * files (store dedupe, sanitising, assembly, codec), loses the CronJob's lifecycles, or indexes a
 * wrong version.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ApiClient } from '../../lib/cli/client.ts';
import type { LocalStack } from '../../lib/local/serve.ts';
import { NO_FILTERS } from '../../lib/roundtrip/reference.ts';
import { exportTrace, importTrace } from '../../lib/roundtrip/transfer.ts';
import { decodeTrace } from '../../lib/trace/codec.ts';
import { specHash } from '../../lib/trace/hash.ts';
import type { Trace } from '../../lib/trace/model.ts';
import { startTestStack } from '../support/local-stack.ts';
import { eventsRegion, msgpackTraces, skipUnlessSimkubeTraces } from './support.ts';

const skip = skipUnlessSimkubeTraces();
const files = msgpackTraces();

/** SimKube's default pod template paths of known kinds (DESIGN.md, sk-core's tracer config). */
const DEFAULT_PATHS: Record<string, string[]> = {
  'batch/v1.CronJob': ['/spec/jobTemplate/spec/template'],
  'apps/v1.DaemonSet': ['/spec/template'],
  'apps/v1.Deployment': ['/spec/template'],
  'batch/v1.Job': ['/spec/template'],
  'apps/v1.StatefulSet': ['/spec/template'],
  'apps/v1.ReplicaSet': ['/spec'],
  'v1.Pod': [''],
};

function withDefaultPaths(config: Trace['config']): Trace['config'] {
  const trackedObjects: Trace['config']['trackedObjects'] = {};
  for (const [gvk, doc] of Object.entries(config.trackedObjects)) {
    const paths = doc.podSpecTemplatePaths ?? DEFAULT_PATHS[gvk];
    trackedObjects[gvk] = { ...doc, ...(paths ? { podSpecTemplatePaths: paths } : {}) };
  }
  return { ...config, trackedObjects };
}

/** An empty event at `ts`, as SimKube encodes it: {ts: u32, applied_objs: [], deleted_objs: []}. */
function emptyEventBytes(ts: number): Buffer {
  const u32 = Buffer.alloc(4);
  u32.writeUInt32BE(ts);
  return Buffer.concat([
    Buffer.from([0x83, 0xa2, ...Buffer.from('ts'), 0xce]),
    u32,
    Buffer.from([0xac, ...Buffer.from('applied_objs'), 0x90, 0xac, ...Buffer.from('deleted_objs'), 0x90]),
  ]);
}

/** The window holding every event and lifecycle of the file: [first event, last second + 1). */
function wholeWindow(trace: Trace): { startTs: number; endTs: number } {
  let last = trace.events.at(-1)!.ts;
  for (const { bySpecHash } of trace.podLifecycles.values())
    for (const lcs of bySpecHash.values())
      for (const lc of lcs) last = Math.max(last, lc.startTs, lc.endTs ?? lc.startTs);
  return { startTs: trace.events[0]!.ts, endTs: last + 1 };
}

describe('real SimKube traces: import then export of the whole window gives the file back', { skip }, () => {
  let stack: LocalStack;
  let client: ApiClient;
  before(async () => {
    ({ stack, client } = await startTestStack());
  });
  after(async () => {
    await stack?.close();
  });

  for (const [i, { name, bytes }] of files.entries()) {
    test(name, async () => {
      const original = decodeTrace(bytes);
      const cluster = `simkube-${i}`;
      await importTrace(client, cluster, original);
      const window = wholeWindow(original);
      const { trace, bytes: exported } = await exportTrace(client, cluster, window, NO_FILTERS, {
        pollMs: 50,
      });
      const got = eventsRegion(exported);
      const want = eventsRegion(bytes);
      if (name === 'bare-pods.sktrace') {
        // Edited after export: no start-state event. The export's is empty (nothing before the
        // first second); the rest is the file's events, byte for byte. Arrays under 16: one header byte.
        assert.equal(want[0], 0x90 + original.events.length);
        assert.ok(
          got.equals(
            Buffer.concat([Buffer.from([want[0]! + 1]), emptyEventBytes(window.startTs), want.subarray(1)]),
          ),
          'the file events after an empty start event',
        );
        // Its index is not its events' (DESIGN.md): the export indexes the pods it holds.
        const pods = new Map<string, bigint>();
        for (const e of original.events)
          for (const o of e.applied_objs)
            pods.set(`${o.metadata.namespace}/${o.metadata.name}`, specHash(o.spec));
        assert.deepEqual(trace.index, new Map([['v1.Pod', pods]]));
        assert.equal(pods.size, 4);
      } else {
        if (!got.equals(want)) {
          let at = 0;
          while (at < want.length && got[at] === want[at]) at++;
          assert.fail(`events differ from the file at byte ${at} of ${want.length}`);
        }
        assert.deepEqual(trace.index, original.index);
      }
      assert.deepEqual(trace.podLifecycles, original.podLifecycles);
      assert.equal(trace.version, 2);
      assert.deepEqual(trace.config, withDefaultPaths(original.config));
    });
  }
});
