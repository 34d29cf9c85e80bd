/**
 * Label and field selectors in the query-string syntax kube-apiserver parses
 * (k8s.io/apimachinery/pkg/labels and pkg/fields): `app=web,tier in (a,b),!canary,rank>2` and
 * `metadata.name=foo,metadata.namespace!=kube-system`.
 */
import { SktraceError } from '../../lib/errors.ts';
import type { KubeObject } from '../../lib/trace/model.ts';

/** A selector the server cannot parse; the server answers 400 BadRequest with this message. */
export class SelectorError extends SktraceError {
  constructor(message: string, selector: string) {
    super('kube_sim_bad_selector', message, { selector });
    this.name = 'SelectorError';
  }
}

export type ObjectMatcher = (obj: KubeObject) => boolean;

const MATCH_ALL: ObjectMatcher = () => true;

// A label key is an optional DNS-subdomain prefix and a name; a value is empty or a name (RFC 1123).
const KEY = '[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?';
const VALUE = '(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?';
const NOT_EXISTS = new RegExp(String.raw`^!\s*(${KEY})$`);
const EXISTS = new RegExp(`^(${KEY})$`);
const EQUALITY = new RegExp(String.raw`^(${KEY})\s*(==|=|!=)\s*(${VALUE})$`);
const SET = new RegExp(String.raw`^(${KEY})\s+(in|notin)\s*\(([^()]*)\)$`);
const NUMERIC = new RegExp(String.raw`^(${KEY})\s*(<|>)\s*(-?\d+)$`);
const VALUE_ONLY = new RegExp(`^${VALUE}$`);

/** Splits on commas outside parentheses (`a in (x,y),b` is two requirements). */
function splitRequirements(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(selector.slice(start));
  return parts.map((p) => p.trim());
}

function labelsOf(obj: KubeObject): Record<string, string> {
  return obj.metadata.labels ?? {};
}

function parseRequirement(text: string, selector: string): ObjectMatcher {
  let m = NOT_EXISTS.exec(text);
  if (m) {
    const key = m[1]!;
    return (obj) => !Object.hasOwn(labelsOf(obj), key);
  }
  m = EQUALITY.exec(text);
  if (m) {
    const [, key, op, value] = m as unknown as [string, string, string, string];
    // `!=` also matches objects without the label (labels.Requirement.Matches, NotEquals).
    return op === '!='
      ? (obj) => labelsOf(obj)[key] !== value
      : (obj) => Object.hasOwn(labelsOf(obj), key) && labelsOf(obj)[key] === value;
  }
  m = SET.exec(text);
  if (m) {
    const [, key, op, list] = m as unknown as [string, string, string, string];
    const values = list.split(',').map((v) => v.trim());
    if (values.some((v) => !VALUE_ONLY.test(v)) || (values.length === 1 && values[0] === '')) {
      throw new SelectorError(`unable to parse requirement: invalid values in "${text}"`, selector);
    }
    const set = new Set(values);
    return op === 'in'
      ? (obj) => Object.hasOwn(labelsOf(obj), key) && set.has(labelsOf(obj)[key]!)
      : (obj) => !Object.hasOwn(labelsOf(obj), key) || !set.has(labelsOf(obj)[key]!);
  }
  m = NUMERIC.exec(text);
  if (m) {
    const [, key, op, bound] = m as unknown as [string, string, string, string];
    const limit = Number(bound);
    return (obj) => {
      const raw = labelsOf(obj)[key];
      if (raw === undefined || !/^-?\d+$/.test(raw)) return false;
      return op === '>' ? Number(raw) > limit : Number(raw) < limit;
    };
  }
  m = EXISTS.exec(text);
  if (m) {
    const key = m[1]!;
    return (obj) => Object.hasOwn(labelsOf(obj), key);
  }
  throw new SelectorError(`unable to parse requirement: cannot understand "${text}"`, selector);
}

function allOf(matchers: ObjectMatcher[]): ObjectMatcher {
  if (matchers.length === 0) return MATCH_ALL;
  if (matchers.length === 1) return matchers[0]!;
  return (obj) => matchers.every((m) => m(obj));
}

export function parseLabelSelector(selector: string): ObjectMatcher {
  if (selector.trim() === '') return MATCH_ALL;
  return allOf(splitRequirements(selector).map((r) => parseRequirement(r, selector)));
}

/** Fields every kind supports (metadata.name and metadata.namespace, as generic registries do). */
const COMMON_FIELDS: Record<string, (obj: KubeObject) => string> = {
  'metadata.name': (obj) => obj.metadata.name ?? '',
  'metadata.namespace': (obj) => obj.metadata.namespace ?? '',
};

function pathValue(obj: KubeObject, path: string[]): string {
  let cur: unknown = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur === undefined || cur === null ? '' : String(cur);
}

/** The extra field labels the Pod registry supports (pkg/registry/core/pod/strategy.go, PodToSelectableFields). */
const POD_FIELDS = [
  'spec.nodeName',
  'spec.restartPolicy',
  'spec.schedulerName',
  'spec.serviceAccountName',
  'spec.hostNetwork',
  'status.phase',
  'status.podIP',
  'status.nominatedNodeName',
];

function fieldGetter(kind: string, field: string): ((obj: KubeObject) => string) | undefined {
  const common = COMMON_FIELDS[field];
  if (common) return common;
  if (kind === 'Pod' && POD_FIELDS.includes(field)) {
    const path = field.split('.');
    return (obj) => pathValue(obj, path);
  }
  return undefined;
}

/** Splits on commas not escaped with a backslash and unescapes `\,` `\=` `\\` (fields.UnescapeValue). */
function splitFieldTerms(selector: string): string[] {
  const terms: string[] = [];
  let cur = '';
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i]!;
    if (c === '\\' && i + 1 < selector.length) {
      cur += c + selector[i + 1];
      i++;
    } else if (c === ',') {
      terms.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  terms.push(cur);
  return terms;
}

function unescapeFieldValue(value: string): string {
  return value.replace(/\\(.)/g, '$1');
}

export function parseFieldSelector(selector: string, kind: string): ObjectMatcher {
  if (selector.trim() === '') return MATCH_ALL;
  const matchers = splitFieldTerms(selector).map((term): ObjectMatcher => {
    const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(term.trim());
    if (!m) {
      throw new SelectorError(`invalid selector: '${selector}'; can't understand '${term}'`, selector);
    }
    const [, field, op, raw] = m as unknown as [string, string, string, string];
    const get = fieldGetter(kind, field.trim());
    if (!get) throw new SelectorError(`field label not supported: ${field.trim()}`, selector);
    const value = unescapeFieldValue(raw);
    return op === '!=' ? (obj) => get(obj) !== value : (obj) => get(obj) === value;
  });
  return allOf(matchers);
}
