import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OwnerChains, type OwnerLookup } from '../../lib/forwarder/owners.ts';
import { KubeApiError } from '../../lib/forwarder/ports.ts';
import type { KubeObject, OwnerReference } from '../../lib/trace/model.ts';

const ref = (kind: string, name: string, uid = `uid-${name}`, apiVersion = 'apps/v1'): OwnerReference => ({
  apiVersion,
  kind,
  name,
  uid,
  controller: true,
});
const obj = (
  kind: string,
  name: string,
  owners: OwnerReference[] = [],
  apiVersion = 'apps/v1',
): KubeObject => ({
  apiVersion,
  kind,
  metadata: { namespace: 'ns', name, uid: `uid-${name}`, ownerReferences: owners },
});

/** A cluster in a map: `Kind/name` → object; counts GETs. */
function cluster(objects: KubeObject[], clusterScoped: string[] = []) {
  const byKey = new Map(objects.map((o) => [`${o.kind}/${o.metadata.name}`, o]));
  const gets: string[] = [];
  const lookup: OwnerLookup = async (r, ns) => {
    gets.push(`${r.kind}/${r.name}`);
    const scoped = clusterScoped.includes(r.kind);
    return {
      nsName: scoped || !ns ? r.name : `${ns}/${r.name}`,
      ...(byKey.has(`${r.kind}/${r.name}`) ? { object: byKey.get(`${r.kind}/${r.name}`)! } : {}),
    };
  };
  return { lookup, gets };
}

function chains(
  lookup: OwnerLookup,
  opts: { maxEntries?: number; ttlMs?: number; now?: { ms: number } } = {},
) {
  const now = opts.now ?? { ms: 0 };
  const results: string[] = [];
  const c = new OwnerChains(lookup, {
    maxEntries: opts.maxEntries ?? 100,
    ttlMs: opts.ttlMs ?? 60_000,
    nowMs: () => now.ms,
    onLookup: (r) => results.push(r),
  });
  return { c, results, now };
}

const brief = (chain: Array<{ gvk: string; ns_name: string }>) => chain.map((o) => `${o.gvk} ${o.ns_name}`);

test('chains: nearest first, then each owner’s own chain, as SimKube computes them', async () => {
  const node = obj('Node', 'node-1', [], 'v1');
  const deploy = obj('Deployment', 'web');
  const rs = obj('ReplicaSet', 'web-1', [ref('Deployment', 'web')]);
  const cases: Array<{ name: string; of: KubeObject; want: string[] }> = [
    { name: 'no owners', of: obj('Pod', 'p', [], 'v1'), want: [] },
    {
      name: 'Pod → ReplicaSet → Deployment',
      of: obj('Pod', 'p', [ref('ReplicaSet', 'web-1')], 'v1'),
      want: ['apps/v1.ReplicaSet ns/web-1', 'apps/v1.Deployment ns/web'],
    },
    {
      name: 'two direct owners, one cluster-scoped; shared ancestors once',
      of: obj(
        'Pod',
        'p',
        [ref('ReplicaSet', 'web-1'), ref('Node', 'node-1', 'uid-node-1', 'v1'), ref('ReplicaSet', 'web-1')],
        'v1',
      ),
      want: ['apps/v1.ReplicaSet ns/web-1', 'v1.Node node-1', 'apps/v1.Deployment ns/web'],
    },
    {
      name: 'owner gone (404): the chain ends at the reference',
      of: obj('Pod', 'p', [ref('ReplicaSet', 'gone-1')], 'v1'),
      want: ['apps/v1.ReplicaSet ns/gone-1'],
    },
    {
      name: 'owner recreated under the same name (uid differs): not followed',
      of: obj('Pod', 'p', [ref('ReplicaSet', 'web-1', 'old-uid')], 'v1'),
      want: ['apps/v1.ReplicaSet ns/web-1'],
    },
  ];
  for (const c of cases) {
    const { lookup } = cluster([node, deploy, rs], ['Node']);
    assert.deepEqual(brief(await chains(lookup).c.chainOf(c.of)), c.want, c.name);
  }
});

test('each owner is fetched once per TTL; hits are counted; expired entries are fetched again', async () => {
  const { lookup, gets } = cluster([
    obj('Deployment', 'web'),
    obj('ReplicaSet', 'web-1', [ref('Deployment', 'web')]),
  ]);
  const { c, results, now } = chains(lookup, { ttlMs: 1000 });
  const pod = (i: number) => obj('Pod', `p${i}`, [ref('ReplicaSet', 'web-1')], 'v1');
  for (let i = 0; i < 5; i++) await c.chainOf(pod(i));
  assert.deepEqual(gets, ['ReplicaSet/web-1', 'Deployment/web']);
  assert.deepEqual(results.filter((r) => r === 'hit').length, 4);
  now.ms = 1001;
  await c.chainOf(pod(9));
  assert.deepEqual(gets, ['ReplicaSet/web-1', 'Deployment/web', 'ReplicaSet/web-1', 'Deployment/web']);
});

test('the cache is bounded: least recently used entries go first', async () => {
  const owners = ['a', 'b', 'c'].map((n) => obj('ReplicaSet', n));
  const { lookup, gets } = cluster(owners);
  const { c } = chains(lookup, { maxEntries: 2 });
  const pod = (owner: string) => obj('Pod', 'p', [ref('ReplicaSet', owner)], 'v1');
  await c.chainOf(pod('a'));
  await c.chainOf(pod('b'));
  await c.chainOf(pod('a')); // a is now the most recent
  await c.chainOf(pod('c')); // evicts b
  assert.equal(c.size, 2);
  await c.chainOf(pod('a'));
  await c.chainOf(pod('b'));
  assert.deepEqual(gets, ['ReplicaSet/a', 'ReplicaSet/b', 'ReplicaSet/c', 'ReplicaSet/b']);
});

test('API errors propagate (the caller falls back) and are not cached', async () => {
  let fail = true;
  const lookup: OwnerLookup = async (r, ns) => {
    if (fail) throw new KubeApiError('GET: 503', { status: 503 });
    return { nsName: `${ns}/${r.name}`, object: obj('ReplicaSet', r.name) };
  };
  const { c, results } = chains(lookup);
  const pod = obj('Pod', 'p', [ref('ReplicaSet', 'web-1')], 'v1');
  await assert.rejects(c.chainOf(pod), KubeApiError);
  fail = false;
  assert.deepEqual(brief(await c.chainOf(pod)), ['apps/v1.ReplicaSet ns/web-1']);
  assert.deepEqual(results, ['error', 'fetched']);
});

test('an ownership cycle is cut instead of looping', async () => {
  const a = obj('ReplicaSet', 'a', [ref('ReplicaSet', 'b')]);
  const b = obj('ReplicaSet', 'b', [ref('ReplicaSet', 'a')]);
  const { lookup } = cluster([a, b]);
  const chain = await chains(lookup).c.chainOf(obj('Pod', 'p', [ref('ReplicaSet', 'a')], 'v1'));
  assert.deepEqual(brief(chain), ['apps/v1.ReplicaSet ns/a', 'apps/v1.ReplicaSet ns/b']);
});
