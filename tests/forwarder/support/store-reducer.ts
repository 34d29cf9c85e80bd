/**
 * A store-like reducer for tests: applies recorded ingest changes the way the store's rules say
 * (DESIGN.md "Store rules", wire.ts), so tests can check what the store would end up holding —
 * which objects are live, which were deleted and how, which lifecycles were recorded — without
 * DynamoDB. Keyed by kind and name together, never by name alone.
 */
import type { Change } from '../../../lib/ingest/wire.ts';
import { nsNameOf } from '../../../lib/trace/gvk.ts';
import { compareUtf8 } from '../../../lib/trace/hash.ts';
import type { KubeObject } from '../../../lib/trace/model.ts';

export interface LiveObject {
  object: KubeObject;
  ts: number;
  owners: Array<{ gvk: string; ns_name: string }> | undefined;
  /** Applied changes that changed the spec (events the store would write). */
  events: number;
}

export class StoreReducer {
  /** gvk → nsName → live object. */
  readonly live = new Map<string, Map<string, LiveObject>>();
  readonly deletions: Array<{ gvk: string; nsName: string; ts: number; via: 'deleted' | 'relist' }> = [];
  /** `ownerGvk ownerNsName` → pod → last lifecycle. */
  readonly lifecycles = new Map<string, Map<string, { hash: string; start: number; end?: number }>>();
  configs = 0;

  apply(changes: readonly Change[]): this {
    for (const c of changes) this.#one(c);
    return this;
  }

  kind(gvk: string): Map<string, LiveObject> {
    let m = this.live.get(gvk);
    if (!m) {
      m = new Map();
      this.live.set(gvk, m);
    }
    return m;
  }

  names(gvk: string): string[] {
    return [...this.kind(gvk).keys()].sort(compareUtf8);
  }

  #one(c: Change): void {
    switch (c.type) {
      case 'config':
        this.configs++;
        return;
      case 'applied': {
        const gvk = `${c.object.apiVersion}.${c.object.kind}`;
        const nsName = nsNameOf(c.object);
        const prev = this.kind(gvk).get(nsName);
        const changed = !prev || JSON.stringify(prev.object.spec) !== JSON.stringify(c.object.spec);
        this.kind(gvk).set(nsName, {
          object: c.object,
          ts: c.ts,
          owners: c.owners,
          events: (prev?.events ?? 0) + (changed ? 1 : 0),
        });
        return;
      }
      case 'deleted': {
        const gvk = `${c.object.apiVersion}.${c.object.kind}`;
        const nsName = nsNameOf(c.object);
        if (this.kind(gvk).delete(nsName)) this.deletions.push({ gvk, nsName, ts: c.ts, via: 'deleted' });
        return;
      }
      case 'relist': {
        const listed = new Set(c.ns_names);
        const m = this.kind(c.gvk);
        for (const nsName of [...m.keys()]) {
          const inRange =
            (c.after === null || compareUtf8(nsName, c.after) > 0) &&
            (c.through === null || compareUtf8(nsName, c.through) <= 0);
          if (inRange && !listed.has(nsName)) {
            m.delete(nsName);
            this.deletions.push({ gvk: c.gvk, nsName, ts: c.ts, via: 'relist' });
          }
        }
        return;
      }
      case 'lifecycle': {
        const key = `${c.owner.gvk} ${c.owner.ns_name}`;
        let pods = this.lifecycles.get(key);
        if (!pods) {
          pods = new Map();
          this.lifecycles.set(key, pods);
        }
        const lc: { hash: string; start: number; end?: number } = {
          hash: c.pod_spec_hash,
          start: c.start_ts,
        };
        if (c.end_ts !== undefined) lc.end = c.end_ts;
        pods.set(c.pod, lc);
        return;
      }
    }
  }
}
