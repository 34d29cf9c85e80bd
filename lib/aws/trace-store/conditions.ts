/**
 * Condition expressions built from named parts (the Powertools idempotency layer's style), so
 * each write says in words what it requires of the item it replaces. Parts use fixed placeholder
 * names per attribute; combining two parts that bind one placeholder to different values is a bug.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

export interface Condition {
  expression: string;
  names: Record<string, string>;
  values: Record<string, AttributeValue>;
}

const n = (value: number): AttributeValue => ({ N: String(value) });

/** No item with this key yet. */
export function itemAbsent(): Condition {
  return { expression: 'attribute_not_exists(#pk)', names: { '#pk': 'pk' }, values: {} };
}

/** The stored item's change order (ts, seq) is not newer than `(ts, seq)`: this change may replace it. */
export function storedOrderNotNewer(ts: number, seq: number): Condition {
  return {
    expression: '(#ts < :ts OR (#ts = :ts AND #seq <= :seq))',
    names: { '#ts': 'ts', '#seq': 'seq' },
    values: { ':ts': n(ts), ':seq': n(seq) },
  };
}

/** The stored event of this object and second has no higher seq (a later change of the second wins). */
export function storedSeqNotAbove(seq: number): Condition {
  return { expression: '#seq <= :seq', names: { '#seq': 'seq' }, values: { ':seq': n(seq) } };
}

/** A Running lifecycle with this start: the only one a Finished one may replace (lifecycles only move forward). */
export function runningWithStart(startTs: number): Condition {
  return {
    expression: '(attribute_not_exists(#endTs) AND #startTs = :startTs)',
    names: { '#endTs': 'endTs', '#startTs': 'startTs' },
    values: { ':startTs': n(startTs) },
  };
}

/** A numeric attribute absent or on the far side of `value` (monotonic watermarks). */
export function numberAbsentOr(attr: string, op: '<' | '>', value: number): Condition {
  const name = `#${attr}`;
  const placeholder = `:${attr}`;
  return {
    expression: `(attribute_not_exists(${name}) OR ${name} ${op} ${placeholder})`,
    names: { [name]: attr },
    values: { [placeholder]: n(value) },
  };
}

export function anyOf(...parts: Condition[]): Condition {
  return combine(parts, ' OR ');
}

export function allOf(...parts: Condition[]): Condition {
  return combine(parts, ' AND ');
}

function combine(parts: Condition[], op: string): Condition {
  const names: Record<string, string> = {};
  const values: Record<string, AttributeValue> = {};
  for (const p of parts) {
    Object.assign(names, p.names);
    for (const [k, v] of Object.entries(p.values)) {
      if (values[k] !== undefined && JSON.stringify(values[k]) !== JSON.stringify(v)) {
        throw new Error(`condition placeholder ${k} bound twice with different values`);
      }
      values[k] = v;
    }
  }
  return { expression: `(${parts.map((p) => p.expression).join(op)})`, names, values };
}
