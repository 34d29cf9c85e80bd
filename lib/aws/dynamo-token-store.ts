/**
 * TokenStore on the trace table (keys `pk`/`sk`, both strings). Two items per token:
 * - lookup  `pk = TOKEN#<sha256 hex>`, `sk = TOKEN`: one GetItem authenticates a request, and
 *   a token of another cluster is found too (so it is a 403, not a 401);
 * - listing `pk = CLUSTER#<cluster>#TOKENS`, `sk = <tokenId>`: one Query lists a cluster's
 *   tokens, and revocation finds the hash from the id.
 * dynalite has no TransactWriteItems, so the order of writes keeps the pair safe instead:
 * create writes the listing first and revoke deletes the lookup first, so at every moment a
 * token that authenticates is listed (and therefore revocable). A crash between the two writes
 * leaves at worst a listed token that cannot authenticate, which `token revoke` cleans up.
 * Only hashes are stored; a token itself never reaches the table.
 */
import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { SktraceError } from '../errors.ts';
import type { ClusterId, TokenRecord, TokenStore } from '../store/ports.ts';
import { type AwsClientOptions, makeDynamoClient } from './clients.ts';
import { isConditionalCheckFailed, toStoreError } from './errors.ts';

export interface DynamoTokenStoreOptions {
  client: DynamoDBClient;
  tableName: string;
}

type Item = Record<string, AttributeValue>;

const LOOKUP_SK = 'TOKEN';

export function tokenLookupKey(tokenHash: string): Item {
  return { pk: { S: `TOKEN#${tokenHash}` }, sk: { S: LOOKUP_SK } };
}

export function tokenListingKey(cluster: ClusterId, tokenId: string): Item {
  return { pk: { S: `CLUSTER#${cluster}#TOKENS` }, sk: { S: tokenId } };
}

export class DynamoTokenStore implements TokenStore {
  readonly #client: DynamoDBClient;
  readonly #tableName: string;

  constructor(opts: DynamoTokenStoreOptions) {
    this.#client = opts.client;
    this.#tableName = opts.tableName;
  }

  async put(record: TokenRecord): Promise<void> {
    const attributes = recordAttributes(record);
    // Conditions: a token or id is never overwritten (both are random; a clash is a bug).
    for (const key of [tokenListingKey(record.cluster, record.tokenId), tokenLookupKey(record.tokenHash)]) {
      await this.#send('PutItem', () =>
        this.#client.send(
          new PutItemCommand({
            TableName: this.#tableName,
            Item: { ...key, ...attributes },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      );
    }
  }

  async findByHash(tokenHash: string): Promise<TokenRecord | undefined> {
    const out = await this.#send('GetItem', () =>
      this.#client.send(
        // Strongly consistent: a revoked token stops working at once, a new one works at once.
        new GetItemCommand({
          TableName: this.#tableName,
          Key: tokenLookupKey(tokenHash),
          ConsistentRead: true,
        }),
      ),
    );
    return out.Item ? recordOf(out.Item) : undefined;
  }

  async list(cluster: ClusterId): Promise<TokenRecord[]> {
    const records: TokenRecord[] = [];
    let startKey: Item | undefined;
    do {
      const page = await this.#send('Query', () =>
        this.#client.send(
          new QueryCommand({
            TableName: this.#tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': { S: `CLUSTER#${cluster}#TOKENS` } },
            ConsistentRead: true,
            ...(startKey ? { ExclusiveStartKey: startKey } : {}),
          }),
        ),
      );
      for (const item of page.Items ?? []) records.push(recordOf(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return records;
  }

  async revoke(cluster: ClusterId, tokenId: string): Promise<boolean> {
    const listingKey = tokenListingKey(cluster, tokenId);
    const out = await this.#send('GetItem', () =>
      this.#client.send(
        new GetItemCommand({ TableName: this.#tableName, Key: listingKey, ConsistentRead: true }),
      ),
    );
    if (!out.Item) return false;
    const { tokenHash } = recordOf(out.Item);
    await this.#send('DeleteItem', () =>
      this.#client.send(
        new DeleteItemCommand({ TableName: this.#tableName, Key: tokenLookupKey(tokenHash) }),
      ),
    );
    await this.#send('DeleteItem', () =>
      this.#client.send(new DeleteItemCommand({ TableName: this.#tableName, Key: listingKey })),
    );
    return true;
  }

  async #send<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw storeError(err, operation, this.#tableName);
    }
  }
}

function recordAttributes(record: TokenRecord): Item {
  const item: Item = {
    cluster: { S: record.cluster },
    tokenId: { S: record.tokenId },
    tokenHash: { S: record.tokenHash },
    createdAtSec: { N: String(record.createdAtSec) },
  };
  if (record.description !== undefined) item.description = { S: record.description };
  return item;
}

function recordOf(item: Item): TokenRecord {
  const s = (name: string): string => {
    const value = item[name]?.S;
    if (value === undefined) {
      throw new SktraceError(
        'store_corrupt',
        `token item ${item.pk?.S}/${item.sk?.S} lacks attribute ${name}`,
        {
          pk: item.pk?.S,
          sk: item.sk?.S,
        },
      );
    }
    return value;
  };
  const record: TokenRecord = {
    cluster: s('cluster'),
    tokenId: s('tokenId'),
    tokenHash: s('tokenHash'),
    createdAtSec: Number(item.createdAtSec?.N ?? 0),
  };
  if (item.description?.S !== undefined) record.description = item.description.S;
  return record;
}

/** SDK failure → domain error (lib/aws/errors.ts): throttled (429), unavailable (503), else 500. */
function storeError(err: unknown, operation: string, tableName: string): SktraceError {
  if (isConditionalCheckFailed(err)) {
    return new SktraceError(
      'token_exists',
      'a token with this id or hash already exists',
      { operation, tableName },
      {
        cause: err,
      },
    );
  }
  return toStoreError(err, { operation: `DynamoDB ${operation} on ${tableName}`, tableName });
}

export interface TokenStoreConnection {
  tableName: string;
  /** A DynamoDB-compatible endpoint (dynalite, DynamoDB Local); default: AWS from the region. */
  endpoint?: string;
  region?: string;
}

/**
 * A DynamoTokenStore for the CLI. Region and credentials come from the AWS provider chain
 * (env, shared config, SSO, instance role); a local endpoint gets placeholder credentials, since
 * local DynamoDB servers check no signatures (lib/aws/clients.ts).
 */
export function openDynamoTokenStore(conn: TokenStoreConnection): DynamoTokenStore {
  const options: AwsClientOptions = {};
  if (conn.endpoint !== undefined) options.endpoint = conn.endpoint;
  if (conn.region !== undefined) options.region = conn.region;
  return new DynamoTokenStore({ client: makeDynamoClient(options), tableName: conn.tableName });
}
