/**
 * The independent export oracle, store-backed half: histories posted to the ingest API of a local
 * stack (the production handlers, the store on dynalite, exports to s3rver), exported through the
 * exports API, decoded, and judged by the hand-written tables (oracle/table.ts) and by the simple
 * collect_events (oracle/collect-events.ts) for random histories. Judges outputs only — whatever
 * the pipeline does inside (streaming, checkpoints, paging), the trace must be this one.
 *
 * Mutations caught: the same assembly mutations as oracle.test.ts, plus the store's own rules
 * (lib/store/rules.ts) — a spec-unchanged re-apply written as an event (4 of 7 tests fail), two
 * changes of one second ordered backwards by seq (3 fail). (A deletion of an object not alive
 * stored as an event changes no export — assembly drops deletions the replay does not hold — so
 * it is no regression these outputs can show.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { ApiClient } from '../../lib/cli/client.ts';
import type { LocalStack } from '../../lib/local/serve.ts';
import { exportTrace } from '../../lib/roundtrip/transfer.ts';
import { startTestStack } from '../support/local-stack.ts';
import { oracleExport } from './oracle/collect-events.ts';
import { comparable, type History, historyArb, postHistory, T0 } from './oracle/histories.ts';
import {
  asTable,
  sortedLifecycles,
  TABLE_CASES,
  TABLE_CONFIG,
  TABLE_HISTORY,
  TABLE_LIFECYCLES,
  tableOf,
} from './oracle/table.ts';

const RUNS = 12;

describe('export oracle through the store (local stack)', () => {
  let stack: LocalStack;
  let client: ApiClient;
  before(async () => {
    ({ stack, client } = await startTestStack());
    const table: History = {
      changes: TABLE_HISTORY,
      lifecycles: TABLE_LIFECYCLES,
      config: TABLE_CONFIG,
      window: { startTs: T0, endTs: T0 + 1 },
      filters: { excluded_namespaces: [], excluded_labels: [] },
    };
    await postHistory(client, 'table', table);
  });
  after(async () => {
    await stack?.close();
  });

  for (const c of TABLE_CASES) {
    test(`the exported trace is the table: ${c.name}`, async () => {
      const { trace } = await exportTrace(client, 'table', c.window, c.filters, { pollMs: 20 });
      assert.deepEqual(sortedLifecycles(asTable(comparable(trace))), tableOf(c));
    });
  }

  test(`random histories: the exported trace equals the simple implementation (${RUNS} histories)`, async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(historyArb, async (h) => {
        const cluster = `oracle-${run++}`;
        await postHistory(client, cluster, h);
        const { trace } = await exportTrace(client, cluster, h.window, h.filters, { pollMs: 20 });
        assert.deepEqual(
          comparable(trace),
          oracleExport(h.changes, h.window, h.filters, h.config, h.lifecycles),
        );
      }),
      { seed: 16, numRuns: RUNS, endOnFailure: true },
    );
  });
});
