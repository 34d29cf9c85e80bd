/**
 * Helpers for the store tests: fixtures (a typical ~3.4 KB Deployment written for these tests),
 * table scans to compare stores item by item, and a store factory on local AWS.
 */

import { after, before } from 'node:test';
import { type AttributeValue, type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DynamoTraceStore, type DynamoTraceStoreOptions } from '../../lib/aws/dynamo-trace-store.ts';
import { S3BlobStore } from '../../lib/aws/s3-blob-store.ts';
import { ensureTable } from '../../lib/aws/table.ts';
import type { AppliedChange, DeletedChange, RelistChange } from '../../lib/ingest/wire.ts';
import type { KubeObject } from '../../lib/trace/model.ts';
import { type LocalAws, startLocalAws } from '../support/local-aws.ts';

export const NOW = 1_700_000_000;

export function makeStore(aws: LocalAws, options: Partial<DynamoTraceStoreOptions> = {}): DynamoTraceStore {
  return new DynamoTraceStore({
    dynamo: aws.dynamo,
    tableName: aws.tableName,
    blobs: new S3BlobStore(aws.s3, aws.bucket),
    nowSec: () => NOW,
    sleep: async () => {},
    ...options,
  });
}

export async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

/**
 * Every item of a table as canonical JSON lines, sorted: equal arrays ⇔ equal tables. Change-feed
 * records (`FEED#…`) are left out: the feed is a log of what landed when, and each attempt of a
 * batch appends its own record by design (lib/store/feed.ts); tests/store/feed.test.ts checks it.
 */
export async function scanTable(dynamo: DynamoDBClient, tableName: string): Promise<string[]> {
  const lines: string[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await dynamo.send(
      new ScanCommand({ TableName: tableName, ...(start ? { ExclusiveStartKey: start } : {}) }),
    );
    for (const item of out.Items ?? []) if (!item.pk?.S?.startsWith('FEED#')) lines.push(canonical(item));
    start = out.LastEvaluatedKey;
  } while (start);
  return lines.sort();
}

function canonical(item: Record<string, AttributeValue>): string {
  const keys = Object.keys(item).sort();
  return JSON.stringify(
    keys.map((k) => {
      const v = item[k]!;
      if (v.B !== undefined) return [k, { B: Buffer.from(v.B).toString('base64') }];
      return [k, v];
    }),
  );
}

/** A typical Deployment as the forwarder sends it (sanitised, no status): ~3.4 KB of JSON. */
export function deployment(name: string, namespace = 'shop', replicas = 3, image = '2.14.3'): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace,
      labels: {
        app: name,
        'app.kubernetes.io/name': name,
        'app.kubernetes.io/part-of': namespace,
        'app.kubernetes.io/version': image,
        team: 'payments',
      },
      annotations: { 'meta.helm.sh/release-name': namespace, 'meta.helm.sh/release-namespace': namespace },
    },
    spec: {
      replicas,
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      selector: { matchLabels: { app: name } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: {
        metadata: {
          labels: { app: name, 'app.kubernetes.io/name': name, team: 'payments' },
          annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090' },
        },
        spec: {
          serviceAccountName: name,
          terminationGracePeriodSeconds: 30,
          dnsPolicy: 'ClusterFirst',
          restartPolicy: 'Always',
          schedulerName: 'default-scheduler',
          securityContext: { runAsNonRoot: true, runAsUser: 1000, fsGroup: 2000 },
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                {
                  weight: 100,
                  podAffinityTerm: {
                    labelSelector: { matchLabels: { app: name } },
                    topologyKey: 'kubernetes.io/hostname',
                  },
                },
              ],
            },
          },
          containers: [
            {
              name: 'app',
              image: `registry.example.com/${namespace}/${name}:${image}`,
              imagePullPolicy: 'IfNotPresent',
              ports: [
                { name: 'http', containerPort: 8080, protocol: 'TCP' },
                { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
              ],
              env: [
                { name: 'LOG_LEVEL', value: 'info' },
                { name: 'UPSTREAM_URL', value: `http://payments.${namespace}.svc.cluster.local:8080` },
                { name: 'DB_HOST', valueFrom: { secretKeyRef: { name: `${name}-db`, key: 'host' } } },
                { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: `${name}-db`, key: 'password' } } },
                {
                  name: 'POD_NAME',
                  valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } },
                },
              ],
              resources: {
                limits: { cpu: '1', memory: '512Mi' },
                requests: { cpu: '250m', memory: '256Mi' },
              },
              livenessProbe: {
                httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' },
                initialDelaySeconds: 10,
                periodSeconds: 10,
                timeoutSeconds: 1,
                successThreshold: 1,
                failureThreshold: 3,
              },
              readinessProbe: {
                httpGet: { path: '/ready', port: 8080, scheme: 'HTTP' },
                initialDelaySeconds: 5,
                periodSeconds: 5,
                timeoutSeconds: 1,
                successThreshold: 1,
                failureThreshold: 3,
              },
              volumeMounts: [
                { name: 'config', mountPath: `/etc/${name}`, readOnly: true },
                { name: 'tmp', mountPath: '/tmp' },
              ],
              terminationMessagePath: '/dev/termination-log',
              terminationMessagePolicy: 'File',
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
            },
            {
              name: 'envoy',
              image: 'envoyproxy/envoy:v1.29.1',
              imagePullPolicy: 'IfNotPresent',
              args: ['-c', '/etc/envoy/envoy.yaml', '--log-level', 'warn'],
              ports: [{ name: 'proxy', containerPort: 15001, protocol: 'TCP' }],
              resources: {
                limits: { cpu: '500m', memory: '128Mi' },
                requests: { cpu: '50m', memory: '64Mi' },
              },
              volumeMounts: [{ name: 'envoy-config', mountPath: '/etc/envoy', readOnly: true }],
              terminationMessagePath: '/dev/termination-log',
              terminationMessagePolicy: 'File',
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: `${name}-config`, defaultMode: 420 } },
            { name: 'envoy-config', configMap: { name: `${name}-envoy`, defaultMode: 420 } },
            { name: 'tmp', emptyDir: {} },
          ],
          tolerations: [{ key: 'dedicated', operator: 'Equal', value: namespace, effect: 'NoSchedule' }],
          nodeSelector: { 'kubernetes.io/os': 'linux' },
        },
      },
    },
  };
}

/** A small object of any kind. */
export function obj(
  gvk: string,
  nsName: string,
  spec: unknown = { v: 1 },
  extra: Partial<KubeObject> = {},
): KubeObject {
  const at = gvk.lastIndexOf('.');
  const slash = nsName.indexOf('/');
  return {
    apiVersion: gvk.slice(0, at),
    kind: gvk.slice(at + 1),
    metadata:
      slash < 0 ? { name: nsName } : { namespace: nsName.slice(0, slash), name: nsName.slice(slash + 1) },
    spec,
    ...extra,
  };
}

/** Just the identity of an object, as a sender may send a deletion. */
export function bare(gvk: string, nsName: string): KubeObject {
  const o = obj(gvk, nsName);
  delete o.spec;
  return o;
}

export function applied(ts: number, object: KubeObject, seq?: number): AppliedChange {
  return { type: 'applied', ts, object, ...(seq !== undefined ? { seq } : {}) };
}

export function deleted(ts: number, object: KubeObject, seq?: number): DeletedChange {
  return { type: 'deleted', ts, object, ...(seq !== undefined ? { seq } : {}) };
}

export function relist(
  ts: number,
  gvk: string,
  nsNames: string[],
  after: string | null = null,
  through: string | null = null,
): RelistChange {
  return { type: 'relist', ts, gvk, after, through, ns_names: nsNames };
}

/** `[ts type gvk nsName spec]` lines: what a change stream says, compactly. */
export function summary(changes: { ts: number; type: string; object: KubeObject }[]): string[] {
  return changes.map(
    (c) =>
      `${c.ts} ${c.type} ${c.object.apiVersion}.${c.object.kind} ${c.object.metadata.namespace ? `${c.object.metadata.namespace}/` : ''}${c.object.metadata.name} ${JSON.stringify(c.object.spec ?? null)}`,
  );
}

/**
 * One dynalite + s3rver for the calling test file (registered as its before/after hooks) and a
 * fresh table per `freshTable()`, so tests never see each other's items.
 */
export function localTables(prefix = 'table'): { readonly aws: LocalAws; freshTable(): Promise<string> } {
  let aws: LocalAws | undefined;
  let tables = 0;
  before(async () => {
    aws = await startLocalAws();
  });
  after(async () => {
    await aws?.close();
  });
  const local = {
    get aws(): LocalAws {
      if (aws === undefined) throw new Error("localTables: the servers start in the file's before hook");
      return aws;
    },
    async freshTable(): Promise<string> {
      const tableName = `${prefix}-${++tables}`;
      await ensureTable(local.aws.dynamo, tableName, 1);
      return tableName;
    },
  };
  return local;
}
