import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { makeHandler } from '../../functions/ingest/handler.ts';
import { generateToken, hashToken, TOKEN_PATTERN } from '../../lib/auth/token.ts';
import { DynamoTokenStore } from '../../lib/aws/dynamo-token-store.ts';
import { createToken, listTokens, revokeToken, type TokenIo } from '../../lib/cli/commands/token.ts';
import {
  asResponse,
  CapturingLogger,
  ingestEvent,
  lambdaContext,
  NOW_MS,
  NOW_SEC,
  RecordingWriter,
} from '../ingest/support.ts';
import { type LocalAws, startLocalAws } from '../support/local-aws.ts';

const run = promisify(execFile);

let local: LocalAws;
let store: DynamoTokenStore;
before(async () => {
  local = await startLocalAws();
  store = new DynamoTokenStore({ client: local.dynamo, tableName: local.tableName });
});
after(() => local.close());

async function scan() {
  const out = await local.dynamo.send(new ScanCommand({ TableName: local.tableName }));
  return out.Items ?? [];
}

describe('DynamoTokenStore on dynalite', () => {
  test('put writes a lookup and a listing item holding only the hash', async () => {
    const t = generateToken();
    await store.put({ cluster: 'alpha', tokenId: t.tokenId, tokenHash: t.tokenHash, createdAtSec: NOW_SEC });
    const items = (await scan()).filter((i) => i.tokenId?.S === t.tokenId);
    const keys = items.map((i) => `${i.pk?.S} ${i.sk?.S}`).sort();
    assert.deepEqual(keys, [`CLUSTER#alpha#TOKENS ${t.tokenId}`, `TOKEN#${t.tokenHash} TOKEN`].sort());
    assert.ok(!JSON.stringify(items).includes(t.token), 'the token itself is never stored');
  });

  test('findByHash finds a token of any cluster; list is per cluster; revoke removes both items', async () => {
    const a = generateToken();
    const b = generateToken();
    await store.put({
      cluster: 'beta',
      tokenId: a.tokenId,
      tokenHash: a.tokenHash,
      createdAtSec: 1,
      description: 'ci',
    });
    await store.put({ cluster: 'gamma', tokenId: b.tokenId, tokenHash: b.tokenHash, createdAtSec: 2 });
    assert.deepEqual(await store.findByHash(a.tokenHash), {
      cluster: 'beta',
      tokenId: a.tokenId,
      tokenHash: a.tokenHash,
      createdAtSec: 1,
      description: 'ci',
    });
    assert.equal((await store.findByHash(b.tokenHash))?.cluster, 'gamma');
    assert.equal(await store.findByHash(hashToken('nope')), undefined);
    assert.deepEqual(
      (await store.list('beta')).map((r) => r.tokenId),
      [a.tokenId],
    );

    assert.equal(await store.revoke('gamma', a.tokenId), false, "another cluster cannot revoke beta's token");
    assert.ok(await store.findByHash(a.tokenHash));
    assert.equal(await store.revoke('beta', a.tokenId), true);
    assert.equal(await store.findByHash(a.tokenHash), undefined);
    assert.deepEqual(await store.list('beta'), []);
    assert.equal(await store.revoke('beta', a.tokenId), false, 'revoking twice is a no-op');
  });

  test('list pages through more tokens than one Query returns', async () => {
    // A Query returns at most 1 MB: 12 items of ~100 KB take two pages.
    const description = 'x'.repeat(100_000);
    const tokens = Array.from({ length: 12 }, () => generateToken());
    for (const [i, t] of tokens.entries()) {
      await store.put({
        cluster: 'many',
        tokenId: t.tokenId,
        tokenHash: t.tokenHash,
        createdAtSec: i,
        description,
      });
    }
    const listed = await store.list('many');
    assert.deepEqual(listed.map((r) => r.tokenId).sort(), tokens.map((t) => t.tokenId).sort());
  });

  test('a failing endpoint surfaces as store_unavailable', async () => {
    const { openDynamoTokenStore } = await import('../../lib/aws/dynamo-token-store.ts');
    const dead = openDynamoTokenStore({ tableName: 't', endpoint: 'http://127.0.0.1:1' });
    await assert.rejects(dead.findByHash(hashToken('x')), { code: 'store_unavailable' });
  });

  test('a missing table is a store_error (500), not a retryable status', async () => {
    const missing = new DynamoTokenStore({ client: local.dynamo, tableName: 'no-such-table' });
    await assert.rejects(missing.findByHash(hashToken('x')), { code: 'store_error' });
  });
});

/** The CLI must work against a local endpoint with no AWS credentials configured at all. */
function withoutAwsCredentials(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'])
    delete env[name];
  return env;
}

/** Runs a token command in this process with fake output; returns what it printed on stdout. */
async function inProcess(
  command: (opts: never, io: TokenIo) => Promise<void>,
  flags: Record<string, string | boolean>,
  env: Record<string, string> = {},
): Promise<string> {
  let out = '';
  const io: TokenIo = { out: (t) => (out += t), err: () => {}, env, nowSec: () => NOW_SEC };
  const opts = { table: local.tableName, endpointUrl: local.endpoints.dynamo, ...flags };
  await command(opts as never, io);
  return out;
}

describe('sktrace token … against a local DynamoDB', () => {
  const cli = (...args: string[]) =>
    run(
      process.execPath,
      [
        'lib/cli/sktrace.mjs',
        'token',
        ...args,
        '--table',
        local.tableName,
        '--endpoint-url',
        local.endpoints.dynamo,
      ],
      {
        env: withoutAwsCredentials(),
      },
    );

  test('create prints the token once; it authenticates the ingest handler; revoke stops it', async () => {
    const created = await cli('create', '--cluster', 'delta', '--description', 'forwarder prod');
    const token = created.stdout.trim();
    assert.match(token, TOKEN_PATTERN);
    const tokenId = /created (tok_[0-9a-f]+)/.exec(created.stderr)?.[1];
    assert.ok(tokenId, created.stderr);
    assert.ok(!created.stderr.includes(token), 'the token is printed on stdout only');

    const listed = await inProcess(listTokens, { cluster: 'delta', json: true });
    const rows = JSON.parse(listed) as { tokenId: string; description: string }[];
    assert.deepEqual(
      rows.map((r) => [r.tokenId, r.description]),
      [[tokenId, 'forwarder prod']],
    );
    assert.ok(!listed.includes(token));

    const handler = makeHandler({
      writer: new RecordingWriter(),
      tokens: store,
      logger: new CapturingLogger(),
      clock: () => NOW_MS,
    });
    const post = async (cluster: string): Promise<number> => {
      const event: APIGatewayProxyEventV2 = ingestEvent({ cluster, token, body: '{"changes":[]}' });
      return asResponse(await handler(event, lambdaContext())).statusCode;
    };
    assert.equal(await post('delta'), 200);
    assert.equal(await post('epsilon'), 403);

    const revoked = await inProcess(revokeToken, { cluster: 'delta', tokenId });
    assert.equal(revoked.trim(), `revoked ${tokenId}`);
    assert.equal(await post('delta'), 401);
  });

  test('revoking an unknown id is a not_found error', async () => {
    await assert.rejects(inProcess(revokeToken, { cluster: 'delta', tokenId: 'tok_0000' }), {
      code: 'not_found',
      message: 'cluster delta has no token tok_0000',
    });
  });

  // Usage errors surface before any store call.
  test('a bad cluster id is a usage error', async () => {
    await assert.rejects(inProcess(createToken, { cluster: 'Bad#Id' }), {
      code: 'usage',
      message: /--cluster "Bad#Id" must match/,
    });
  });

  test('the table comes from --table, else SKTRACE_TABLE, else it is a usage error', async () => {
    const listNoTable = (env: Record<string, string>) =>
      listTokens(
        { cluster: 'delta', endpointUrl: local.endpoints.dynamo },
        {
          out: () => {},
          err: () => {},
          env,
          nowSec: () => NOW_SEC,
        },
      );
    await listNoTable({ SKTRACE_TABLE: local.tableName });
    await assert.rejects(listNoTable({}), {
      code: 'usage',
      message: /pass --table NAME or set SKTRACE_TABLE/,
    });
  });
});
