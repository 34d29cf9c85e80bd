/**
 * The export's steady state per change, without I/O, stage by stage: Query pages of event items
 * (DynamoDB JSON, bodies base64, as the bench seeds them: ~1 KB Deployments over 5,000 objects) →
 * items parsed (JSON.parse + base64, as lib/aws/trace-store/query-items.ts) → item fields and the
 * body decoded (lib/aws/trace-store/reader.ts `changeOf`) → assembly → msgpack encoding → validation,
 * each stage timed as the CPU of the loop up to it minus the loop before it (medians of 5). Run
 * twice, interleaved: bodies decoded as objects (`decodeBody`: inflate, `parseJson`), and
 * transcoded (`transcodeObjectBody`: inflate, JSON → msgpack, the export's reads only).
 *
 * `npx tsx bench/support/export-steady.ts` (docs/benchmarks.md "export").
 */
import { payloadOf } from '../../lib/aws/trace-store/bodies.ts';
import { eventItem, parseEventItem } from '../../lib/aws/trace-store/items.ts';
import { exportObjectReads } from '../../lib/export/object-reads.ts';
import { decodeBody, encodeBody, transcodeObjectBody } from '../../lib/store/body-codec.ts';
import type { CapturePlan } from '../../lib/store/json-msgpack.ts';
import { TraceAssembler } from '../../lib/trace/assemble.ts';
import { encodeTraceEventInto } from '../../lib/trace/codec.ts';
import { exportableConfigDoc, tracerConfigFromDoc } from '../../lib/trace/config.ts';
import type { TraceEvent } from '../../lib/trace/model.ts';
import { TraceValidator } from '../../lib/validation/index.ts';
import { DEPLOYMENT_CONFIG, objectName, sizedDeployment } from './objects.ts';

const OBJECTS = 5000;
const PAGE_ITEMS = 700;
const CHANGES = 21_000;
const START_TS = 1_000_000;

const config = tracerConfigFromDoc(DEPLOYMENT_CONFIG);
const tracked = exportableConfigDoc(config).trackedObjects;

function queryPages(): string[] {
  const pages: string[] = [];
  let items: unknown[] = [];
  const digests = new Map<string, string>();
  for (let c = 0; c < CHANGES; c++) {
    const object = sizedDeployment(objectName(c % OBJECTS), 1024, 2 + Math.floor(c / OBJECTS), digests);
    const item = eventItem('bench', 4, {
      ts: START_TS + Math.floor(c / 6),
      gvk: 'apps/v1.Deployment',
      nsName: `bench/${object.metadata.name}`,
      type: 'applied',
      seq: c,
      body: { enc: 'd1', bytes: encodeBody({ o: object, w: [] }) },
    });
    const json: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(item)) {
      json[name] = value.B ? { B: Buffer.from(value.B).toString('base64') } : value;
    }
    items.push(json);
    if (items.length === PAGE_ITEMS) {
      pages.push(JSON.stringify({ Count: items.length, Items: items, ScannedCount: items.length }));
      items = [];
    }
  }
  return pages;
}

function parseItems(text: string): Record<string, { S?: string; N?: string; B?: Uint8Array }>[] {
  const parsed = JSON.parse(text) as { Items: Record<string, { B?: unknown }>[] };
  for (const item of parsed.Items) {
    for (const name in item) {
      const b = item[name]!.B;
      if (typeof b === 'string') item[name] = { B: Buffer.from(b, 'base64') };
    }
  }
  return parsed.Items as Record<string, { S?: string; N?: string; B?: Uint8Array }>[];
}

/** CPU µs per change of the loop up to `stage` (1 items … 5 validation). */
function run(pages: string[], stage: number, plan: CapturePlan | undefined): number {
  let bytes = 0;
  const validator = new TraceValidator(tracked);
  const assembler = new TraceAssembler({
    window: { startTs: START_TS, endTs: START_TS + 86_400 },
    filters: { excluded_namespaces: [], excluded_labels: [] },
    config,
    onEvent: (event: TraceEvent) => {
      if (stage >= 4) {
        encodeTraceEventInto(event, (b) => {
          bytes += b.length;
        });
      }
      if (stage >= 5) validator.checkEvent(event);
    },
  });
  const started = process.cpuUsage();
  let changes = 0;
  for (const text of pages) {
    const items = parseItems(text);
    if (stage < 2) {
      changes += items.length;
      continue;
    }
    for (const item of items) {
      const r = parseEventItem(item as never);
      const payload =
        (plan && transcodeObjectBody(r.body.bytes!, r.body.enc, plan)) ||
        payloadOf(decodeBody(r.body.bytes!, r.body.enc), 'bench');
      changes++;
      if (stage >= 3) assembler.addChange({ ts: r.ts, type: r.type, object: payload.o, owners: payload.w });
    }
  }
  if (stage >= 3) assembler.finishStream();
  const used = process.cpuUsage(started);
  if (bytes < 0) throw new Error('unreachable');
  return (used.user + used.system) / changes;
}

const STAGES = [
  'items (page JSON.parse, base64)',
  'item fields, body decoded',
  'assembly',
  'encoding',
  'validation',
];
const pages = queryPages();
const modes = { objects: undefined, transcoded: exportObjectReads(tracked) } as const;
const results = new Map<string, number[][]>();
for (const mode of Object.keys(modes))
  results.set(
    mode,
    STAGES.map(() => []),
  );
for (let round = 0; round < 5; round++) {
  for (const [mode, plan] of Object.entries(modes)) {
    for (let s = 1; s <= STAGES.length; s++) results.get(mode)![s - 1]!.push(run(pages, s, plan));
  }
}
const median = (a: number[]) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
for (const [mode, byStage] of results) {
  let before = 0;
  const parts = byStage.map((runs, s) => {
    const upTo = median(runs);
    const part = `${STAGES[s]} ${(upTo - before).toFixed(1)}`;
    before = upTo;
    return part;
  });
  console.log(`${mode}: ${before.toFixed(1)} µs per change — ${parts.join(', ')}`);
}
