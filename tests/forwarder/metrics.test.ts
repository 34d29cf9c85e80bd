/**
 * The forwarder's metrics registry: series keys (labelKey has fast paths for one and two labels)
 * and held series handles. Oracle for keys: the general implementation (sort the names, join
 * `name=value` with NUL), written out here on its own.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ForwarderMetrics, labelKey, Registry } from '../../lib/forwarder/metrics.ts';
import { seededRand } from '../support/rand.ts';

const referenceKey = (labels: Record<string, string>) =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join('\u0000');

test('labelKey equals the sort-and-join key for 0 to 4 labels in every insertion order', () => {
  const names = ['gvk', 'type', 'Zeta', 'a', 'reason'];
  const values = ['apps/v1.Deployment', 'applied', '', 'x=y', 'é'];
  const permutations = (xs: string[]): string[][] =>
    xs.length <= 1
      ? [xs]
      : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
  for (let n = 0; n <= 4; n++) {
    for (const order of permutations(names.slice(0, n))) {
      const labels: Record<string, string> = {};
      for (const k of order) labels[k] = values[names.indexOf(k)]!;
      assert.equal(labelKey(labels), referenceKey(labels), JSON.stringify(order));
    }
  }
});

test('the same labels in another order are the same series; a held series updates what renders', () => {
  const r = new Registry();
  const c = r.counter('c_total', 'help');
  c.inc({ gvk: 'v1.Pod', type: 'applied' });
  c.inc({ type: 'applied', gvk: 'v1.Pod' }, 2);
  const held = c.series({ type: 'applied', gvk: 'v1.Pod' });
  held.inc();
  held.inc(4);
  c.inc({ gvk: 'v1.Pod', type: 'deleted' });
  assert.equal(c.get({ gvk: 'v1.Pod', type: 'applied' }), 8);
  assert.equal(c.total(), 9);
  const g = r.gauge('g', 'help');
  g.series().set(7);
  g.series({ gvk: 'a' }).set(3);
  g.set({ gvk: 'a' }, 5);
  assert.equal(
    r.render(),
    [
      '# HELP c_total help',
      '# TYPE c_total counter',
      'c_total{gvk="v1.Pod",type="applied"} 8',
      'c_total{gvk="v1.Pod",type="deleted"} 1',
      '# HELP g help',
      '# TYPE g gauge',
      'g 7',
      'g{gvk="a"} 5',
      '',
    ].join('\n'),
  );
});

test('a series appears on /metrics once held or touched, at 0 until then', () => {
  const m = new ForwarderMetrics();
  assert.doesNotMatch(m.render(), /sktrace_forwarder_changes_queued_total\{/);
  m.changesQueued.series({ gvk: 'v1.ConfigMap', type: 'applied' });
  assert.match(
    m.render(),
    /^sktrace_forwarder_changes_queued_total\{gvk="v1.ConfigMap",type="applied"\} 0$/m,
  );
});

test('series lookups: every label set in any order finds its own series (against a map keyed by the sort-and-join key)', () => {
  // The registry finds series through a tree of label names and values; the oracle keys a plain
  // Map by referenceKey. Label sets that share values under other names, or that extend one
  // another ({a}, {a, b}), must stay apart.
  const r = new Registry();
  const c = r.counter('c_total', 'help');
  const oracle = new Map<string, number>();
  const names = ['gvk', 'type', 'reason'];
  const values = ['x', 'y', 'applied', ''];
  const rand = seededRand(7);
  for (let i = 0; i < 3000; i++) {
    const picked = names.filter(() => rand(2) === 0);
    const order = [...picked].sort(() => rand(3) - 1);
    const labels: Record<string, string> = {};
    for (const k of order) labels[k] = values[rand(values.length)]!;
    const by = 1 + rand(3);
    c.inc(labels, by);
    const key = referenceKey(labels);
    oracle.set(key, (oracle.get(key) ?? 0) + by);
  }
  for (const [key, value] of oracle) {
    const labels = Object.fromEntries(
      key === ''
        ? []
        : key.split('\u0000').map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]),
    );
    assert.equal(c.get(labels), value, key);
    assert.equal(c.series(labels).value, value, key);
  }
  assert.equal(
    r
      .render()
      .split('\n')
      .filter((l) => l.startsWith('c_total')).length,
    oracle.size,
  );
});
