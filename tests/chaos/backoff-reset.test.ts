/**
 * Found by the chaos harness's 410 Gone storm: each 410 came after a good relist, yet the kind's
 * backoff kept climbing (375 ms, 750 ms, 1.5 s, 3 s… up to 30 s), so by the fourth compaction the
 * relist came 47 s late. kube-rs's StreamBackoff resets on every successful item; so must ours.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiResource, KubeApi, ListPage } from '../../lib/forwarder/ports.ts';
import { inProcessForwarder } from '../forwarder/support/in-process.ts';
import { eventually, fastRuntime } from '../forwarder/support/runtime.ts';

const CM: ApiResource = {
  gvk: 'v1.ConfigMap',
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  namespaced: true,
};
const GONE = JSON.stringify({
  type: 'ERROR',
  object: {
    kind: 'Status',
    apiVersion: 'v1',
    code: 410,
    reason: 'Expired',
    message: 'too old resource version',
  },
});

/** Every list succeeds; every watch answers 410 Gone at once — `rounds` times, then hangs. */
class GoneStorm implements KubeApi {
  lists = 0;
  readonly rounds: number;

  constructor(rounds: number) {
    this.rounds = rounds;
  }

  async resolve(): Promise<ApiResource> {
    return CM;
  }

  async list(): Promise<ListPage> {
    this.lists++;
    return {
      items: [{ metadata: { namespace: 'ns', name: 'a', resourceVersion: '5' }, spec: { v: 1 } }],
      resourceVersion: String(10 * this.lists),
    };
  }

  async watch(_r: ApiResource, _req: unknown, signal: AbortSignal): Promise<AsyncIterable<string>> {
    const last = this.lists > this.rounds;
    return (async function* () {
      if (!last) {
        yield GONE;
        return;
      }
      await new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
    })();
  }

  async get(): Promise<undefined> {
    return undefined;
  }
}

test('a 410 Gone after a successful relist waits the first backoff step, not a growing one', async () => {
  const kube = new GoneStorm(6);
  const runtime = fastRuntime(5, { random: () => 0.5 });
  const { fw } = inProcessForwarder({
    kube,
    poster: { post: async () => ({ status: 200, bodyText: '{}' }) },
    runtime,
    delivery: { lingerMs: 1 },
  });
  await fw.start();
  await eventually(() => kube.lists > kube.rounds, 10_000, 'every 410 to be relisted');
  await fw.stop(1_000);
  // With equal jitter at 0.5 the first step of the kube backoff (500 ms) is 375 ms; the idle
  // watchdog's 5 s naps, delivery's linger and stop()'s 1 s grace are not backoffs (the steps
  // are 375, 750, 1500, 3000 ms…, never 1000).
  const backoffs = runtime.sleeps.filter((ms) => ms > 1 && ms < 5_000 && ms !== 1_000);
  assert.ok(backoffs.length >= kube.rounds - 1, `a backoff per 410: ${runtime.sleeps.join(',')}`);
  assert.deepEqual(
    backoffs,
    backoffs.map(() => 375),
    `backoffs: ${backoffs.join(',')}`,
  );
});
