/**
 * Shared statements of concurrent requests (`batchStoreCalls`, PostgreSQL; no Django counterpart:
 * Django's `backends/db.py` sends one statement per request): the session loads and the saves of
 * one event-loop turn go out together, one statement of each kind (batching.ts): one round trip
 * and, for saves, one commit — one WAL flush — for all of them. A turn with a single request sends
 * Django's own single-row statement.
 */
import type DataLoader from 'dataloader';
import type { ObjectLiteral } from 'typeorm';
import { batchPerTurn } from '../batching';
import type { SessionRow, SessionTable } from './session-table';
import type { RunStatement } from './statement-runner';

export interface RowBatches {
  loads: DataLoader<string, ObjectLiteral | undefined>;
  updates: DataLoader<SessionRow, number>;
}

/** What the batches need of their store: its table, its statements' runner, its keys, and its single-row statements. */
export interface BatchedTable {
  table: SessionTable;
  run: RunStatement;
  storedKey: (sessionKey: string) => string;
  loadOne: (storedKey: string) => Promise<ObjectLiteral | undefined>;
  updateOne: (row: SessionRow) => Promise<number>;
  /** A statement served `size` requests (telemetry). */
  onShared(operation: 'load' | 'update', size: number): void;
}

export function rowBatches(store: BatchedTable): RowBatches {
  return {
    loads: batchPerTurn({ one: store.loadOne, many: (keys) => loadMany(store, keys), onShared: (size) => store.onShared('load', size) }),
    updates: batchPerTurn({
      one: store.updateOne,
      many: (rows) => updateMany(store, rows),
      onShared: (size) => store.onShared('update', size),
    }),
  };
}

async function loadMany({ table, run }: BatchedTable, storedKeys: readonly string[]): Promise<(ObjectLiteral | undefined)[]> {
  const { records } = await run(table.statements.loadMany, [[...new Set(storedKeys)], table.toDatabaseDate(new Date())]);
  const byKey = new Map(records.map((record) => [record.session_key as string, record]));
  return storedKeys.map((key) => byKey.get(key));
}

async function updateMany({ table, run, storedKey }: BatchedTable, rows: readonly SessionRow[]): Promise<number[]> {
  const storedKeys = rows.map((row) => storedKey(row.sessionKey));
  // A session saved twice in one batch: the later save wins, as it would one after the other.
  const latest = new Map(rows.map((row, i) => [storedKeys[i], row]));
  // Rows in key order, so that overlapping batches of several processes take their locks in one order.
  const keys = [...latest.keys()].sort();
  const parameters = [
    keys,
    keys.map((key) => latest.get(key)!.sessionData),
    keys.map((key) => table.toDatabaseDate(latest.get(key)!.expireDate)),
  ];
  // A failure (a deadlock, should the planner lock rows in another order; one row's bad value) sends each row alone (batchPerTurn).
  const updated = new Set((await run(table.statements.updateMany, parameters)).records.map((record) => record.session_key as string));
  return storedKeys.map((key) => (updated.has(key) ? 1 : 0));
}
