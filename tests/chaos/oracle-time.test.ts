/**
 * The whole harness against a sender that stamps late (negative control, a real forwarder child
 * and the local stack, ~8 s): the ingest proxy moves every change's stamp 40 s later; nothing is
 * lost or duplicated, so only the oracle's time rule can notice, and it must — for every matched
 * change. The oracle's time rule itself is tested on small histories in oracle.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { controlLateStamps } from './cases.ts';
import { explain } from './harness.ts';

test('chaos control: every change stamped 40 s late is reported mistimed, and nothing else', async () => {
  const r = await controlLateStamps.run('fast');
  assert.ok(r.ok, `${r.problems.join('\n')}\n${explain(r)}`);
  assert.ok(r.verdict.matched > 30, `a real workload ran (${r.verdict.matched} matched changes)`);
  // The measured stamping lag shows the shift too: the harness reads the stamps the store got.
  const lag = r.notes.stampLagMs as { n: number; min: number };
  assert.ok(lag.n > 0 && lag.min >= 39_000, `stamp lag ${JSON.stringify(lag)}`);
});
