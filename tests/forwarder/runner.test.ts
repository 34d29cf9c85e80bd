/**
 * The runner against a scripted Kubernetes API (kube-rs style): each request the forwarder makes
 * is checked against the next step of the script, and the test fails if the script is not used
 * up. No network: delivery posts to an in-memory endpoint.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import {
  type ApiResource,
  type IngestPoster,
  type KubeApi,
  KubeApiError,
  type ListPage,
  type ListPageRequest,
  type WatchRequest,
} from '../../lib/forwarder/ports.ts';
import type { Change } from '../../lib/ingest/wire.ts';
import { splitLines } from '../../lib/kube/lines.ts';
import type { KubeObject } from '../../lib/trace/model.ts';
import { inProcessForwarder } from './support/in-process.ts';
import { eventually, fastRuntime } from './support/runtime.ts';
import { StoreReducer } from './support/store-reducer.ts';

type Step =
  | { op: 'list'; expect: ListPageRequest; reply: ListPage | KubeApiError }
  | {
      op: 'watch';
      expect: Pick<WatchRequest, 'resourceVersion'>;
      /** `chunk`: all lines arrive in one chunk of the response (lib/kube/lines.ts, read per chunk). */
      reply: KubeApiError | { lines: string[]; ending: 'end' | 'drop' | 'hang'; chunk?: boolean };
    };

const CM: ApiResource = {
  gvk: 'v1.ConfigMap',
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  namespaced: true,
};

/** A KubeApi that serves a script and hangs (until aborted) once it is used up. */
class ScriptedKube implements KubeApi {
  readonly script: Step[];
  readonly errors: string[] = [];
  /** Watch responses whose reading was stopped before their end (the connection closed). */
  closedEarly = 0;

  constructor(script: Step[]) {
    this.script = script;
  }

  async resolve(group: string, version: string, kind: string): Promise<ApiResource | undefined> {
    return group === '' && version === 'v1' && kind === 'ConfigMap' ? CM : undefined;
  }

  async list(_r: ApiResource, request: ListPageRequest, signal?: AbortSignal): Promise<ListPage> {
    const s = await this.#next('list', signal);
    if (s.op !== 'list') throw new Error('unreachable');
    this.#check(request, s.expect, 'list');
    if (s.reply instanceof KubeApiError) throw s.reply;
    return structuredClone(s.reply);
  }

  async watch(_r: ApiResource, request: WatchRequest, signal: AbortSignal): Promise<AsyncIterable<string>> {
    const s = await this.#next('watch', signal);
    if (s.op !== 'watch') throw new Error('unreachable');
    this.#check({ resourceVersion: request.resourceVersion }, s.expect, 'watch');
    if (!request.allowWatchBookmarks) this.errors.push('watch without allowWatchBookmarks');
    if (s.reply instanceof KubeApiError) throw s.reply;
    const { lines, ending } = s.reply;
    if (s.reply.chunk) {
      const kube = this;
      let ended = false;
      const chunks = (async function* () {
        try {
          yield `${lines.join('\n')}\n`;
          await new Promise((_, reject) =>
            signal.addEventListener('abort', () => reject(new Error('aborted'))),
          );
          ended = true;
        } finally {
          if (!ended) kube.closedEarly++;
        }
      })();
      return splitLines(chunks);
    }
    return (async function* () {
      for (const l of lines) yield l;
      if (ending === 'drop') throw new Error('Premature close');
      if (ending === 'hang')
        await new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(new Error('aborted'))),
        );
    })();
  }

  async get(): Promise<KubeObject | undefined> {
    return undefined;
  }

  async #next(op: string, signal?: AbortSignal): Promise<Step> {
    const s = this.script.shift();
    if (s) {
      if (s.op !== op) this.errors.push(`expected ${s.op}, got ${op}`);
      return s;
    }
    // Script used up: park until the forwarder stops.
    await new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve()));
    throw new Error('stopped');
  }

  #check(got: object, want: object, op: string): void {
    const g = JSON.stringify(got);
    const w = JSON.stringify(want);
    if (g !== w) this.errors.push(`${op}: expected ${w}, got ${g}`);
  }
}

const cm = (name: string, rv: string, v = '1') => ({
  metadata: { namespace: 'ns', name, resourceVersion: rv },
  data: { v },
  spec: { v },
});
const line = (type: string, name: string, rv: string, v = '1') =>
  JSON.stringify({ type, object: { apiVersion: 'v1', kind: 'ConfigMap', ...cm(name, rv, v) } });
const bookmark = (rv: string) =>
  JSON.stringify({
    type: 'BOOKMARK',
    object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: rv } },
  });
const gone = JSON.stringify({
  type: 'ERROR',
  object: {
    kind: 'Status',
    apiVersion: 'v1',
    code: 410,
    reason: 'Expired',
    message: 'too old resource version',
  },
});

function memoryEndpoint(): IngestPoster & { changes: Change[] } {
  const changes: Change[] = [];
  return {
    changes,
    async post(body) {
      changes.push(...(JSON.parse(gunzipSync(body).toString()) as { changes: Change[] }).changes);
      return { status: 200, bodyText: '{}' };
    },
  };
}

test('the runner follows the script: paging, 429 Retry-After, unparsable line, bookmark, clean end, 500, 410, idle watch', async () => {
  const kube = new ScriptedKube([
    {
      op: 'list',
      expect: { limit: 2 },
      reply: new KubeApiError('throttled', { status: 429, retryAfterMs: 1500 }),
    },
    {
      op: 'list',
      expect: { limit: 2 },
      reply: { items: [cm('a', '8'), cm('b', '9')], resourceVersion: '10', continueToken: 'c1' },
    },
    {
      op: 'list',
      expect: { limit: 2, continueToken: 'c1' },
      reply: { items: [cm('c', '7')], resourceVersion: '10' },
    },
    {
      op: 'watch',
      expect: { resourceVersion: '10' },
      // d is new; a is touched without a spec change (deduplicated); then a broken line.
      reply: {
        lines: [line('ADDED', 'd', '11'), line('MODIFIED', 'a', '12'), '{"type":"MODIFIED","object":{"meta'],
        ending: 'hang',
      },
    },
    // The unparsable line forces a relist, which finds b gone.
    {
      op: 'list',
      expect: { limit: 2 },
      reply: { items: [cm('a', '12'), cm('c', '7'), cm('d', '11')], resourceVersion: '20' },
    },
    { op: 'watch', expect: { resourceVersion: '20' }, reply: { lines: [bookmark('25')], ending: 'end' } },
    // A clean end resumes from the bookmark, without relisting.
    { op: 'watch', expect: { resourceVersion: '25' }, reply: new KubeApiError('boom', { status: 500 }) },
    {
      op: 'watch',
      expect: { resourceVersion: '25' },
      reply: { lines: [line('MODIFIED', 'c', '26', '2'), gone], ending: 'hang' },
    },
    { op: 'list', expect: { limit: 2 }, reply: { items: [cm('c', '26', '2')], resourceVersion: '30' } },
    // Silent past timeout + margin: treated as ended, resumed from the same resourceVersion.
    { op: 'watch', expect: { resourceVersion: '30' }, reply: { lines: [], ending: 'hang' } },
    {
      op: 'watch',
      expect: { resourceVersion: '30' },
      reply: { lines: [line('DELETED', 'c', '31', '2')], ending: 'drop' },
    },
  ]);
  const runtime = fastRuntime(10, { realFromMs: 100_000 });
  const endpoint = memoryEndpoint();
  const { fw, log, metrics } = inProcessForwarder({
    kube,
    poster: endpoint,
    runtime,
    delivery: { lingerMs: 1 },
    tuning: { pageLimit: 2, watchTimeoutSec: 0.2, watchIdleMarginSec: 0.1, relistPageSize: 2 },
  });
  await fw.start();
  await eventually(() => kube.script.length === 0, 10_000, 'the script to be used up');
  await eventually(() => endpoint.changes.some((c) => c.type === 'deleted'), 5_000, 'the last change');
  await fw.stop(1_000);
  assert.deepEqual(kube.errors, []);

  const brief = endpoint.changes.map((c) => {
    switch (c.type) {
      case 'applied':
      case 'deleted':
        return `${c.type} ${c.object.metadata.name}`;
      case 'relist':
        return `relist (${c.after},${c.through}] ${c.ns_names.join(',')}`;
      default:
        return c.type;
    }
  });
  assert.deepEqual(brief, [
    'config',
    'applied a',
    'applied b',
    'applied c',
    'relist (null,ns/b] ns/a,ns/b',
    'relist (ns/b,null] ns/c',
    'applied d',
    'applied a',
    'applied c',
    'applied d',
    'relist (null,ns/c] ns/a,ns/c',
    'relist (ns/c,null] ns/d',
    'applied c',
    'applied c',
    'relist (null,null] ns/c',
    'deleted c',
  ]);
  const store = new StoreReducer().apply(endpoint.changes);
  assert.deepEqual(store.names('v1.ConfigMap'), []);
  assert.deepEqual(
    store.deletions.map((d) => `${d.nsName} ${d.via}`),
    ['ns/b relist', 'ns/a relist', 'ns/d relist', 'ns/c deleted'],
  );

  assert.ok(runtime.sleeps.includes(1500), `Retry-After honoured: ${runtime.sleeps.join(',')}`);
  assert.equal(metrics.unparsableLines.get({ gvk: 'v1.ConfigMap' }), 1);
  assert.ok(
    log.records.some(
      (r) =>
        r.level === 'error' && r.msg.startsWith('unparsable watch data') && String(r.line).includes('"meta'),
    ),
  );
  assert.equal(metrics.deduplicated.get({ gvk: 'v1.ConfigMap' }), 1);
  assert.deepEqual(
    ['initial', 'unparsable', 'gone', 'stalled'].map((cause) =>
      metrics.relists.get({ gvk: 'v1.ConfigMap', cause }),
    ),
    [1, 1, 1, 0],
  );
  assert.deepEqual(
    ['clean', 'idle', 'dropped'].map((reason) => metrics.watchRestarts.get({ gvk: 'v1.ConfigMap', reason })),
    [1, 1, 1],
  );
  assert.equal(metrics.kubeErrors.get({ gvk: 'v1.ConfigMap', op: 'list', status: '429' }), 1);
  assert.equal(metrics.kubeErrors.get({ gvk: 'v1.ConfigMap', op: 'watch', status: '500' }), 1);
  assert.equal(metrics.watchEvents.get({ gvk: 'v1.ConfigMap', type: 'BOOKMARK' }), 1);
  const text = metrics.render();
  assert.match(text, /^# TYPE sktrace_forwarder_unparsable_lines_total counter$/m);
  assert.match(text, /^sktrace_forwarder_relists_total\{gvk="v1.ConfigMap",cause="gone"\} 1$/m);
});

test('stop() ends the watches and flushes what delivery holds', async () => {
  const kube = new ScriptedKube([
    { op: 'list', expect: { limit: 500 }, reply: { items: [cm('a', '1')], resourceVersion: '5' } },
    {
      op: 'watch',
      expect: { resourceVersion: '5' },
      reply: { lines: [line('ADDED', 'b', '6')], ending: 'hang' },
    },
  ]);
  const runtime = fastRuntime(10, { realFromMs: 1_000 });
  const endpoint = memoryEndpoint();
  // A linger far longer than the test: only the flush can send.
  const { fw, delivery } = inProcessForwarder({
    kube,
    poster: endpoint,
    runtime,
    delivery: { lingerMs: 600_000 },
  });
  await fw.start();
  await eventually(() => kube.script.length === 0 && delivery.depth === 4, 5_000, 'changes held');
  assert.equal(endpoint.changes.length, 0);
  assert.deepEqual(await fw.stop(5_000), { left: 0 });
  assert.deepEqual(
    endpoint.changes.map((c) => c.type),
    ['config', 'applied', 'relist', 'applied'],
  );
});

test('lines that arrive in one chunk are handled in order, also when every change waits for queue room; a 410 mid-chunk drops the rest of it, closes the stream and relists', async () => {
  for (const maxQueueBytes of [8 * 1024 * 1024, 1]) {
    const kube = new ScriptedKube([
      { op: 'list', expect: { limit: 10 }, reply: { items: [cm('a', '8')], resourceVersion: '10' } },
      {
        op: 'watch',
        expect: { resourceVersion: '10' },
        reply: {
          lines: [
            line('ADDED', 'b', '11'),
            line('MODIFIED', 'a', '12', '2'),
            line('MODIFIED', 'a', '13', '2'),
            line('ADDED', 'c', '14'),
            line('DELETED', 'b', '15'),
            gone,
            line('ADDED', 'd', '16'),
          ],
          ending: 'hang',
          chunk: true,
        },
      },
      {
        op: 'list',
        expect: { limit: 10 },
        reply: { items: [cm('a', '13', '2'), cm('c', '14')], resourceVersion: '20' },
      },
    ]);
    // With a 1-byte queue bound every change waits until the one before has landed: the
    // runner's asynchronous path for each line of the chunk.
    let posts = 0;
    const endpoint = memoryEndpoint();
    const slow: IngestPoster = {
      async post(body, signal) {
        posts++;
        await new Promise((r) => setTimeout(r, 2));
        return endpoint.post(body, signal);
      },
    };
    const { fw, metrics } = inProcessForwarder({
      kube,
      poster: slow,
      runtime: fastRuntime(10),
      delivery: { lingerMs: 1, maxQueueBytes },
      tuning: { pageLimit: 10, relistPageSize: 10 },
    });
    await fw.start();
    await eventually(() => kube.script.length === 0, 10_000, 'the script to be used up');
    await eventually(
      () => endpoint.changes.filter((c) => c.type === 'relist').length === 2,
      5_000,
      'the second relist',
    );
    await fw.stop(1_000);
    assert.deepEqual(kube.errors, []);
    const brief = endpoint.changes.map((c) =>
      c.type === 'applied' || c.type === 'deleted'
        ? `${c.type} ${c.object.metadata.name} ${(c.object.spec as { v: string }).v}`
        : c.type === 'relist'
          ? `relist ${c.ns_names.join(',')}`
          : c.type,
    );
    // a's second MODIFIED has the same spec: deduplicated. d, after the 410, is never read.
    assert.deepEqual(
      brief,
      [
        'config',
        'applied a 1',
        'relist ns/a',
        'applied b 1',
        'applied a 2',
        'applied c 1',
        'deleted b 1',
        'applied a 2',
        'applied c 1',
        'relist ns/a,ns/c',
      ],
      `maxQueueBytes ${maxQueueBytes}`,
    );
    assert.equal(kube.closedEarly, 1, 'the stream read up to the 410 was closed');
    assert.equal(metrics.deduplicated.get({ gvk: 'v1.ConfigMap' }), 1);
    assert.equal(metrics.watchEvents.get({ gvk: 'v1.ConfigMap', type: 'MODIFIED' }), 2);
    assert.equal(metrics.watchEvents.get({ gvk: 'v1.ConfigMap', type: 'ADDED' }), 2);
    assert.equal(metrics.relists.get({ gvk: 'v1.ConfigMap', cause: 'gone' }), 1);
    if (maxQueueBytes === 1) assert.ok(posts >= 6, `one change per batch when each waits (${posts} posts)`);
  }
});
