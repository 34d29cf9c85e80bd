import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  claimed,
  type ExportJob,
  effectiveJob,
  exportKey,
  failed,
  isJobId,
  JOB_ID_PATTERN,
  jobView,
  newJob,
  newJobId,
  succeeded,
} from '../../lib/export/job.ts';

const NOW = 1_700_000_000;

function job(overrides: Partial<ExportJob> = {}): ExportJob {
  return {
    ...newJob(
      { cluster: 'prod', id: 'a'.repeat(26) },
      { window: { startTs: 100, endTs: 200 }, filters: { excluded_namespaces: ['x'], excluded_labels: [] } },
      NOW,
      { retentionSec: 3600 },
    ),
    ...overrides,
  };
}

describe('job ids', () => {
  it('are 128 bits in lowercase base32 (RFC 4648), bit for bit', () => {
    assert.equal(
      newJobId(() => new Uint8Array(16)),
      'a'.repeat(26),
    );
    // 0xff… is all ones: every 5-bit group is 31 ("7"), the last 3 bits padded with zeros (11100 = 28 = "4").
    assert.equal(
      newJobId(() => new Uint8Array(16).fill(0xff)),
      `${'7'.repeat(25)}4`,
    );
    // "f" (0x66) then zeros: 01100 110.. → "m", then "y" (11000), …
    const first = new Uint8Array(16);
    first[0] = 0x66;
    assert.equal(newJobId(() => first).slice(0, 2), 'my');
  });

  it('come from the random source, so two are never alike', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newJobId(randomBytes)));
    assert.equal(ids.size, 1000);
    for (const id of ids) assert.match(id, JOB_ID_PATTERN);
  });

  it('refuses a short random source', () => {
    assert.throws(() => newJobId(() => new Uint8Array(8)), RangeError);
  });

  const shapes: [unknown, boolean][] = [
    ['a'.repeat(26), true],
    ['abcdefghijklmnopqrstuvwxyz'.slice(0, 26), true],
    ['A'.repeat(26), false],
    ['a'.repeat(25), false],
    ['a'.repeat(27), false],
    ['../../etc/passwd', false],
    ['1'.repeat(26), false],
    [42, false],
  ];
  for (const [value, ok] of shapes) {
    it(`isJobId(${JSON.stringify(value)}) is ${ok}`, () => assert.equal(isJobId(value), ok));
  }
});

describe('exportKey', () => {
  it('puts the cluster in the key: exports/<cluster>/<id>.sktrace', () => {
    assert.equal(exportKey('prod', 'abc'), 'exports/prod/abc.sktrace');
  });
});

describe('transitions', () => {
  it('a new job is pending with its TTL', () => {
    const j = job();
    assert.equal(j.status, 'pending');
    assert.equal(j.attempts, 0);
    assert.equal(j.expiresAtSec, NOW + 3600);
  });

  it('claiming counts attempts; success records key and counts and drops an old reason', () => {
    const running = claimed({ ...job(), reason: 'earlier' }, NOW + 1);
    assert.equal(running.status, 'running');
    assert.equal(running.attempts, 1);
    assert.equal(running.startedAtSec, NOW + 1);
    const done = succeeded(
      running,
      { key: 'k', counts: { events: 2, objects: 1, bytes: 10 }, readUnits: 3 },
      NOW + 5,
    );
    assert.equal(done.status, 'succeeded');
    assert.equal(done.reason, undefined);
    assert.equal(done.finishedAtSec, NOW + 5);
    assert.deepEqual(done.counts, { events: 2, objects: 1, bytes: 10 });
  });

  it('failure records the reason', () => {
    const f = failed(claimed(job(), NOW), 'gone', NOW + 2, 7);
    assert.equal(f.status, 'failed');
    assert.equal(f.reason, 'gone');
    assert.equal(f.readUnits, 7);
  });
});

describe('effectiveJob', () => {
  const cases: [string, ExportJob, number, string, RegExp | undefined][] = [
    ['a fresh pending job stays pending', job(), NOW + 10, 'pending', undefined],
    ['a pending job never started is failed', job(), NOW + 961, 'failed', /never started/],
    [
      'a running job within its time stays running',
      claimed(job(), NOW + 100),
      NOW + 1000,
      'running',
      undefined,
    ],
    [
      'a running job past its time is failed',
      claimed(job(), NOW + 100),
      NOW + 1061,
      'failed',
      /stopped without finishing/,
    ],
    [
      'a succeeded job stays succeeded forever',
      succeeded(
        claimed(job(), NOW),
        { key: 'k', counts: { events: 1, objects: 0, bytes: 1 }, readUnits: 0 },
        NOW,
      ),
      NOW + 10_000,
      'succeeded',
      undefined,
    ],
  ];
  for (const [name, j, now, status, reason] of cases) {
    it(name, () => {
      const out = effectiveJob(j, now, 960);
      assert.equal(out.status, status);
      if (reason) assert.match(out.reason ?? '', reason);
    });
  }
});

describe('jobView', () => {
  it('shows the request in ExportRequest names and no URL before success', () => {
    const view = jobView(job());
    assert.deepEqual(view, {
      id: 'a'.repeat(26),
      cluster: 'prod',
      status: 'pending',
      start_ts: 100,
      end_ts: 200,
      filters: { excluded_namespaces: ['x'], excluded_labels: [] },
      created_at: NOW,
      updated_at: NOW,
      attempts: 0,
    });
  });

  it('shows key, URL, its expiry and counts once succeeded', () => {
    const done = succeeded(
      claimed(job(), NOW),
      { key: 'k', counts: { events: 3, objects: 2, bytes: 99 }, readUnits: 4 },
      NOW + 1,
    );
    const view = jobView(done, { url: 'https://u', expiresAtSec: NOW + 3601 });
    assert.equal(view.url, 'https://u');
    assert.equal(view.url_expires_at, NOW + 3601);
    assert.equal(view.key, 'k');
    assert.deepEqual(view.counts, { events: 3, objects: 2, bytes: 99 });
    assert.equal(view.read_units, 4);
  });

  it('never shows a URL for a job that is not succeeded', () => {
    const view = jobView(failed(job(), 'x', NOW), { url: 'https://u', expiresAtSec: 1 });
    assert.equal(view.url, undefined);
    assert.equal(view.reason, 'x');
  });
});
