import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatChangeLine, initialTail, RECENT_KEPT, stepTail } from '../../lib/cli/tail.ts';
import type { FeedChange } from '../../lib/store/ports.ts';

const change = (nsName: string, seq = 1, ts = 1_710_892_138): FeedChange => ({
  ts,
  type: 'applied',
  gvk: 'apps/v1.Deployment',
  nsName,
  seq,
  object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: nsName } },
});

test('a page moves the cursor; a change listed again (a retried ingest batch) prints once', () => {
  let s = initialTail();
  let r = stepTail(s, { type: 'page', changes: [change('web/a'), change('web/b')], cursor: 'c1:1' });
  assert.deepEqual(
    r.print.map((c) => c.nsName),
    ['web/a', 'web/b'],
  );
  s = r.state;
  r = stepTail(s, { type: 'page', changes: [change('web/b'), change('web/b', 2)], cursor: 'c1:2' });
  assert.deepEqual(
    r.print.map((c) => `${c.nsName} ${c.seq}`),
    ['web/b 2'],
  );
  assert.equal(r.state.cursor, 'c1:2');
});

test('a retryable failure keeps the cursor; a final one stops with its message', () => {
  const s = stepTail(initialTail('c1:7'), { type: 'failed', retryable: true, message: 'ECONNREFUSED' }).state;
  assert.deepEqual([s.phase, s.cursor], ['following', 'c1:7']);
  const stopped = stepTail(s, { type: 'failed', retryable: false, message: '410 cursor_expired' }).state;
  assert.equal(stopped.phase, 'stopped');
  assert.equal(stopped.cursor, 'c1:7');
});

test('remembers the last RECENT_KEPT identities, not more', () => {
  let s = initialTail();
  const many = Array.from({ length: RECENT_KEPT + 1 }, (_, i) => change(`ns/o${i}`));
  s = stepTail(s, { type: 'page', changes: many, cursor: 'c1:1' }).state;
  // The oldest was forgotten (printed again if listed again); the newest is still known.
  const again = stepTail(s, { type: 'page', changes: [many[0]!, many[RECENT_KEPT]!], cursor: 'c1:2' });
  assert.deepEqual(
    again.print.map((c) => c.nsName),
    ['ns/o0'],
  );
});

test('one line per change: time, change, kind, namespace, name', () => {
  assert.equal(
    formatChangeLine(change('dsb/nginx-thrift')).replace(/ +/g, ' '),
    '2024-03-19T23:48:58Z applied apps/v1.Deployment dsb nginx-thrift',
  );
  assert.match(formatChangeLine({ ...change('node-1'), gvk: 'v1.Node' }), / - +node-1$/);
});
