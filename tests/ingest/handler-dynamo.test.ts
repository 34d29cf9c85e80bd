/**
 * The ingest route end to end through the real stores: DynamoTraceStore and DynamoTokenStore on
 * dynalite, S3BlobStore on s3rver (tests/support/local-aws.ts), through the production SDK calls.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ingestDepsFromEnv } from '../../functions/ingest/deps.ts';
import { handler as lambdaHandler, makeHandler } from '../../functions/ingest/handler.ts';
import { generateToken, hashToken } from '../../lib/auth/token.ts';
import { DynamoTokenStore } from '../../lib/aws/dynamo-token-store.ts';
import { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { S3BlobStore } from '../../lib/aws/s3-blob-store.ts';
import { type LocalAws, startLocalAws } from '../support/local-aws.ts';
import {
  asResponse,
  CapturingLogger,
  deployment,
  errorOf,
  ingestEvent,
  lambdaContext,
  NOW_MS,
  NOW_SEC,
  validBatch,
} from './support.ts';

let aws: LocalAws;
let token: string;

before(async () => {
  aws = await startLocalAws();
  const created = generateToken();
  token = created.token;
  await new DynamoTokenStore({ client: aws.dynamo, tableName: aws.tableName }).put({
    cluster: 'demo',
    tokenId: created.tokenId,
    tokenHash: created.tokenHash,
    createdAtSec: NOW_SEC,
  });
});
after(() => aws.close());

/**
 * Every item of the table except token items and change-feed records, as comparable JSON. The feed
 * is a log of deliveries: a redelivered batch appends its own record by design (lib/store/feed.ts;
 * tests/store/feed.test.ts covers it).
 */
async function traceItems(): Promise<string[]> {
  const items: string[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await aws.dynamo.send(
      new ScanCommand({
        TableName: aws.tableName,
        ...(startKey ? { ExclusiveStartKey: startKey as never } : {}),
      }),
    );
    for (const item of page.Items ?? []) {
      const pk = item.pk?.S ?? '';
      if (!pk.startsWith('TOKEN#') && !pk.includes('#TOKENS') && !pk.startsWith('FEED#'))
        items.push(JSON.stringify(item));
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items.sort();
}

function realHandler(logger = new CapturingLogger()) {
  const writer = new DynamoTraceStore({
    dynamo: aws.dynamo,
    tableName: aws.tableName,
    blobs: new S3BlobStore(aws.s3, aws.bucket),
  });
  const tokens = new DynamoTokenStore({ client: aws.dynamo, tableName: aws.tableName });
  const handler = makeHandler({ writer, tokens, logger, clock: () => NOW_MS });
  return async (event: APIGatewayProxyEventV2) => asResponse(await handler(event, lambdaContext()));
}

describe('ingest through DynamoDB (dynalite) and S3 (s3rver)', () => {
  test('a batch is written once: redelivery leaves the same items', async () => {
    const logger = new CapturingLogger();
    const post = realHandler(logger);
    const body = JSON.stringify(validBatch());

    const first = await post(ingestEvent({ token, body }));
    assert.equal(first.statusCode, 200, first.body);
    assert.equal(JSON.parse(first.body).accepted, 6);
    const afterFirst = await traceItems();
    assert.ok(afterFirst.length > 0);

    const again = await post(ingestEvent({ token, body }));
    assert.equal(again.statusCode, 200, again.body);
    assert.deepEqual(await traceItems(), afterFirst, 'a redelivered batch changes no item');

    const [line] = logger.find('batch applied');
    assert.ok(line);
    assert.equal(line.cluster, 'demo');
    assert.equal(line.changes, 6);
    assert.ok((line.writeUnits as number) > 0, 'write units come from ReturnConsumedCapacity');
    assert.ok((line.readUnits as number) >= 0);
  });

  test('a rejected batch writes nothing, even when its first changes are valid', async () => {
    const post = realHandler();
    const before = await traceItems();
    const batch = {
      changes: [
        { type: 'applied', ts: NOW_SEC - 5, object: deployment('fresh-1') },
        { type: 'applied', ts: NOW_SEC - 5, object: deployment('fresh-2') },
        { type: 'applied', ts: NOW_SEC * 1000, object: deployment('fresh-3') },
      ],
    };
    const res = await post(ingestEvent({ token, body: JSON.stringify(batch) }));
    assert.equal(res.statusCode, 400);
    assert.deepEqual(
      { code: errorOf(res).code, index: errorOf(res).index },
      { code: 'ts_in_future', index: 2 },
    );
    assert.deepEqual(await traceItems(), before);
  });

  test('write units of one ~3 KB Deployment reach the cost log', async (t) => {
    const logger = new CapturingLogger();
    const post = realHandler(logger);
    const object = deployment('three-kb');
    (object.metadata as Record<string, unknown>).annotations = { note: 'n'.repeat(2700) };
    const size = Buffer.byteLength(JSON.stringify(object));
    assert.ok(size > 2500 && size < 3500, `object is ${size} bytes`);
    const res = await post(
      ingestEvent({
        token,
        body: JSON.stringify({ changes: [{ type: 'applied', ts: NOW_SEC - 1, object }] }),
      }),
    );
    assert.equal(res.statusCode, 200, res.body);
    const [line] = logger.find('batch applied');
    assert.ok(line);
    assert.ok((line.writeUnits as number) >= 1, `writeUnits ${line.writeUnits}`);
    // Reported, not asserted: the store's own tests bound it (docs/storage.md).
    t.diagnostic(
      `write units for one ${size}-byte Deployment: ${line.writeUnits}, read units ${line.readUnits}`,
    );
  });

  test('the Lambda entry point builds its dependencies from the environment once', async () => {
    const local = `skt_${'L'.repeat(43)}`;
    Object.assign(process.env, {
      TABLE_NAME: aws.tableName,
      BUCKET_NAME: aws.bucket,
      DYNAMODB_ENDPOINT: aws.endpoints.dynamo,
      S3_ENDPOINT: aws.endpoints.s3,
      GLOBAL_TOKEN_HASHES: hashToken(local),
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    });
    const sample = JSON.parse(
      readFileSync(new URL('../../events/ingest-valid.json', import.meta.url), 'utf8'),
    ) as APIGatewayProxyEventV2;
    const withToken = (t: string, cluster = 'demo'): APIGatewayProxyEventV2 => ({
      ...sample,
      pathParameters: { cluster },
      rawPath: `/v1/clusters/${cluster}/events`,
      headers: { ...sample.headers, authorization: `Bearer ${t}` },
    });
    const first = asResponse(await lambdaHandler(withToken(token), lambdaContext()));
    assert.equal(first.statusCode, 200, first.body);
    const global = asResponse(await lambdaHandler(withToken(local, 'elsewhere'), lambdaContext()));
    assert.equal(global.statusCode, 200, global.body);
    const unknown = asResponse(await lambdaHandler(withToken(`skt_${'u'.repeat(43)}`), lambdaContext()));
    assert.equal(unknown.statusCode, 401);
  });

  const badEnvs: [string, Record<string, string>, RegExp][] = [
    ['no table', { BUCKET_NAME: 'b' }, /TABLE_NAME is required/],
    ['no bucket', { TABLE_NAME: 't' }, /BUCKET_NAME is required/],
    ['a bad auth mode', { TABLE_NAME: 't', BUCKET_NAME: 'b', AUTH_MODE: 'none' }, /AUTH_MODE/],
    [
      'a token where a hash belongs',
      { TABLE_NAME: 't', BUCKET_NAME: 'b', GLOBAL_TOKEN_HASHES: 'skt_x' },
      /hashes/,
    ],
    ['a bad retention', { TABLE_NAME: 't', BUCKET_NAME: 'b', RETENTION_DAYS: 'forever' }, /RETENTION_DAYS/],
  ];
  for (const [name, env, message] of badEnvs) {
    test(`the environment with ${name} fails at cold start`, () => {
      assert.throws(() => ingestDepsFromEnv(env), message);
    });
  }

  test('IAM mode from the environment', () => {
    const deps = ingestDepsFromEnv({
      TABLE_NAME: 't',
      BUCKET_NAME: 'b',
      AUTH_MODE: 'iam',
      AWS_REGION: 'eu-west-1',
    });
    assert.deepEqual(deps.auth, { mode: 'iam' });
  });
});
