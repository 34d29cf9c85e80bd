/**
 * The independent oracle for export assembly, pure half (the store-backed half is
 * oracle-store.integration.test.ts):
 * - hand-written exports of representative windows of one small history (oracle/table.ts), which
 *   both the oracle and lib/trace/assemble.ts must give;
 * - random histories (fast-check): lib/trace/assemble.ts's `assembleFromHistory` must give what the
 *   oracle (oracle/collect-events.ts, SimKube's collect_events with sktrace's documented
 *   differences) gives — events, index and pod lifecycles.
 *
 * Mutations caught (each tried, then restored): dropping the owner check of in-window changes
 * (the RS and pod of the table appear), keeping deletions of objects the replay never held (the
 * phantom Service deletion appears), carrying finished bare pods into the start state, clamping no
 * lifecycle starts, keeping the first of two same-second changes — each fails a table case and the
 * property with a shrunk counterexample.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { assembleFromHistory } from '../../lib/trace/assemble.ts';
import { tracerConfigFromDoc } from '../../lib/trace/config.ts';
import { oracleExport } from './oracle/collect-events.ts';
import { comparable, historyArb } from './oracle/histories.ts';
import {
  asTable,
  sortedLifecycles,
  TABLE_CASES,
  TABLE_CONFIG,
  TABLE_HISTORY,
  TABLE_LIFECYCLES,
  tableOf,
} from './oracle/table.ts';

describe('export oracle: hand-written windows', () => {
  for (const c of TABLE_CASES) {
    test(`the oracle gives the table: ${c.name}`, () => {
      const got = oracleExport(TABLE_HISTORY, c.window, c.filters, TABLE_CONFIG, TABLE_LIFECYCLES);
      assert.deepEqual(sortedLifecycles(asTable(got)), tableOf(c));
    });
    test(`assembleFromHistory gives the table: ${c.name}`, () => {
      const trace = assembleFromHistory(
        TABLE_HISTORY,
        c.window,
        c.filters,
        tracerConfigFromDoc(TABLE_CONFIG),
        TABLE_LIFECYCLES,
      );
      assert.deepEqual(sortedLifecycles(asTable(comparable(trace))), tableOf(c));
    });
  }
});

test('export oracle: random histories — assembleFromHistory equals the simple implementation (1,000 histories)', () => {
  fc.assert(
    fc.property(historyArb, (h) => {
      const want = oracleExport(h.changes, h.window, h.filters, h.config, h.lifecycles);
      const got = comparable(
        assembleFromHistory(h.changes, h.window, h.filters, tracerConfigFromDoc(h.config), h.lifecycles),
      );
      assert.deepEqual(got, want);
    }),
    { seed: 16, numRuns: 1_000 },
  );
});
