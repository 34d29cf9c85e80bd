/**
 * Fast chaos cases at the API server and the store, beside kill.test.ts and delivery.test.ts (each a real forwarder child, the local stack and the
 * simulated API server, ~10 s). The long versions, and the cases left out here (watches dropped
 * every N events, DynamoDB throttling, the endpoint down), run in `npm run chaos` (bench/chaos.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ChaosCase, goneStorm, partialWrites } from './cases.ts';
import { explain, postMortem } from './harness.ts';

const cases: Array<{ c: ChaosCase; faultsAtLeast: number }> = [
  { c: goneStorm, faultsAtLeast: 4 },
  { c: partialWrites, faultsAtLeast: 10 },
];

for (const { c, faultsAtLeast } of cases) {
  test(`chaos: ${c.name} — no change lost, duplicated, or deleted wrongly`, async () => {
    const r = await c.run('fast');
    assert.ok(r.ok, `${explain(r)}\n${postMortem(r)}`);
    // The case really injected its faults on a real workload.
    assert.ok(r.faults >= faultsAtLeast, `faults injected: ${r.faults}`);
    assert.ok(r.verdict.required > 50, `required changes: ${r.verdict.required}`);
  });
}
