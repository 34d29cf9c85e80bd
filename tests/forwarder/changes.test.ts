import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KindChanges, Stamper } from '../../lib/forwarder/changes.ts';
import type { AppliedChange, RelistChange } from '../../lib/ingest/wire.ts';
import { parseTracerConfig, type TrackedKind } from '../../lib/trace/config.ts';
import { specHash } from '../../lib/trace/hash.ts';
import type { KubeObject } from '../../lib/trace/model.ts';
import { fakeContext } from './support/context.ts';

const kindOf = (yaml: string, gvk: string): TrackedKind => parseTracerConfig(yaml).trackedObjects.get(gvk)!;
const DEPLOY = kindOf('trackedObjects:\n  apps/v1.Deployment: {}\n', 'apps/v1.Deployment');
const PODS_SKIP_OWNED = kindOf('trackedObjects:\n  v1.Pod:\n    skipOwned: true\n', 'v1.Pod');

/** A CRD's kind: its generation is not trusted, so its updates are deduplicated by spec hash. */
const WIDGETS = kindOf('trackedObjects:\n  example.com/v1.Widget: {}\n', 'example.com/v1.Widget');

/**
 * A Deployment as an API server would serve it: `generation` follows the spec (a different
 * `replicas`, a different generation), unless `extra.metadata` says otherwise.
 */
const deploy = (name: string, replicas: number, extra: Partial<KubeObject> = {}): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    namespace: 'ns',
    name,
    uid: `uid-${name}`,
    resourceVersion: '7',
    generation: replicas + 2,
    annotations: { 'deployment.kubernetes.io/revision': '2', team: 'a' },
  },
  spec: { replicas, template: { spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'img' }] } } },
  status: { replicas },
  ...extra,
});

test('Stamper: unix seconds, seq floored on the clock and strictly growing', () => {
  const clock = { ms: 1_700_000_000_123 };
  const s = new Stamper(() => clock.ms);
  const a = s.next();
  const b = s.next();
  clock.ms -= 5_000; // the clock steps back: seq still grows
  const c = s.next();
  assert.deepEqual([a.ts, b.ts, c.ts], [1_700_000_000, 1_700_000_000, 1_699_999_995]);
  assert.equal(a.seq, 1_700_000_000_123_000);
  assert.ok(b.seq === a.seq + 1 && c.seq === b.seq + 1);
  assert.ok(Number.isSafeInteger(c.seq));
  // A process started later within the same second starts above an earlier one's sequence.
  const later = new Stamper(() => 1_700_000_000_500).next();
  assert.ok(later.seq > b.seq);
});

const widget = (name: string, replicas: number, extra: Partial<KubeObject> = {}): KubeObject => ({
  ...deploy(name, replicas, extra),
  apiVersion: 'example.com/v1',
  kind: 'Widget',
});

for (const [label, kind, make] of [
  ['Deployment (by generation)', DEPLOY, deploy],
  ['CRD (by spec hash)', WIDGETS, widget],
] as const) {
  test(`applied, ${label}: sanitised, deduplicated on unchanged spec; a list always sends`, async () => {
    await appliedDedupes(kind, make);
  });
}

async function appliedDedupes(
  kind: TrackedKind,
  deploy: (name: string, replicas: number, extra?: Partial<KubeObject>) => KubeObject,
): Promise<void> {
  const ctx = fakeContext();
  const k = new KindChanges(kind, ctx);
  const steps: Array<{ name: string; object: KubeObject; listed: boolean; sent: boolean }> = [
    { name: 'listed', object: deploy('web', 1), listed: true, sent: true },
    {
      name: 'status-only update',
      object: deploy('web', 1, { status: { replicas: 9 } }),
      listed: false,
      sent: false,
    },
    {
      name: 'metadata-only update',
      object: { ...deploy('web', 1), metadata: { ...deploy('web', 1).metadata, labels: { x: 'y' } } },
      listed: false,
      sent: false,
    },
    { name: 'spec change', object: deploy('web', 2), listed: false, sent: true },
    { name: 'same spec again', object: deploy('web', 2), listed: false, sent: false },
    { name: 'relisted with the same spec: sent anyway', object: deploy('web', 2), listed: true, sent: true },
    { name: 'another object, same spec', object: deploy('api', 2), listed: false, sent: true },
  ];
  for (const s of steps) {
    const before = ctx.sent.length;
    assert.equal(await k.handle({ type: 'applied', object: s.object, listed: s.listed }), true);
    assert.equal(ctx.sent.length - before, s.sent ? 1 : 0, s.name);
  }
  assert.equal(ctx.metrics.deduplicated.get({ gvk: kind.gvk }), 3);
  const first = ctx.sent[0] as AppliedChange;
  assert.equal(first.ts, 1_700_000_000);
  assert.deepEqual(first.object.metadata, { annotations: { team: 'a' }, namespace: 'ns', name: 'web' });
  assert.equal(first.object.status, undefined);
  assert.equal((first.object.spec as { nodeName?: string }).nodeName, undefined);
  assert.equal(first.owners, undefined);
  assert.equal(k.size, 2);
  // The hash kept is that of the sanitised spec, which is what the store hashes.
  assert.notEqual(specHash(first.object.spec), 0n);
}

test('generation kinds: the same uid and generation is deduplicated without hashing; any other is sent', async () => {
  const ctx = fakeContext();
  const k = new KindChanges(DEPLOY, ctx);
  const at = (
    replicas: number,
    generation: number | undefined,
    uid = 'uid-web',
    annotations: Record<string, string> = {},
  ): KubeObject => {
    const d = deploy('web', replicas);
    const metadata: KubeObject['metadata'] = { ...d.metadata, uid, annotations };
    if (generation === undefined) delete metadata.generation;
    else metadata.generation = generation;
    return { ...d, metadata };
  };
  // Each step: the object, and whether its applied change is sent (hand-written).
  const steps: Array<[string, KubeObject, boolean]> = [
    ['created', at(1, 1), true],
    ['status-only update', { ...at(1, 1), status: { replicas: 7 } }, false],
    // No API server sends this (a new spec under an old generation): it shows that the decision
    // took the generation, not a hash of the spec.
    ['same generation, spec not even looked at', at(5, 1), false],
    ['spec change: generation 2', at(2, 2), true],
    [
      'annotation edit (a Deployment bumps generation): sent, the store dedupes',
      at(2, 3, 'uid-web', { a: 'b' }),
      true,
    ],
    ['same generation again', at(2, 3, 'uid-web', { a: 'b' }), false],
    [
      'recreated under the same name, its DELETED unseen: a new uid at the same generation',
      at(2, 3, 'uid-web-2'),
      true,
    ],
    ['recreated again: generation 1', at(2, 1, 'uid-web-3'), true],
    ['the same again', at(2, 1, 'uid-web-3'), false],
    // Without a usable generation the spec hash decides, as for other kinds.
    ['no generation, spec as before', at(2, undefined, 'uid-web-3'), true],
    ['no generation, same spec', at(2, undefined, 'uid-web-3'), false],
    ['no generation, spec change', at(3, undefined, 'uid-web-3'), true],
    ['generation 0, spec change', at(4, 0, 'uid-web-3'), true],
    ['generation 2^32, spec as before', at(4, 2 ** 32, 'uid-web-3'), false],
    ['generation 1.5, spec change', at(5, 1.5, 'uid-web-3'), true],
    ['generation back, spec as last hashed', at(5, 4, 'uid-web-3'), true],
    ['and once more', at(5, 4, 'uid-web-3'), false],
  ];
  for (const [name, object, sent] of steps) {
    const before = ctx.sent.length;
    assert.equal(await k.handle({ type: 'applied', object, listed: false }), true);
    assert.equal(ctx.sent.length - before, sent ? 1 : 0, name);
  }
  // Sent sanitised all the same: no generation, uid or status.
  const last = ctx.sent.at(-1) as AppliedChange;
  assert.deepEqual(last.object.metadata, { annotations: {}, namespace: 'ns', name: 'web' });
  assert.equal(last.object.status, undefined);
  // A list sends even an unchanged generation; a deletion forgets it.
  const before = ctx.sent.length;
  await k.handle({ type: 'applied', object: at(5, 4, 'uid-web-3'), listed: true });
  await k.handle({ type: 'deleted', object: at(5, 4, 'uid-web-3') });
  await k.handle({ type: 'applied', object: at(5, 4, 'uid-web-3'), listed: false });
  assert.deepEqual(
    ctx.sent.slice(before).map((c) => c.type),
    ['applied', 'deleted', 'applied'],
  );
});

test('kinds whose generation is not trusted: a spec change under the same generation is sent', async () => {
  const ctx = fakeContext();
  const pods = new KindChanges(kindOf('trackedObjects:\n  v1.Pod: {}\n', 'v1.Pod'), ctx);
  const pod = (image: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: 'ns', name: 'p', uid: 'uid-p', generation: 1 },
    spec: { containers: [{ name: 'c', image }] },
  });
  for (const [object, sent] of [
    [pod('a'), 1],
    [pod('a'), 0],
    [pod('b'), 1],
  ] as const) {
    const before = ctx.sent.length;
    await pods.handle({ type: 'applied', object, listed: false });
    assert.equal(ctx.sent.length - before, sent);
  }
});

test('deleted: sent and forgotten, so a recreation with the same spec is sent again', async () => {
  const ctx = fakeContext();
  const k = new KindChanges(DEPLOY, ctx);
  await k.handle({ type: 'applied', object: deploy('web', 1), listed: false });
  await k.handle({ type: 'deleted', object: deploy('web', 1) });
  await k.handle({ type: 'applied', object: deploy('web', 1), listed: false });
  assert.deepEqual(
    ctx.sent.map((c) => c.type),
    ['applied', 'deleted', 'applied'],
  );
  assert.equal(ctx.sent[1]!.type === 'deleted' && ctx.sent[1]!.object.metadata.uid, undefined);
});

test('relisted: pages of the listed names; names not listed any more are forgotten', async () => {
  const ctx = fakeContext([], 2);
  const k = new KindChanges(DEPLOY, ctx);
  for (const n of ['a', 'b', 'c']) await k.handle({ type: 'applied', object: deploy(n, 1), listed: true });
  await k.handle({ type: 'relisted', nsNames: ['ns/a', 'ns/b', 'ns/c'], resourceVersion: '5' });
  // b vanished; a relist lists a, c and a new d.
  for (const n of ['a', 'c', 'd']) await k.handle({ type: 'applied', object: deploy(n, 1), listed: true });
  ctx.sent.length = 0;
  await k.handle({ type: 'relisted', nsNames: ['ns/a', 'ns/c', 'ns/d'], resourceVersion: '9' });
  const pages = ctx.sent as RelistChange[];
  assert.deepEqual(
    pages.map((p) => [p.type, p.gvk, p.after, p.through, p.ns_names]),
    [
      ['relist', 'apps/v1.Deployment', null, 'ns/c', ['ns/a', 'ns/c']],
      ['relist', 'apps/v1.Deployment', 'ns/c', null, ['ns/d']],
    ],
  );
  assert.equal(k.size, 3);
  // b is forgotten: its re-creation with the same spec is a change.
  ctx.sent.length = 0;
  await k.handle({ type: 'applied', object: deploy('b', 1), listed: false });
  assert.equal(ctx.sent.length, 1);
});

test('skipOwned: owned objects are left out of changes, deletions and relist pages', async () => {
  const ctx = fakeContext();
  const k = new KindChanges(PODS_SKIP_OWNED, ctx);
  const pod = (name: string, owned: boolean): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace: 'ns',
      name,
      ...(owned
        ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u' }] }
        : {}),
    },
    spec: { containers: [] },
  });
  await k.handle({ type: 'applied', object: pod('bare', false), listed: true });
  await k.handle({ type: 'applied', object: pod('owned', true), listed: true });
  await k.handle({ type: 'relisted', nsNames: ['ns/bare', 'ns/owned'], resourceVersion: '1' });
  await k.handle({ type: 'deleted', object: pod('owned', true) });
  assert.deepEqual(
    ctx.sent.map((c) =>
      c.type === 'relist'
        ? `relist ${c.ns_names}`
        : `${c.type} ${c.type === 'applied' ? c.object.metadata.name : ''}`,
    ),
    ['applied bare', 'relist ns/bare'],
  );
  assert.equal(ctx.metrics.skippedOwned.get({ gvk: 'v1.Pod' }), 2);
});

test('owners: the resolved chain is sent; without the API the change goes with its ownerReferences only', async () => {
  const d = deploy('web', 1);
  const rs: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      namespace: 'ns',
      name: 'web-1',
      uid: 'uid-rs',
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-web' }],
    },
    spec: { replicas: 1 },
  };
  const ctx = fakeContext([d, rs]);
  const RS = kindOf('trackedObjects:\n  apps/v1.ReplicaSet: {}\n', 'apps/v1.ReplicaSet');
  const k = new KindChanges(RS, ctx);
  await k.handle({ type: 'applied', object: rs, listed: false });
  assert.deepEqual((ctx.sent[0] as AppliedChange).owners, [{ gvk: 'apps/v1.Deployment', ns_name: 'ns/web' }]);
  ctx.apiDown.value = true;
  // (The Deployment web is cached now; an owner not seen yet needs the API.)
  const rs2 = {
    ...rs,
    metadata: {
      ...rs.metadata,
      name: 'web-2',
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'api', uid: 'uid-api' }],
    },
  };
  await k.handle({ type: 'applied', object: rs2, listed: false });
  assert.equal((ctx.sent[1] as AppliedChange).owners, undefined);
  assert.ok(ctx.log.records.some((r) => r.level === 'warn' && r.nsName === 'ns/web-2'));
});

test('when delivery gives up, nothing is remembered and the handler says so', async () => {
  const ctx = fakeContext();
  const k = new KindChanges(DEPLOY, ctx);
  ctx.accepting.value = false;
  assert.equal(await k.handle({ type: 'applied', object: deploy('web', 1), listed: false }), false);
  assert.equal(await k.handle({ type: 'relisted', nsNames: [], resourceVersion: '1' }), false);
  ctx.accepting.value = true;
  assert.equal(k.size, 0);
  assert.equal(await k.handle({ type: 'applied', object: deploy('web', 1), listed: false }), true);
  assert.equal(ctx.sent.length, 1, 'the same spec is still a change: the refused one never left');
});
