/** A ChangeContext over fakes: a manual clock, a recording sink that can refuse, owners from a map. */
import { type ChangeContext, Stamper } from '../../../lib/forwarder/changes.ts';
import { memoryLogger } from '../../../lib/forwarder/log.ts';
import { ForwarderMetrics } from '../../../lib/forwarder/metrics.ts';
import { OwnerChains, type OwnerLookup } from '../../../lib/forwarder/owners.ts';
import { KubeApiError } from '../../../lib/forwarder/ports.ts';
import type { Change } from '../../../lib/ingest/wire.ts';
import type { KubeObject } from '../../../lib/trace/model.ts';

export interface FakeContext extends ChangeContext {
  clock: { ms: number };
  sent: Change[];
  /** When false, the sink refuses (delivery gave up). */
  accepting: { value: boolean };
  /** When true, owner lookups fail like an unreachable API. */
  apiDown: { value: boolean };
  log: ReturnType<typeof memoryLogger>;
  metrics: ForwarderMetrics;
}

export function fakeContext(owners: KubeObject[] = [], relistPageSize = 500): FakeContext {
  const clock = { ms: 1_700_000_000_000 };
  const sent: Change[] = [];
  const accepting = { value: true };
  const apiDown = { value: false };
  const byKey = new Map(owners.map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o]));
  const lookup: OwnerLookup = async (ref, ns) => {
    if (apiDown.value) throw new KubeApiError('GET: connection refused', {});
    const object = byKey.get(`${ref.kind}/${ns ?? ''}/${ref.name}`);
    return { nsName: ns ? `${ns}/${ref.name}` : ref.name, ...(object ? { object } : {}) };
  };
  const metrics = new ForwarderMetrics();
  const log = memoryLogger();
  return {
    clock,
    sent,
    accepting,
    apiDown,
    log,
    metrics,
    stamper: new Stamper(() => clock.ms),
    sink: async (changes) => {
      if (!accepting.value) return false;
      sent.push(...changes);
      return true;
    },
    owners: new OwnerChains(lookup, { maxEntries: 100, ttlMs: 60_000, nowMs: () => clock.ms }),
    relistPageSize,
  };
}
