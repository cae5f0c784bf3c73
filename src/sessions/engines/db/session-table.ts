/**
 * The SQL of a session table (what Django's ORM writes for `django/contrib/sessions/backends/db.py`
 * over the `django/contrib/sessions/base_session.py` model): its escaped names, the driver's
 * placeholders, dates as its columns take them, the key column's value (`hashKeysAtRest`), and the
 * statements of the request path, each written once per table so that no request builds a query.
 */
import { createHash } from 'node:crypto';
import type { DataSource, EntityMetadata, ObjectLiteral } from 'typeorm';
import type { AbstractBaseSession } from '../../database/session.entity';
import type { Statement } from './statement-runner';

/** A row to write: the three Django columns plus any extra columns of a custom entity (by property name). */
export type SessionRow = Pick<AbstractBaseSession, 'sessionKey' | 'sessionData' | 'expireDate'> & ObjectLiteral;

/** A session row as loaded: its data and expiry (null: a value no JavaScript date holds). */
export interface LoadedRow {
  sessionData: string;
  expireDate: Date | null;
}

export interface Statements {
  load: string;
  exists: string;
  delete: string;
  /** PostgreSQL only: the batched forms of load and of the UPDATE of the Django columns. */
  loadMany: string;
  updateMany: string;
}

/**
 * `hashKeysAtRest`: the key column's value for a session key. SHA-256, its first 30 bytes in
 * base64url: 40 characters, the size of Django's `session_key` column. 240 bits of digest are more
 * than a key's own entropy (32 random characters of 36: 165 bits), so the truncation weakens nothing;
 * no secret is needed because the keys are random, never guessable inputs.
 */
export function hashSessionKey(sessionKey: string): string {
  return createHash('sha256').update(sessionKey, 'utf8').digest().subarray(0, 30).toString('base64url');
}

/** The columns every session entity has (AbstractBaseSession): the only ones a batched UPDATE writes. */
export const DJANGO_ROW_PROPERTIES = 'sessionKey,sessionData,expireDate';

/**
 * A Date as a statement parameter. PostgreSQL: ISO 8601 in UTC, which the timestamptz column parses
 * (cheaper than the driver's own Date formatting, in local time). SQLite: UTC text with
 * milliseconds (`2030-01-01 00:00:00.123`), which Django parses and which TypeORM reads as UTC;
 * with Django's 6 digits TypeORM would read the row's expireDate in the server's local time.
 */
export function toDatabaseDate(date: Date, postgres: boolean): string {
  const iso = date.toISOString();
  return postgres ? iso : `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}

/** A stored date; an invalid Date for what no JavaScript date holds (the driver's Infinity for 'infinity', garbage text). */
export function fromDatabaseDate(value: unknown): Date {
  if (value instanceof Date) return value;
  if (typeof value !== 'string') return new Date(NaN);
  return new Date(`${value.replace(' ', 'T')}${/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? '' : 'Z'}`);
}

/** One session entity's table on one data source. */
export class SessionTable {
  #statements: Statements | undefined;
  readonly #writes = new Map<string, string>();

  constructor(
    readonly metadata: EntityMetadata,
    private readonly dataSource: DataSource,
  ) {}

  get isPostgres(): boolean {
    return this.dataSource.options.type === 'postgres';
  }

  /** The table's name, escaped. */
  get name(): string {
    return this.escape(this.metadata.tableName);
  }

  placeholder(index: number): string {
    return this.isPostgres ? `$${index}` : '?';
  }

  /** The escaped column of an entity property. */
  column(propertyName: string): string {
    const column = this.metadata.findColumnWithPropertyName(propertyName);
    if (!column) throw new Error(`Session entity has no column for property "${propertyName}"`);
    return this.escape(column.databaseName);
  }

  private escape(name: string): string {
    return this.dataSource.driver.escape(name);
  }

  get statements(): Statements {
    if (!this.#statements) {
      const [table, key, data, expire] = [this.name, this.column('sessionKey'), this.column('sessionData'), this.column('expireDate')];
      this.#statements = {
        load: `SELECT ${data} AS session_data, ${expire} AS expire_date FROM ${table} WHERE ${key} = ${this.placeholder(1)} AND ${expire} > ${this.placeholder(2)}`,
        exists: `SELECT 1 AS found FROM ${table} WHERE ${key} = ${this.placeholder(1)}`,
        delete: `DELETE FROM ${table} WHERE ${key} = ${this.placeholder(1)}`,
        loadMany: `SELECT ${key} AS session_key, ${data} AS session_data, ${expire} AS expire_date FROM ${table} WHERE ${key} = ANY($1) AND ${expire} > $2`,
        updateMany:
          `UPDATE ${table} SET ${data} = v.session_data, ${expire} = v.expire_date` +
          ` FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS v(session_key, session_data, expire_date)` +
          ` WHERE ${table}.${key} = v.session_key RETURNING ${table}.${key} AS session_key`,
      };
    }
    return this.#statements;
  }

  /** The INSERT/UPDATE of this row (its key column holding `storedKey`), written once per set of columns. */
  writeStatement(kind: 'insert' | 'update', row: SessionRow, storedKey: string): Statement {
    const properties = Object.keys(row).filter((p) => p !== 'sessionKey');
    const cacheKey = `${kind}:${properties.join(',')}`;
    let sql = this.#writes.get(cacheKey);
    if (!sql) {
      const columns = properties.map((p) => this.column(p));
      sql =
        kind === 'insert'
          ? `INSERT INTO ${this.name} (${this.column('sessionKey')}, ${columns.join(', ')}) VALUES (${[this.placeholder(1), ...columns.map((_, i) => this.placeholder(i + 2))].join(', ')})`
          : `UPDATE ${this.name} SET ${columns.map((c, i) => `${c} = ${this.placeholder(i + 1)}`).join(', ')} WHERE ${this.column('sessionKey')} = ${this.placeholder(columns.length + 1)}`;
      this.#writes.set(cacheKey, sql);
    }
    const values = properties.map((p): unknown => (row[p] instanceof Date ? this.toDatabaseDate(row[p]) : row[p]));
    return { sql, parameters: kind === 'insert' ? [storedKey, ...values] : [...values, storedKey] };
  }

  /** The SELECT of which of these stored keys have an unexpired row (`now`: toDatabaseDate). */
  liveKeysStatement(storedKeys: readonly string[], now: string): Statement {
    const [key, expire] = [this.column('sessionKey'), this.column('expireDate')];
    return this.isPostgres
      ? { sql: `SELECT ${key} AS session_key FROM ${this.name} WHERE ${key} = ANY($1) AND ${expire} > $2`, parameters: [storedKeys, now] }
      : {
          sql: `SELECT ${key} AS session_key FROM ${this.name} WHERE ${key} IN (${storedKeys.map(() => '?').join(', ')}) AND ${expire} > ?`,
          parameters: [...storedKeys, now],
        };
  }

  /** The DELETE of at most `batchSize` rows expired before its one parameter, the oldest first. */
  clearExpiredStatement(batchSize: number): string {
    const [table, key, expire] = [this.name, this.column('sessionKey'), this.column('expireDate')];
    // PostgreSQL: the rows are picked by physical address (ctid), which cannot change while this
    // statement holds their lock: no second index lookup per row (batches ~3x faster than by key).
    return this.isPostgres
      ? `DELETE FROM ${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE ${expire} < $1 ORDER BY ${expire} LIMIT ${batchSize} FOR UPDATE SKIP LOCKED))`
      : `DELETE FROM ${table} WHERE ${key} IN (SELECT ${key} FROM ${table} WHERE ${expire} < ? ORDER BY ${expire} LIMIT ${batchSize})`;
  }

  /** A Date as this table's statements take it (see `toDatabaseDate`). */
  toDatabaseDate(date: Date): string {
    return toDatabaseDate(date, this.isPostgres);
  }
}
