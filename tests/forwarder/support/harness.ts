/**
 * Integration harness: the simulated API server, the recording ingest endpoint, and forwarders
 * running in-process over the real transport (client-node kubeconfig handling, node:http
 * requests), with short timeouts so reconnects happen within a test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_DELIVERY, Delivery, type DeliveryOptions } from '../../../lib/forwarder/delivery.ts';
import { httpIngestPoster } from '../../../lib/forwarder/ingest-client.ts';
import { memoryLogger } from '../../../lib/forwarder/log.ts';
import { ForwarderMetrics } from '../../../lib/forwarder/metrics.ts';
import type { Runtime } from '../../../lib/forwarder/ports.ts';
import { Forwarder, type ForwarderTuning } from '../../../lib/forwarder/runner.ts';
import { systemRuntime } from '../../../lib/forwarder/system.ts';
import { HttpKubeApi } from '../../../lib/kube/api.ts';
import { KubeTransport, loadKubeConfig } from '../../../lib/kube/transport.ts';
import { parseTracerConfig } from '../../../lib/trace/config.ts';
import { KubeSim, type SimOptions } from '../../kube-sim/server.ts';
import { IngestRecorder } from './ingest-recorder.ts';
import { StoreReducer } from './store-reducer.ts';

export const FAST_TUNING: Partial<ForwarderTuning> = {
  pageLimit: 50,
  watchTimeoutSec: 30,
  watchIdleMarginSec: 5,
  kubeBackoff: {
    initialMs: 20,
    maxMs: 200,
    factor: 2,
    jitter: 0.5,
    quietPeriodMs: 2_000,
    maxRetryAfterMs: 2_000,
  },
  discoveryBackoff: {
    initialMs: 20,
    maxMs: 100,
    factor: 2,
    jitter: 0.5,
    quietPeriodMs: 2_000,
    maxRetryAfterMs: 2_000,
  },
};

export const FAST_DELIVERY: DeliveryOptions = {
  ...DEFAULT_DELIVERY,
  lingerMs: 20,
  backoff: {
    initialMs: 20,
    maxMs: 200,
    factor: 2,
    jitter: 0.5,
    quietPeriodMs: 2_000,
    maxRetryAfterMs: 2_000,
  },
};

export interface RunningForwarder {
  forwarder: Forwarder;
  delivery: Delivery;
  metrics: ForwarderMetrics;
  log: ReturnType<typeof memoryLogger>;
  stop(graceMs?: number): Promise<{ left: number }>;
}

export class Harness {
  readonly sim: KubeSim;
  readonly ingest: IngestRecorder;
  readonly kubeconfigPath: string;
  readonly #dir: string;
  readonly #running = new Set<RunningForwarder>();

  private constructor(sim: KubeSim, ingest: IngestRecorder, dir: string, kubeconfigPath: string) {
    this.sim = sim;
    this.ingest = ingest;
    this.#dir = dir;
    this.kubeconfigPath = kubeconfigPath;
  }

  static async start(simOptions: SimOptions = {}): Promise<Harness> {
    const sim = await KubeSim.start(simOptions);
    const ingest = await IngestRecorder.start();
    const dir = await mkdtemp(join(tmpdir(), 'sktrace-fwd-'));
    return new Harness(sim, ingest, dir, await sim.writeKubeconfig(dir));
  }

  /** Starts a forwarder for `configYaml`; it is stopped by close() if the test does not. */
  async forwarder(
    configYaml: string,
    opts: {
      tuning?: Partial<ForwarderTuning>;
      delivery?: Partial<DeliveryOptions>;
      runtime?: Runtime;
      /** Another ingest endpoint than the recorder (the real handler), with its cluster and token. */
      endpoint?: { url: string; cluster: string; token: string };
    } = {},
  ): Promise<RunningForwarder> {
    const runtime = opts.runtime ?? systemRuntime;
    const { config: kc } = loadKubeConfig({ kubeconfigPath: this.kubeconfigPath, env: {} });
    const metrics = new ForwarderMetrics();
    const log = memoryLogger();
    const delivery = new Delivery(
      { ...FAST_DELIVERY, ...opts.delivery },
      {
        poster: httpIngestPoster({
          endpoint: opts.endpoint?.url ?? this.ingest.url,
          cluster: opts.endpoint?.cluster ?? 'test',
          token: opts.endpoint?.token ?? 't',
          requestTimeoutMs: 5_000,
          nowMs: runtime.nowMs,
        }),
        runtime,
        metrics,
        log,
      },
    );
    const forwarder = new Forwarder({
      config: parseTracerConfig(configYaml),
      kube: new HttpKubeApi(new KubeTransport(kc, runtime.nowMs)),
      delivery,
      runtime,
      log,
      metrics,
      tuning: { ...FAST_TUNING, ...opts.tuning },
    });
    await forwarder.start();
    const running: RunningForwarder = {
      forwarder,
      delivery,
      metrics,
      log,
      stop: async (graceMs = 5_000) => {
        this.#running.delete(running);
        return forwarder.stop(graceMs);
      },
    };
    this.#running.add(running);
    return running;
  }

  /** What a store would hold after every accepted batch so far. */
  store(): StoreReducer {
    return new StoreReducer().apply(this.ingest.accepted());
  }

  /** Waits until a store built from the accepted batches satisfies `check`. */
  async until(
    check: (store: StoreReducer) => boolean,
    what: string,
    timeoutMs = 20_000,
  ): Promise<StoreReducer> {
    let last = this.store();
    await this.ingest.waitFor(
      () => {
        last = this.store();
        return check(last);
      },
      timeoutMs,
      what,
    );
    return last;
  }

  async close(): Promise<void> {
    for (const r of [...this.#running]) await r.stop(1_000);
    await this.sim.close();
    await this.ingest.close();
    await rm(this.#dir, { recursive: true, force: true });
  }
}

export const ready = (r: RunningForwarder) => r.forwarder.readiness().ready;

/** Every kind listed and everything queued so far accepted by the endpoint. */
export const settled = (r: RunningForwarder) => ready(r) && r.delivery.depth === 0;
