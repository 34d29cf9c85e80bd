/**
 * Bench-only: items written straight into dynalite's LevelDB, for seeding millions of items
 * (the export benchmark's 10× older history: 11 M items at 1 M window changes) where dynalite's
 * HTTP path takes ~2,000 items/s (BatchWriteItem) — hours.
 *
 * Faithful by construction: each item goes through dynalite's own PutItem steps (node_modules/
 * dynalite/index.js httpHandler, actions/putItem.js): `validations.checkTypes` and
 * `checkValidations` with PutItem's rules (which normalise numbers and check base64),
 * `db.validateItem` against the table's key schema, then `db.createKey` for the LevelDB key and the table's item sublevel (`store.getItemDb`, keys
 * prefixed `item-<table>~`, values JSON-encoded) for the value — the very key and value PutItem
 * stores. Left out, and why that is sound here: the per-key lock, the read of an existing item and
 * the condition check (the loader writes only keys nothing else writes while it runs: older
 * superseded versions and the window's changes, never a state or metadata item), and index
 * updates (the sktrace table has no secondary index, lib/aws/table.ts). dynalite keeps no item
 * count or size to update (ItemCount/TableSizeBytes are set once at CreateTable and never
 * maintained). tests/bench/dynalite-direct.test.ts writes the same items through this path and
 * through BatchWriteItem (and through the store's applyBatch) and compares them item by item via
 * Scan and Query.
 *
 * dynalite keeps its store private; `startDynalite` wraps `db.create` while constructing the
 * server to hold on to it (index.js calls `db.create(options)` through the module object).
 */
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

const require = createRequire(import.meta.url);

/** The parts of dynalite's store (db/index.js `create`) used here. */
interface DynaliteStore {
  options: { maxItemSize: number };
  getTable(name: string, checkStatus: boolean, cb: (err: Error | null, table?: DynaliteTable) => void): void;
  getItemDb(name: string): {
    batch(
      ops: { type: 'put'; key: string; value: unknown; valueEncoding?: string }[],
      cb: (err?: Error | null) => void,
    ): void;
  };
}
type DynaliteTable = Record<string, unknown>;
type WireValue = Record<string, unknown>;
type WireItem = Record<string, WireValue>;

const dynaliteDb = require('dynalite/db') as {
  create(options: Record<string, unknown>): DynaliteStore;
  createKey(item: WireItem, table: DynaliteTable): string;
  /** Null when valid, else the error PutItem answers with. */
  validateItem(item: WireItem, table: DynaliteTable): Error | null | undefined;
};
const validations = require('dynalite/validations') as {
  checkTypes(data: Record<string, unknown>, types: unknown): Record<string, unknown>;
  checkValidations(
    data: Record<string, unknown>,
    types: unknown,
    custom: unknown,
    store: DynaliteStore,
  ): void;
};
const putItemRules = require('dynalite/validations/putItem') as { types: unknown; custom: unknown };
const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;

export interface DynaliteWithStore {
  server: Server;
  store: DynaliteStore;
}

/** dynalite's server, as `dynalite(options)`, and the store it serves. */
export function startDynalite(options: Record<string, unknown>): DynaliteWithStore {
  const create = dynaliteDb.create;
  let store: DynaliteStore | undefined;
  dynaliteDb.create = (o) => {
    store = create(o);
    return store;
  };
  try {
    const server = dynalite(options);
    if (!store) throw new Error('dynalite did not create its store through db.create');
    return { server, store };
  } finally {
    dynaliteDb.create = create;
  }
}

export class DirectLoadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DirectLoadError';
  }
}

/**
 * An item as the SDK puts it on the wire (DynamoDB JSON: binary as base64). The store's items hold
 * S, N, B and BOOL only (lib/aws/trace-store/items.ts); anything else is refused rather than guessed.
 */
export function wireItem(item: Record<string, AttributeValue>): WireItem {
  const out: WireItem = {};
  for (const [name, value] of Object.entries(item)) {
    if (value.S !== undefined) out[name] = { S: value.S };
    else if (value.N !== undefined) out[name] = { N: value.N };
    else if (value.B !== undefined) out[name] = { B: Buffer.from(value.B).toString('base64') };
    else if (value.BOOL !== undefined) out[name] = { BOOL: value.BOOL };
    else throw new DirectLoadError(`attribute "${name}" has a type the direct loader does not write`);
  }
  return out;
}

/** What encoding an item for a table needs: plain data, so a worker thread can do it. */
export interface DirectTableInfo {
  tableName: string;
  /** The table's description as dynalite stores it (key schema and attribute types for `createKey`). */
  table: DynaliteTable;
  /** dynalite's item size limit (`store.options.maxItemSize`), which PutItem's validation checks. */
  maxItemSize: number;
}

/** A LevelDB entry of the table's item sublevel: key without the sublevel prefix, value as JSON text. */
export type DirectEntry = [key: string, valueJson: string];

/**
 * dynalite's PutItem steps for one item (see the module comment), without touching the store:
 * the LevelDB key and the JSON text the `json` value encoding would write for the stored item.
 */
export function encodeDirectEntry(info: DirectTableInfo, item: Record<string, AttributeValue>): DirectEntry {
  let stored: WireItem;
  try {
    const data = validations.checkTypes(
      { TableName: info.tableName, Item: wireItem(item) },
      putItemRules.types,
    );
    // The custom rules read only `store.options.maxItemSize`.
    validations.checkValidations(data, putItemRules.types, putItemRules.custom, {
      options: { maxItemSize: info.maxItemSize },
    } as unknown as DynaliteStore);
    stored = data.Item as WireItem;
    // actions/putItem.js's first step: key attributes present, typed and non-empty.
    const invalid = dynaliteDb.validateItem(stored, info.table);
    if (invalid) throw invalid;
  } catch (err) {
    const body = (err as { body?: unknown }).body;
    throw new DirectLoadError(
      `item ${item.pk?.S} / ${item.sk?.S} fails dynalite's PutItem validation: ${JSON.stringify(body ?? String(err))}`,
      { cause: err },
    );
  }
  return [dynaliteDb.createKey(stored, info.table), JSON.stringify(stored)];
}

/** Writes items into one table of a dynalite store, one LevelDB batch per call. */
export class DirectItemWriter {
  readonly #store: DynaliteStore;
  readonly #tableName: string;
  #info: DirectTableInfo | undefined;

  constructor(store: DynaliteStore, tableName: string) {
    this.#store = store;
    this.#tableName = tableName;
  }

  async put(items: Record<string, AttributeValue>[]): Promise<void> {
    const info = await this.tableInfo();
    await this.putEntries(items.map((item) => encodeDirectEntry(info, item)));
  }

  /**
   * Entries from `encodeDirectEntry`. The value goes in as the JSON text already made: the same
   * bytes the sublevel's `json` encoding (JSON.stringify) would write for the item.
   */
  async putEntries(entries: DirectEntry[]): Promise<void> {
    const ops = entries.map(([key, value]) => ({ type: 'put' as const, key, value, valueEncoding: 'utf8' }));
    await new Promise<void>((resolve, reject) =>
      this.#store.getItemDb(this.#tableName).batch(ops, (err) => (err ? reject(err) : resolve())),
    );
  }

  async tableInfo(): Promise<DirectTableInfo> {
    this.#info ??= {
      tableName: this.#tableName,
      table: await new Promise<DynaliteTable>((resolve, reject) =>
        this.#store.getTable(this.#tableName, false, (err, table) =>
          err || !table ? reject(err ?? new DirectLoadError(`no table ${this.#tableName}`)) : resolve(table),
        ),
      ),
      maxItemSize: this.#store.options.maxItemSize,
    };
    return this.#info;
  }
}
