/**
 * Shared setup of the Delivery tests (delivery.test.ts, delivery-auth.test.ts): the test delivery
 * options, numbered ConfigMap changes, and a started Delivery posting to an ingest endpoint
 * (the tests' support/ingest-recorder.ts).
 */
import { Delivery, type DeliveryOptions } from '../../../lib/forwarder/delivery.ts';
import { httpIngestPoster } from '../../../lib/forwarder/ingest-client.ts';
import { memoryLogger } from '../../../lib/forwarder/log.ts';
import { ForwarderMetrics } from '../../../lib/forwarder/metrics.ts';
import type { AppliedChange, Change } from '../../../lib/ingest/wire.ts';
import { fastRuntime, type RecordingRuntime } from './runtime.ts';

/**
 * The tests' delivery options: short linger, no jitter, 100 ms first backoff, and one batch in
 * flight, so that batches of independent changes land in the order they were cut (the tests
 * that use these assert that order); delivery-order.test.ts runs several in flight.
 */
export const deliveryOptions = (overrides: Partial<DeliveryOptions> = {}): DeliveryOptions => ({
  maxBatchBytes: 64 * 1024,
  maxBatchChanges: 3,
  lingerMs: 20,
  maxQueueBytes: 1024 * 1024,
  stallTimeoutMs: 60_000,
  maxBatchesInFlight: 1,
  backoff: {
    initialMs: 100,
    maxMs: 1000,
    factor: 2,
    jitter: 0,
    quietPeriodMs: 60_000,
    maxRetryAfterMs: 10_000,
  },
  ...overrides,
});

/** ConfigMap ns/cm-`i`, applied at ts 1_700_000_000 + i, with seq i and the given data. */
export const configMapChange = (i: number, data: Record<string, string>): AppliedChange => ({
  type: 'applied',
  ts: 1_700_000_000 + i,
  seq: i,
  object: {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { namespace: 'ns', name: `cm-${i}` },
    data,
  },
});

/** The object names of applied changes (the type of any other change). */
export const names = (changes: Change[]) =>
  changes.map((c) => (c.type === 'applied' ? c.object.metadata.name : c.type));

/** A started Delivery posting to `endpoint` with token `sekret`. */
export function startDelivery(opts: {
  endpoint: string;
  cluster: string;
  options: DeliveryOptions;
  runtime?: RecordingRuntime;
  requestTimeoutMs?: number;
}) {
  const runtime = opts.runtime ?? fastRuntime(5);
  const metrics = new ForwarderMetrics();
  const log = memoryLogger();
  const poster = httpIngestPoster({
    endpoint: opts.endpoint,
    cluster: opts.cluster,
    token: 'sekret',
    requestTimeoutMs: opts.requestTimeoutMs ?? 10_000,
    nowMs: runtime.nowMs,
  });
  const delivery = new Delivery(opts.options, { poster, runtime, metrics, log });
  delivery.start();
  return { delivery, metrics, log, runtime };
}
