/**
 * The thin DynamoDB layer of the trace store: sends one request, adds the consumed capacity to a
 * meter (ReturnConsumedCapacity TOTAL on every call), turns SDK failures into store errors, and
 * pages Queries and BatchGetItem's UnprocessedKeys. The SDK client retries each request itself
 * (lib/aws/clients.ts); unprocessed keys, which DynamoDB returns instead of an error when a batch
 * is throttled, are retried here with the same backoff policy.
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { StoreThrottledError } from '../../store/errors.ts';
import { BackoffRetryStrategy } from '../clients.ts';
import { isConditionalCheckFailed, toStoreError } from '../errors.ts';
import type { Condition } from './conditions.ts';
import { takeItemsFromResponse } from './query-items.ts';

export type Item = Record<string, AttributeValue>;
export interface Key {
  pk: string;
  sk: string;
}

export interface CapacityMeter {
  readUnits: number;
  writeUnits?: number;
}

export interface TableIoOptions {
  /** Backoff for UnprocessedKeys (the SDK retries whole requests with the client's own policy). */
  unprocessedRetry?: BackoffRetryStrategy;
  sleep?: (ms: number) => Promise<void>;
}

export type WriteOutcome = { ok: true } | { ok: false; old?: Item };

/**
 * AWS bills a write whose condition fails (at least 1 WCU) but reports no ConsumedCapacity with
 * the exception: count that floor so cost logs are not optimistic.
 */
const FAILED_CONDITION_WRITE_UNITS = 1;

export function keyOf(k: Key): Item {
  return { pk: { S: k.pk }, sk: { S: k.sk } };
}

export class TableIo {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly #retry: BackoffRetryStrategy;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(client: DynamoDBClient, tableName: string, options: TableIoOptions = {}) {
    this.client = client;
    this.tableName = tableName;
    this.#retry = options.unprocessedRetry ?? new BackoffRetryStrategy();
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async get(key: Key, meter: CapacityMeter): Promise<Item | undefined> {
    try {
      const out = await this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: keyOf(key),
          ConsistentRead: true,
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      meter.readUnits += out.ConsumedCapacity?.CapacityUnits ?? 0;
      return out.Item;
    } catch (err) {
      throw toStoreError(err, { operation: 'DynamoDB GetItem', table: this.tableName, key });
    }
  }

  /** Strongly consistent reads of many keys (100 per request); result keyed by `pk + '\0' + sk`. */
  async batchGet(keys: Key[], meter: CapacityMeter): Promise<Map<string, Item>> {
    const found = new Map<string, Item>();
    for (let i = 0; i < keys.length; i += 100) {
      let pending: Item[] = keys.slice(i, i + 100).map(keyOf);
      for (let attempt = 1; pending.length > 0; attempt++) {
        let out: BatchGetItemCommandOutput;
        try {
          out = await this.client.send(
            new BatchGetItemCommand({
              RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } },
              ReturnConsumedCapacity: 'TOTAL',
            }),
          );
        } catch (err) {
          throw toStoreError(err, {
            operation: 'DynamoDB BatchGetItem',
            table: this.tableName,
            keys: pending.length,
          });
        }
        for (const c of out.ConsumedCapacity ?? []) meter.readUnits += c.CapacityUnits ?? 0;
        for (const item of out.Responses?.[this.tableName] ?? []) {
          found.set(`${item.pk?.S}\0${item.sk?.S}`, item);
        }
        pending = out.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
        if (pending.length === 0) break;
        // DynamoDB hands back keys it could not read within the partition's capacity.
        if (attempt >= this.#retry.maxAttempts) {
          throw new StoreThrottledError('DynamoDB BatchGetItem left keys unprocessed after retries', {
            operation: 'DynamoDB BatchGetItem',
            table: this.tableName,
            unprocessed: pending.length,
            attempts: attempt,
          });
        }
        await this.#sleep(this.#retry.delayMs(attempt));
      }
    }
    return found;
  }

  /** PutItem, optionally conditional; a failed condition is an outcome, not an error. */
  async put(item: Item, condition: Condition | undefined, meter: CapacityMeter): Promise<WriteOutcome> {
    try {
      const out = await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: item,
          ReturnConsumedCapacity: 'TOTAL',
          ...conditionParams(condition),
        }),
      );
      meter.writeUnits = (meter.writeUnits ?? 0) + (out.ConsumedCapacity?.CapacityUnits ?? 0);
      return { ok: true };
    } catch (err) {
      return this.#failedWrite(err, meter, 'DynamoDB PutItem', { pk: item.pk?.S, sk: item.sk?.S });
    }
  }

  /**
   * DeleteItem, optionally conditional: deleting an absent item is a success (idempotent); a failed
   * condition is an outcome, not an error.
   */
  async delete(key: Key, meter: CapacityMeter, condition?: Condition): Promise<WriteOutcome> {
    try {
      const out = await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: keyOf(key),
          ReturnConsumedCapacity: 'TOTAL',
          ...conditionParams(condition),
        }),
      );
      meter.writeUnits = (meter.writeUnits ?? 0) + (out.ConsumedCapacity?.CapacityUnits ?? 0);
      return { ok: true };
    } catch (err) {
      return this.#failedWrite(err, meter, 'DynamoDB DeleteItem', key);
    }
  }

  /** UpdateItem with `SET`/`REMOVE` text and its own placeholders, plus an optional condition. */
  async update(
    key: Key,
    update: { expression: string; names?: Record<string, string>; values?: Item },
    condition: Condition | undefined,
    meter: CapacityMeter,
  ): Promise<WriteOutcome> {
    const c = conditionParams(condition);
    const names = { ...update.names, ...c.ExpressionAttributeNames };
    const values = { ...update.values, ...c.ExpressionAttributeValues };
    try {
      const out = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: keyOf(key),
          UpdateExpression: update.expression,
          ...(c.ConditionExpression ? { ConditionExpression: c.ConditionExpression } : {}),
          ...(c.ReturnValuesOnConditionCheckFailure
            ? { ReturnValuesOnConditionCheckFailure: c.ReturnValuesOnConditionCheckFailure }
            : {}),
          ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
          ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      meter.writeUnits = (meter.writeUnits ?? 0) + (out.ConsumedCapacity?.CapacityUnits ?? 0);
      return { ok: true };
    } catch (err) {
      return this.#failedWrite(err, meter, 'DynamoDB UpdateItem', key);
    }
  }

  #failedWrite(err: unknown, meter: CapacityMeter, operation: string, key: unknown): WriteOutcome {
    if (isConditionalCheckFailed(err)) {
      meter.writeUnits = (meter.writeUnits ?? 0) + FAILED_CONDITION_WRITE_UNITS;
      // With ReturnValuesOnConditionCheckFailure ALL_OLD, DynamoDB returns the item that failed the
      // condition, saving the read that would otherwise follow (dynalite does not: callers re-read).
      const old = (err as { Item?: Item }).Item;
      return old ? { ok: false, old } : { ok: false };
    }
    throw toStoreError(err, { operation, table: this.tableName, key });
  }

  /** Pages through a Query (strongly consistent unless told otherwise), item by item. */
  async *query(input: Omit<QueryCommandInput, 'TableName'>, meter: CapacityMeter): AsyncGenerator<Item> {
    for await (const page of this.queryPages(input, meter)) yield* page;
  }

  /**
   * Pages through a Query (strongly consistent unless told otherwise), page by page; with
   * `input.Limit`, the first page only. `pageItems` caps each page at that many items and reads on
   * to the end (DynamoDB's own cap is 1 MB of items).
   */
  async *queryPages(
    input: Omit<QueryCommandInput, 'TableName'>,
    meter: CapacityMeter,
    pageItems?: number,
  ): AsyncGenerator<Item[]> {
    let start: Item | undefined;
    do {
      let out: QueryCommandOutput;
      const command = new QueryCommand({
        ConsistentRead: true,
        ...(pageItems !== undefined ? { Limit: pageItems } : {}),
        ...input,
        TableName: this.tableName,
        ReturnConsumedCapacity: 'TOTAL',
        ...(start ? { ExclusiveStartKey: start } : {}),
      });
      // Items straight from the response's JSON (query-items.ts); the last attempt's, if retried.
      let items: Item[] | undefined;
      takeItemsFromResponse(command, (got) => {
        items = got;
      });
      try {
        out = await this.client.send(command);
      } catch (err) {
        throw toStoreError(err, { operation: 'DynamoDB Query', table: this.tableName });
      }
      meter.readUnits += out.ConsumedCapacity?.CapacityUnits ?? 0;
      items ??= out.Items;
      if (items && items.length > 0) yield items;
      start = input.Limit !== undefined ? undefined : out.LastEvaluatedKey;
    } while (start);
  }
}

function conditionParams(condition: Condition | undefined): {
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Item;
  ReturnValuesOnConditionCheckFailure?: 'ALL_OLD';
} {
  if (!condition) return {};
  return {
    ConditionExpression: condition.expression,
    ...(Object.keys(condition.names).length > 0 ? { ExpressionAttributeNames: condition.names } : {}),
    ...(Object.keys(condition.values).length > 0 ? { ExpressionAttributeValues: condition.values } : {}),
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
}
