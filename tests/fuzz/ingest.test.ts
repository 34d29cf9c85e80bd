/**
 * Fuzzing the ingest function in-process: hostile requests (broken batches, bodies that are not
 * batches, bad JSON and nesting, wrong encodings, bad cluster ids, methods and credentials) through
 * the real handler on the real stores (dynalite, s3rver). Each must be refused with a 4xx and the
 * documented error body, and none may change the table or the bucket, or the built-in prototypes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ingestEvent, lambdaContext } from '../ingest/support.ts';
import {
  assertAllRefused,
  assertRefused,
  assertUnchanged,
  describeCounts,
  type FuzzEnv,
  prototypeFingerprint,
  type Snapshot,
  startFuzzEnv,
  tokenFor,
} from './harness.ts';
import { heavyIngestCases, hostileIngestArb, isValidBatchText } from './ingest-cases.ts';

const SEED = 0x1_6e57;
const RUNS = 6000;

describe('ingest fuzz (in-process handler, dynalite + s3rver)', () => {
  let env: FuzzEnv;
  let before0: Snapshot;
  const counts = new Map<string, number>();

  before(async () => {
    env = await startFuzzEnv();
    before0 = await env.snapshot();
  });
  after(() => env.close());

  test(`${RUNS} hostile ingest requests each get a 4xx with the error body (fast-check seed ${SEED})`, async (t) => {
    await assertAllRefused({
      api: 'ingest',
      seed: SEED,
      runs: RUNS,
      arb: hostileIngestArb(tokenFor),
      isValid: isValidBatchText,
      send: (req) => env.ingest(req.event, lambdaContext()),
      counts,
    });
    t.diagnostic(describeCounts(counts));
  });

  test('the heavy cases (bombs, limits, 100,000-deep nesting) are refused too', async (t) => {
    const prototypes = prototypeFingerprint();
    const cases = [...heavyIngestCases(tokenFor(0)), ...heavyIngestCases(tokenFor(1))];
    for (const req of cases) {
      if (req.bodyText !== undefined) assert.ok(!isValidBatchText(req.bodyText), req.kind);
      const error = assertRefused(await env.ingest(req.event, lambdaContext()), req.kind);
      if (req.expect?.code !== undefined) assert.equal(error.code, req.expect.code, req.kind);
    }
    assert.equal(prototypeFingerprint(), prototypes, 'built-in prototypes changed');
    t.diagnostic(`${cases.length} heavy requests`);
  });

  test('after them, every table item and bucket object is as before', async () => {
    assertUnchanged(before0, await env.snapshot());
  });

  test('control: a valid batch is accepted and does change the table (the comparison can fail)', async () => {
    const batch = {
      changes: [
        {
          type: 'applied',
          ts: 1_699_999_990,
          object: {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: 'fuzz-control', namespace: 'shop' },
            data: { a: 'b' },
          },
        },
      ],
    };
    const res = (await env.ingest(ingestEvent({ body: JSON.stringify(batch) }), lambdaContext())) as {
      statusCode: number;
    };
    assert.equal(res.statusCode, 200);
    const changed = await env.snapshot();
    assert.throws(() => assertUnchanged(before0, changed), assert.AssertionError);
  });
});
