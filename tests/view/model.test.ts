import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadTraceFile } from '../../lib/trace/codec-file.ts';
import type { KubeObject, Trace } from '../../lib/trace/model.ts';
import { TraceView } from '../../lib/view/model.ts';
import { answer } from '../../lib/view/server.ts';
import { rawVersions, sharedTrace } from './support.ts';

const source = { label: 't', format: 'msgpack', bytes: 0 };

function deploy(name: string, replicas: number): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'web' },
    spec: { replicas, template: { spec: { containers: [{ name: 'app', image: 'nginx' }] } } },
  };
}

/** A hand-made trace: a Deployment changed then deleted, a ConfigMap without an index entry. */
function handTrace(): Trace {
  return {
    version: 2,
    config: { trackedObjects: { 'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/template'] } } },
    events: [
      { ts: 100, applied_objs: [deploy('api', 1)], deleted_objs: [] },
      {
        ts: 160,
        applied_objs: [
          deploy('api', 3),
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'web' } },
        ],
        deleted_objs: [],
      },
      { ts: 200, applied_objs: [], deleted_objs: [deploy('api', 3)] },
    ],
    // 0n is no spec's hash: the index disagrees with the events for web/api.
    index: new Map([['apps/v1.Deployment', new Map([['web/api', 0n]])]]),
    podLifecycles: new Map([
      [
        'apps/v1.Deployment web/api',
        {
          owner: { gvk: 'apps/v1.Deployment', nsName: 'web/api' },
          bySpecHash: new Map([[7n, [{ startTs: 110, endTs: 150 }, { startTs: 170 }]]]),
        },
      ],
    ]),
  };
}

test('versions, deletions, the changes of a second and the index check per object (hand-made trace)', () => {
  const view = new TraceView(handTrace(), source);
  const api = view.object({ gvk: 'apps/v1.Deployment', nsName: 'web/api' })!;
  assert.deepEqual(
    api.versions.map((v) => [v.ts, v.type]),
    [
      [100, 'applied'],
      [160, 'applied'],
      [200, 'deleted'],
    ],
  );
  assert.equal(api.index.status, 'mismatch');
  assert.equal(api.index.stored, '0');
  assert.equal(view.object({ gvk: 'v1.ConfigMap', nsName: 'web/cfg' })!.index.status, 'unindexed');
  // The diff pairs a version with the one before it.
  const v1 = view.version({ gvk: 'apps/v1.Deployment', nsName: 'web/api' }, 1)!;
  assert.equal((v1.previous!.object.spec as { replicas: number }).replicas, 1);
  assert.equal((v1.object.spec as { replicas: number }).replicas, 3);
  assert.equal(view.version({ gvk: 'apps/v1.Deployment', nsName: 'web/api' }, -1)!.type, 'deleted');
  assert.equal(view.version({ gvk: 'apps/v1.Deployment', nsName: 'web/api' }, 3), undefined);
  assert.deepEqual(
    view.changesAt(160).changes.map((c) => `${c.gvk} ${c.nsName} ${c.version}`),
    ['apps/v1.Deployment web/api 1', 'v1.ConfigMap web/cfg 0'],
  );
  assert.deepEqual(view.timeline().kinds, [
    {
      gvk: 'apps/v1.Deployment',
      points: [
        [100, 1, 0],
        [160, 1, 0],
        [200, 0, 1],
      ],
    },
    { gvk: 'v1.ConfigMap', points: [[160, 1, 0]] },
  ]);
  const lc = view.lifecycles();
  assert.deepEqual(lc.owners[0]!.specs, [
    {
      hash: '7',
      lifecycles: [
        { startTs: 110, endTs: 150 },
        { startTs: 170, endTs: null },
      ],
    },
  ]);
});

test('object filters: kind, namespace, name, window, index problems', () => {
  const view = new TraceView(handTrace(), source);
  const names = (q: Parameters<TraceView['objects']>[0]) => view.objects(q).objects.map((o) => o.nsName);
  assert.deepEqual(names({}), ['web/api', 'web/cfg']);
  assert.deepEqual(names({ gvk: 'v1.ConfigMap' }), ['web/cfg']);
  assert.deepEqual(names({ namespace: 'other' }), []);
  assert.deepEqual(names({ q: 'CF' }), ['web/cfg']);
  assert.deepEqual(names({ fromTs: 170, toTs: 300 }), ['web/api']); // only its deletion is in the window
  assert.deepEqual(names({ fromTs: 101, toTs: 159 }), []);
  assert.deepEqual(names({ indexProblems: true }), ['web/api', 'web/cfg']);
  assert.equal(view.objects({ limit: 1, offset: 1 }).objects[0]!.nsName, 'web/cfg');
  assert.equal(view.objects({ limit: 1 }).total, 2);
});

test('findings: absent without a validator, counted by severity with one', () => {
  assert.deepEqual(new TraceView(handTrace(), source).findings(), { available: false, findings: [] });
  assert.equal(new TraceView(handTrace(), source).summary().findings, null);
  const view = new TraceView(handTrace(), source, {
    validator: () => [
      { code: 'E0001', severity: 'error', message: 'x', gvk: 'apps/v1.Deployment', nsName: 'web/api' },
      { code: 'W0000', severity: 'warning', message: 'y' },
    ],
  });
  assert.deepEqual(view.summary().findings, { error: 1, warning: 1, info: 0 });
  assert.equal(view.findings().findings.length, 2);
});

test('endpoints answer 400 for a bad parameter and 404 for an unknown object', () => {
  const view = new TraceView(handTrace(), source);
  assert.throws(
    () => answer(view, '/api/objects', new URLSearchParams('from=abc')),
    /from must be an integer/,
  );
  assert.throws(() => answer(view, '/api/object', new URLSearchParams('gvk=v1.Pod')), /nsName is required/);
  assert.equal(answer(view, '/api/object', new URLSearchParams('gvk=v1.Pod&nsName=x')).status, 404);
  assert.equal(answer(view, '/api/nope', new URLSearchParams()).status, 404);
});

test('dsb-scaling.sktrace: every object and version the file holds, each index entry equal to SimKube', async (t) => {
  const { path, skip } = sharedTrace('dsb-scaling.sktrace');
  if (!path) return t.skip(skip);
  const file = await loadTraceFile(path);
  const view = new TraceView(file.trace, { label: path, format: file.format, bytes: file.bytes.length });
  const expected = rawVersions(path);
  const listed = view.objects({ limit: 1000 });
  assert.equal(listed.total, expected.size);
  assert.equal(expected.size, 27); // the README's inspect output says 27 Deployments
  for (const row of listed.objects) {
    const raw = expected.get(`${row.gvk} ${row.nsName}`);
    assert.ok(raw, `${row.gvk} ${row.nsName} is not in the file`);
    assert.deepEqual(
      view.object(row)!.versions.map((v) => v.ts),
      raw.map((v) => v.ts),
    );
    assert.equal(row.index, 'match'); // DESIGN.md: every Deployment's last version matches its index entry
  }
  assert.equal(view.summary().indexCheck.matched, 27);
});

test('bare-pods.sktrace: index entries that differ from their specs are named (DESIGN.md: the file was edited)', async (t) => {
  const { path, skip } = sharedTrace('bare-pods.sktrace');
  if (!path) return t.skip(skip);
  const file = await loadTraceFile(path);
  const view = new TraceView(file.trace, source);
  const problems = view.objects({ indexProblems: true, limit: 1000 }).objects;
  // 4 pods applied with other hashes than the index's, 12 index entries with no applied version.
  assert.equal(problems.filter((o) => o.index === 'mismatch').length, 4);
  assert.equal(problems.filter((o) => o.index === 'missing').length, 12);
  assert.equal(view.lifecycles().owners.length, 4);
});

test('the server answers only on its own address, GET only, and serves the bundled page', async () => {
  const { buildViewAssets } = await import('../../lib/view/assets.ts');
  const { startViewServer } = await import('../../lib/view/server.ts');
  const { request } = await import('node:http');
  const server = await startViewServer(new TraceView(handTrace(), source), await buildViewAssets());
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      const req = request(new URL(path, server.url), { method, headers }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }),
        );
      });
      req.on('error', reject);
      req.end();
    });
  try {
    const page = await get('/');
    assert.equal(page.status, 200);
    assert.match(page.body, /src="\/assets\/main\.js"/);
    const script = await get('/assets/main.js');
    assert.equal(script.status, 200);
    assert.match(script.type, /javascript/);
    // Bundled: no import left for the browser to fetch from anywhere else.
    assert.doesNotMatch(script.body, /\bfrom\s*["'](?:https?:|echarts|jsondiffpatch)/);
    assert.equal((await get('/assets/main.css')).status, 200);
    assert.equal((await get('/api/summary', { host: 'attacker.example:80' })).status, 421);
    assert.equal((await get('/api/summary', {}, 'POST')).status, 405);
    assert.equal((await get('/nope')).status, 404);
    assert.equal((await get('/api/objects?limit=x')).status, 400);
  } finally {
    await server.close();
  }
});

test('validation_trace.json: the page gets the findings `sktrace validate` reports, by severity', async (t) => {
  const { path, skip } = sharedTrace('validation_trace.json');
  if (!path) return t.skip(skip);
  const { simkubeFindings } = await import('../../lib/view/validation.ts');
  const { validateTrace } = await import('../../lib/validation/index.ts');
  const file = await loadTraceFile(path);
  const view = new TraceView(file.trace, source, { validator: simkubeFindings });
  const expected = validateTrace(file.trace).findings;
  assert.ok(expected.length > 0, 'the file is made to fail validation');
  const doc = view.findings();
  assert.equal(doc.available, true);
  assert.deepEqual(
    doc.findings.map((f) => `${f.code} ${f.gvk} ${f.nsName} ${f.ts}`),
    expected.map((f) => `${f.code} ${f.gvk} ${f.nsName} ${f.ts}`),
  );
  const counts = view.summary().findings!;
  assert.equal(counts.error, expected.filter((f) => f.code.startsWith('E')).length);
  assert.equal(counts.warning, expected.filter((f) => f.code.startsWith('W')).length);
});
