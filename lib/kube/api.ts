/**
 * The forwarder's KubeApi port over the HTTP transport: discovery, list pages, watch streams and
 * single GETs, in the API server's own JSON.
 */
import type { IncomingMessage } from 'node:http';
import {
  type ApiResource,
  type KubeApi,
  KubeApiError,
  type ListPage,
  type ListPageRequest,
  type WatchLines,
  type WatchRequest,
} from '../forwarder/ports.ts';
import { formatGvk } from '../trace/gvk.ts';
import type { KubeObject } from '../trace/model.ts';
import { type LineIterator, MAX_LINE_BYTES, splitLines } from './lines.ts';
import type { KubeTransport } from './transport.ts';

/**
 * Metadata-only representations (client-go's metadata informers): an owner index needs only
 * names, uids and ownerReferences, so a ReplicaSet's pod template need not cross the wire. Plain
 * JSON stays acceptable for servers (and proxies) that do not offer them.
 */
const METADATA_LIST =
  'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;q=0.9';
const METADATA_OBJECT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;q=0.9';

interface APIResourceDoc {
  name?: unknown;
  kind?: unknown;
  namespaced?: unknown;
  verbs?: unknown;
}

export class HttpKubeApi implements KubeApi {
  readonly #transport: KubeTransport;
  /** Served kinds never stop being served in a way that matters here; misses are not cached (a CRD may appear). */
  readonly #resources = new Map<string, ApiResource>();

  constructor(transport: KubeTransport) {
    this.#transport = transport;
  }

  async resolve(
    group: string,
    version: string,
    kind: string,
    signal?: AbortSignal,
  ): Promise<ApiResource | undefined> {
    const gvk = formatGvk({ group, version, kind });
    const cached = this.#resources.get(gvk);
    if (cached) return cached;
    // APIResourceList of the group version (discovery v1): 404 when the group version is not served.
    const path = group ? `/apis/${group}/${version}` : `/api/${version}`;
    const doc = (await this.#transport.getJson({ path, allow404: true, ...(signal ? { signal } : {}) })) as
      | { resources?: APIResourceDoc[] }
      | undefined;
    if (!doc) return undefined;
    for (const r of doc.resources ?? []) {
      // Subresources (`deployments/status`) share the kind; the resource itself has no slash.
      if (r.kind !== kind || typeof r.name !== 'string' || r.name.includes('/')) continue;
      const resource: ApiResource = {
        gvk,
        group,
        version,
        kind,
        plural: r.name,
        namespaced: r.namespaced === true,
      };
      this.#resources.set(gvk, resource);
      return resource;
    }
    return undefined;
  }

  forget(gvk: string): void {
    this.#resources.delete(gvk);
  }

  async list(resource: ApiResource, request: ListPageRequest, signal?: AbortSignal): Promise<ListPage> {
    // No resourceVersion: a consistent read from etcd, and the only kind of read that pages
    // (resourceVersion=0 is served from the watch cache, ignoring `limit`).
    let bytes: number | undefined;
    const doc = (await this.#transport.getJson({
      path: collectionPath(resource),
      query: { limit: request.limit, continue: request.continueToken },
      onBodyBytes: (n) => {
        bytes = n;
      },
      ...(request.metadataOnly ? { accept: METADATA_LIST } : {}),
      ...(signal ? { signal } : {}),
    })) as { metadata?: { resourceVersion?: unknown; continue?: unknown }; items?: unknown };
    const rv = doc?.metadata?.resourceVersion;
    if (typeof rv !== 'string' || !Array.isArray(doc.items)) {
      throw new KubeApiError(`list of ${resource.gvk} has no metadata.resourceVersion or items`, {
        path: collectionPath(resource),
      });
    }
    const page: ListPage = { items: doc.items, resourceVersion: rv };
    if (bytes !== undefined) page.bytes = bytes;
    const next = doc.metadata?.continue;
    if (typeof next === 'string' && next !== '') page.continueToken = next;
    return page;
  }

  async watch(resource: ApiResource, request: WatchRequest, signal: AbortSignal): Promise<WatchLines> {
    const res = await this.#transport.open({
      path: collectionPath(resource),
      query: {
        watch: 'true',
        resourceVersion: request.resourceVersion,
        allowWatchBookmarks: request.allowWatchBookmarks ? 'true' : undefined,
        timeoutSeconds: request.timeoutSeconds,
      },
      ...(request.metadataOnly ? { accept: METADATA_OBJECT } : {}),
      watch: true,
      signal,
    });
    return linesOf(res, (err) => this.#transport.noteError(collectionPath(resource), err));
  }

  async get(
    resource: ApiResource,
    namespace: string | undefined,
    name: string,
    signal?: AbortSignal,
  ): Promise<KubeObject | undefined> {
    const base =
      resource.namespaced && namespace
        ? `${groupVersionPath(resource)}/namespaces/${encodeURIComponent(namespace)}`
        : groupVersionPath(resource);
    const obj = (await this.#transport.getJson({
      path: `${base}/${resource.plural}/${encodeURIComponent(name)}`,
      allow404: true,
      ...(signal ? { signal } : {}),
    })) as KubeObject | undefined;
    return obj;
  }
}

function linesOf(res: IncomingMessage, onError: (err: unknown) => void): LineIterator {
  return splitLines(res, MAX_LINE_BYTES, {
    onError,
    // Leaving early (relist, stop, back-pressure stall) closes the connection.
    onClose: () => res.destroy(),
  });
}

function groupVersionPath(r: ApiResource): string {
  return r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
}

/** All namespaces' objects for namespaced kinds, all objects for cluster-scoped ones. */
function collectionPath(r: ApiResource): string {
  return `${groupVersionPath(r)}/${r.plural}`;
}
