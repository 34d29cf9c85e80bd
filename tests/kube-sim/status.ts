/**
 * `Status` objects exactly as kube-apiserver writes them for failed requests and watch ERROR
 * events (k8s.io/apimachinery/pkg/api/errors): `{kind: "Status", apiVersion: "v1",
 * metadata: {}, status: "Failure", message, reason, details?, code}`.
 */

export interface StatusDetails {
  name?: string;
  group?: string;
  /** The resource (plural) for NotFound, as `errors.NewNotFound` fills it from the GroupResource. */
  kind?: string;
  causes?: Array<{ reason?: string; message: string; field?: string }>;
  retryAfterSeconds?: number;
}

export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: { continue?: string; resourceVersion?: string };
  status: 'Failure';
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

export function failure(
  code: number,
  reason: string,
  message: string,
  details?: StatusDetails,
  metadata: KubeStatus['metadata'] = {},
): KubeStatus {
  // Field order follows the Go struct (TypeMeta, ListMeta, Status, Message, Reason, Details, Code),
  // which is the order encoding/json writes them in.
  const status: KubeStatus = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata,
    status: 'Failure',
    message,
    reason,
    code,
  };
  if (details) {
    const { code: _code, ...rest } = status;
    return { ...rest, details, code };
  }
  return status;
}

/** A resource and its group as `schema.GroupResource.String()` prints it: `deployments.apps`, `pods`. */
export function qualifiedResource(group: string, plural: string): string {
  return group ? `${plural}.${group}` : plural;
}

export function notFound(group: string, plural: string, name: string): KubeStatus {
  return failure(404, 'NotFound', `${qualifiedResource(group, plural)} "${name}" not found`, {
    name,
    ...(group ? { group } : {}),
    kind: plural,
  });
}

/** A path no API group serves: the mux's NotFound, a Status with empty details. */
export function pathNotFound(): KubeStatus {
  return failure(404, 'NotFound', 'the server could not find the requested resource', {});
}

export function unauthorized(): KubeStatus {
  return failure(401, 'Unauthorized', 'Unauthorized');
}

/** RBAC's answer (apiserver endpoints/handlers/responsewriters.ForbiddenStatusError). */
export function forbidden(verb: string, group: string, plural: string, name: string | undefined): KubeStatus {
  const what = name === undefined ? plural : `${plural} "${name}"`;
  const scope = group === '' ? '' : ` in API group "${group}"`;
  return failure(
    403,
    'Forbidden',
    `${what} is forbidden: User "system:serviceaccount:sktrace:forwarder" cannot ${verb} resource "${plural}"${scope} at the cluster scope`,
    { group, kind: plural, ...(name !== undefined ? { name } : {}) },
  );
}

export function badRequest(message: string): KubeStatus {
  return failure(400, 'BadRequest', message);
}

/** `errors.NewInvalid` for ListOptions, as request validation rejects bad list/watch parameters. */
export function invalidListOptions(errors: string[]): KubeStatus {
  return failure(422, 'Invalid', `ListOptions.meta.k8s.io "" is invalid: ${errors.join(', ')}`, {
    group: 'meta.k8s.io',
    kind: 'ListOptions',
    causes: errors.map((message) => ({ reason: 'FieldValueForbidden', message })),
  });
}

export function methodNotAllowed(method: string): KubeStatus {
  return failure(
    405,
    'MethodNotAllowed',
    `the server does not allow this method on the requested resource (${method})`,
  );
}

export function notAcceptable(accept: string): KubeStatus {
  return failure(
    406,
    'NotAcceptable',
    `the server was unable to respond with a content type that the client supports (${accept})`,
  );
}

/** `errors.NewResourceExpired`: code 410, reason "Expired" (not "Gone"). */
export function expired(message: string, continueToken?: string): KubeStatus {
  return failure(410, 'Expired', message, undefined, continueToken ? { continue: continueToken } : {});
}

/**
 * kube-apiserver's "Too large resource version" (storage.NewTooLargeResourceVersionError): a 504
 * Timeout asking the client to retry after 1 s, sent when a request names a resourceVersion the
 * server has not reached.
 */
export function tooLargeResourceVersion(requestedRv: number, currentRv: number): KubeStatus {
  return failure(504, 'Timeout', `Too large resource version: ${requestedRv}, current: ${currentRv}`, {
    causes: [
      {
        reason: 'ResourceVersionTooLarge',
        message: `Too large resource version: ${requestedRv}, current: ${currentRv}`,
      },
    ],
    retryAfterSeconds: 1,
  });
}

export function internalError(message: string): KubeStatus {
  return failure(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] });
}

/** Statuses for injected faults, with the messages kube-apiserver uses for each code. */
export function injectedFault(code: 429 | 500 | 503 | 504, retryAfterSec?: number): KubeStatus {
  const retry = retryAfterSec !== undefined ? { retryAfterSeconds: retryAfterSec } : {};
  switch (code) {
    case 429:
      // The max-in-flight / priority-and-fairness filters reject with this message and Retry-After.
      return failure(429, 'TooManyRequests', 'Too many requests, please try again later.', {
        retryAfterSeconds: retryAfterSec ?? 1,
      });
    case 500:
      return failure(500, 'InternalError', 'Internal error occurred: injected fault', {
        causes: [{ message: 'injected fault' }],
        ...retry,
      });
    case 503:
      return failure(
        503,
        'ServiceUnavailable',
        'the server is currently unable to handle the request',
        retry,
      );
    case 504:
      return failure(
        504,
        'Timeout',
        'Timeout: request did not complete within the allotted timeout',
        Object.keys(retry).length ? retry : undefined,
      );
  }
}
