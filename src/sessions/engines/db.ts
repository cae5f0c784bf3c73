/**
 * The `db` engine (Django's `backends.db`): sessions are rows of `django_session` (or of a custom
 * entity extending AbstractBaseSession). Statements are written once per store with the driver's
 * placeholders, so the request path builds no ORM query: one indexed SELECT to load, one INSERT to
 * create, one UPDATE to save.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { DataSource, EntityMetadata, EntityTarget, ObjectLiteral } from 'typeorm';
import { CreateError, UpdateError } from '../session.errors';
import { SessionBase, type SessionData } from '../session';
import { AbstractBaseSession, SessionEntity } from '../session.entity';
import { SESSIONS_CONFIG, SESSIONS_DATA_SOURCE } from '../sessions.constants';
import type { SessionsConfig } from '../sessions.options';
import { SessionStore } from './session-store';

/** A row to write: the three Django columns plus any extra columns of a custom entity (by property name). */
export type SessionRow = Pick<AbstractBaseSession, 'sessionKey' | 'sessionData' | 'expireDate'> & ObjectLiteral;

const UNIQUE_VIOLATIONS = new Set(['23505', 'SQLITE_CONSTRAINT_PRIMARYKEY', 'SQLITE_CONSTRAINT_UNIQUE', 'ER_DUP_ENTRY']);

function isUniqueViolation(error: unknown): boolean {
  const driverError = (error as { driverError?: { code?: string } }).driverError ?? error;
  return UNIQUE_VIOLATIONS.has(String((driverError as { code?: string }).code));
}

export class DbSession<TData extends object = SessionData> extends SessionBase<TData> {
  constructor(
    sessionKey: string | null | undefined,
    config: SessionsConfig,
    protected readonly store: DbSessionStore,
  ) {
    super(sessionKey, config);
  }

  override async load(): Promise<SessionData> {
    const key = this.sessionKey;
    const row = key === null ? null : await this.store.loadRow(key);
    if (!row) {
      this.setSessionKey(null);
      return this.decodeMissing();
    }
    return this.decode(row.sessionData);
  }

  /** The data of a session that has no row (hook for cached_db). */
  protected decodeMissing(): SessionData {
    return Object.create(null) as SessionData;
  }

  override exists(sessionKey: string | null): Promise<boolean> {
    return sessionKey === null ? Promise.resolve(false) : this.store.existsRow(sessionKey);
  }

  override async create(): Promise<void> {
    for (;;) {
      this.setSessionKey(await this.getNewSessionKey());
      try {
        await this.save(true);
      } catch (error) {
        if (error instanceof CreateError) continue;
        throw error;
      }
      this.modified = true;
      return;
    }
  }

  override async save(mustCreate = false): Promise<void> {
    if (this.sessionKey === null) return this.create();
    if (!mustCreate) await this.ensureLoaded();
    const data = this.getSessionData(mustCreate);
    const row = await this.store.createModelInstance(this, data);
    if (mustCreate) {
      if (!(await this.store.insertRow(row))) throw new CreateError(`Session key ${row.sessionKey} is taken`);
    } else if ((await this.store.updateRow(row)) === 0) {
      throw new UpdateError('The session row no longer exists');
    }
  }

  override async delete(sessionKey?: string | null): Promise<void> {
    const key = sessionKey ?? this.sessionKey;
    if (key !== null) await this.store.deleteRow(key);
  }

  /** Django's `_get_or_create_session_key`, for `createModelInstance` overrides. */
  ensureSessionKey(): Promise<string> {
    return this.getOrCreateSessionKey();
  }
}

interface Statements {
  load: string;
  exists: string;
  delete: string;
}

@Injectable()
export class DbSessionStore extends SessionStore {
  readonly engine: string = 'db';
  #statements: Statements | undefined;
  readonly #writes = new Map<string, string>();

  constructor(
    @Inject(SESSIONS_CONFIG) protected readonly config: SessionsConfig,
    @Inject(SESSIONS_DATA_SOURCE) readonly dataSource: DataSource,
  ) {
    super();
    if (!dataSource) {
      throw new Error(`The ${new.target.name} session engine needs TypeORM: import TypeOrmModule.forRoot() with the SessionEntity`);
    }
  }

  session<T extends object = SessionData>(sessionKey?: string | null): DbSession<T> {
    return new DbSession<T>(sessionKey, this.config, this);
  }

  /** Django's `get_model_class`: override to store sessions in a custom entity. */
  getModelClass(): EntityTarget<AbstractBaseSession> {
    return SessionEntity;
  }

  /** Django's `create_model_instance`: override to fill extra columns from the data. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async createModelInstance(session: DbSession<any>, data: SessionData): Promise<SessionRow> {
    return {
      sessionKey: await session.ensureSessionKey(),
      sessionData: session.encode(data),
      expireDate: session.getExpiryDate(),
    };
  }

  /** Django's `Session.get_decoded()` for a row read through TypeORM. */
  getDecoded(row: Pick<AbstractBaseSession, 'sessionData'>): SessionData {
    return this.session().decode(row.sessionData);
  }

  get metadata(): EntityMetadata {
    return this.dataSource.getMetadata(this.getModelClass());
  }

  protected get isPostgres(): boolean {
    return this.dataSource.options.type === 'postgres';
  }

  protected placeholder(index: number): string {
    return this.isPostgres ? `$${index}` : '?';
  }

  protected column(propertyName: string): string {
    const column = this.metadata.findColumnWithPropertyName(propertyName);
    if (!column) throw new Error(`Session entity has no column for property "${propertyName}"`);
    return this.dataSource.driver.escape(column.databaseName);
  }

  protected get table(): string {
    return this.dataSource.driver.escape(this.metadata.tableName);
  }

  protected get statements(): Statements {
    if (!this.#statements) {
      const [table, key, data, expire] = [this.table, this.column('sessionKey'), this.column('sessionData'), this.column('expireDate')];
      this.#statements = {
        load: `SELECT ${data} AS session_data, ${expire} AS expire_date FROM ${table} WHERE ${key} = ${this.placeholder(1)} AND ${expire} > ${this.placeholder(2)}`,
        exists: `SELECT 1 AS found FROM ${table} WHERE ${key} = ${this.placeholder(1)}`,
        delete: `DELETE FROM ${table} WHERE ${key} = ${this.placeholder(1)}`,
      };
    }
    return this.#statements;
  }

  /** A Date as the driver stores it: a timestamptz on PostgreSQL, Django's UTC text on SQLite. */
  toDatabaseDate(date: Date): Date | string {
    if (this.isPostgres) return date;
    const iso = date.toISOString();
    return `${iso.slice(0, 10)} ${iso.slice(11, 23)}000`;
  }

  fromDatabaseDate(value: Date | string): Date {
    if (value instanceof Date) return value;
    return new Date(`${value.replace(' ', 'T')}${/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? '' : 'Z'}`);
  }

  protected async execute(sql: string, parameters: unknown[]): Promise<{ records: ObjectLiteral[]; affected: number }> {
    const runner = this.dataSource.createQueryRunner('master');
    try {
      const result = await runner.query(sql, parameters, true);
      return { records: Array.isArray(result.records) ? result.records : [], affected: result.affected ?? 0 };
    } finally {
      await runner.release();
    }
  }

  /** The unexpired row of this key, if any. */
  async loadRow(sessionKey: string): Promise<{ sessionData: string; expireDate: Date } | null> {
    const { records } = await this.execute(this.statements.load, [sessionKey, this.toDatabaseDate(new Date())]);
    const row = records[0];
    return row ? { sessionData: row.session_data as string, expireDate: this.fromDatabaseDate(row.expire_date) } : null;
  }

  /** Whether a row has this key, expired or not (Django's `exists`). */
  async existsRow(sessionKey: string): Promise<boolean> {
    const { records } = await this.execute(this.statements.exists, [sessionKey]);
    return records.length > 0;
  }

  /** The INSERT/UPDATE for this set of columns, written once. */
  protected writeStatement(kind: 'insert' | 'update', row: SessionRow): { sql: string; parameters: unknown[] } {
    const properties = Object.keys(row).filter((p) => p !== 'sessionKey');
    const cacheKey = `${kind}:${properties.join(',')}`;
    let sql = this.#writes.get(cacheKey);
    if (!sql) {
      const columns = properties.map((p) => this.column(p));
      sql =
        kind === 'insert'
          ? `INSERT INTO ${this.table} (${this.column('sessionKey')}, ${columns.join(', ')}) VALUES (${[this.placeholder(1), ...columns.map((_, i) => this.placeholder(i + 2))].join(', ')})`
          : `UPDATE ${this.table} SET ${columns.map((c, i) => `${c} = ${this.placeholder(i + 1)}`).join(', ')} WHERE ${this.column('sessionKey')} = ${this.placeholder(columns.length + 1)}`;
      this.#writes.set(cacheKey, sql);
    }
    const values = properties.map((p) => (row[p] instanceof Date ? this.toDatabaseDate(row[p] as Date) : row[p]));
    return { sql, parameters: kind === 'insert' ? [row.sessionKey, ...values] : [...values, row.sessionKey] };
  }

  /** INSERT; false when the key is already taken. */
  async insertRow(row: SessionRow): Promise<boolean> {
    const { sql, parameters } = this.writeStatement('insert', row);
    try {
      await this.execute(sql, parameters);
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  /** UPDATE of an existing row; returns the number of rows changed (0: the row is gone). */
  async updateRow(row: SessionRow): Promise<number> {
    const { sql, parameters } = this.writeStatement('update', row);
    return (await this.execute(sql, parameters)).affected;
  }

  async deleteRow(sessionKey: string): Promise<void> {
    await this.execute(this.statements.delete, [sessionKey]);
  }

  /** `DELETE ... WHERE expire_date < now`, in bounded batches so no statement holds the table long. */
  override async clearExpired(): Promise<number> {
    const [table, key, expire] = [this.table, this.column('sessionKey'), this.column('expireDate')];
    const batch = this.config.clearExpired.batchSize;
    const sql = `DELETE FROM ${table} WHERE ${key} IN (SELECT ${key} FROM ${table} WHERE ${expire} < ${this.placeholder(1)} ORDER BY ${expire} LIMIT ${batch})`;
    const now = this.toDatabaseDate(new Date());
    let total = 0;
    for (;;) {
      const { affected } = await this.execute(sql, [now]);
      total += affected;
      if (affected < batch) return total;
    }
  }
}
