/**
 * Fuzzing the exports function in-process: broken ExportRequests (timestamps, unknown fields,
 * filters, label selectors carrying kubectl syntax or prototype keys, deep nesting), bodies that
 * are none, wrong encodings, sizes, paths, methods and credentials, and status requests for jobs
 * that are not the cluster's. Each must get a 4xx with the documented error body; none may start
 * a job or change the table or the bucket.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { lambdaContext } from '../ingest/support.ts';
import { hostileExportsArb, isValidExportText, validExportRequest } from './exports-cases.ts';
import {
  assertAllRefused,
  assertUnchanged,
  describeCounts,
  exportsEvent,
  type FuzzEnv,
  type Snapshot,
  startFuzzEnv,
  tokenFor,
} from './harness.ts';

const SEED = 0xe4_9047;
const RUNS = 4000;

describe('exports fuzz (in-process handler, dynalite + s3rver)', () => {
  let env: FuzzEnv;
  let before0: Snapshot;

  before(async () => {
    env = await startFuzzEnv();
    before0 = await env.snapshot();
  });
  after(() => env.close());

  test(`${RUNS} hostile export requests each get a 4xx with the error body (fast-check seed ${SEED})`, async (t) => {
    const counts = new Map<string, number>();
    await assertAllRefused({
      api: 'exports',
      seed: SEED,
      runs: RUNS,
      arb: hostileExportsArb(tokenFor, env.jobId),
      isValid: isValidExportText,
      send: (req) => env.exports(req.event, lambdaContext()),
      counts,
    });
    assert.deepEqual(env.launcher.launched, [], 'no export job was launched');
    t.diagnostic(describeCounts(counts));
  });

  test('after them, every table item and bucket object is as before', async () => {
    assertUnchanged(before0, await env.snapshot());
  });

  test('control: the valid request the breakers start from is accepted (202) and writes a job', async () => {
    const res = (await env.exports(
      exportsEvent({ body: JSON.stringify(validExportRequest()) }),
      lambdaContext(),
    )) as {
      statusCode: number;
    };
    assert.equal(res.statusCode, 202);
    assert.equal(env.launcher.launched.length, 1);
    const changed = await env.snapshot();
    assert.throws(() => assertUnchanged(before0, changed), assert.AssertionError);
  });
});
