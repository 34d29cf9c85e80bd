import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeTrace } from '../../lib/trace/codec.ts';
import { specHash } from '../../lib/trace/hash.ts';
import { checkIndex, summarizeTrace } from '../../lib/trace/inspect.ts';
import type { KubeObject, Trace } from '../../lib/trace/model.ts';
import { objKey } from '../../lib/trace/model.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the sktrace command (`lib/cli/sktrace.mjs`) with this Node, no npx. */
function sktrace(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['lib/cli/sktrace.mjs', ...args], (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const deployment = (name: string, replicas: number): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: 'shop' },
  spec: { replicas, template: { spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
});
const cronJob: KubeObject = {
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: { name: 'nightly', namespace: 'shop' },
  spec: { schedule: '0 0 * * *' },
};
const web2 = deployment('web', 2);
const owner = { gvk: 'batch/v1.CronJob', nsName: 'shop/nightly' };
const TRACE: Trace = {
  version: 2,
  config: {
    trackedObjects: {
      'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/template'] },
      'batch/v1.CronJob': { podSpecTemplatePaths: ['/spec/jobTemplate/spec/template'], trackLifecycle: true },
    },
  },
  events: [
    { ts: 1700000000, applied_objs: [], deleted_objs: [] },
    { ts: 1700000000, applied_objs: [deployment('web', 1), deployment('api', 1), cronJob], deleted_objs: [] },
    { ts: 1700000300, applied_objs: [web2], deleted_objs: [] },
    { ts: 1700000900, applied_objs: [], deleted_objs: [deployment('api', 1)] },
  ],
  index: new Map([
    [
      'apps/v1.Deployment',
      new Map([
        ['shop/web', specHash(web2.spec)],
        ['shop/api', 12345n], // wrong on purpose
      ]),
    ],
    ['batch/v1.CronJob', new Map([['shop/nightly', specHash(cronJob.spec)]])],
  ]),
  podLifecycles: new Map([
    [
      objKey(owner),
      {
        owner,
        bySpecHash: new Map([
          [2n ** 63n + 5n, [{ startTs: 1700000060, endTs: 1700000090 }, { startTs: 1700000120 }]],
          [7n, [{ startTs: 1700000200, endTs: 1700000230 }]],
        ]),
      },
    ],
  ]),
};

describe('summarizeTrace and checkIndex', () => {
  test('count events, objects per kind, index, lifecycles', () => {
    assert.deepEqual(summarizeTrace(TRACE), {
      version: 2,
      trackedKinds: ['apps/v1.Deployment', 'batch/v1.CronJob'],
      window: { firstTs: 1700000000, lastTs: 1700000900 },
      events: 4,
      emptyEvents: 1,
      kinds: {
        'apps/v1.Deployment': { objects: 2, applied: 3, deleted: 1 },
        'batch/v1.CronJob': { objects: 1, applied: 1, deleted: 0 },
      },
      index: { 'apps/v1.Deployment': 2, 'batch/v1.CronJob': 1 },
      indexEntries: 3,
      lifecycles: {
        owners: 1,
        lifecycles: 3,
        perOwner: [{ ...owner, podSpecs: 2, lifecycles: 3, running: 1, finished: 2 }],
      },
    });
  });

  test('an empty trace has no window', () => {
    const empty: Trace = { ...TRACE, events: [], index: new Map(), podLifecycles: new Map() };
    assert.equal(summarizeTrace(empty).window, null);
  });

  test('index entries are checked against the last applied version', () => {
    const check = checkIndex(TRACE);
    assert.equal(check.entries, 3);
    assert.equal(check.matched, 2);
    assert.deepEqual(check.mismatched, [
      {
        gvk: 'apps/v1.Deployment',
        nsName: 'shop/api',
        indexHash: 12345n,
        specHash: specHash({ ...(deployment('api', 1).spec as object) }),
      },
    ]);
    assert.deepEqual(check.missing, []);
    assert.deepEqual(check.unindexed, []);
  });

  test('an index holding an earlier version is pointed out; missing and unindexed objects too', () => {
    const stale: Trace = {
      ...TRACE,
      index: new Map([
        [
          'apps/v1.Deployment',
          new Map([
            ['shop/web', specHash(deployment('web', 1).spec)],
            ['shop/gone', 1n],
          ]),
        ],
      ]),
    };
    const check = checkIndex(stale);
    assert.equal(check.matched, 0);
    assert.equal(check.mismatched[0]?.earlierVersionTs, 1700000000);
    assert.deepEqual(check.missing, [{ gvk: 'apps/v1.Deployment', nsName: 'shop/gone', indexHash: 1n }]);
    assert.deepEqual(check.unindexed, [
      { gvk: 'apps/v1.Deployment', nsName: 'shop/api' },
      { gvk: 'batch/v1.CronJob', nsName: 'shop/nightly' },
    ]);
  });
});

describe('sktrace inspect', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sktrace-inspect-'));
  const msgpackFile = join(dir, 'shop.sktrace');
  const jsonFile = join(dir, 'shop.json');
  let human: Run;
  let json: Run;
  let missing: Run;
  let garbage: Run;

  before(async () => {
    writeFileSync(msgpackFile, encodeTrace(TRACE));
    // The JSON variant: the same trace without lifecycles (JSON cannot key them), u64 as digits.
    const jsonText = JSON.stringify(
      {
        version: 2,
        config: TRACE.config,
        events: TRACE.events,
        index: Object.fromEntries([...TRACE.index].map(([gvk, m]) => [gvk, Object.fromEntries(m)])),
        pod_lifecycles: {},
      },
      (_k, v) => (typeof v === 'bigint' ? `@@${v}@@` : v),
      2,
    ).replace(/"@@(\d+)@@"/g, '$1');
    writeFileSync(jsonFile, jsonText);
    writeFileSync(join(dir, 'garbage.sktrace'), encodeTrace(TRACE).subarray(0, 100));
    // The CLI starts slowly (every command's modules load): run the four at once.
    [human, json, missing, garbage] = await Promise.all([
      sktrace('inspect', msgpackFile),
      sktrace('inspect', jsonFile, '--json'),
      sktrace('inspect', join(dir, 'nope.sktrace')),
      sktrace('inspect', join(dir, 'garbage.sktrace')),
    ]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('prints a readable summary', () => {
    assert.equal(human.code, 0, human.stderr);
    const out = human.stdout;
    assert.match(out, /shop\.sktrace: SimKube trace v2 \(msgpack, \d+ bytes\)/);
    assert.match(out, /tracked kinds: apps\/v1\.Deployment, batch\/v1\.CronJob/);
    assert.match(
      out,
      /window: 1700000000 \.\. 1700000900 \(2023-11-14T22:13:20Z \.\. 2023-11-14T22:28:20Z, 900 s\)/,
    );
    assert.match(out, /events: 4 \(1 empty\)/);
    assert.match(out, /apps\/v1\.Deployment: 2 objects, 3 applied, 1 deleted/);
    assert.match(out, /index: 3 entries \(apps\/v1\.Deployment 2, batch\/v1\.CronJob 1\)/);
    assert.match(out, /2 of 3 equal the spec hash/);
    assert.match(out, /mismatch: apps\/v1\.Deployment shop\/api: index 12345, spec hash \d+/);
    assert.match(out, /pod lifecycles: 1 owner, 3 lifecycles/);
    assert.match(out, /batch\/v1\.CronJob shop\/nightly: 2 pod specs, 2 finished, 1 running/);
  });

  test('--json prints the summary as JSON, u64 as strings', () => {
    assert.equal(json.code, 0, json.stderr);
    const doc = JSON.parse(json.stdout);
    assert.equal(doc.format, 'json');
    assert.equal(doc.events, 4);
    assert.deepEqual(doc.window, { firstTs: 1700000000, lastTs: 1700000900 });
    assert.deepEqual(doc.kinds['apps/v1.Deployment'], { objects: 2, applied: 3, deleted: 1 });
    assert.equal(doc.indexCheck.matched, 2);
    assert.equal(doc.indexCheck.mismatched[0].indexHash, '12345');
    assert.equal(doc.lifecycles.owners, 0);
  });

  test('a missing file: one line on stderr, exit 1', () => {
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, /^sktrace: cannot read trace .*nope\.sktrace: no such file\n$/);
  });

  test('a truncated file: the problem named, exit 1', () => {
    assert.equal(garbage.code, 1);
    assert.match(
      garbage.stderr,
      /^sktrace: .*garbage\.sktrace: truncated trace: the data ends inside the value at byte \d+ of 100\n$/,
    );
  });
});
