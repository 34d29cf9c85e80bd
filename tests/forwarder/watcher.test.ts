import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  INITIAL_STATE,
  nextRequest,
  parseWatchLine,
  step,
  type WatcherInput,
  type WatcherOptions,
  type WatcherOutput,
  type WatcherRequest,
  type WatcherState,
} from '../../lib/forwarder/watcher.ts';

const options: WatcherOptions = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  pageLimit: 2,
  watchTimeoutSec: 60,
};

const item = (ns: string, name: string, rv = '1') => ({
  metadata: { namespace: ns, name, resourceVersion: rv },
});
const ev = (type: string, ns: string, name: string, rv: string) =>
  JSON.stringify({
    type,
    object: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { namespace: ns, name, resourceVersion: rv },
    },
  });
const bookmark = (rv: string) =>
  JSON.stringify({
    type: 'BOOKMARK',
    object: { kind: 'Deployment', apiVersion: 'apps/v1', metadata: { resourceVersion: rv } },
  });
const gone = JSON.stringify({
  type: 'ERROR',
  object: {
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    message: 'too old resource version: 1 (5)',
    reason: 'Expired',
    code: 410,
  },
});

/** Feeds a script, recording after each input the request the machine asks for next. */
function run(inputs: WatcherInput[], from: WatcherState = INITIAL_STATE) {
  let state = from;
  const requests: WatcherRequest[] = [nextRequest(state, options)];
  const outputs: WatcherOutput[] = [];
  const failures: Array<string | undefined> = [];
  for (const input of inputs) {
    const r = step(state, input, options);
    state = r.state;
    outputs.push(...r.outputs);
    failures.push(r.failure?.reason);
    requests.push(nextRequest(state, options));
  }
  return { state, requests, outputs, failures };
}

const brief = (o: WatcherOutput) => {
  switch (o.type) {
    case 'applied':
      return `applied ${o.object.metadata.namespace}/${o.object.metadata.name}${o.listed ? ' (listed)' : ''}${o.resumed ? ' (resumed)' : ''}`;
    case 'deleted':
      return `deleted ${o.object.metadata.namespace}/${o.object.metadata.name}`;
    case 'relisted':
      return `relisted [${o.nsNames.join(',')}] @${o.resourceVersion}`;
    case 'listStarted':
      return `listStarted ${o.cause}`;
    case 'event':
      return `event ${o.eventType}`;
    case 'unparsable':
      return `unparsable: ${o.reason}`;
  }
};
const req = (r: WatcherRequest) =>
  r.type === 'list'
    ? `list${r.continueToken ? ` continue=${r.continueToken}` : ''}`
    : `watch rv=${r.resourceVersion}`;

test('paged list, then watch from the list resourceVersion, relist page after the listed objects', () => {
  const { requests, outputs, state } = run([
    { type: 'listPage', items: [item('b', 'y'), item('a', 'x')], resourceVersion: '10', continueToken: 'c1' },
    { type: 'listPage', items: [item('a', 'w')], resourceVersion: '10' },
    { type: 'watchOpened' },
    { type: 'watchLine', line: ev('ADDED', 'c', 'z', '11') },
    { type: 'watchLine', line: ev('MODIFIED', 'a', 'x', '12') },
    { type: 'watchLine', line: ev('DELETED', 'b', 'y', '13') },
  ]);
  assert.deepEqual(requests.map(req), [
    'list',
    'list continue=c1',
    'watch rv=10',
    'watch rv=10',
    'watch rv=11',
    'watch rv=12',
    'watch rv=13',
  ]);
  assert.deepEqual(outputs.map(brief), [
    'listStarted initial',
    'applied b/y (listed)',
    'applied a/x (listed)',
    'applied a/w (listed)',
    'relisted [a/w,a/x,b/y] @10',
    'applied c/z',
    'event ADDED',
    'applied a/x',
    'event MODIFIED',
    'deleted b/y',
    'event DELETED',
  ]);
  assert.deepEqual(state, { phase: 'watching', resourceVersion: '13' });
  // List items get back the apiVersion and kind the list response keeps at its top level.
  const first = outputs.find((o) => o.type === 'applied');
  assert.ok(first?.type === 'applied');
  assert.equal(first.object.apiVersion, 'apps/v1');
  assert.equal(first.object.kind, 'Deployment');
  const r = requests[2]!;
  assert.ok(r.type === 'watch');
  assert.equal(r.allowWatchBookmarks, true);
  assert.equal(r.timeoutSeconds, 60);
});

test('an empty list still relists (every object of the kind is gone)', () => {
  const { outputs, state } = run([{ type: 'listPage', items: [], resourceVersion: '7' }]);
  assert.deepEqual(outputs.map(brief), ['listStarted initial', 'relisted [] @7']);
  assert.deepEqual(state, { phase: 'listed', resourceVersion: '7' });
});

test('transitions: each input from each state', () => {
  const listed: WatcherState = { phase: 'listed', resourceVersion: '5' };
  const watching: WatcherState = { phase: 'watching', resourceVersion: '5' };
  const listing: WatcherState = { phase: 'listing', cause: 'gone', continueToken: 'c', nsNames: ['a/x'] };
  const cases: Array<{
    name: string;
    from: WatcherState;
    input: WatcherInput;
    to: WatcherState;
    failure: boolean;
    outputs?: string[];
  }> = [
    {
      name: 'clean end resumes from rv, no relist, no backoff',
      from: watching,
      input: { type: 'watchEnded', reason: 'clean' },
      to: listed,
      failure: false,
    },
    {
      name: 'silent watch is treated as ended',
      from: watching,
      input: { type: 'watchEnded', reason: 'idle' },
      to: listed,
      failure: true,
    },
    {
      name: 'dropped connection resumes from rv after backoff',
      from: watching,
      input: { type: 'watchEnded', reason: 'dropped' },
      to: listed,
      failure: true,
    },
    {
      name: 'bookmark advances rv silently',
      from: watching,
      input: { type: 'watchLine', line: bookmark('9') },
      to: { phase: 'watching', resourceVersion: '9' },
      failure: false,
      outputs: ['event BOOKMARK'],
    },
    {
      name: '410 ERROR event relists',
      from: watching,
      input: { type: 'watchLine', line: gone },
      to: { phase: 'empty', cause: 'gone' },
      failure: true,
      outputs: ['event ERROR'],
    },
    {
      name: 'other ERROR event resumes from rv',
      from: watching,
      input: {
        type: 'watchLine',
        line: JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 500, message: 'etcd' } }),
      },
      to: listed,
      failure: true,
      outputs: ['event ERROR'],
    },
    {
      name: 'HTTP 410 on watch relists',
      from: listed,
      input: { type: 'watchFailed', status: 410, message: 'Gone' },
      to: { phase: 'empty', cause: 'gone' },
      failure: true,
    },
    {
      name: 'HTTP 500 on watch retries the watch',
      from: listed,
      input: { type: 'watchFailed', status: 500, message: 'boom' },
      to: listed,
      failure: true,
    },
    { name: 'watch opened', from: listed, input: { type: 'watchOpened' }, to: watching, failure: false },
    {
      name: 'HTTP 410 on a continue page restarts the list, resumed (skipping what was already sent)',
      from: listing,
      input: { type: 'listFailed', status: 410, message: 'expired' },
      to: { phase: 'empty', cause: 'expired' },
      failure: true,
    },
    {
      name: 'HTTP 429 on a page retries that page',
      from: listing,
      input: { type: 'listFailed', status: 429, retryAfterMs: 2000, message: 'slow down' },
      to: listing,
      failure: true,
    },
    {
      name: 'connection error on the first page retries it',
      from: INITIAL_STATE,
      input: { type: 'listFailed', message: 'ECONNREFUSED' },
      to: INITIAL_STATE,
      failure: true,
    },
    {
      name: 'stall drops the watch for a relist later',
      from: watching,
      input: { type: 'stalled' },
      to: { phase: 'empty', cause: 'stalled' },
      failure: false,
    },
    {
      name: 'stall mid-list restarts the list',
      from: listing,
      input: { type: 'stalled' },
      to: { phase: 'empty', cause: 'stalled' },
      failure: false,
    },
    {
      name: 'blank line is nothing',
      from: watching,
      input: { type: 'watchLine', line: '  ' },
      to: watching,
      failure: false,
      outputs: [],
    },
    {
      name: 'unparsable line is reported and relists',
      from: watching,
      input: { type: 'watchLine', line: '{"type":"MODIFIED","object":{"metadata":{"name":"x"' },
      to: { phase: 'empty', cause: 'unparsable' },
      failure: true,
      outputs: ['unparsable: not JSON: '],
    },
    // Stale inputs (a stream's end after the machine moved on) change nothing.
    {
      name: 'stale watch end while listing',
      from: listing,
      input: { type: 'watchEnded', reason: 'dropped' },
      to: listing,
      failure: false,
    },
    {
      name: 'stale line while listed',
      from: listed,
      input: { type: 'watchLine', line: ev('ADDED', 'a', 'b', '6') },
      to: listed,
      failure: false,
      outputs: [],
    },
    {
      name: 'stale list failure while watching',
      from: watching,
      input: { type: 'listFailed', status: 500, message: 'x' },
      to: watching,
      failure: false,
    },
  ];
  for (const c of cases) {
    const r = step(c.from, c.input, options);
    assert.deepEqual(r.state, c.to, c.name);
    assert.equal(r.failure !== undefined, c.failure, c.name);
    if (c.outputs) {
      assert.equal(r.outputs.length, c.outputs.length, c.name);
      for (const [i, o] of r.outputs.entries()) {
        assert.ok(brief(o).startsWith(c.outputs[i]!), `${c.name}: ${brief(o)}`);
      }
    }
  }
});

test('429 on a list carries Retry-After to the backoff', () => {
  const r = step(
    INITIAL_STATE,
    { type: 'listFailed', status: 429, retryAfterMs: 3000, message: 'throttled' },
    options,
  );
  assert.deepEqual(r.failure, { reason: 'list: throttled', status: 429, retryAfterMs: 3000 });
});

test('410 mid-list: pages seen so far are not reused, the relist covers only the new list', () => {
  const { outputs, requests } = run([
    { type: 'listPage', items: [item('a', 'gone-soon')], resourceVersion: '3', continueToken: 'c1' },
    { type: 'listFailed', status: 410, message: 'continue expired' },
    { type: 'listPage', items: [item('a', 'x')], resourceVersion: '20' },
  ]);
  assert.deepEqual(requests.map(req), ['list', 'list continue=c1', 'list', 'watch rv=20']);
  assert.deepEqual(outputs.map(brief), [
    'listStarted initial',
    'applied a/gone-soon (listed)',
    'listStarted expired',
    'applied a/x (listed) (resumed)',
    'relisted [a/x] @20',
  ]);
});

test('after a 410 during a watch, the full relist is requested without a resourceVersion', () => {
  const { requests, outputs } = run(
    [
      { type: 'watchLine', line: gone },
      { type: 'listPage', items: [item('ns', 'b'), item('ns', 'a')], resourceVersion: '50' },
      { type: 'watchOpened' },
    ],
    { phase: 'watching', resourceVersion: '5' },
  );
  assert.deepEqual(requests.map(req), ['watch rv=5', 'list', 'watch rv=50', 'watch rv=50']);
  assert.deepEqual(outputs.map(brief), [
    'event ERROR',
    'listStarted gone',
    'applied ns/b (listed)',
    'applied ns/a (listed)',
    'relisted [ns/a,ns/b] @50',
  ]);
});

test('cluster-scoped objects have bare names; list items without a name are reported, not listed', () => {
  const { outputs } = run([
    {
      type: 'listPage',
      items: [{ metadata: { name: 'node-a' } }, { metadata: {} }, 'junk'],
      resourceVersion: '2',
    },
  ]);
  assert.deepEqual(outputs.map(brief), [
    'listStarted initial',
    'applied undefined/node-a (listed)',
    'unparsable: list item without metadata.name',
    'unparsable: list item without metadata.name',
    'relisted [node-a] @2',
  ]);
});

test('parseWatchLine rejects what is not a watch event', () => {
  const bad = [
    'null',
    '[]',
    '{"type":"ADDED"}',
    '{"type":"ADDED","object":{"metadata":{}}}',
    '{"type":"BOOKMARK","object":{"metadata":{}}}',
    '{"type":"SYNC","object":{"metadata":{"name":"x"}}}',
    'garbage',
  ];
  for (const line of bad) assert.equal(parseWatchLine(line).ok, false, line);
  const ok = parseWatchLine(ev('DELETED', 'n', 'x', '4'));
  assert.ok(ok.ok && ok.type === 'DELETED');
});

test("a watch event's object without (or with another) apiVersion and kind gets the watched kind's; one with them is taken as it is", () => {
  const watching: WatcherState = { phase: 'watching', resourceVersion: '5' };
  const objectOf = (line: string) => {
    const out = step(watching, { type: 'watchLine', line }, options).outputs[0];
    assert.ok(out?.type === 'applied');
    return out.object;
  };
  const bare = objectOf(
    JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '6' } } }),
  );
  assert.deepEqual([bare.apiVersion, bare.kind], ['apps/v1', 'Deployment']);
  const other = objectOf(
    JSON.stringify({
      type: 'MODIFIED',
      object: {
        apiVersion: 'extensions/v1beta1',
        kind: 'Deployment',
        metadata: { name: 'a', resourceVersion: '7' },
      },
    }),
  );
  assert.deepEqual([other.apiVersion, other.kind], ['apps/v1', 'Deployment']);
  const full = objectOf(ev('MODIFIED', 'ns', 'a', '8'));
  assert.deepEqual(full, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { namespace: 'ns', name: 'a', resourceVersion: '8' },
  });
});
