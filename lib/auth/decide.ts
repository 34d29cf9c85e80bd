/**
 * The auth decision for a request on `/v1/clusters/{cluster}/…`, as data. Bearer tokens belong
 * to one cluster: no or an unknown token is a 401 (RFC 6750 §3.1 `invalid_token`), a valid token
 * of another cluster a 403 (`insufficient_scope`), so a sender can tell "wrong secret" from
 * "right secret, wrong cluster". Behind API Gateway IAM authorization the gateway has already
 * checked the SigV4 signature and the caller's policy (which can scope clusters by resource
 * ARN), so the decision trusts `requestContext.authorizer.iam` instead.
 */
import type { ClusterId, TokenStore } from '../store/ports.ts';
import { hashToken, isWellFormedToken, tokenHashesEqual } from './token.ts';

export type AuthMode = 'bearer' | 'iam';

export interface AuthPolicy {
  mode: AuthMode;
  /**
   * Hashes of tokens valid for every cluster: the local stack's `sktrace serve --token T`,
   * where one operator owns every cluster. Never set it on a shared deployment.
   */
  globalTokenHashes?: readonly string[];
}

/** The caller API Gateway authenticated (payload v2 `requestContext.authorizer.iam`). */
export interface IamIdentity {
  userArn: string;
  accountId: string;
}

export interface AuthRequest {
  cluster: ClusterId;
  /** The `Authorization` header as sent. */
  authorization: string | undefined;
  iam: IamIdentity | undefined;
}

export type Principal =
  | { kind: 'token'; cluster: ClusterId; tokenId: string }
  | { kind: 'global-token' }
  | { kind: 'iam'; userArn: string; accountId: string };

export type AuthDecision =
  | { allowed: true; principal: Principal }
  | {
      allowed: false;
      status: 401 | 403;
      code: 'unauthorized' | 'forbidden';
      message: string;
      /** `WWW-Authenticate` value to send back, when the scheme has one. */
      challenge?: string;
    };

const REALM = 'Bearer realm="sktrace"';
// RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the scheme name is case-insensitive (RFC 9110 §11.1).
const BEARER = /^Bearer +(\S+)$/i;

export async function decideAuth(
  req: AuthRequest,
  policy: AuthPolicy,
  tokens: TokenStore,
): Promise<AuthDecision> {
  if (policy.mode === 'iam') {
    if (!req.iam) {
      // Fail closed: the route was deployed without IAM authorization while the function expects it.
      return deny(
        401,
        'unauthorized',
        'the request carries no IAM identity: the route must use IAM authorization',
      );
    }
    return {
      allowed: true,
      principal: { kind: 'iam', userArn: req.iam.userArn, accountId: req.iam.accountId },
    };
  }

  if (req.authorization === undefined || req.authorization.trim() === '') {
    // RFC 6750 §3.1: a request without credentials gets the bare challenge, no error code.
    return deny(401, 'unauthorized', 'missing bearer token: send Authorization: Bearer <token>', REALM);
  }
  const token = BEARER.exec(req.authorization.trim())?.[1];
  if (token === undefined || !isWellFormedToken(token)) {
    return deny(
      401,
      'unauthorized',
      'malformed Authorization header: expected "Bearer skt_…" with a token from `sktrace token create`',
      `${REALM}, error="invalid_token"`,
    );
  }
  const tokenHash = hashToken(token);
  // Every global hash is compared, so timing does not reveal which one (if any) matched.
  let global = false;
  for (const h of policy.globalTokenHashes ?? []) global = tokenHashesEqual(h, tokenHash) || global;
  if (global) return { allowed: true, principal: { kind: 'global-token' } };

  const record = await tokens.findByHash(tokenHash);
  // The store looked the hash up by key; comparing again in constant time guards against an
  // adapter that ever returned a near match.
  if (!record || !tokenHashesEqual(record.tokenHash, tokenHash)) {
    return deny(401, 'unauthorized', 'unknown or revoked token', `${REALM}, error="invalid_token"`);
  }
  if (record.cluster !== req.cluster) {
    return deny(
      403,
      'forbidden',
      `the token does not grant access to cluster "${req.cluster}"`,
      `${REALM}, error="insufficient_scope"`,
    );
  }
  return { allowed: true, principal: { kind: 'token', cluster: record.cluster, tokenId: record.tokenId } };
}

function deny(
  status: 401 | 403,
  code: 'unauthorized' | 'forbidden',
  message: string,
  challenge?: string,
): AuthDecision {
  return challenge === undefined
    ? { allowed: false, status, code, message }
    : { allowed: false, status, code, message, challenge };
}
