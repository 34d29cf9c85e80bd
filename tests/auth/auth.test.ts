import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { type AuthPolicy, decideAuth } from '../../lib/auth/decide.ts';
import {
  generateToken,
  hashToken,
  isWellFormedToken,
  TOKEN_PATTERN,
  tokenHashesEqual,
} from '../../lib/auth/token.ts';
import { DEMO_TOKEN, demoTokens, OTHER_TOKEN } from '../ingest/support.ts';

describe('tokens', () => {
  test('skt_ + 32 random bytes as unpadded base64url, stored only as SHA-256 hex', () => {
    const bytes = Uint8Array.from({ length: 32 }, (_, i) => i * 8);
    let call = 0;
    const t = generateToken((n) => (call++ === 0 ? bytes.subarray(0, n) : new Uint8Array(n).fill(0xab)));
    assert.equal(t.token, `skt_${Buffer.from(bytes).toString('base64url')}`);
    assert.match(t.token, TOKEN_PATTERN);
    assert.equal(t.token.length, 4 + 43);
    assert.equal(t.tokenHash, createHash('sha256').update(t.token).digest('hex'));
    assert.equal(t.tokenId, 'tok_abababababababab');
    assert.ok(!t.tokenId.includes(t.token.slice(4, 12)), 'the id does not leak the secret');
  });

  test('real randomness gives distinct tokens', () => {
    const tokens = new Set(Array.from({ length: 100 }, () => generateToken().token));
    assert.equal(tokens.size, 100);
    for (const t of tokens) assert.ok(isWellFormedToken(t));
  });

  test('known-answer SHA-256', () => {
    // echo -n skt_ddd… | sha256sum, computed independently of hashToken.
    assert.equal(
      hashToken(DEMO_TOKEN),
      createHash('sha256').update(Buffer.from(DEMO_TOKEN, 'utf8')).digest('hex'),
    );
    assert.equal(hashToken('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  const equalCases: [string, string, string, boolean][] = [
    ['same hash', hashToken('a'), hashToken('a'), true],
    ['different hash', hashToken('a'), hashToken('b'), false],
    ['upper-case hex is not a stored hash', hashToken('a').toUpperCase(), hashToken('a'), false],
    ['short input', 'abcd', 'abcd', false],
    ['empty', '', '', false],
  ];
  for (const [name, a, b, expected] of equalCases) {
    test(`tokenHashesEqual: ${name}`, () => assert.equal(tokenHashesEqual(a, b), expected));
  }
});

describe('decideAuth', () => {
  const bearer: AuthPolicy = { mode: 'bearer' };
  const cases: {
    name: string;
    authorization?: string;
    cluster?: string;
    policy?: AuthPolicy;
    status?: 401 | 403;
    challenge?: string;
    principal?: unknown;
  }[] = [
    {
      name: 'no header → 401 with the bare challenge',
      status: 401,
      challenge: 'Bearer realm="sktrace"',
    },
    { name: 'blank header → 401', authorization: '   ', status: 401, challenge: 'Bearer realm="sktrace"' },
    {
      name: 'Basic scheme → 401 invalid_token',
      authorization: 'Basic dXNlcjpwYXNz',
      status: 401,
      challenge: 'Bearer realm="sktrace", error="invalid_token"',
    },
    {
      name: 'not an skt_ token → 401 invalid_token',
      authorization: 'Bearer abc',
      status: 401,
      challenge: 'Bearer realm="sktrace", error="invalid_token"',
    },
    {
      name: 'well-formed but unknown → 401 invalid_token',
      authorization: `Bearer skt_${'u'.repeat(43)}`,
      status: 401,
      challenge: 'Bearer realm="sktrace", error="invalid_token"',
    },
    {
      name: 'the token of this cluster → allowed',
      authorization: `Bearer ${DEMO_TOKEN}`,
      principal: { kind: 'token', cluster: 'demo', tokenId: 'tok_demo' },
    },
    {
      name: 'the scheme is case-insensitive',
      authorization: `bearer ${DEMO_TOKEN}`,
      principal: { kind: 'token', cluster: 'demo', tokenId: 'tok_demo' },
    },
    {
      name: 'a token of another cluster → 403 insufficient_scope',
      authorization: `Bearer ${OTHER_TOKEN}`,
      status: 403,
      challenge: 'Bearer realm="sktrace", error="insufficient_scope"',
    },
    {
      name: 'a global token → allowed for any cluster',
      authorization: `Bearer skt_${'g'.repeat(43)}`,
      cluster: 'anything',
      policy: { mode: 'bearer', globalTokenHashes: [hashToken('x'), hashToken(`skt_${'g'.repeat(43)}`)] },
      principal: { kind: 'global-token' },
    },
    {
      name: 'per-cluster tokens still work next to global ones',
      authorization: `Bearer ${DEMO_TOKEN}`,
      policy: { mode: 'bearer', globalTokenHashes: [hashToken(`skt_${'g'.repeat(43)}`)] },
      principal: { kind: 'token', cluster: 'demo', tokenId: 'tok_demo' },
    },
    {
      name: 'IAM mode without an IAM identity → 401 (fail closed)',
      authorization: `Bearer ${DEMO_TOKEN}`,
      policy: { mode: 'iam' },
      status: 401,
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const decision = await decideAuth(
        { cluster: c.cluster ?? 'demo', authorization: c.authorization, iam: undefined },
        c.policy ?? bearer,
        demoTokens(),
      );
      if (c.status === undefined) {
        assert.deepEqual(decision, { allowed: true, principal: c.principal });
      } else {
        assert.equal(decision.allowed, false);
        if (decision.allowed) return;
        assert.equal(decision.status, c.status);
        assert.equal(decision.code, c.status === 401 ? 'unauthorized' : 'forbidden');
        assert.equal(decision.challenge, c.challenge);
        assert.ok(
          !decision.message.includes('other'),
          'a 403 does not reveal which cluster the token belongs to',
        );
      }
    });
  }

  test('IAM mode trusts the identity API Gateway verified, without reading tokens', async () => {
    const tokens = demoTokens();
    tokens.findByHash = () => assert.fail('IAM mode must not look tokens up');
    const decision = await decideAuth(
      {
        cluster: 'demo',
        authorization: undefined,
        iam: { userArn: 'arn:aws:iam::123456789012:role/forwarder', accountId: '123456789012' },
      },
      { mode: 'iam' },
      tokens,
    );
    assert.deepEqual(decision, {
      allowed: true,
      principal: {
        kind: 'iam',
        userArn: 'arn:aws:iam::123456789012:role/forwarder',
        accountId: '123456789012',
      },
    });
  });

  test('store errors propagate (the handler maps them to 429/503)', async () => {
    const tokens = demoTokens();
    tokens.findByHash = async () => {
      throw Object.assign(new Error('throttled'), { code: 'store_throttled' });
    };
    await assert.rejects(
      decideAuth({ cluster: 'demo', authorization: `Bearer ${DEMO_TOKEN}`, iam: undefined }, bearer, tokens),
      /throttled/,
    );
  });
});
