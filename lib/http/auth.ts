/**
 * Authentication for `/v1/clusters/{cluster}/…` routes: runs the auth decision
 * (lib/auth/decide.ts) before the body is even decoded, so an unauthenticated sender costs
 * neither a gunzip nor a store write, and records the caller in `event.principal`.
 */
import type { APIGatewayEventRequestContextIAMAuthorizer } from 'aws-lambda';
import { type AuthPolicy, decideAuth, type IamIdentity } from '../auth/decide.ts';
import { SktraceError } from '../errors.ts';
import type { TokenStore } from '../store/ports.ts';
import { clusterOf } from './cluster.ts';
import { type HttpEvent, type HttpMiddleware, type HttpRequest, header } from './event.ts';

export interface AuthenticateOptions {
  tokens: TokenStore;
  policy: AuthPolicy;
}

export function authenticate(opts: AuthenticateOptions): HttpMiddleware {
  return {
    before: async (request: HttpRequest) => {
      const { event } = request;
      const decision = await decideAuth(
        {
          cluster: clusterOf(event),
          authorization: header(event, 'authorization'),
          iam: iamIdentityOf(event),
        },
        opts.policy,
        opts.tokens,
      );
      if (!decision.allowed) {
        throw new SktraceError(
          decision.code,
          decision.message,
          decision.challenge === undefined ? {} : { challenge: decision.challenge },
        );
      }
      event.principal = decision.principal;
    },
  };
}

/** The IAM caller API Gateway put in the payload v2 request context, when the route uses IAM auth. */
function iamIdentityOf(event: HttpEvent): IamIdentity | undefined {
  const authorizer = (
    event.requestContext as { authorizer?: Partial<APIGatewayEventRequestContextIAMAuthorizer> }
  ).authorizer;
  const iam = authorizer?.iam;
  if (!iam || typeof iam.userArn !== 'string') return undefined;
  return { userArn: iam.userArn, accountId: String(iam.accountId ?? '') };
}
