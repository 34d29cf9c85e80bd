/**
 * The one DynamoDB table of sktrace: string keys `pk` (HASH) and `sk` (RANGE), on-demand
 * capacity, TTL on `expiresAtSec`. The trace store's items (docs/storage.md) and the token items
 * (lib/aws/dynamo-token-store.ts) share it, each under its own key prefixes. No secondary index:
 * every read the store makes is a key lookup or a Query on a partition it can name.
 * template.yaml declares the same table for AWS; tests and `sktrace serve` create it from here.
 */
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';

/** TTL attribute: unix seconds after which DynamoDB may delete the item (it does so lazily, within days). */
export const TTL_ATTRIBUTE = 'expiresAtSec';

export function tableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    BillingMode: 'PAY_PER_REQUEST',
  };
}

/**
 * Creates the table unless it exists, and waits until it is ACTIVE. (Enabling TTL is a separate
 * UpdateTimeToLive call dynalite lacks; template.yaml sets it in AWS. Reads never rely on it.)
 */
export async function ensureTable(client: DynamoDBClient, tableName: string, pollMs = 50): Promise<void> {
  try {
    await client.send(new CreateTableCommand(tableDefinition(tableName)));
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  for (let i = 0; i < 600; i++) {
    const out = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (out.Table?.TableStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  throw new Error(`table ${tableName} did not become ACTIVE`);
}
