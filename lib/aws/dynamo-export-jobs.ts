/**
 * Export job records on the trace table: one item per job, `pk = EXPORT#<cluster>`, `sk = <id>`.
 * The cluster is part of the key, so `GET /v1/clusters/B/exports/<id of A's job>` looks under
 * B's partition and finds nothing: a job is only ever reachable through its own cluster.
 * The job is kept as a JSON document; `status` is also a top-level attribute for the conditional
 * writes that move a job on (two runners never both claim or finish it), and `expiresAtSec` is
 * the table's TTL attribute (records go some days after the export; lib/aws/table.ts).
 * Reads are strongly consistent: a client polling right after POST sees its job.
 * `attempts` is a top-level attribute too: a claim is conditional on the attempts it read, so
 * of two concurrent claims of one pending job exactly one wins.
 *
 * Idempotency-Key records live in the same partition (`sk = IDEMPOTENCY#<sha256 of the key>`;
 * job ids are 26 base32 characters, so the two never meet): every item this adapter writes has a
 * `EXPORT#` partition key, which is what the exports role's `dynamodb:LeadingKeys` allows.
 */
import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { SktraceError } from '../errors.ts';
import type { ExportJob, ExportStatus } from '../export/job.ts';
import type { ExportJobStore, IdempotencyRecord } from '../export/ports.ts';
import type { ClusterId } from '../store/ports.ts';
import { isConditionalCheckFailed, toStoreError } from './errors.ts';

type Item = Record<string, AttributeValue>;

export function exportJobKey(cluster: ClusterId, id: string): Item {
  return { pk: { S: `EXPORT#${cluster}` }, sk: { S: id } };
}

export function idempotencyKeyOf(cluster: ClusterId, keyHash: string): Item {
  return { pk: { S: `EXPORT#${cluster}` }, sk: { S: `IDEMPOTENCY#${keyHash}` } };
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

  async replace(next: ExportJob, from: readonly ExportStatus[], attempts?: number): Promise<boolean> {
    const values: Item = {};
    from.forEach((status, i) => {
      values[`:s${i}`] = { S: status };
    });
    let condition = `attribute_exists(pk) AND #status IN (${Object.keys(values).join(', ')})`;
    const names: Record<string, string> = { '#status': 'status' };
    if (attempts !== undefined) {
      // Records written before `attempts` was a top-level attribute hold it only in the document.
      condition += ' AND (#attempts = :attempts OR attribute_not_exists(#attempts))';
      names['#attempts'] = 'attempts';
      values[':attempts'] = { N: String(attempts) };
    }
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#tableName,
          Item: itemOf(next),
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw this.#error(err, 'PutItem');
    }
  }

  async unfinished(cluster: ClusterId): Promise<ExportJob[]> {
    const out: ExportJob[] = [];
    let start: Item | undefined;
    try {
      do {
        const page = await this.#client.send(
          new QueryCommand({
            TableName: this.#tableName,
            KeyConditionExpression: 'pk = :pk',
            FilterExpression: '#status IN (:pending, :running)',
            ProjectionExpression: 'pk, sk, #job',
            ExpressionAttributeNames: { '#status': 'status', '#job': 'job' },
            ExpressionAttributeValues: {
              ':pk': { S: `EXPORT#${cluster}` },
              ':pending': { S: 'pending' },
              ':running': { S: 'running' },
            },
            ConsistentRead: true,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        for (const item of page.Items ?? []) out.push(jobOf(item));
        start = page.LastEvaluatedKey;
      } while (start);
    } catch (err) {
      throw this.#error(err, 'Query');
    }
    return out;
  }

  async getIdempotency(
    cluster: ClusterId,
    keyHash: string,
    nowSec: number,
  ): Promise<IdempotencyRecord | undefined> {
    try {
      const out = await this.#client.send(
        new GetItemCommand({
          TableName: this.#tableName,
          Key: idempotencyKeyOf(cluster, keyHash),
          ConsistentRead: true,
        }),
      );
      const record = out.Item ? idempotencyOf(out.Item) : undefined;
      // TTL deletes lazily (within days): an expired record is no record.
      return record && record.expiresAtSec > nowSec ? record : undefined;
    } catch (err) {
      throw this.#error(err, 'GetItem');
    }
  }

  async putIdempotency(
    cluster: ClusterId,
    record: IdempotencyRecord,
    nowSec: number,
    replacing?: string,
  ): Promise<IdempotencyRecord | undefined> {
    const condition =
      replacing === undefined
        ? 'attribute_not_exists(pk) OR expiresAtSec <= :now'
        : 'jobId = :replacing OR expiresAtSec <= :now';
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#tableName,
          Item: {
            ...idempotencyKeyOf(cluster, record.keyHash),
            requestHash: { S: record.requestHash },
            jobId: { S: record.jobId },
            createdAtSec: { N: String(record.createdAtSec) },
            expiresAtSec: { N: String(record.expiresAtSec) },
          },
          ConditionExpression: condition,
          ExpressionAttributeValues: {
            ':now': { N: String(nowSec) },
            ...(replacing === undefined ? {} : { ':replacing': { S: replacing } }),
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return undefined;
    } catch (err) {
      if (isConditionalCheckFailed(err)) {
        const old = (err as { Item?: Item }).Item;
        return old ? idempotencyOf(old) : this.getIdempotency(cluster, record.keyHash, nowSec);
      }
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
    attempts: { N: String(job.attempts) },
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

function idempotencyOf(item: Item): IdempotencyRecord {
  return {
    keyHash: (item.sk?.S ?? '').slice('IDEMPOTENCY#'.length),
    requestHash: item.requestHash?.S ?? '',
    jobId: item.jobId?.S ?? '',
    createdAtSec: Number(item.createdAtSec?.N ?? 0),
    expiresAtSec: Number(item.expiresAtSec?.N ?? 0),
  };
}
