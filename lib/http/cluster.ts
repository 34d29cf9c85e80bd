import { SktraceError } from '../errors.ts';
import { CLUSTER_ID_PATTERN, isValidClusterId } from '../ingest/names.ts';
import type { ClusterId } from '../store/ports.ts';
import type { HttpEvent } from './event.ts';

/** The `{cluster}` path parameter, checked: it prefixes every storage key of that cluster. */
export function clusterOf(event: HttpEvent): ClusterId {
  const cluster = event.pathParameters?.cluster;
  if (!isValidClusterId(cluster)) {
    throw new SktraceError(
      'invalid_cluster',
      `cluster id ${cluster === undefined ? '(missing)' : JSON.stringify(cluster)} must match ${CLUSTER_ID_PATTERN.source}`,
      { field: 'cluster' },
    );
  }
  return cluster;
}
