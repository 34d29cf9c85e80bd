/**
 * The simulated cluster's workload: `count` Deployments (tests/kube-sim/workload.ts, ~1.3 KB of
 * JSON each) spread over 50 namespaces, and spec changes to them — `replicas` set to a value it
 * never had, so the spec hash always changes and every update must leave the forwarder.
 */
import type { KubeSim } from '../../tests/kube-sim/server.ts';
import { deployment } from '../../tests/kube-sim/workload.ts';
import { sleep } from './proc.ts';

export const DEPLOYMENT_GVK = 'apps/v1.Deployment';
export const DEPLOYMENT_CONFIG = 'trackedObjects:\n  apps/v1.Deployment: {}\n';

export class DeploymentFleet {
  readonly sim: KubeSim;
  readonly count: number;
  /** Spec updates applied so far; the next goes to object `updates % count`. */
  updates = 0;

  constructor(sim: KubeSim, count: number) {
    this.sim = sim;
    this.count = count;
    for (let i = 0; i < count; i++) sim.apply(deployment(`ns-${i % 50}`, `app-${i}`, { replicas: 1 }));
  }

  nsName(i: number): string {
    return `ns-${i % 50}/app-${i}`;
  }

  /** The replicas update number `n` sets (distinct for every update, never 1, the initial value). */
  static replicasOf(n: number): number {
    return 2 + n;
  }

  /** Applies the next spec update. */
  update(): void {
    const n = this.updates++;
    const nsName = this.nsName(n % this.count);
    // Stored objects are deep-frozen: edit a copy.
    const d = structuredClone(this.sim.get(DEPLOYMENT_GVK, nsName)!);
    (d.spec as { replicas: number }).replicas = DeploymentFleet.replicasOf(n);
    this.sim.apply(d);
  }

  /**
   * Applies `n` updates as fast as the consumer takes them: bursts of 500, yielding to the event
   * loop so the watch sockets drain, and never more than `maxLag` ahead of `consumed()` (the
   * consumer's count of updates received since the start of this pump). The simulator closes a
   * watch whose unread changes leave its compaction window (10,000 revisions), as a real API
   * server does with a slow watcher; that would measure relists, not the stream.
   */
  async pump(n: number, consumed: () => number, maxLag = 4000): Promise<void> {
    for (let applied = 0; applied < n; ) {
      for (let k = 0; k < 500 && applied < n; k++, applied++) this.update();
      await new Promise((r) => setImmediate(r));
      while (applied - consumed() > maxLag) await sleep(2);
    }
  }
}
