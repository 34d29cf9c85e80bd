import assert from 'node:assert/strict';
import { test } from 'node:test';
import { killRestart } from './cases.ts';
import { explain, postMortem } from './harness.ts';

test('forwarder SIGKILLed twice and restarted: no change lost, duplicated, or deleted wrongly', async () => {
  const r = await killRestart.run('fast');
  assert.ok(r.ok, `${explain(r)}\n${postMortem(r)}`);
  assert.equal(r.restarts, 2);
  assert.ok(r.verdict.required > 50, `a real workload ran (${r.verdict.required} required changes)`);
});
