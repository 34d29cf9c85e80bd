/**
 * Fuzzing the ingest function in-process: hostile requests (broken batches, bodies that are not
 * batches, bad JSON and nesting, wrong encodings, bad cluster ids, methods and credentials) through
 * the real handler on the real stores (dynalite, s3rver). Each must be refused with a 4xx and the
 * documented error body, and none may change the table or the bucket, or the built-in prototypes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { ingestEvent, lambdaContext } from '../ingest/support.ts';
import {
  assertRefused,
  assertUnchanged,
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
    const prototypes = prototypeFingerprint();
    try {
      await fc.assert(
        fc.asyncProperty(hostileIngestArb(tokenFor), async (req) => {
          if (req.bodyText !== undefined) {
            assert.ok(!isValidBatchText(req.bodyText), `the generator made a valid batch (${req.kind})`);
          }
          const error = assertRefused(await env.ingest(req.event, lambdaContext()), req.kind);
          if (req.expect?.code !== undefined) assert.equal(error.code, req.expect.code, req.kind);
          counts.set(req.kind, (counts.get(req.kind) ?? 0) + 1);
        }),
        { seed: SEED, numRuns: RUNS },
      );
    } catch (err) {
      throw new Error(`ingest fuzz failed with fast-check seed ${SEED}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    assert.equal(prototypeFingerprint(), prototypes, 'built-in prototypes changed');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const sent = [...counts.values()].reduce((a, b) => a + b, 0);
    assert.ok(sent >= RUNS, `${sent} requests sent`);
    t.diagnostic(
      `kinds: ${[...counts]
        .sort()
        .map(([k, n]) => `${k}=${n}`)
        .join('; ')}`,
    );
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
