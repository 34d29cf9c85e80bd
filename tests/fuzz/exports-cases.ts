/**
 * Hostile requests for the exports function (docs/export-api.md): ExportRequests broken by
 * construction — bad timestamps, unknown fields, malformed filters and label selectors carrying
 * kubectl syntax or prototype keys ("selector injection"), deep nesting — plus wrong encodings,
 * cluster ids, methods and credentials, and status requests for ids that name no job of that
 * cluster. `isValidExportText` re-checks the bodies with lib/export/request.ts.
 */
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { validateExportRequest } from '../../lib/export/request.ts';
import { badLabelKey, badLabelValue } from './bad-names.ts';
import { exportsEvent, NOW_SEC, OTHER_TOKEN } from './harness.ts';
import type { HostileRequest, TokenPick } from './ingest-cases.ts';
import {
  acceptsText,
  anyString,
  BAD_ENCODINGS,
  type Breaker,
  badAuthArb,
  badClusterArb,
  badContentTypeArb,
  badIntArb,
  breaker,
  type Json,
  nestedText,
  PROTO_KEYS,
  RAW_BAD_NUMBERS,
  RAW_MARKER,
  setKey,
  WRONG_METHODS,
  withInvalidUtf8,
  withRaw,
} from './values.ts';

const MAX_FUTURE_SEC = 300;

/** A request the server accepts (202): the base every breaker starts from. */
export function validExportRequest(): Json {
  return {
    start_ts: NOW_SEC - 120,
    end_ts: NOW_SEC,
    filters: {
      excluded_namespaces: ['kube-system'],
      excluded_labels: [
        { matchLabels: { tier: 'db' } },
        { matchExpressions: [{ key: 'canary', operator: 'Exists' }] },
      ],
    },
  };
}

/** Whether the server would take this body text as an ExportRequest. */
export function isValidExportText(text: string): boolean {
  return acceptsText(text, (json) =>
    validateExportRequest(json, { nowSec: NOW_SEC, maxFutureSec: MAX_FUTURE_SEC }),
  );
}

const filtersOf = (r: Json): Json => r.filters as Json;
const selectorsOf = (r: Json): Json[] => filtersOf(r).excluded_labels as Json[];

const notObject = fc.oneof(fc.constantFrom([], [{}], '', 'x', 0, 1, true, false), anyString, fc.double());
const notString = fc.oneof(fc.constantFrom(null, 0, 1, true, [], {}, ['x'], { a: 'x' }), fc.double());
const notArray = fc.oneof(fc.constantFrom(0, 'x', true, {}, { 0: 'a', length: 1 }), anyString);
/** Deep enough that any recursive walk or JSON.stringify of it overflows the stack. */
const deepValue = fc.tuple(
  fc.integer({ min: 200, max: 20_000 }),
  fc.constantFrom<'array' | 'object'>('array', 'object'),
);

/**
 * Label keys no LabelSelector may hold: kubectl selector syntax, separators, prototype keys, and
 * keys broken by construction (bad-names.ts) — not filtered by lib/trace/selector.ts.
 */
const injectedKey = fc.oneof(
  fc.constantFrom(
    'app=web,tier in (a,b)',
    'app=web',
    '!canary',
    'a,b',
    'app in (x)',
    'x)',
    '(',
    '',
    'a/b/c',
    '/a',
    'a/',
    '__proto__',
    'key with space',
    '-a',
    'a-',
    'a'.repeat(64),
    `${'a'.repeat(254)}/x`,
    'Example.COM/a',
    'tier notin (a)',
    'app==web',
    'app!=web',
    'a\u0000b',
    'ключ',
  ),
  badLabelKey,
);
/** Label values no selector may hold (empty is valid, so it is absent); bad by construction. */
const injectedValue = fc.oneof(
  fc.constantFrom(
    'web,tier=db',
    'a b',
    '(x)',
    'x)',
    'a'.repeat(64),
    '-x',
    'x-',
    'in (a,b)',
    '!x',
    'a=b',
    'é',
    'a\nb',
  ),
  badLabelValue,
);
const validKey = fc.constantFrom('app', 'tier', 'constructor', 'prototype', 'toString', 'example.com/team');

function breakers(): fc.Arbitrary<Breaker>[] {
  return [
    breaker(
      'start_ts/end_ts: wrong value',
      fc.tuple(fc.constantFrom('start_ts', 'end_ts'), badIntArb(NOW_SEC + MAX_FUTURE_SEC)),
      (r, [k, v]) => {
        r[k] = v;
      },
    ),
    breaker(
      'start_ts/end_ts: raw number text',
      fc.tuple(fc.constantFrom('start_ts', 'end_ts'), fc.constantFrom(...RAW_BAD_NUMBERS)),
      (r, [k, raw]) => {
        r[k] = RAW_MARKER;
        return raw;
      },
    ),
    breaker('start_ts/end_ts: missing', fc.constantFrom('start_ts', 'end_ts'), (r, k) => {
      delete r[k];
    }),
    breaker(
      'start_ts/end_ts: deeply nested',
      fc.tuple(fc.constantFrom('start_ts', 'end_ts'), deepValue),
      (r, [k, [depth, shape]]) => {
        r[k] = RAW_MARKER;
        return nestedText(depth, shape);
      },
    ),
    breaker('window: end_ts not after start_ts', fc.integer({ min: 0, max: 10_000 }), (r, back) => {
      r.end_ts = (r.start_ts as number) - back;
    }),
    breaker(
      'window: end_ts in the future',
      fc.integer({ min: MAX_FUTURE_SEC + 1, max: 10 ** 9 }),
      (r, ahead) => {
        r.end_ts = NOW_SEC + ahead;
      },
    ),
    breaker(
      'unknown field (export_path, prototype keys)',
      fc.tuple(
        fc
          .oneof(fc.constantFrom('export_path', ...PROTO_KEYS, 'startTs', 'filter'), anyString)
          .filter((k) => !['start_ts', 'end_ts', 'filters'].includes(k)),
        fc.jsonValue({ maxDepth: 2 }),
      ),
      (r, [k, v]) => setKey(r, k, v),
    ),
    breaker('filters: not an object', notObject, (r, v) => {
      r.filters = v;
    }),
    breaker(
      'filters: unknown field (prototype keys)',
      fc
        .tuple(
          fc.oneof(fc.constantFrom(...PROTO_KEYS, 'excludedNamespaces', 'included_labels'), anyString),
          fc.jsonValue({ maxDepth: 2 }),
        )
        .filter(([k]) => k !== 'excluded_namespaces' && k !== 'excluded_labels'),
      (r, [k, v]) => setKey(filtersOf(r), k, v),
    ),
    breaker(
      'filters.excluded_namespaces: not an array of strings',
      fc.oneof(
        notArray,
        notString.map((v) => ['ok', v]),
      ),
      (r, v) => {
        filtersOf(r).excluded_namespaces = v;
      },
    ),
    breaker('filters.excluded_namespaces: deeply nested entry', deepValue, (r, [depth, shape]) => {
      filtersOf(r).excluded_namespaces = ['kube-system', RAW_MARKER];
      return nestedText(depth, shape);
    }),
    breaker('filters.excluded_labels: not an array', notArray, (r, v) => {
      filtersOf(r).excluded_labels = v;
    }),
    breaker('selector: not an object', fc.oneof(notObject, fc.constant(null)), (r, v) => {
      selectorsOf(r).push(v as unknown as Json);
    }),
    breaker(
      'selector: kubectl string instead of JSON',
      fc.constantFrom('app=web,tier in (a,b),!canary', 'app', ''),
      (r, v) => {
        selectorsOf(r).push(v as unknown as Json);
      },
    ),
    breaker(
      'selector: unknown field (prototype keys)',
      fc
        .tuple(
          fc.oneof(fc.constantFrom(...PROTO_KEYS, 'match_labels', 'matchlabels'), anyString),
          fc.jsonValue({ maxDepth: 2 }),
        )
        .filter(([k]) => k !== 'matchLabels' && k !== 'matchExpressions'),
      (r, [k, v]) => {
        const sel: Json = {};
        setKey(sel, k, v);
        selectorsOf(r).push(sel);
      },
    ),
    breaker(
      'selector.matchLabels: injected key',
      fc.tuple(injectedKey, fc.constantFrom('web', '')),
      (r, [k, v]) => {
        const labels: Json = {};
        setKey(labels, k, v);
        selectorsOf(r).push({ matchLabels: labels });
      },
    ),
    breaker(
      'selector.matchLabels: injected or non-string value',
      fc.tuple(validKey, fc.oneof(injectedValue, notString)),
      (r, [k, v]) => {
        const labels: Json = {};
        setKey(labels, k, v);
        selectorsOf(r).push({ matchLabels: labels });
      },
    ),
    breaker(
      'selector.matchLabels: not an object',
      fc.constantFrom<unknown>([], ['app=web'], 'app=web', 1, true),
      (r, v) => {
        selectorsOf(r).push({ matchLabels: v });
      },
    ),
    breaker('selector.matchLabels: deeply nested value', deepValue, (r, [depth, shape]) => {
      selectorsOf(r).push({ matchLabels: { app: RAW_MARKER } });
      return nestedText(depth, shape);
    }),
    breaker('selector.matchExpressions: not an array', notArray, (r, v) => {
      selectorsOf(r).push({ matchExpressions: v });
    }),
    breaker(
      'requirement: malformed',
      fc.oneof(
        notObject,
        fc.constantFrom<unknown>(
          {},
          { key: 'app' },
          { operator: 'Exists' },
          { key: 'app', operator: 'In' },
          { key: 'app', operator: 'In', values: [] },
          { key: 'app', operator: 'NotIn', values: null },
          { key: 'app', operator: 'Exists', values: ['x'] },
          { key: 'app', operator: 'DoesNotExist', values: [''] },
          { key: 'app', operator: 'In', values: 'web' },
          { key: 'app', operator: 'In', values: [1] },
          { key: 1, operator: 'Exists' },
          { key: 'app', operator: 'Exists', extra: true },
        ),
      ),
      (r, v) => {
        selectorsOf(r).push({ matchExpressions: [structuredClone(v)] });
      },
    ),
    breaker(
      'requirement: unknown operator',
      fc.tuple(
        validKey,
        fc.oneof(
          fc.constantFrom(
            'in',
            'notin',
            'exists',
            'Equals',
            '=',
            '==',
            '!=',
            'Gt',
            'Lt',
            'IN',
            ' In',
            '',
            ...PROTO_KEYS,
          ),
          anyString.filter((s) => !['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(s)),
          notString,
        ),
      ),
      (r, [key, operator]) => {
        selectorsOf(r).push({ matchExpressions: [{ key, operator, values: ['a'] }] });
      },
    ),
    breaker(
      'requirement: injected key',
      fc.tuple(injectedKey, fc.constantFrom('Exists', 'DoesNotExist')),
      (r, [key, operator]) => {
        selectorsOf(r).push({ matchExpressions: [{ key, operator }] });
      },
    ),
    breaker(
      'requirement: injected value',
      fc.tuple(validKey, fc.constantFrom('In', 'NotIn'), fc.oneof(injectedValue, notString)),
      (r, [key, operator, v]) => {
        selectorsOf(r).push({ matchExpressions: [{ key, operator, values: ['ok', v] }] });
      },
    ),
    breaker('requirement: prototype key field', fc.constantFrom(...PROTO_KEYS), (r, k) => {
      const req: Json = { key: 'app', operator: 'Exists' };
      setKey(req, k, { operator: 'In' });
      selectorsOf(r).push({ matchExpressions: [req] });
    }),
    breaker(
      'requirement: deeply nested operator or key',
      fc.tuple(fc.constantFrom('operator', 'key'), deepValue),
      (r, [field, [depth, shape]]) => {
        const req: Json = { key: 'app', operator: 'Exists' };
        req[field] = RAW_MARKER;
        selectorsOf(r).push({ matchExpressions: [req] });
        return nestedText(depth, shape);
      },
    ),
    breaker('requirement: deeply nested values', deepValue, (r, [depth, shape]) => {
      selectorsOf(r).push({ matchExpressions: [{ key: 'app', operator: 'In', values: RAW_MARKER }] });
      return nestedText(depth, shape);
    }),
  ];
}

/** A valid ExportRequest with one part broken, as plain JSON, base64 or gzip. */
export function brokenExportArb(token: TokenPick): fc.Arbitrary<HostileRequest> {
  return fc
    .tuple(fc.oneof(...breakers()), fc.nat({ max: 7 }), fc.constantFrom('plain', 'plain', 'base64', 'gzip'))
    .map(([b, tok, encoding]) => {
      const r = validExportRequest();
      const raw = b.apply(r);
      const text = withRaw(r, raw);
      const event =
        encoding === 'gzip'
          ? exportsEvent({ token: token(tok), body: gzipSync(text), headers: { 'content-encoding': 'gzip' } })
          : exportsEvent({ token: token(tok), body: text, base64: encoding === 'base64' });
      return { kind: `request: ${b.name}`, bodyText: text, event };
    });
}

/** Bodies that are no ExportRequest at all. */
export function badExportBodyArb(token: TokenPick): fc.Arbitrary<HostileRequest> {
  const texts = fc.oneof(
    // Any JSON value: not an object, or an object without `start_ts` (required, docs/export-api.md).
    fc.jsonValue().map((v) => {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) delete (v as Json).start_ts;
      return JSON.stringify(v);
    }),
    fc.constantFrom(
      '',
      ' ',
      '{',
      '{"start_ts":1,}',
      'null',
      '[]',
      '"x"',
      '{"start_ts":NaN,"end_ts":1}',
      '\ufeff',
    ),
    // Text whose first non-whitespace character (JSON's whitespace) is no '{': no JSON object.
    anyString.filter((s) => !s.replace(/^[ \t\n\r]+/, '').startsWith('{')),
    fc.constantFrom(...PROTO_KEYS).map((k) => {
      const doc: Json = {};
      setKey(doc, k, validExportRequest());
      return JSON.stringify(doc);
    }),
    fc
      .tuple(fc.integer({ min: 200, max: 30_000 }), fc.constantFrom<'array' | 'object'>('array', 'object'))
      .map(([d, s]) => nestedText(d, s)),
  );
  return fc.tuple(texts, fc.nat({ max: 7 })).map(([text, tok]) => ({
    kind: 'body: not an ExportRequest',
    bodyText: text,
    event: exportsEvent({ token: token(tok), body: text }),
  }));
}

/** Wrong whatever the body: media type, coding, gzip, UTF-8, size; path, method and credentials. */
export function badExportEnvelopeArb(token: TokenPick): fc.Arbitrary<HostileRequest> {
  const validText = JSON.stringify(validExportRequest());
  const gz = gzipSync(validText);
  type Make = (token: string) => HostileRequest;
  const cases: fc.Arbitrary<Make>[] = [
    badContentTypeArb.map((ct) => (t) => {
      const event = exportsEvent({ token: t, body: validText });
      if (ct === null) delete event.headers['content-type'];
      else event.headers['content-type'] = ct;
      return {
        kind: 'encoding: wrong content-type',
        expect: { status: 415, code: 'unsupported_media_type' },
        event,
      };
    }),
    fc.constantFrom(...BAD_ENCODINGS).map((enc) => (t) => ({
      kind: 'encoding: unsupported content-encoding',
      expect: { status: 415, code: 'unsupported_encoding' },
      event: exportsEvent({ token: t, body: gz, headers: { 'content-encoding': enc } }),
    })),
    fc.integer({ min: 0, max: gz.length - 1 }).map((n) => (t) => ({
      kind: 'encoding: truncated or fake gzip',
      expect: { status: 400, code: 'invalid_encoding' },
      event: exportsEvent({
        token: t,
        body: n === 0 ? Buffer.from(validText) : gz.subarray(0, n),
        headers: { 'content-encoding': 'gzip' },
      }),
    })),
    fc.tuple(fc.nat({ max: validText.length }), fc.nat()).map(([pos, k]) => (t) => ({
      kind: 'encoding: invalid UTF-8',
      expect: { status: 400, code: 'invalid_json' },
      event: exportsEvent({ token: t, body: withInvalidUtf8(Buffer.from(validText), pos, k) }),
    })),
    fc.integer({ min: 64 * 1024 + 1, max: 200 * 1024 }).map((n) => (t) => {
      // A valid request padded past the 64 KiB cap of ExportRequests.
      const r = validExportRequest();
      (filtersOf(r).excluded_namespaces as string[]).push('x'.repeat(n));
      return {
        kind: 'size: body over 64 KiB',
        expect: { status: 413, code: 'payload_too_large' },
        event: exportsEvent({ token: t, body: JSON.stringify(r) }),
      };
    }),
    fc.constant((t: string) => ({
      kind: 'size: gzip inflating past 64 KiB',
      expect: { status: 413, code: 'payload_too_large' },
      event: exportsEvent({
        token: t,
        body: gzipSync(Buffer.alloc(1024 * 1024, 0x20)),
        headers: { 'content-encoding': 'gzip' },
      }),
    })),
    badClusterArb.map((cluster) => (t) => ({
      kind: 'path: invalid cluster id',
      expect: { status: 400, code: 'invalid_cluster' },
      event: exportsEvent({ cluster, token: t, body: validText }),
    })),
    fc.constantFrom(...WRONG_METHODS).map((method) => (t) => ({
      kind: 'method: not POST on create',
      expect: { status: 405, code: 'method_not_allowed' },
      event: exportsEvent({ method, token: t, body: validText }),
    })),
    badAuthArb.map((auth) => () => {
      const event = exportsEvent({ token: null, body: validText });
      if (auth !== null) event.headers.authorization = auth;
      return { kind: 'auth: no valid token', expect: { status: 401, code: 'unauthorized' }, event };
    }),
    fc.constant(() => ({
      kind: 'auth: token of another cluster',
      expect: { status: 403, code: 'forbidden' },
      event: exportsEvent({ token: OTHER_TOKEN, body: validText }),
    })),
  ];
  return fc.tuple(fc.oneof(...cases), fc.nat({ max: 7 })).map(([make, tok]) => make(token(tok)));
}

/** Status requests that name no job of the cluster: malformed ids, other clusters' ids, wrong methods. */
export function badStatusArb(token: TokenPick, jobId: string): fc.Arbitrary<HostileRequest> {
  const ids = fc.oneof(
    fc.constantFrom(
      '',
      '..',
      '../..',
      `../${jobId}`,
      `${jobId}/..`,
      '%2e%2e',
      `${jobId}%00`,
      `${jobId}#`,
      `${jobId}x`,
      jobId.slice(1),
      jobId.toUpperCase(),
      'a'.repeat(1024),
      '🙂'.repeat(26),
      '__proto__',
      'constructor',
      `exports/demo/${jobId}.sktrace`,
      '*',
    ),
    anyString.filter((s) => s !== jobId),
    // Well-formed ids of no job: looked up, not found.
    fc
      .string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz234567'), minLength: 26, maxLength: 26 })
      .filter((s) => s !== jobId),
  );
  return fc.oneof(
    fc.tuple(ids, fc.nat({ max: 7 })).map(([id, tok]) => ({
      kind: 'status: no such job',
      expect: { status: 404, code: 'not_found' },
      event: exportsEvent({ id, token: token(tok) }),
    })),
    fc.constant(0).map(() => ({
      kind: 'status: the job under another cluster',
      expect: { status: 404, code: 'not_found' },
      event: exportsEvent({ id: jobId, cluster: 'other', token: OTHER_TOKEN }),
    })),
    fc.constant(0).map(() => ({
      kind: 'status: another cluster token',
      expect: { status: 403, code: 'forbidden' },
      event: exportsEvent({ id: jobId, token: OTHER_TOKEN }),
    })),
    fc
      .tuple(fc.constantFrom(...WRONG_METHODS.filter((m) => m !== 'GET'), 'POST'), fc.nat({ max: 7 }))
      .map(([method, tok]) => ({
        kind: 'status: method not GET',
        expect: { status: 405, code: 'method_not_allowed' },
        event: exportsEvent({ id: jobId, method, token: token(tok) }),
      })),
    fc.tuple(badClusterArb, fc.nat({ max: 7 })).map(([cluster, tok]) => ({
      kind: 'status: invalid cluster id',
      expect: { status: 400, code: 'invalid_cluster' },
      event: exportsEvent({ id: jobId, cluster, token: token(tok) }),
    })),
    badAuthArb.map((auth) => {
      const event = exportsEvent({ id: jobId, token: null });
      if (auth !== null) event.headers.authorization = auth;
      return { kind: 'status: no valid token', expect: { status: 401, code: 'unauthorized' }, event };
    }),
  );
}

export function hostileExportsArb(token: TokenPick, jobId: string): fc.Arbitrary<HostileRequest> {
  return fc.oneof(
    { arbitrary: brokenExportArb(token), weight: 10 },
    { arbitrary: badExportBodyArb(token), weight: 2 },
    { arbitrary: badExportEnvelopeArb(token), weight: 3 },
    { arbitrary: badStatusArb(token, jobId), weight: 2 },
  );
}
