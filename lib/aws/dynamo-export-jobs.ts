/**
 * Export job records on the trace table: one item per job, `pk = EXPORT#<cluster>`, `sk = <id>`.
 * The cluster is part of the key, so `GET /v1/clusters/B/exports/<id of A's job>` looks under
 * B's partition and finds nothing: a job is only ever reachable through its own cluster.
 * The job is kept as a JSON document; `status` is also a top-level attribute for the conditional
 * writes that move a job on (two runners never both claim or finish it), and `expiresAtSec` is
 * the table's TTL attribute (records go some days after the export; lib/aws/table.ts).
 * Reads are strongly consistent: a client polling right after POST sees its job.
 */
import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { SktraceError } from '../errors.ts';
import type { ExportJob, ExportStatus } from '../export/job.ts';
import type { ExportJobStore } from '../export/ports.ts';
import type { ClusterId } from '../store/ports.ts';
import { isConditionalCheckFailed, toStoreError } from './errors.ts';

type Item = Record<string, AttributeValue>;

export function exportJobKey(cluster: ClusterId, id: string): Item {
  return { pk: { S: `EXPORT#${cluster}` }, sk: { S: id } };
}

export class DynamoExportJobStore implements ExportJobStore {
  readonly #client: DynamoDBClient;
  readonly #tableName: string;

  constructor(options: { client: DynamoDBClient; tableName: string }) {
    this.#client = options.client;
    this.#tableName = options.tableName;
  }

  async create(job: ExportJob): Promise<void> {
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#tableName,
          Item: itemOf(job),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (err) {
      if (isConditionalCheckFailed(err)) {
        throw new SktraceError('export_exists', `export ${job.id} of cluster ${job.cluster} already exists`, {
          cluster: job.cluster,
          id: job.id,
        });
      }
      throw this.#error(err, 'PutItem');
    }
  }

  async get(cluster: ClusterId, id: string): Promise<ExportJob | undefined> {
    try {
      const out = await this.#client.send(
        new GetItemCommand({
          TableName: this.#tableName,
          Key: exportJobKey(cluster, id),
          ConsistentRead: true,
        }),
      );
      return out.Item ? jobOf(out.Item) : undefined;
    } catch (err) {
      throw this.#error(err, 'GetItem');
    }
  }

  async replace(next: ExportJob, from: readonly ExportStatus[]): Promise<boolean> {
    const values: Item = {};
    from.forEach((status, i) => {
      values[`:s${i}`] = { S: status };
    });
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#tableName,
          Item: itemOf(next),
          ConditionExpression: `attribute_exists(pk) AND #status IN (${Object.keys(values).join(', ')})`,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw this.#error(err, 'PutItem');
    }
  }

  #error(err: unknown, operation: string): SktraceError {
    return toStoreError(err, {
      operation: `DynamoDB ${operation} on ${this.#tableName}`,
      tableName: this.#tableName,
    });
  }
}

function itemOf(job: ExportJob): Item {
  return {
    ...exportJobKey(job.cluster, job.id),
    status: { S: job.status },
    job: { S: JSON.stringify(job) },
    expiresAtSec: { N: String(job.expiresAtSec) },
  };
}

function jobOf(item: Item): ExportJob {
  const doc = item.job?.S;
  if (doc === undefined) {
    throw new SktraceError(
      'store_corrupt',
      `export job item ${item.pk?.S}/${item.sk?.S} has no job document`,
      {
        pk: item.pk?.S,
        sk: item.sk?.S,
      },
    );
  }
  return JSON.parse(doc) as ExportJob;
}
