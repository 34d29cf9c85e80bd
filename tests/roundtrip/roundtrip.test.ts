/**
 * Import then export through the HTTP API of an in-process local stack (the production handlers on
 * dynalite and s3rver): the full window gives the trace back, and windows inside it, with and
 * without filters, equal the reference semantics (`assembleFromHistory`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../../lib/cli/client.ts';
import type { LocalStack } from '../../lib/local/serve.ts';
import { compareTraces } from '../../lib/roundtrip/compare.ts';
import { fullWindow, historyOfTrace, NO_FILTERS, referenceExport } from '../../lib/roundtrip/reference.ts';
import { roundTripTrace } from '../../lib/roundtrip/run.ts';
import { exportTrace, importTrace } from '../../lib/roundtrip/transfer.ts';
import type { ExportFilters, TraceWindow } from '../../lib/trace/model.ts';
import { type OracleLifecycles, oracleExport } from '../export/oracle/collect-events.ts';
import { comparable } from '../export/oracle/histories.ts';
import { startTestStack } from '../support/local-stack.ts';
import { generatedTrace, T0 } from './fixtures.ts';

/** The file's lifecycles, in file order, for the oracle. */
function oracleLifecycles(trace: import('../../lib/trace/model.ts').Trace): OracleLifecycles[] {
  return [...trace.podLifecycles.values()].flatMap(({ owner, bySpecHash }) =>
    [...bySpecHash].map(([podSpecHash, lifecycles]) => ({ owner, podSpecHash, lifecycles })),
  );
}

describe('round trip through the local stack', () => {
  let stack: LocalStack;
  let client: ApiClient;

  before(async () => {
    ({ stack, client } = await startTestStack());
    await importTrace(client, 'gen', generatedTrace());
    await importTrace(client, 'gen-simkube', generatedTrace({ emptyFirstEvent: true }));
  });

  after(async () => {
    await stack.close();
  });

  for (const [cluster, emptyFirstEvent] of [
    ['gen', false],
    ['gen-simkube', true],
  ] as const) {
    it(`gives the trace back over its full window (${emptyFirstEvent ? 'SimKube-style first second' : 'start state in the first event'})`, async () => {
      const original = generatedTrace({ emptyFirstEvent });
      const window = fullWindow(original)!;
      assert.deepEqual(window, { startTs: T0, endTs: T0 + 101 });
      const { trace, job } = await exportTrace(client, cluster, window, NO_FILTERS, { pollMs: 20 });
      const fidelity = compareTraces(original, trace);
      assert.deepEqual(fidelity.differences, []);
      assert.deepEqual(compareTraces(referenceExport(original, window), trace).differences, []);
      // Kinds SimKube refuses (a Service has no pod template) leave the config, not the events.
      assert.deepEqual(Object.keys(trace.config.trackedObjects), [
        'apps/v1.Deployment',
        'batch/v1.CronJob',
        'v1.Pod',
      ]);
      assert.ok(trace.events.some((e) => e.applied_objs.some((o) => o.kind === 'Service')));
      assert.equal(job.counts?.objects, 8);
    });
  }

  const windows: TraceWindow[] = [
    { startTs: T0 + 5, endTs: T0 + 30 },
    { startTs: T0 + 22, endTs: T0 + 62 },
    // bare-1 finished at +50: it leaves the start state, and its deletion at +61 goes with it.
    { startTs: T0 + 55, endTs: T0 + 101 },
    { startTs: T0 + 61, endTs: T0 + 62 },
    { startTs: T0 + 100, endTs: T0 + 200 },
    { startTs: T0 - 50, endTs: T0 + 1 },
    { startTs: T0 + 200, endTs: T0 + 300 },
  ];
  const filterSets: [string, ExportFilters][] = [
    ['no filters', NO_FILTERS],
    ['namespace data', { excluded_namespaces: ['data'], excluded_labels: [] }],
    ['tier=front', { excluded_namespaces: [], excluded_labels: [{ matchLabels: { tier: 'front' } }] }],
    [
      'tier notin (back), canary exists',
      {
        excluded_namespaces: ['ops'],
        excluded_labels: [
          {
            matchExpressions: [
              { key: 'tier', operator: 'NotIn', values: ['back'] },
              { key: 'app', operator: 'Exists' },
            ],
          },
          { matchExpressions: [{ key: 'canary', operator: 'Exists' }] },
        ],
      },
    ],
  ];
  for (const window of windows) {
    it(`equals the reference export for [T0${window.startTs - T0 >= 0 ? '+' : ''}${window.startTs - T0}, T0+${window.endTs - T0}) under every filter`, async () => {
      const original = generatedTrace();
      for (const [name, filters] of filterSets) {
        const { trace } = await exportTrace(client, 'gen', window, filters, { pollMs: 20 });
        const result = compareTraces(referenceExport(original, window, filters), trace);
        assert.deepEqual(result.differences, [], name);
        // Judged by the independent oracle too (tests/export/oracle), not by lib/trace's assembler.
        assert.deepEqual(
          comparable(trace),
          oracleExport(
            historyOfTrace(original),
            window,
            filters,
            original.config,
            oracleLifecycles(original),
          ),
          name,
        );
        assert.equal(trace.events[0]!.ts, window.startTs, `${name}: the first event is at the start`);
      }
    });
  }

  it('gives the same export after importing the same trace again (imports are idempotent)', async () => {
    const window = fullWindow(generatedTrace())!;
    const before = await exportTrace(client, 'gen', window, NO_FILTERS, { pollMs: 20 });
    const again = await importTrace(client, 'gen', generatedTrace());
    assert.equal(again.accepted, again.changes);
    const after = await exportTrace(client, 'gen', window, NO_FILTERS, { pollMs: 20 });
    assert.deepEqual(after.bytes, before.bytes);
  });

  it('passes the conformance round trip (full, inner and filtered windows) on a generated trace', async () => {
    const result = await roundTripTrace(client, 'gen-rt', 'generated', generatedTrace());
    assert.equal(result.error, undefined);
    assert.deepEqual(
      result.cases.map((c) => [c.name, c.comparison?.equal, c.error]),
      [
        ['full window', true, undefined],
        ['inner window', true, undefined],
        ['full window, filtered', true, undefined],
      ],
    );
    assert.equal(result.cases[0]!.fidelity?.equal, true);
    assert.equal(result.ok, true);
  });
});
