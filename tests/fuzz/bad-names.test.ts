/**
 * The fuzzers' known-bad names (bad-names.ts: label keys, label values, cluster ids broken by
 * construction from the Kubernetes rules) are refused by the checks directly, each one: nothing is
 * filtered by the function under test, so a check grown too lenient fails here instead of quietly
 * shrinking the generator. The end-to-end refusals (400s, nothing written) are the fuzz tests'.
 *
 * Mutations caught: `labelKeyProblem`/`labelValueProblem` accepting a space or a leading `-`
 * (LABEL_NAME in lib/trace/selector.ts), the 63-character limit raised, `isValidClusterId`
 * accepting `_` or uppercase — each fails a property below with the counterexample.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ExportRequestError } from '../../lib/export/errors.ts';
import { validateExportRequest } from '../../lib/export/request.ts';
import { isValidClusterId } from '../../lib/ingest/names.ts';
import { labelKeyProblem, labelValueProblem } from '../../lib/trace/selector.ts';
import { badClusterId, badLabelKey, badLabelValue, validLabelKey } from './bad-names.ts';
import { badClusterArb } from './values.ts';

const RUNS = 2_000;
const SEED = 16;
const limits = { nowSec: 1_800_000_000, maxFutureSec: 300 };
const requestWith = (expr: Record<string, unknown>) => ({
  start_ts: 1_700_000_000,
  end_ts: 1_700_000_100,
  filters: { excluded_namespaces: [], excluded_labels: [{ matchExpressions: [expr] }] },
});

test('control: the valid keys the breakers start from are accepted', () => {
  fc.assert(
    fc.property(validLabelKey, (k) => {
      assert.equal(labelKeyProblem(k), undefined, JSON.stringify(k));
      validateExportRequest(requestWith({ key: k, operator: 'Exists' }), limits);
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

test('every label key broken by construction is refused, by labelKeyProblem and in an export request', () => {
  fc.assert(
    fc.property(badLabelKey, (k) => {
      assert.notEqual(labelKeyProblem(k), undefined, `accepted key ${JSON.stringify(k)}`);
      assert.throws(
        () => validateExportRequest(requestWith({ key: k, operator: 'Exists' }), limits),
        ExportRequestError,
      );
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

test('every label value broken by construction is refused, by labelValueProblem and in an export request', () => {
  fc.assert(
    fc.property(badLabelValue, (v) => {
      assert.notEqual(labelValueProblem(v), undefined, `accepted value ${JSON.stringify(v)}`);
      assert.throws(
        () => validateExportRequest(requestWith({ key: 'app', operator: 'In', values: [v] }), limits),
        ExportRequestError,
      );
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

test('every cluster id broken by construction, and every one the fuzzers use, is refused', () => {
  fc.assert(
    fc.property(fc.oneof(badClusterId, badClusterArb), (c) => {
      assert.equal(isValidClusterId(c), false, `accepted cluster id ${JSON.stringify(c)}`);
    }),
    { seed: SEED, numRuns: RUNS },
  );
  // A prototype-ish name that IS a DNS label stays valid (the old filter hid it from the fuzzer).
  assert.equal(isValidClusterId('constructor'), true);
});
