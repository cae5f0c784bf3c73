/**
 * The previous table of a `userSessions` switch (no Django counterpart: Django's `backends/db.py`
 * has one table). Switching `userSessions` on or off changes the table (django_session ↔
 * user_session). So that nobody is signed out, while the other table holds live sessions a key
 * missing from this one is looked up there, and its row moved over at that first use; clearsessions
 * purges that table too, until no session is left in it. Stores with a custom entity, and other
 * tables than the two defaults, are left alone.
 */
import { Logger } from '@nestjs/common';
import type { DataSource, EntityMetadata, EntityTarget } from 'typeorm';
import { SessionEntity, type AbstractBaseSession } from '../../database/session.entity';
import { UserSessionEntity } from '../../user-sessions/user-session.entity';
import { isUniqueViolation, type RunStatement } from './statement-runner';
import { fromDatabaseDate, SessionTable, type LoadedRow, type SessionRow } from './session-table';

/** The other default table of `current` (the store's table, of `entity`) while it holds live sessions; null otherwise. */
export async function findPreviousTable(
  dataSource: DataSource,
  entity: EntityTarget<AbstractBaseSession>,
  current: SessionTable,
  run: RunStatement,
): Promise<SessionTable | null> {
  if (entity !== SessionEntity && entity !== UserSessionEntity) return null;
  let metadata: EntityMetadata;
  try {
    metadata = dataSource.getMetadata(entity === SessionEntity ? UserSessionEntity : SessionEntity);
  } catch {
    return null; // the other entity is not registered with this DataSource
  }
  const runner = dataSource.createQueryRunner();
  try {
    if (!(await runner.hasTable(metadata.tablePath))) return null; // asked first: a failing SELECT would be logged as an error
  } finally {
    await runner.release();
  }
  const previous = new SessionTable(metadata, dataSource);
  const [key, expire] = [previous.column('sessionKey'), previous.column('expireDate')];
  const { records } = await run(`SELECT ${key} AS session_key FROM ${previous.name} WHERE ${expire} > ${previous.placeholder(1)} LIMIT 1`, [
    previous.toDatabaseDate(new Date()),
  ]);
  if (records.length === 0) return null;
  new Logger('Sessions').log(
    `Sessions left in "${metadata.tableName}" (userSessions was switched) move to "${current.metadata.tableName}" at their next use; clearsessions purges both`,
  );
  return previous;
}

/**
 * A live session of the previous table, moved into the current one; null when it has none. `moved`:
 * the row as the current table keeps it (with the user index: its user and activity).
 */
export async function takeFromPreviousTable(
  previous: SessionTable,
  current: SessionTable,
  storedKey: string,
  run: RunStatement,
  moved: (row: SessionRow) => SessionRow,
): Promise<LoadedRow | null> {
  const [key, data, expire] = ['sessionKey', 'sessionData', 'expireDate'].map((p) => previous.column(p));
  const now = previous.toDatabaseDate(new Date());
  const [found] = (
    await run(
      `SELECT ${data} AS session_data, ${expire} AS expire_date FROM ${previous.name} WHERE ${key} = ${previous.placeholder(1)} AND ${expire} > ${previous.placeholder(2)}`,
      [storedKey, now],
    )
  ).records;
  if (!found) return null;
  const expireDate = fromDatabaseDate(found.expire_date);
  if (Number.isNaN(expireDate.getTime())) return null;
  const row: SessionRow = { sessionKey: storedKey, sessionData: String(found.session_data), expireDate };
  // Keyed by the stored key already: written as such (not digested again with hashKeysAtRest).
  const { sql, parameters } = current.writeStatement('insert', moved(row), storedKey);
  try {
    await run(sql, parameters);
  } catch (error) {
    if (!isUniqueViolation(error)) throw error; // a concurrent request moved it first
  }
  await run(`DELETE FROM ${previous.name} WHERE ${key} = ${previous.placeholder(1)}`, [storedKey]);
  return { sessionData: row.sessionData, expireDate };
}
