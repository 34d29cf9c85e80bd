/**
 * The export's start state alone, CPU in a fresh process (as an export job runs it: its code is
 * cold, its encoder's buffer small): a checkpoint of OBJECTS ~1 KB Deployments (the export bench's
 * objects) decoded, the start event encoded into a part buffer and validated — on the object path
 * (`decodeLargeBody`: the checkpoint parsed, every object encoded again) or transcoded
 * (`decodeCheckpointObjects` with the export's capture plan: the objects as trace bytes), or
 * stored as trace bytes (`msgpack`: a version-3 checkpoint, lib/store/checkpoint-body.ts).
 * docs/benchmarks.md "export" (session 6).
 *
 * `npx node --import tsx bench/support/start-state.ts [objects=5000] [objects|transcoded|msgpack]`: one
 * measurement per process, so run it a few times, alternating the modes.
 */
import { exportObjectReads } from '../../lib/export/object-reads.ts';
import {
  decodeCheckpointObjects,
  decodeLargeBody,
  encodeBinaryBody,
  encodeBody,
} from '../../lib/store/body-codec.ts';
import { DIGEST_BYTES, encodeCheckpointMsgpack } from '../../lib/store/checkpoint-body.ts';
import { encodeTraceEventInto } from '../../lib/trace/codec.ts';
import type { KubeObject, TraceEvent } from '../../lib/trace/model.ts';
import { TraceValidator } from '../../lib/validation/index.ts';
import { DEPLOYMENT_CONFIG, objectName, sizedDeployment } from './objects.ts';

const count = Number(process.argv[2] ?? 5000);
const mode = process.argv[3] ?? 'transcoded';
if (mode !== 'objects' && mode !== 'transcoded' && mode !== 'msgpack')
  throw new Error(`mode is objects, transcoded or msgpack, not ${mode}`);

const digests = new Map<string, string>();
const objects: { ts: number; o: KubeObject; w: [] }[] = [];
for (let i = 0; i < count; i++) {
  objects.push({ ts: 1000 + i, o: sizedDeployment(objectName(i), 1024, 1, digests), w: [] });
}
const header = { cluster: 'bench', validFromTs: 2000, replayFromTs: 1000 };
// msgpack: the checkpoint body of version 3 (lib/store/checkpoint-body.ts), the objects' trace
// bytes; their stored bodies' digests matter only to the replay, so any DIGEST_BYTES bytes do here.
const body =
  mode === 'msgpack'
    ? encodeBinaryBody(
        encodeCheckpointMsgpack(
          header,
          objects.map((e) => ({ ...e, digest: new Uint8Array(DIGEST_BYTES) })),
        )!,
      )
    : encodeBody({ v: 1, ...header, objects });
const plan = exportObjectReads(DEPLOYMENT_CONFIG.trackedObjects);
const validator = new TraceValidator(DEPLOYMENT_CONFIG.trackedObjects);
// The stream writer's part (lib/export/trace-stream.ts): the event's bytes are copied into it.
const part = Buffer.allocUnsafe(16 * 1024 * 1024);

const cpu = process.cpuUsage();
const t0 = performance.now();
const decoded =
  mode === 'objects'
    ? (decodeLargeBody(body, 'd1') as { objects: { o: KubeObject }[] }).objects
    : decodeCheckpointObjects(body, 'd1', plan);
const t1 = performance.now();
const event: TraceEvent = { ts: 2000, applied_objs: decoded.map((x) => x.o), deleted_objs: [] };
let bytes = 0;
encodeTraceEventInto(event, (piece) => {
  part.set(piece, bytes);
  bytes += piece.length;
});
const t2 = performance.now();
validator.checkEvent(event);
const t3 = performance.now();
const used = process.cpuUsage(cpu);
const ms = (n: number) => Math.round(n * 10) / 10;
console.log(
  JSON.stringify({
    mode,
    objects: count,
    checkpointBytes: body.length,
    eventBytes: bytes,
    decodeMs: ms(t1 - t0),
    encodeMs: ms(t2 - t1),
    validateMs: ms(t3 - t2),
    cpuMs: ms((used.user + used.system) / 1000),
  }),
);
