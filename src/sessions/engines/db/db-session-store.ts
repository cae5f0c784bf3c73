/**
 * DbSessionStore: the `db` engine (Django's `django/contrib/sessions/backends/db.py`): sessions are
 * rows of `django_session` (or of a custom entity extending AbstractBaseSession). Its statements
 * are written once per table with the driver's placeholders (session-table.ts) and sent straight to
 * the driver (statement-runner.ts); the user index and a `userSessions` switch's previous table have
 * files of their own (db-user-index.ts, previous-table.ts).
 */
import { Inject, Injectable } from '@nestjs/common';
import type { DataSource, EntityMetadata, EntityTarget, ObjectLiteral } from 'typeorm';
import { SessionsSetupError } from '../../session.errors';
import type { SessionClient, SessionData } from '../../session';
import { SessionEntity, type AbstractBaseSession } from '../../database/session.entity';
import { USER_AGENT_MAX_LENGTH, USER_ID_MAX_LENGTH, UserSessionEntity } from '../../user-sessions/user-session.entity';
import { userOfData, type UserSessionIndex, type UserSessionRow } from '../../user-sessions/user-session-index';
import { SESSIONS_CONFIG, SESSIONS_DATA_SOURCE } from '../../sessions.constants';
import type { SessionsConfig } from '../../sessions.options';
import { SessionStore, type ClearExpiredProgress, type ClearExpiredRunOptions } from '../session-store';
import { DbSession, type DbSessionRows, type TransactionalWrite } from './db-session';
import { DbUserIndex } from './db-user-index';
import { findPreviousTable, takeFromPreviousTable } from './previous-table';
import { rowBatches, type RowBatches } from './row-batches';
import {
  DJANGO_ROW_PROPERTIES,
  fromDatabaseDate,
  hashSessionKey,
  SessionTable,
  toDatabaseDate,
  type LoadedRow,
  type SessionRow,
  type Statements,
} from './session-table';
import { isUniqueViolation, StatementRunner, type Statement, type StatementResult } from './statement-runner';
import { tableMissingOr, warnOfSynchronize } from './table-check';
import { clearExpiredRows } from './clear-expired';

/** Keys per statement of `liveKeys` (the WebSockets' sweep), well under SQLite's parameter limit. */
const LIVE_KEYS_PER_STATEMENT = 500;

@Injectable()
export class DbSessionStore extends SessionStore implements UserSessionIndex, DbSessionRows {
  readonly engine: string = 'db';
  readonly #runner: StatementRunner;
  #table: SessionTable | undefined;
  /** The other default table while it may hold live sessions (previous-table.ts); null otherwise. */
  #previous: SessionTable | null = null;
  #userIndex: DbUserIndex | undefined;
  #batches: RowBatches | null | undefined;

  constructor(
    @Inject(SESSIONS_CONFIG) protected readonly config: SessionsConfig,
    @Inject(SESSIONS_DATA_SOURCE) readonly dataSource: DataSource,
  ) {
    super();
    if (!dataSource) {
      throw new SessionsSetupError(
        `The ${new.target.name} session engine needs TypeORM: import TypeOrmModule.forRoot() with the SessionEntity`,
      );
    }
    this.#runner = new StatementRunner(dataSource);
  }

  session<T extends object = SessionData>(sessionKey?: string | null): DbSession<T> {
    return new DbSession<T>(sessionKey, this.config, this);
  }

  /**
   * The session table must exist with Django's columns before the first request: a missing table
   * stops the app with what to run, instead of answering 503 to every request.
   */
  override async verify(): Promise<void> {
    const { tableName } = this.metadata;
    if (this.dataSource.options.synchronize) warnOfSynchronize(tableName);
    try {
      await this.probeTable();
    } catch (error) {
      throw tableMissingOr(error, this.engine, tableName);
    }
    await this.detectPreviousTable();
  }

  /** The database is reachable and the table has Django's three columns. */
  override checkHealth(): Promise<void> {
    return this.probeTable();
  }

  private async probeTable(): Promise<void> {
    const columns = ['sessionKey', 'sessionData', 'expireDate'].map((property) => this.column(property));
    await this.execute(`SELECT ${columns.join(', ')} FROM ${this.table} WHERE 1 = 0`, []);
  }

  /** The previous table of a `userSessions` switch, found again (at start-up, and once clearsessions purged it). */
  private async detectPreviousTable(): Promise<void> {
    this.#previous = null;
    this.#previous = await findPreviousTable(this.dataSource, this.getModelClass(), this.sessionTable, (sql, parameters) =>
      this.execute(sql, parameters),
    );
  }

  /** A live session of the previous table, moved into this one (its user indexed); null when it has none. */
  private async takeFromPreviousTable(storedKey: string): Promise<LoadedRow | null> {
    if (!this.#previous) return null;
    const moved = (row: SessionRow) =>
      this.config.userSessions ? { ...row, userId: this.userOf(this.getDecoded(row)), lastActivity: new Date() } : row;
    const taken = await takeFromPreviousTable(
      this.#previous,
      this.sessionTable,
      storedKey,
      (sql, parameters) => this.execute(sql, parameters),
      moved,
    );
    if (taken) return taken;
    // A concurrent request for the same session may have moved it between this one's two reads.
    const record = await this.loadOne(storedKey);
    return record ? this.loadedRow(record) : null;
  }

  /** Django's `get_model_class`: override to store sessions in a custom entity (with `userSessions`: UserSessionEntity). */
  getModelClass(): EntityTarget<AbstractBaseSession> {
    return this.config.userSessions ? UserSessionEntity : SessionEntity;
  }

  /** Django's `create_model_instance`: override to fill extra columns from the data (the user index fills its own). */
  async createModelInstance(session: DbSession<any>, data: SessionData): Promise<SessionRow> {
    const row: SessionRow = {
      sessionKey: await session.ensureSessionKey(),
      sessionData: session.encode(data),
      expireDate: session.getExpiryDate(),
    };
    if (!this.config.userSessions) return row;
    const userId = this.userOf(data);
    if (userId !== null && userId.length > USER_ID_MAX_LENGTH) {
      throw new RangeError(
        `A session's user id is longer than the ${USER_ID_MAX_LENGTH} characters of ${this.metadata.tableName}.user_id: the session is not saved`,
      );
    }
    const indexed = { ...row, userId, lastActivity: new Date() };
    // Saved outside a request (a job, a script): the client recorded by the last request stays.
    if (!session.client) return indexed;
    return { ...indexed, ip: session.client.ip ?? null, userAgent: session.client.userAgent?.slice(0, USER_AGENT_MAX_LENGTH) ?? null };
  }

  // ----- the user index (`userSessions`, db-user-index.ts) -----

  /** The session's user as the index stores it (userOfData at `userKey`). */
  userOf(data: SessionData): string | null {
    return userOfData(data, this.config.userSessions?.userKeyPath ?? []);
  }

  private get userIndex(): DbUserIndex {
    this.#userIndex ??= new DbUserIndex({
      config: this.config,
      engine: this.engine,
      table: this.sessionTable,
      runner: this.#runner,
      run: (sql, parameters) => this.execute(sql, parameters),
      storedKey: (sessionKey) => this.storedKey(sessionKey),
      decode: (sessionData) => this.getDecoded({ sessionData }),
      forgetEvicted: (storedKeys) => this.forgetEvicted(storedKeys),
    });
    return this.#userIndex;
  }

  /** Records a use of a signed-in session, once per `activityInterval` (DbUserIndex.noteActivity). */
  noteActivity(sessionKey: string, client: SessionClient | undefined): void {
    this.userIndex.noteActivity(sessionKey, client);
  }

  userSessionRows(userId: string): Promise<UserSessionRow[]> {
    return this.userIndex.userSessionRows(userId);
  }

  revokeWhere(userId: string, choose: (rows: UserSessionRow[]) => string[]): Promise<string[]> {
    return this.userIndex.revokeWhere(userId, choose);
  }

  /** A login within `maxSessionsPerUser`, a cycleKey's new row, or both: one transaction under the user's lock (DbUserIndex.writeInTransaction). */
  writeInTransaction(row: SessionRow, write: TransactionalWrite): Promise<void> {
    return this.userIndex.writeInTransaction(row, write);
  }

  /** After a cap eviction or a revocation deleted these rows: nothing more for db (cached_db also drops their cache entries). */
  protected forgetEvicted(_storedKeys: readonly string[]): Promise<void> {
    return Promise.resolve();
  }

  /** Django's `Session.get_decoded()` for a row read through TypeORM. */
  getDecoded(row: Pick<AbstractBaseSession, 'sessionData'>): SessionData {
    return this.session().decode(row.sessionData);
  }

  // ----- the table and its statements (session-table.ts, statement-runner.ts) -----

  get metadata(): EntityMetadata {
    return this.dataSource.getMetadata(this.getModelClass());
  }

  /** The store's table, then the previous table while it holds live sessions. */
  private get tables(): SessionTable[] {
    return this.#previous ? [this.sessionTable, this.#previous] : [this.sessionTable];
  }

  /** The store's table (of getModelClass()), known from the first statement on. */
  private get sessionTable(): SessionTable {
    this.#table ??= new SessionTable(this.metadata, this.dataSource);
    return this.#table;
  }

  protected get isPostgres(): boolean {
    return this.dataSource.options.type === 'postgres';
  }

  protected placeholder(index: number): string {
    return this.isPostgres ? `$${index}` : '?';
  }

  protected column(propertyName: string): string {
    return this.sessionTable.column(propertyName);
  }

  protected get table(): string {
    return this.sessionTable.name;
  }

  protected get statements(): Statements {
    return this.sessionTable.statements;
  }

  /** The INSERT/UPDATE for this set of columns, written once. */
  protected writeStatement(kind: 'insert' | 'update', row: SessionRow): Statement {
    return this.sessionTable.writeStatement(kind, row, this.storedKey(row.sessionKey));
  }

  /** A Date as a statement parameter (session-table.ts). */
  toDatabaseDate(date: Date): string {
    return toDatabaseDate(date, this.isPostgres);
  }

  /** A stored date; an invalid Date for what no JavaScript date holds (the driver's Infinity for 'infinity', garbage text). */
  fromDatabaseDate(value: unknown): Date {
    return fromDatabaseDate(value);
  }

  /** Runs one statement, straight on the driver where it can (StatementRunner.run). */
  protected execute(sql: string, parameters: unknown[]): Promise<StatementResult> {
    return this.#runner.run(sql, parameters);
  }

  /** What the key column holds for a session key: the key, or its digest with `hashKeysAtRest`. */
  storedKey(sessionKey: string): string {
    return this.config.hashKeysAtRest ? hashSessionKey(sessionKey) : sessionKey;
  }

  // ----- the rows -----

  /** PostgreSQL (`batchStoreCalls`): the loads and saves of one event-loop turn share a statement (row-batches.ts); null elsewhere. */
  private get batches(): RowBatches | null {
    if (this.#batches === undefined) {
      this.#batches =
        this.isPostgres && this.config.batchStoreCalls
          ? rowBatches({
              table: this.sessionTable,
              run: (sql, parameters) => this.execute(sql, parameters),
              storedKey: (sessionKey) => this.storedKey(sessionKey),
              loadOne: (storedKey) => this.loadOne(storedKey),
              updateOne: (row) => this.updateOne(row),
              onShared: (operation, size) => this.config.telemetry?.batch(this.engine, operation, size),
            })
          : null;
    }
    return this.#batches;
  }

  /** The unexpired row of this key, if any. */
  async loadRow(sessionKey: string): Promise<LoadedRow | null> {
    const key = this.storedKey(sessionKey);
    const row = this.batches ? await this.batches.loads.load(key) : await this.loadOne(key);
    return row ? this.loadedRow(row) : this.takeFromPreviousTable(key);
  }

  private loadedRow(record: ObjectLiteral): LoadedRow {
    const expireDate = this.fromDatabaseDate(record.expire_date);
    return { sessionData: String(record.session_data), expireDate: Number.isNaN(expireDate.getTime()) ? null : expireDate };
  }

  private async loadOne(storedKey: string): Promise<ObjectLiteral | undefined> {
    return (await this.execute(this.statements.load, [storedKey, this.toDatabaseDate(new Date())])).records[0];
  }

  /** Of these keys, those with an unexpired row here or (after a `userSessions` switch) in the previous table: one SELECT per 500 keys. */
  override async liveKeys(sessionKeys: readonly string[]): Promise<Set<string>> {
    const keyOf = new Map(sessionKeys.map((key) => [this.storedKey(key), key]));
    const live = new Set<string>();
    const now = this.toDatabaseDate(new Date());
    for (const table of this.tables) {
      const pending = [...keyOf.keys()].filter((stored) => !live.has(keyOf.get(stored)!));
      for (let start = 0; start < pending.length; start += LIVE_KEYS_PER_STATEMENT) {
        const { sql, parameters } = table.liveKeysStatement(pending.slice(start, start + LIVE_KEYS_PER_STATEMENT), now);
        for (const record of (await this.execute(sql, parameters)).records) live.add(keyOf.get(String(record.session_key))!);
      }
    }
    return live;
  }

  /** Whether a row has this key, expired or not (Django's `exists`). */
  async existsRow(sessionKey: string): Promise<boolean> {
    const { records } = await this.execute(this.statements.exists, [this.storedKey(sessionKey)]);
    return records.length > 0;
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
    // Rows with a custom entity's extra columns are written one by one (the batch writes Django's columns).
    const affected =
      this.batches && Object.keys(row).join(',') === DJANGO_ROW_PROPERTIES
        ? await this.batches.updates.load(row)
        : await this.updateOne(row);
    // A session read from elsewhere (cached_db's cache) whose row is still in the previous table: moved, then updated.
    if (affected === 0 && this.#previous && (await this.takeFromPreviousTable(this.storedKey(row.sessionKey)))) return this.updateOne(row);
    return affected;
  }

  private async updateOne(row: SessionRow): Promise<number> {
    const { sql, parameters } = this.writeStatement('update', row);
    return (await this.execute(sql, parameters)).affected;
  }

  async deleteRow(sessionKey: string): Promise<void> {
    await this.execute(this.statements.delete, [this.storedKey(sessionKey)]);
  }

  /** Django's `clear_expired` (clear-expired.ts), over this table and the previous one. */
  override async clearExpired({
    batchSize = this.config.clearExpired.batchSize,
    onProgress,
  }: ClearExpiredRunOptions = {}): Promise<number> {
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new RangeError(`batchSize must be a positive integer, got ${String(batchSize)}`);
    const progress: ClearExpiredProgress = { batches: 0, deleted: 0 };
    const now = this.toDatabaseDate(new Date());
    for (const table of this.tables)
      await clearExpiredRows(table, batchSize, now, progress, onProgress, (sql, parameters) => this.execute(sql, parameters));
    // The previous table is done with once no live session is left there.
    if (this.#previous) await this.detectPreviousTable();
    return progress.deleted;
  }
}
