/**
 * The trace store's item shapes (docs/storage.md), marshalled by hand: the store writes few item
 * types with short, fixed attribute names (names count toward the 1 KB write unit).
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { StoreError } from '../../store/errors.ts';
import { bucketOf, eventPk, eventSk, parseEventSk, shardOf, statePk } from '../../store/keys.ts';
import type { ClusterId } from '../../store/ports.ts';
import type { ObjectStateView } from '../../store/rules.ts';
import type { Gvk, NsName } from '../../trace/model.ts';
import type { Item } from './io.ts';

/** A body as stored: inline compressed bytes, or a reference to a blob by content hash. */
export interface StoredBody {
  enc: string;
  bytes?: Uint8Array;
  /** sha256 hex of the compressed bytes (blob key `bodies/<cluster>/<sha>`). */
  ref?: string;
}

export interface StateRecord extends ObjectStateView {
  gvk: Gvk;
  nsName: NsName;
  /** The live version's body (object + owners); absent once deleted. */
  body?: StoredBody;
}

export interface EventRecord {
  ts: number;
  gvk: Gvk;
  nsName: NsName;
  type: 'applied' | 'deleted';
  seq: number;
  body: StoredBody;
  expiresAtSec?: number;
}

export const s = (value: string): AttributeValue => ({ S: value });
export const n = (value: number): AttributeValue => ({ N: String(value) });

export function str(item: Item, name: string): string | undefined {
  return item[name]?.S;
}
export function num(item: Item, name: string): number | undefined {
  const v = item[name]?.N;
  return v === undefined ? undefined : Number(v);
}
export function reqNum(item: Item, name: string): number {
  const v = num(item, name);
  if (v === undefined || !Number.isFinite(v)) {
    throw new StoreError('store_corrupt_item', `item ${item.pk?.S} / ${item.sk?.S} lacks number "${name}"`, {
      pk: item.pk?.S,
      sk: item.sk?.S,
    });
  }
  return v;
}

function bodyAttrs(body: StoredBody): Item {
  const out: Item = { enc: s(body.enc) };
  if (body.ref !== undefined) out.bodyRef = s(body.ref);
  else if (body.bytes !== undefined) out.body = { B: body.bytes };
  return out;
}

export function parseBody(item: Item): StoredBody | undefined {
  const enc = str(item, 'enc');
  if (enc === undefined) return undefined;
  const ref = str(item, 'bodyRef');
  if (ref !== undefined) return { enc, ref };
  const bytes = item.body?.B;
  return bytes !== undefined ? { enc, bytes } : undefined;
}

export function isExpired(item: Item, nowSec: number): boolean {
  const exp = num(item, 'expiresAtSec');
  return exp !== undefined && exp <= nowSec;
}

export function stateKey(cluster: ClusterId, gvk: Gvk, nsName: NsName) {
  return { pk: statePk(cluster, gvk), sk: nsName };
}

export function stateItem(cluster: ClusterId, rec: StateRecord): Item {
  const item: Item = {
    pk: s(statePk(cluster, rec.gvk)),
    sk: s(rec.nsName),
    live: { BOOL: rec.live },
    ts: n(rec.ts),
    seq: n(rec.seq),
  };
  if (rec.hash !== undefined) item.hash = s(rec.hash.toString());
  if (rec.body !== undefined) Object.assign(item, bodyAttrs(rec.body));
  if (rec.expiresAtSec !== undefined) item.expiresAtSec = n(rec.expiresAtSec);
  return item;
}

export function parseStateItem(item: Item, gvk: Gvk): StateRecord {
  const hash = str(item, 'hash');
  const body = parseBody(item);
  const exp = num(item, 'expiresAtSec');
  return {
    gvk,
    nsName: str(item, 'sk') ?? '',
    live: item.live?.BOOL === true,
    ts: reqNum(item, 'ts'),
    seq: reqNum(item, 'seq'),
    ...(hash !== undefined ? { hash: BigInt(hash) } : {}),
    ...(body !== undefined ? { body } : {}),
    ...(exp !== undefined ? { expiresAtSec: exp } : {}),
  };
}

export function eventKey(cluster: ClusterId, shards: number, ts: number, gvk: Gvk, nsName: NsName) {
  return { pk: eventPk(cluster, bucketOf(ts), shardOf(gvk, nsName, shards)), sk: eventSk(ts, gvk, nsName) };
}

export function eventItem(cluster: ClusterId, shards: number, rec: EventRecord): Item {
  const key = eventKey(cluster, shards, rec.ts, rec.gvk, rec.nsName);
  const item: Item = {
    pk: s(key.pk),
    sk: s(key.sk),
    type: s(rec.type === 'applied' ? 'A' : 'D'),
    seq: n(rec.seq),
    ...bodyAttrs(rec.body),
  };
  if (rec.expiresAtSec !== undefined) item.expiresAtSec = n(rec.expiresAtSec);
  return item;
}

export function parseEventItem(item: Item): EventRecord {
  const { ts, gvk, nsName } = parseEventSk(str(item, 'sk') ?? '');
  const body = parseBody(item);
  if (body === undefined) {
    throw new StoreError('store_corrupt_item', `event item ${item.pk?.S} / ${item.sk?.S} has no body`, {
      pk: item.pk?.S,
      sk: item.sk?.S,
    });
  }
  const exp = num(item, 'expiresAtSec');
  return {
    ts,
    gvk,
    nsName,
    type: str(item, 'type') === 'D' ? 'deleted' : 'applied',
    seq: reqNum(item, 'seq'),
    body,
    ...(exp !== undefined ? { expiresAtSec: exp } : {}),
  };
}
