/**
 * A forwarder over a fake KubeApi and poster, in-process (no sockets): the unit tests' and the
 * chaos fix tests' way to drive the runner's state machine with a scripted API server.
 */
import { DEFAULT_DELIVERY, Delivery, type DeliveryOptions } from '../../../lib/forwarder/delivery.ts';
import { memoryLogger } from '../../../lib/forwarder/log.ts';
import { ForwarderMetrics } from '../../../lib/forwarder/metrics.ts';
import type { IngestPoster, KubeApi, Runtime } from '../../../lib/forwarder/ports.ts';
import { Forwarder, type ForwarderTuning } from '../../../lib/forwarder/runner.ts';
import { parseTracerConfig } from '../../../lib/trace/config.ts';

export const CONFIGMAPS_ONLY = 'trackedObjects:\n  v1.ConfigMap: {}\n';

export function inProcessForwarder(opts: {
  kube: KubeApi;
  poster: IngestPoster;
  runtime: Runtime;
  delivery?: Partial<DeliveryOptions>;
  tuning?: Partial<ForwarderTuning>;
  configYaml?: string;
}): { fw: Forwarder; delivery: Delivery; log: ReturnType<typeof memoryLogger>; metrics: ForwarderMetrics } {
  const metrics = new ForwarderMetrics();
  const log = memoryLogger();
  const { runtime } = opts;
  const delivery = new Delivery(
    { ...DEFAULT_DELIVERY, ...opts.delivery },
    { poster: opts.poster, runtime, metrics, log },
  );
  const fw = new Forwarder({
    config: parseTracerConfig(opts.configYaml ?? CONFIGMAPS_ONLY),
    kube: opts.kube,
    delivery,
    runtime,
    log,
    metrics,
    ...(opts.tuning ? { tuning: opts.tuning } : {}),
  });
  return { fw, delivery, log, metrics };
}
