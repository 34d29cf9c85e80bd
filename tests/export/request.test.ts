import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateExportRequest } from '../../lib/export/request.ts';

const NOW = 1_700_000_000;
const limits = { nowSec: NOW, maxFutureSec: 300 };

describe('validateExportRequest', () => {
  it('takes SimKube ExportRequest fields and returns the window and filters', () => {
    const out = validateExportRequest(
      {
        start_ts: NOW - 1800,
        end_ts: NOW,
        filters: {
          excluded_namespaces: ['kube-system'],
          excluded_labels: [
            { matchLabels: { app: 'web' } },
            { matchExpressions: [{ key: 'tier', operator: 'Exists' }] },
          ],
        },
      },
      limits,
    );
    assert.deepEqual(out, {
      window: { startTs: NOW - 1800, endTs: NOW },
      filters: {
        excluded_namespaces: ['kube-system'],
        excluded_labels: [
          { matchLabels: { app: 'web' } },
          { matchExpressions: [{ key: 'tier', operator: 'Exists' }] },
        ],
      },
    });
  });

  it('treats missing filters (and missing lists) as no filter', () => {
    assert.deepEqual(validateExportRequest({ start_ts: 1, end_ts: 2 }, limits).filters, {
      excluded_namespaces: [],
      excluded_labels: [],
    });
    assert.deepEqual(
      validateExportRequest({ start_ts: 1, end_ts: 2, filters: { excluded_namespaces: ['a'] } }, limits)
        .filters,
      {
        excluded_namespaces: ['a'],
        excluded_labels: [],
      },
    );
  });

  it('accepts an end a little ahead of the server clock (client skew)', () => {
    assert.equal(
      validateExportRequest({ start_ts: NOW - 10, end_ts: NOW + 300 }, limits).window.endTs,
      NOW + 300,
    );
  });

  const bad: [string, unknown, string, RegExp][] = [
    ['not an object', [], '', /JSON object/],
    ['null', null, '', /JSON object/],
    ['missing start_ts', { end_ts: 5 }, 'start_ts', /missing/],
    ['missing end_ts', { start_ts: 5 }, 'end_ts', /missing/],
    ['start_ts a string', { start_ts: '5', end_ts: 9 }, 'start_ts', /integer of unix seconds/],
    ['end_ts a float', { start_ts: 5, end_ts: 9.5 }, 'end_ts', /integer of unix seconds/],
    ['negative start', { start_ts: -5, end_ts: 9 }, 'start_ts', /non-negative/],
    ['end before start', { start_ts: 9, end_ts: 5 }, 'end_ts', /must be after start_ts/],
    ['end equal to start', { start_ts: 9, end_ts: 9 }, 'end_ts', /would be empty/],
    ['end in the future', { start_ts: NOW, end_ts: NOW + 301 }, 'end_ts', /ahead of the server clock/],
    ['unknown field', { start_ts: 1, end_ts: 2, startTs: 1 }, 'startTs', /not a known field/],
    ['export_path (skctl)', { start_ts: 1, end_ts: 2, export_path: 'x' }, 'export_path', /signed URL/],
    ['filters not an object', { start_ts: 1, end_ts: 2, filters: [] }, 'filters', /expected an object/],
    [
      'unknown filter field',
      { start_ts: 1, end_ts: 2, filters: { namespaces: [] } },
      'filters.namespaces',
      /unknown field/,
    ],
    [
      'namespace not a string',
      { start_ts: 1, end_ts: 2, filters: { excluded_namespaces: [1] } },
      'filters.excluded_namespaces[0]',
      /expected a string/,
    ],
    [
      'malformed selector operator',
      {
        start_ts: 1,
        end_ts: 2,
        filters: { excluded_labels: [{ matchExpressions: [{ key: 'a', operator: 'Like', values: ['b'] }] }] },
      },
      'filters.excluded_labels[0].matchExpressions[0].operator',
      /unknown operator/,
    ],
    [
      'In without values',
      {
        start_ts: 1,
        end_ts: 2,
        filters: { excluded_labels: [{ matchExpressions: [{ key: 'a', operator: 'In' }] }] },
      },
      'filters.excluded_labels[0].matchExpressions[0].values',
      /at least one value/,
    ],
    [
      'bad label key',
      { start_ts: 1, end_ts: 2, filters: { excluded_labels: [{ matchLabels: { 'a b': 'c' } }] } },
      'filters.excluded_labels[0].matchLabels["a b"]',
      /invalid label key/,
    ],
    [
      'selector not an object',
      { start_ts: 1, end_ts: 2, filters: { excluded_labels: ['app=web'] } },
      'filters.excluded_labels[0]',
      /LabelSelector object/,
    ],
  ];
  for (const [name, body, field, message] of bad) {
    it(`refuses ${name} with invalid_request naming ${field || 'the body'}`, () => {
      assert.throws(
        () => validateExportRequest(body, limits),
        (err: Error & { code?: string; context?: Record<string, unknown> }) => {
          assert.equal(err.code, 'invalid_request');
          assert.equal(err.context?.field, field);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }
});

describe('validateExportRequest on deeply nested values (found by tests/fuzz)', () => {
  // 10,000 levels: JSON.parse builds it (a 20 KB body), but JSON.stringify recursing into it to
  // echo it in the message overflowed the stack: a RangeError, so a 500 instead of a 400.
  let deep: unknown = 0;
  for (let i = 0; i < 10_000; i++) deep = [deep];
  const cases: [string, Record<string, unknown>, string][] = [
    ['end_ts', { start_ts: 1, end_ts: deep }, 'end_ts'],
    [
      'an excluded namespace',
      { start_ts: 1, end_ts: 2, filters: { excluded_namespaces: [deep] } },
      'filters.excluded_namespaces[0]',
    ],
  ];
  for (const [name, body, field] of cases) {
    it(`refuses ${name} nested 10,000 levels with invalid_request, not a stack overflow`, () => {
      assert.throws(
        () => validateExportRequest(body, limits),
        (err: Error & { code?: string; context?: Record<string, unknown> }) => {
          assert.equal(err.code, 'invalid_request');
          assert.equal(err.context?.field, field);
          assert.ok(err.message.length < 300, err.message);
          return true;
        },
      );
    });
  }
});
