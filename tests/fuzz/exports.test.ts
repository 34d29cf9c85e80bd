/**
 * Fuzzing the exports function in-process: broken ExportRequests (timestamps, unknown fields,
 * filters, label selectors carrying kubectl syntax or prototype keys, deep nesting), bodies that
 * are none, wrong encodings, sizes, paths, methods and credentials, and status requests for jobs
 * that are not the cluster's. Each must get a 4xx with the documented error body; none may start
 * a job or change the table or the bucket.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { lambdaContext } from '../ingest/support.ts';
import { hostileExportsArb, isValidExportText, validExportRequest } from './exports-cases.ts';
import {
  assertRefused,
  assertUnchanged,
  exportsEvent,
  type FuzzEnv,
  prototypeFingerprint,
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
    const prototypes = prototypeFingerprint();
    const counts = new Map<string, number>();
    try {
      await fc.assert(
        fc.asyncProperty(hostileExportsArb(tokenFor, env.jobId), async (req) => {
          if (req.bodyText !== undefined) {
            assert.ok(!isValidExportText(req.bodyText), `the generator made a valid request (${req.kind})`);
          }
          const error = assertRefused(await env.exports(req.event, lambdaContext()), req.kind);
          if (req.expect?.code !== undefined) assert.equal(error.code, req.expect.code, req.kind);
          counts.set(req.kind, (counts.get(req.kind) ?? 0) + 1);
        }),
        { seed: SEED, numRuns: RUNS },
      );
    } catch (err) {
      throw new Error(`exports fuzz failed with fast-check seed ${SEED}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    assert.equal(prototypeFingerprint(), prototypes, 'built-in prototypes changed');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(env.launcher.launched, [], 'no export job was launched');
    const sent = [...counts.values()].reduce((a, b) => a + b, 0);
    assert.ok(sent >= RUNS, `${sent} requests sent`);
    t.diagnostic(
      `kinds: ${[...counts]
        .sort()
        .map(([k, n]) => `${k}=${n}`)
        .join('; ')}`,
    );
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
