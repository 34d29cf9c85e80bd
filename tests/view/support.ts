/**
 * What the viewer's tests share: the path of a trace in ../shared/simkube-traces (undefined, with
 * the one line to print, when it is absent), and a deliberately simple second reading of a trace
 * file — raw msgpack decode and a walk over `events` — as the oracle for what the page must list.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { decode } from '@msgpack/msgpack';

export const TRACES_DIR = resolve(import.meta.dirname, '../../../shared/simkube-traces');

export function sharedTrace(name: string): { path?: string; skip: string } {
  const path = resolve(TRACES_DIR, name);
  return existsSync(path)
    ? { path, skip: '' }
    : { skip: `${path} is absent (../shared/simkube-traces beside the repo): skipped` };
}

interface RawObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: unknown;
}

/** `gvk nsName` → the ts of each applied version, in file order. */
export function rawVersions(path: string): Map<string, { ts: number; spec: unknown }[]> {
  const doc = decode(readFileSync(path), { useBigInt64: true }) as {
    events: { ts: number | bigint; applied_objs: RawObject[] }[];
  };
  const out = new Map<string, { ts: number; spec: unknown }[]>();
  for (const event of doc.events) {
    for (const o of event.applied_objs) {
      const ns = o.metadata.namespace ? `${o.metadata.namespace}/` : '';
      const key = `${o.apiVersion}.${o.kind} ${ns}${o.metadata.name}`;
      const list = out.get(key) ?? [];
      list.push({ ts: Number(event.ts), spec: o.spec });
      out.set(key, list);
    }
  }
  return out;
}
