/**
 * A request DynamoDB refuses as invalid (ValidationException) is a 422 naming the change, never
 * a 5xx a sender retries forever. The batch here skips validation on purpose (validation refuses
 * these keys first): dynalite's real ValidationException for a sort key over 1,024 bytes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { problemOf } from '../../lib/http/errors.ts';
import type { Batch } from '../../lib/ingest/wire.ts';
import { StoreRejectedError } from '../../lib/store/errors.ts';
import { type LocalAws, startLocalAws } from '../support/local-aws.ts';
import { makeStore, NOW } from './support.ts';

let aws: LocalAws;
let store: DynamoTraceStore;
before(async () => {
  aws = await startLocalAws();
  store = makeStore(aws);
});
after(() => aws.close());

test('a ValidationException from the store names the change and maps to 422', async () => {
  // A lifecycle whose pod id has 1,100 characters. (dynalite counts a key's characters, not its
  // UTF-8 bytes, so a pod of 509 two-byte characters passes it; real DynamoDB refuses both.
  // tests/store/key-limits.test.ts counts bytes itself for that reason.)
  const batch: Batch = {
    changes: [
      {
        type: 'applied',
        ts: NOW - 10,
        object: {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'ok', namespace: 'shop' },
          spec: {},
        },
      },
      {
        type: 'lifecycle',
        ts: NOW - 10,
        owner: { gvk: 'apps/v1.Deployment', ns_name: 'shop/ok' },
        pod: 'p'.repeat(1100),
        pod_spec_hash: '1',
        start_ts: NOW - 10,
      },
    ],
  };
  const err = await store.applyBatch('rejected', batch, { nowSec: NOW }).then(
    () => assert.fail('the store accepted a sort key of over 1,100 bytes'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof StoreRejectedError, `got ${String(err)}`);
  assert.equal(err.context.index, 1);
  assert.equal(err.context.field, 'changes[1]');
  assert.match(err.message, /ValidationException/);
  const problem = problemOf(err);
  assert.equal(problem.status, 422);
  assert.equal(problem.body.error.code, 'store_rejected');
  assert.equal(problem.body.error.index, 1);
  assert.equal(problem.body.error.field, 'changes[1]');
});

test("a refusal outside one change (the batch's kind registry) is still a 422, not a 5xx", async () => {
  const batch: Batch = {
    changes: [
      {
        type: 'applied',
        ts: NOW - 10,
        object: { apiVersion: 'apps/v1', kind: `D${'e'.repeat(1099)}`, metadata: { name: 'x' }, spec: {} },
      },
    ],
  };
  const err = await store.applyBatch('rejected', batch, { nowSec: NOW }).then(
    () => assert.fail('the store accepted a 1,100-character kind'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof StoreRejectedError, `got ${String(err)}`);
  assert.equal(problemOf(err).status, 422);
});
