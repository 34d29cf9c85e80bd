/**
 * The forwarder posting through the real ingest handler (functions/ingest/handler.ts behind the
 * local API Gateway, DynamoTraceStore on dynalite, S3 on s3rver): every change it sends passes
 * the real validation, and the store ends with what the cluster holds — including deletions
 * made while the forwarder was stopped, reconciled by its relist pages.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Logger } from '@aws-lambda-powertools/logger';
import { makeHandler } from '../../functions/ingest/handler.ts';
import { generateToken } from '../../lib/auth/token.ts';
import { DynamoTokenStore } from '../../lib/aws/dynamo-token-store.ts';
import { DynamoTraceStore } from '../../lib/aws/dynamo-trace-store.ts';
import { S3BlobStore } from '../../lib/aws/s3-blob-store.ts';
import { createGateway } from '../../lib/local/gateway.ts';
import { nsNameOf } from '../../lib/trace/gvk.ts';
import {
  configMap,
  cronJob,
  deployment,
  finishedStatus,
  jobFor,
  podFor,
  replicaSetFor,
  runningStatus,
} from '../kube-sim/workload.ts';
import { type LocalAws, startLocalAws } from '../support/local-aws.ts';
import { Harness, settled } from './support/harness.ts';
import { eventually } from './support/runtime.ts';

const CLUSTER = 'e2e';
let aws: LocalAws;
let store: DynamoTraceStore;
let gatewayUrl = '';
let token = '';
let closeGateway: () => Promise<void>;

before(async () => {
  aws = await startLocalAws();
  const tokens = new DynamoTokenStore({ client: aws.dynamo, tableName: aws.tableName });
  const created = generateToken();
  token = created.token;
  await tokens.put({
    cluster: CLUSTER,
    tokenId: created.tokenId,
    tokenHash: created.tokenHash,
    createdAtSec: Math.floor(Date.now() / 1000),
  });
  store = new DynamoTraceStore({
    dynamo: aws.dynamo,
    tableName: aws.tableName,
    blobs: new S3BlobStore(aws.s3, aws.bucket),
  });
  const handler = makeHandler({
    writer: store,
    tokens,
    logger: new Logger({ logLevel: 'ERROR' }),
    clock: Date.now,
  });
  const gateway = createGateway({ routes: [{ routeKey: 'POST /v1/clusters/{cluster}/events', handler }] });
  gateway.listen(0, '127.0.0.1');
  await once(gateway, 'listening');
  gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
  closeGateway = async () => {
    gateway.closeAllConnections();
    gateway.close();
    await once(gateway, 'close');
  };
});
after(async () => {
  await closeGateway();
  await aws.close();
});

const CONFIG = `
trackedObjects:
  apps/v1.Deployment: {}
  apps/v1.ReplicaSet: {}
  v1.ConfigMap: {}
  batch/v1.CronJob:
    trackLifecycle: true
`;

async function live(): Promise<Map<string, { owners: string[] }>> {
  const set = await store.liveAt(CLUSTER, Math.floor(Date.now() / 1000) + 2);
  return new Map(
    set.objects.map((c) => [
      `${c.object.apiVersion}.${c.object.kind} ${nsNameOf(c.object)}`,
      { owners: c.owners.map((o) => `${o.gvk} ${o.nsName}`) },
    ]),
  );
}

test('every change the forwarder sends is accepted by the real ingest, and the store mirrors the cluster', async (t) => {
  const h = await Harness.start();
  t.after(() => h.close());
  const endpoint = { url: gatewayUrl, cluster: CLUSTER, token };
  const d = h.sim.apply(deployment('web', 'api'));
  h.sim.apply(replicaSetFor(d, '7f9c'));
  for (const n of ['a', 'b', 'c']) h.sim.apply(configMap('web', n, { k: n }));
  const cj = h.sim.apply(cronJob('batch', 'nightly'));
  const job = h.sim.apply(jobFor(cj, { scheduledAtSec: 1_700_000_000 }));
  h.sim.apply(podFor(job, { name: 'nightly-run', status: runningStatus(1_700_000_010) }));

  const first = await h.forwarder(CONFIG, { endpoint });
  await eventually(() => settled(first), 30_000, 'first lists stored');
  h.sim.patchStatus('v1.Pod', 'batch/nightly-run', finishedStatus(1_700_000_010, 1_700_000_070));
  await eventually(
    () => first.metrics.lifecycles.get({ state: 'finished' }) === 1 && first.delivery.depth === 0,
    30_000,
    'lifecycle stored',
  );
  // Every change passed the real validation (a refused one would be isolated, dropped, counted).
  assert.equal(
    first.metrics.changesRejected.total(),
    0,
    JSON.stringify(first.log.records.filter((r) => r.level === 'error')),
  );

  let objects = await live();
  assert.deepEqual([...objects.keys()].sort(), [
    'apps/v1.Deployment web/api',
    'apps/v1.ReplicaSet web/api-7f9c',
    'batch/v1.CronJob batch/nightly',
    'v1.ConfigMap web/a',
    'v1.ConfigMap web/b',
    'v1.ConfigMap web/c',
  ]);
  assert.deepEqual(objects.get('apps/v1.ReplicaSet web/api-7f9c')?.owners, ['apps/v1.Deployment web/api']);
  const lifecycles = [];
  for await (const l of store.lifecycles(CLUSTER)) lifecycles.push(l);
  assert.deepEqual(
    lifecycles.map((l) => [l.owner.gvk, l.owner.nsName, l.lifecycles]),
    [['batch/v1.CronJob', 'batch/nightly', [{ startTs: 1_700_000_010, endTs: 1_700_000_070 }]]],
  );

  // Stopped: a ConfigMap and the ReplicaSet go away, the Deployment is scaled. The restart's
  // relist reconciles the store, kind by kind.
  await first.stop();
  h.sim.delete('v1.ConfigMap', 'web/b');
  h.sim.delete('apps/v1.ReplicaSet', 'web/api-7f9c');
  const scaled = structuredClone(h.sim.get('apps/v1.Deployment', 'web/api')!); // stored objects are frozen
  (scaled.spec as { replicas: number }).replicas = 7;
  h.sim.apply(scaled);
  const second = await h.forwarder(CONFIG, { endpoint });
  await eventually(() => settled(second), 30_000, 'relists stored');
  assert.equal(second.metrics.changesRejected.total(), 0);
  objects = await live();
  assert.deepEqual([...objects.keys()].sort(), [
    'apps/v1.Deployment web/api',
    'batch/v1.CronJob batch/nightly',
    'v1.ConfigMap web/a',
    'v1.ConfigMap web/c',
  ]);
  const set = await store.liveAt(CLUSTER, Math.floor(Date.now() / 1000) + 2);
  const api = set.objects.find((o) => o.object.kind === 'Deployment');
  assert.equal((api?.object.spec as { replicas?: number } | undefined)?.replicas, 7);
});
