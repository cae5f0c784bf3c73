/**
 * The `db` engine (Django's `backends.db`): sessions are rows of `django_session` (or of a custom
 * entity extending AbstractBaseSession). Statements are written once per store with the driver's
 * placeholders, so the request path builds no ORM query: one indexed SELECT to load, one INSERT to
 * create, one UPDATE to save.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type DataLoader from 'dataloader';
import type { Pool } from 'pg';
import { QueryFailedError, type DataSource, type EntityMetadata, type EntityTarget, type ObjectLiteral, type QueryRunner } from 'typeorm';
import { CreateError, ReplacedKeyGoneError, SessionTableMissingError, UpdateError } from '../session.errors';
import { emptyData, SessionBase, type SessionClient, type SessionData } from '../session';
import { AbstractBaseSession, SessionEntity } from '../database/session.entity';
import { USER_AGENT_MAX_LENGTH, USER_ID_MAX_LENGTH, UserSessionEntity } from '../user-sessions/user-session.entity';
import { reportEvictions, sessionsToEvict } from '../user-sessions/session-cap';
import { publicSessionId } from '../user-sessions/public-id';
import { ActivityThrottle } from '../user-sessions/activity-throttle';
import { byRecentActivity, userOfData, type UserSessionIndex, type UserSessionRow } from '../user-sessions/user-session-index';
import type { SessionEvent } from '../events/session-events';
import { SESSIONS_CONFIG, SESSIONS_DATA_SOURCE } from '../sessions.constants';
import type { SessionsConfig } from '../sessions.options';
import { batchPerTurn } from './batching';
import { SessionStore, type ClearExpiredProgress, type ClearExpiredRunOptions } from './session-store';

/** A row to write: the three Django columns plus any extra columns of a custom entity (by property name). */
export type SessionRow = Pick<AbstractBaseSession, 'sessionKey' | 'sessionData' | 'expireDate'> & ObjectLiteral;

const UNIQUE_VIOLATIONS = new Set(['23505', 'SQLITE_CONSTRAINT_PRIMARYKEY', 'SQLITE_CONSTRAINT_UNIQUE', 'ER_DUP_ENTRY']);
/** Keys per statement of `liveKeys` (the WebSockets' sweep), well under SQLite's parameter limit. */
const LIVE_KEYS_PER_STATEMENT = 500;

/** The database's error code of a failed statement (thrown as QueryFailedError or by the driver). */
function driverErrorCode(error: unknown): string {
  const driverError = (error as { driverError?: { code?: string } }).driverError ?? error;
  return String((driverError as { code?: string }).code);
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

export class DbSession<TData extends object = SessionData> extends SessionBase<TData> {
  /** The module's whole settings (SessionBase needs only SessionSettings). */
  protected declare readonly config: SessionsConfig;

  constructor(
    sessionKey: string | null | undefined,
    config: SessionsConfig,
    protected readonly store: DbSessionStore,
  ) {
    super(sessionKey, config);
  }

  override async load(): Promise<SessionData> {
    const row = await this.getSessionFromDb();
    return this.loaded(row ? this.rowData(row) : emptyData());
  }

  /** The user whose index row this session was loaded with (user index only): a save that changes it is a login. */
  #loadedUser: string | null = null;

  /** Loaded data, noted for the user index: its user, and its activity (written once per interval). */
  protected loaded(data: SessionData): SessionData {
    if (this.config.userSessions) {
      this.#loadedUser = this.store.userOf(data);
      if (this.#loadedUser !== null && this.sessionKey !== null) this.store.noteActivity(this.sessionKey, this.client);
    }
    return data;
  }

  protected override eventSubject(): Omit<SessionEvent, 'type'> {
    const key = this.sessionKey;
    return {
      engine: this.store.engine,
      id: key === null ? null : publicSessionId(this.config.secretKey, this.store.storedKey(key)),
      userId: this.config.userSessions && this.isLoaded ? this.store.userOf(this.toJSON() as SessionData) : this.#loadedUser,
    };
  }

  /**
   * A loaded row's data. A row the engine cannot interpret (an `expire_date` no JavaScript date
   * holds, such as PostgreSQL's 'infinity') reads as corrupt data: an empty session under the same
   * key, whose next save rewrites the row.
   */
  protected rowData(row: LoadedRow): SessionData {
    if (row.expireDate === null) {
      this.reportCorruptData('the row\'s expire_date is not a date');
      return emptyData();
    }
    return this.decode(row.sessionData);
  }

  /** Django's `_get_session_from_db`: the unexpired row, or null with the key dropped (also used by cached_db). */
  protected async getSessionFromDb(): Promise<LoadedRow | null> {
    const key = this.sessionKey;
    const row = key === null ? null : await this.store.loadRow(key);
    if (!row) this.setSessionKey(null);
    return row;
  }

  override exists(sessionKey: string | null): Promise<boolean> {
    return sessionKey === null ? Promise.resolve(false) : this.store.existsRow(sessionKey);
  }

  override create(): Promise<void> {
    return this.createUnderNewKey();
  }

  override async save(mustCreate = false): Promise<void> {
    if (this.sessionKey === null) return this.create();
    const data = await this.dataToSave(mustCreate);
    let row = await this.store.createModelInstance(this, data);
    const user = this.config.userSessions ? this.store.userOf(data) : null;
    const login = user !== this.#loadedUser || mustCreate;
    const cap = user !== null && login && !!this.config.userSessions?.maxSessionsPerUser;
    const replacedKey = mustCreate ? this.replacedKey : null;
    if (cap || replacedKey !== null) {
      // A login within the cap, or cycleKey's new row: one transaction, under the user's lock.
      await this.store.writeInTransaction(row, { mustCreate, userId: user, cap, ownKeys: [row.sessionKey, this.replacedKey], replacedKey });
      if (this.config.userSessions) this.#loadedUser = user;
      return;
    }
    // A save that keeps the user writes Django's columns only, so it shares the batched UPDATE;
    // activity, address and user agent follow the reads (noteActivity), once per interval.
    if (this.config.userSessions && !login) row = { sessionKey: row.sessionKey, sessionData: row.sessionData, expireDate: row.expireDate };
    if (mustCreate) {
      if (!(await this.store.insertRow(row))) throw new CreateError(`Session key ${row.sessionKey} is taken`);
    } else if ((await this.store.updateRow(row)) === 0) {
      throw new UpdateError('The session row no longer exists');
    }
    if (this.config.userSessions) this.#loadedUser = user;
  }

  /** cycleKey's create deleted the replaced row in its own transaction. */
  protected override deleteReplacedKey(_replacedKey: string): Promise<void> {
    return Promise.resolve();
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
  /** PostgreSQL only: the batched forms of load and of the UPDATE of the Django columns. */
  loadMany: string;
  updateMany: string;
}

type StatementResult = { records: ObjectLiteral[]; affected: number };

/** A session row as loaded: its data and expiry (null: a value no JavaScript date holds). */
export interface LoadedRow {
  sessionData: string;
  expireDate: Date | null;
}

/** The columns every session entity has (AbstractBaseSession): the only ones a batched UPDATE writes. */
const DJANGO_ROW_PROPERTIES = 'sessionKey,sessionData,expireDate';

type StatementRunner = (sql: string, parameters: unknown[]) => Promise<StatementResult>;

/** A transaction's statements, yielded one by one, each answered with its result (see inUserTransaction). */
type TransactionBody<T> = Generator<{ sql: string; parameters: unknown[] }, T, StatementResult>;

/** PostgreSQL statement names by SQL text, shared by every store: one name never means two statements on a pooled connection. */
const postgresStatementNames = new Map<string, string>();

interface SqliteStatement {
  reader: boolean;
  all(...parameters: unknown[]): ObjectLiteral[];
  run(...parameters: unknown[]): { changes: number };
}

interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
}

/** One better-sqlite3 statement, run synchronously. */
function runSqlite(statement: SqliteStatement, parameters: unknown[]): StatementResult {
  // better-sqlite3 binds no booleans (TypeORM converts them the same way).
  const values = parameters.map((p) => (typeof p === 'boolean' ? Number(p) : p));
  return statement.reader ? { records: statement.all(...values), affected: 0 } : { records: [], affected: statement.run(...values).changes };
}

/** What TypeORM's `QueryRunner.query(sql, parameters, true)` answers, as a StatementResult. */
function queryRunnerResult(result: { records?: unknown; affected?: number | null }): StatementResult {
  return { records: Array.isArray(result.records) ? (result.records as ObjectLiteral[]) : [], affected: result.affected ?? 0 };
}

/**
 * A runner that sends statements straight to the data source's driver, or undefined for drivers
 * without one. PostgreSQL: a named prepared statement on TypeORM's pool, parsed and planned once per
 * connection. better-sqlite3: a statement prepared once per SQL text.
 */
function driverStatementRunner(dataSource: DataSource): StatementRunner | undefined {
  const driver = dataSource.driver as unknown as { master?: Pool; databaseConnection?: SqliteDatabase };
  if (dataSource.options.type === 'postgres' && driver.master) {
    const pool = driver.master;
    return async (text, values) => {
      let name = postgresStatementNames.get(text);
      if (name === undefined) {
        name = `django_session_${postgresStatementNames.size + 1}`;
        postgresStatementNames.set(text, name);
      }
      const result = await pool.query({ name, text, values });
      return { records: result.rows, affected: result.rowCount ?? 0 };
    };
  }
  if (dataSource.options.type === 'better-sqlite3' && driver.databaseConnection) {
    const database = driver.databaseConnection;
    const statements = new Map<string, SqliteStatement>();
    return async (sql, parameters) => {
      let statement = statements.get(sql);
      if (!statement) {
        statement = database.prepare(sql);
        statements.set(sql, statement);
      }
      return runSqlite(statement, parameters);
    };
  }
  return undefined;
}

@Injectable()
export class DbSessionStore extends SessionStore implements UserSessionIndex {
  readonly engine: string = 'db';
  #runStatement: StatementRunner | undefined;
  #statements: Statements | undefined;
  readonly #writes = new Map<string, string>();
  #batches: { loads: DataLoader<string, ObjectLiteral | undefined>; updates: DataLoader<SessionRow, number> } | null | undefined;

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

  /**
   * The session table must exist with Django's columns before the first request: a missing table
   * stops the app with what to run, instead of answering 503 to every request.
   */
  override async verify(): Promise<void> {
    const { tableName } = this.metadata;
    if (this.dataSource.options.synchronize) {
      new Logger('Sessions').warn(
        `TypeORM synchronize is on: it builds "${tableName}" with TypeORM's column types, not Django's (timestamp without time zone on PostgreSQL), ` +
          'and may alter a table Django created; use the package\'s sessionMigrations instead (README "The session table")',
      );
    }
    try {
      await this.probeTable();
    } catch (error) {
      const cause = (error as Error).message;
      if (!['42P01', '42703'].includes(driverErrorCode(error)) && !/no such (table|column)/.test(cause)) throw error;
      throw new SessionTableMissingError(
        `The ${this.engine} session engine's table "${tableName}" is missing or lacks Django's columns (${cause}). ` +
          "Add the package's migrations to the app's DataSource (migrations: [...sessionMigrations], migrationsRun: true) " +
          'or run them with the TypeORM CLI, or run Django\'s "manage.py migrate sessions" on a database shared with Django.',
      );
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

  // ----- the previous table: `userSessions` switched on (sessions were in django_session) or off (in user_session) -----

  /** The other default table while it may hold live sessions (see detectPreviousTable); null otherwise. */
  #previous: EntityMetadata | null = null;

  /**
   * Switching `userSessions` on or off changes the table (django_session ↔ user_session). So that
   * nobody is signed out, while the other table holds live sessions a key missing from this one is
   * looked up there, and its row moved over at that first use (takeFromPreviousTable); clearsessions
   * purges that table too, until no session is left in it. Stores with a custom entity, and other
   * tables than the two defaults, are left alone.
   */
  private async detectPreviousTable(): Promise<void> {
    this.#previous = null;
    const current = this.getModelClass();
    if (current !== SessionEntity && current !== UserSessionEntity) return;
    let previous: EntityMetadata;
    try {
      previous = this.dataSource.getMetadata(current === SessionEntity ? UserSessionEntity : SessionEntity);
    } catch {
      return; // the other entity is not registered with this DataSource
    }
    const runner = this.dataSource.createQueryRunner();
    try {
      if (!(await runner.hasTable(previous.tablePath))) return; // asked first: a failing SELECT would be logged as an error
    } finally {
      await runner.release();
    }
    const [table, key, expire] = [this.escape(previous.tableName), this.columnOf(previous, 'sessionKey'), this.columnOf(previous, 'expireDate')];
    const { records } = await this.execute(`SELECT ${key} AS session_key FROM ${table} WHERE ${expire} > ${this.placeholder(1)} LIMIT 1`, [this.toDatabaseDate(new Date())]);
    if (records.length === 0) return;
    this.#previous = previous;
    new Logger('Sessions').log(`Sessions left in "${previous.tableName}" (userSessions was switched) move to "${this.metadata.tableName}" at their next use; clearsessions purges both`);
  }

  /** A live session of the previous table, moved into this one (its user indexed); null when it has none. */
  private async takeFromPreviousTable(storedKey: string): Promise<LoadedRow | null> {
    const previous = this.#previous;
    if (!previous) return null;
    const [table, key, data, expire] = [this.escape(previous.tableName), ...['sessionKey', 'sessionData', 'expireDate'].map((p) => this.columnOf(previous, p))];
    const now = this.toDatabaseDate(new Date());
    const [found] = (await this.execute(`SELECT ${data} AS session_data, ${expire} AS expire_date FROM ${table} WHERE ${key} = ${this.placeholder(1)} AND ${expire} > ${this.placeholder(2)}`, [storedKey, now])).records;
    if (!found) return null;
    const expireDate = this.fromDatabaseDate(found.expire_date);
    if (Number.isNaN(expireDate.getTime())) return null;
    const row: SessionRow = { sessionKey: storedKey, sessionData: String(found.session_data), expireDate };
    const moved = this.config.userSessions ? { ...row, userId: this.userOf(this.getDecoded(row)), lastActivity: new Date() } : row;
    // Keyed by the stored key already: written as such (writeStatement would digest it again with hashKeysAtRest).
    const { sql, parameters } = this.writeStatement('insert', moved);
    parameters[0] = storedKey;
    try {
      await this.execute(sql, parameters);
    } catch (error) {
      if (!UNIQUE_VIOLATIONS.has(driverErrorCode(error))) throw error; // a concurrent request moved it first
    }
    await this.execute(`DELETE FROM ${table} WHERE ${key} = ${this.placeholder(1)}`, [storedKey]);
    return { sessionData: row.sessionData, expireDate };
  }

  /** Django's `get_model_class`: override to store sessions in a custom entity (with `userSessions`: UserSessionEntity). */
  getModelClass(): EntityTarget<AbstractBaseSession> {
    return this.config.userSessions ? UserSessionEntity : SessionEntity;
  }

  /** Django's `create_model_instance`: override to fill extra columns from the data (the user index fills its own). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async createModelInstance(session: DbSession<any>, data: SessionData): Promise<SessionRow> {
    const row: SessionRow = {
      sessionKey: await session.ensureSessionKey(),
      sessionData: session.encode(data),
      expireDate: session.getExpiryDate(),
    };
    if (!this.config.userSessions) return row;
    const userId = this.userOf(data);
    if (userId !== null && userId.length > USER_ID_MAX_LENGTH) {
      throw new RangeError(`A session's user id is longer than the ${USER_ID_MAX_LENGTH} characters of ${this.metadata.tableName}.user_id: the session is not saved`);
    }
    const indexed = { ...row, userId, lastActivity: new Date() };
    // Saved outside a request (a job, a script): the client recorded by the last request stays.
    if (!session.client) return indexed;
    return { ...indexed, ip: session.client.ip ?? null, userAgent: session.client.userAgent?.slice(0, USER_AGENT_MAX_LENGTH) ?? null };
  }

  // ----- the user index (`userSessions`) -----

  /** The session's user as the index stores it (userOfData at `userKey`). */
  userOf(data: SessionData): string | null {
    return userOfData(data, this.config.userSessions?.userKeyPath ?? []);
  }

  #activity: ActivityThrottle | undefined;

  /**
   * Records a use of a signed-in session: `last_activity`, with the request's address and user
   * agent, is set when older than `activityInterval` (0: on every use), by one conditional UPDATE
   * that another process cannot repeat within the interval either. Failures are the session's own
   * business: logged, never the request's error.
   */
  noteActivity(sessionKey: string, client: SessionClient | undefined): void {
    this.#activity ??= new ActivityThrottle(this.config.userSessions?.activityInterval ?? 0);
    if (!this.#activity.due(sessionKey)) return;
    const interval = this.config.userSessions?.activityInterval ?? 0;
    const now = Date.now();
    const [activity, ip, agent, key] = ['lastActivity', 'ip', 'userAgent', 'sessionKey'].map((p) => this.column(p));
    const p = (index: number) => this.placeholder(index);
    const sql =
      `UPDATE ${this.table} SET ${activity} = ${p(1)}, ${ip} = COALESCE(${p(2)}, ${ip}), ${agent} = COALESCE(${p(3)}, ${agent}) ` +
      `WHERE ${key} = ${p(4)} AND (${activity} IS NULL OR ${activity} <= ${p(5)})`;
    const parameters = [
      this.toDatabaseDate(new Date(now)),
      client?.ip ?? null,
      client?.userAgent?.slice(0, USER_AGENT_MAX_LENGTH) ?? null,
      this.storedKey(sessionKey),
      this.toDatabaseDate(new Date(now - interval * 1000)),
    ];
    this.execute(sql, parameters).catch((error: Error) => new Logger('Sessions').warn(`Could not record a session's activity: ${error.message}`));
  }

  /** The user index's listing of a user's live sessions (with their data, for the verifier). */
  private userRowsStatement(userId: string): { sql: string; parameters: unknown[] } {
    const [key, data, expire, user, ip, agent, created, activity] = ['sessionKey', 'sessionData', 'expireDate', 'userId', 'ip', 'userAgent', 'created', 'lastActivity'].map((p) => this.column(p));
    return {
      sql:
        `SELECT ${key} AS session_key, ${data} AS session_data, ${expire} AS expire_date, ${ip} AS ip, ${agent} AS user_agent, ${created} AS created, ${activity} AS last_activity ` +
        `FROM ${this.table} WHERE ${user} = ${this.placeholder(1)} AND ${expire} > ${this.placeholder(2)}`,
      parameters: [userId, this.toDatabaseDate(new Date())],
    };
  }

  /** Rows of `userRowsStatement`, most recently active first. */
  private userRows(records: readonly ObjectLiteral[]): UserSessionRow[] {
    const date = (value: unknown) => (value === null || value === undefined ? null : this.fromDatabaseDate(value));
    return records
      .map((record) => ({
        storedKey: String(record.session_key),
        expireDate: date(record.expire_date),
        ip: (record.ip as string | null) ?? null,
        userAgent: (record.user_agent as string | null) ?? null,
        created: date(record.created),
        lastActivity: date(record.last_activity),
        data: this.getDecoded({ sessionData: String(record.session_data) }),
      }))
      .sort(byRecentActivity);
  }

  async userSessionRows(userId: string): Promise<UserSessionRow[]> {
    const { sql, parameters } = this.userRowsStatement(userId);
    return this.userRows((await this.execute(sql, parameters)).records);
  }

  async revokeWhere(userId: string, choose: (rows: UserSessionRow[]) => string[]): Promise<string[]> {
    const store = this;
    const chosen = await this.inUserTransaction(userId, function* () {
      const picked = choose(store.userRows((yield store.userRowsStatement(userId)).records));
      for (const storedKey of picked) yield { sql: store.statements.delete, parameters: [storedKey] };
      return picked;
    });
    await this.forgetEvicted(chosen);
    return chosen;
  }

  /**
   * Writes a row in one transaction that holds the user's lock when the row has a user (the lock
   * revocations take): a login within `maxSessionsPerUser` (`cap`), a cycleKey's new row
   * (`replacedKey`), or both. Concurrent logins on any number of instances queue, so none can leave
   * the user above the cap: over it, `evict` deletes the least recently active other sessions that
   * still sign in as the user (the verifier's test), `refuse` throws SessionLimitReachedException
   * (409) and writes nothing. `ownKeys` (this session's key, the key cycleKey replaces) never count.
   * A cycleKey's new row is kept only if the replaced row was still there to delete: else
   * ReplacedKeyGoneError, and nothing changes.
   */
  async writeInTransaction(row: SessionRow, write: { mustCreate: boolean; userId: string | null; cap: boolean; ownKeys: readonly (string | null)[]; replacedKey: string | null }): Promise<void> {
    const { mustCreate, userId, cap, replacedKey } = write;
    const own = new Set(write.ownKeys.flatMap((key) => (key === null ? [] : [this.storedKey(key)])));
    const signedIn = cap && userId !== null ? await this.config.users.signedInTest(userId) : null;
    const others = signedIn ? this.capStatement() : '';
    const statement = this.writeStatement(mustCreate ? 'insert' : 'update', row);
    let evicted: string[];
    try {
      const store = this;
      evicted = await this.inUserTransaction(userId, function* () {
        let chosen: string[] = [];
        if (signedIn) {
          // The user's other sessions that still sign in as the user, oldest activity first.
          const counted = (yield { sql: others, parameters: [userId, store.toDatabaseDate(new Date())] }).records
            .filter((record) => !own.has(String(record.session_key)) && signedIn(store.getDecoded({ sessionData: String(record.session_data) })))
            .map((record) => String(record.session_key));
          chosen = sessionsToEvict(counted, store.config);
        }
        for (const storedKey of chosen) yield { sql: store.statements.delete, parameters: [storedKey] };
        if ((yield statement).affected === 0 && !mustCreate) throw new UpdateError('The session row no longer exists');
        if (replacedKey !== null && (yield { sql: store.statements.delete, parameters: [store.storedKey(replacedKey)] }).affected === 0) throw new ReplacedKeyGoneError();
        return chosen;
      });
    } catch (error) {
      if (mustCreate && UNIQUE_VIOLATIONS.has(driverErrorCode(error))) throw new CreateError(`Session key ${row.sessionKey} is taken`);
      throw error;
    }
    if (evicted.length > 0) await this.forgetEvicted(evicted);
    if (userId !== null) reportEvictions(this.config, this.engine, userId, evicted);
  }

  /** The cap's listing of a user's other sessions, oldest activity first. */
  private capStatement(): string {
    const [key, data, expire, user, activity] = ['sessionKey', 'sessionData', 'expireDate', 'userId', 'lastActivity'].map((p) => this.column(p));
    return `SELECT ${key} AS session_key, ${data} AS session_data FROM ${this.table} WHERE ${user} = ${this.placeholder(1)} AND ${expire} > ${this.placeholder(2)} ORDER BY ${activity} ASC`;
  }

  /**
   * Runs a transaction, holding the user's lock when `userId` is given. Its body is a generator that
   * yields each statement and gets its result back, so one body serves both kinds of driver:
   * better-sqlite3 runs the whole transaction synchronously on its one connection (no other
   * request's statement can land inside it, or be rolled back with it); elsewhere each statement is
   * awaited on a connection of the transaction's own, and on PostgreSQL an advisory transaction lock
   * on the user queues every instance's logins, key rotations and revocations of that user.
   */
  private async inUserTransaction<T>(userId: string | null, body: () => TransactionBody<T>): Promise<T> {
    const sqlite = this.sqliteDatabase();
    if (sqlite) {
      return sqlite.transaction(() => {
        const steps = body();
        let step = steps.next();
        while (!step.done) step = steps.next(runSqlite(sqlite.prepare(step.value.sql), step.value.parameters));
        return step.value;
      })();
    }
    return this.inTransaction(async (runner) => {
      if (this.isPostgres && userId !== null) await runner.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`user_session:${userId}`]);
      const steps = body();
      let step = steps.next();
      while (!step.done) step = steps.next(queryRunnerResult(await runner.query(step.value.sql, step.value.parameters, true)));
      return step.value;
    });
  }

  /** The better-sqlite3 database under the data source, when that is the driver. */
  private sqliteDatabase(): (SqliteDatabase & { transaction<T>(fn: () => T): () => T }) | undefined {
    const driver = this.dataSource.driver as unknown as { databaseConnection?: SqliteDatabase & { transaction<T>(fn: () => T): () => T } };
    return this.dataSource.options.type === 'better-sqlite3' ? driver.databaseConnection : undefined;
  }

  /** `work` in a transaction on a connection of its own, committed, or rolled back when it throws. */
  private async inTransaction<T>(work: (runner: QueryRunner) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner('master');
    try {
      await runner.connect();
      await runner.startTransaction();
      const result = await work(runner);
      await runner.commitTransaction();
      return result;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      throw error;
    } finally {
      await runner.release();
    }
  }

  /** After a cap eviction or a revocation deleted these rows: nothing more for db (cached_db also drops their cache entries). */
  protected forgetEvicted(_storedKeys: readonly string[]): Promise<void> {
    return Promise.resolve();
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
    return this.columnOf(this.metadata, propertyName);
  }

  private columnOf(metadata: EntityMetadata, propertyName: string): string {
    const column = metadata.findColumnWithPropertyName(propertyName);
    if (!column) throw new Error(`Session entity has no column for property "${propertyName}"`);
    return this.escape(column.databaseName);
  }

  private escape(name: string): string {
    return this.dataSource.driver.escape(name);
  }

  protected get table(): string {
    return this.escape(this.metadata.tableName);
  }

  protected get statements(): Statements {
    if (!this.#statements) {
      const [table, key, data, expire] = [this.table, this.column('sessionKey'), this.column('sessionData'), this.column('expireDate')];
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

  /**
   * A Date as a statement parameter. PostgreSQL: ISO 8601 in UTC, which the timestamptz column parses
   * (cheaper than the driver's own Date formatting, in local time). SQLite: UTC text with
   * milliseconds (`2030-01-01 00:00:00.123`), which Django parses and which TypeORM reads as UTC;
   * with Django's 6 digits TypeORM would read the row's expireDate in the server's local time.
   */
  toDatabaseDate(date: Date): string {
    const iso = date.toISOString();
    return this.isPostgres ? iso : `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
  }

  /** A stored date; an invalid Date for what no JavaScript date holds (the driver's Infinity for 'infinity', garbage text). */
  fromDatabaseDate(value: unknown): Date {
    if (value instanceof Date) return value;
    if (typeof value !== 'string') return new Date(NaN);
    return new Date(`${value.replace(' ', 'T')}${/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? '' : 'Z'}`);
  }

  /**
   * Runs one statement. On PostgreSQL and better-sqlite3 it goes straight to the driver as a prepared
   * statement (see `driverStatementRunner`), skipping the per-statement QueryRunner; TypeORM's logger
   * still sees every statement, its failures (thrown as QueryFailedError, like TypeORM) and slow ones.
   * Entity subscribers' beforeQuery/afterQuery events are not sent for session statements.
   */
  protected async execute(sql: string, parameters: unknown[]): Promise<StatementResult> {
    this.#runStatement ??= driverStatementRunner(this.dataSource);
    if (!this.#runStatement) return this.executeWithQueryRunner(sql, parameters);
    const { logger, options } = this.dataSource;
    logger.logQuery(sql, parameters);
    const slowAfter = options.maxQueryExecutionTime;
    const startedAt = slowAfter ? Date.now() : 0;
    let result: StatementResult;
    try {
      result = await this.#runStatement(sql, parameters);
    } catch (error) {
      logger.logQueryError(error as Error, sql, parameters);
      throw new QueryFailedError(sql, parameters, error as Error);
    }
    const elapsed = slowAfter ? Date.now() - startedAt : 0;
    if (slowAfter && elapsed > slowAfter) logger.logQuerySlow(elapsed, sql, parameters);
    return result;
  }

  /** Other drivers: a TypeORM QueryRunner per statement (it logs the statement itself). */
  private async executeWithQueryRunner(sql: string, parameters: unknown[]): Promise<StatementResult> {
    const runner = this.dataSource.createQueryRunner('master');
    try {
      return queryRunnerResult(await runner.query(sql, parameters, true));
    } finally {
      await runner.release();
    }
  }

  /** What the key column holds for a session key: the key, or its digest with `hashKeysAtRest`. */
  storedKey(sessionKey: string): string {
    return this.config.hashKeysAtRest ? hashSessionKey(sessionKey) : sessionKey;
  }

  /**
   * PostgreSQL (`batchStoreCalls`): the loads and the saves of concurrent requests go out together,
   * one statement of each kind per event-loop turn (batching.ts): one round trip and, for saves, one
   * commit — one WAL flush — for all of them. A turn with a single request sends Django's own
   * single-row statement. Null on other databases: SQLite has no round trip to share.
   */
  private get batches() {
    if (this.#batches === undefined) {
      this.#batches =
        this.isPostgres && this.config.batchStoreCalls
          ? {
              loads: batchPerTurn({ one: (key: string) => this.loadOne(key), many: (keys) => this.loadMany(keys), onShared: (size) => this.config.telemetry?.batch(this.engine, 'load', size) }),
              updates: batchPerTurn({ one: (row: SessionRow) => this.updateOne(row), many: (rows) => this.updateMany(rows), onShared: (size) => this.config.telemetry?.batch(this.engine, 'update', size) }),
            }
          : null;
    }
    return this.#batches;
  }

  /** The unexpired row of this key, if any. */
  async loadRow(sessionKey: string): Promise<LoadedRow | null> {
    const key = this.storedKey(sessionKey);
    const row = this.batches ? await this.batches.loads.load(key) : await this.loadOne(key);
    if (!row) return this.takeFromPreviousTable(key);
    const expireDate = this.fromDatabaseDate(row.expire_date);
    return { sessionData: String(row.session_data), expireDate: Number.isNaN(expireDate.getTime()) ? null : expireDate };
  }

  private async loadOne(storedKey: string): Promise<ObjectLiteral | undefined> {
    return (await this.execute(this.statements.load, [storedKey, this.toDatabaseDate(new Date())])).records[0];
  }

  private async loadMany(storedKeys: readonly string[]): Promise<(ObjectLiteral | undefined)[]> {
    const { records } = await this.execute(this.statements.loadMany, [[...new Set(storedKeys)], this.toDatabaseDate(new Date())]);
    const byKey = new Map(records.map((record) => [record.session_key as string, record]));
    return storedKeys.map((key) => byKey.get(key));
  }

  /** Of these keys, those with an unexpired row here or (after a `userSessions` switch) in the previous table: one SELECT per 500 keys. */
  override async liveKeys(sessionKeys: readonly string[]): Promise<Set<string>> {
    const keyOf = new Map(sessionKeys.map((key) => [this.storedKey(key), key]));
    const live = new Set<string>();
    const now = this.toDatabaseDate(new Date());
    for (const metadata of this.#previous ? [this.metadata, this.#previous] : [this.metadata]) {
      const [table, key, expire] = [this.escape(metadata.tableName), this.columnOf(metadata, 'sessionKey'), this.columnOf(metadata, 'expireDate')];
      const pending = [...keyOf.keys()].filter((stored) => !live.has(keyOf.get(stored)!));
      for (let start = 0; start < pending.length; start += LIVE_KEYS_PER_STATEMENT) {
        const chunk = pending.slice(start, start + LIVE_KEYS_PER_STATEMENT);
        const { records } = this.isPostgres
          ? await this.execute(`SELECT ${key} AS session_key FROM ${table} WHERE ${key} = ANY($1) AND ${expire} > $2`, [chunk, now])
          : await this.execute(`SELECT ${key} AS session_key FROM ${table} WHERE ${key} IN (${chunk.map(() => '?').join(', ')}) AND ${expire} > ?`, [...chunk, now]);
        for (const record of records) live.add(keyOf.get(String(record.session_key))!);
      }
    }
    return live;
  }

  /** Whether a row has this key, expired or not (Django's `exists`). */
  async existsRow(sessionKey: string): Promise<boolean> {
    const { records } = await this.execute(this.statements.exists, [this.storedKey(sessionKey)]);
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
    const key = this.storedKey(row.sessionKey);
    return { sql, parameters: kind === 'insert' ? [key, ...values] : [...values, key] };
  }

  /** INSERT; false when the key is already taken. */
  async insertRow(row: SessionRow): Promise<boolean> {
    const { sql, parameters } = this.writeStatement('insert', row);
    try {
      await this.execute(sql, parameters);
      return true;
    } catch (error) {
      if (UNIQUE_VIOLATIONS.has(driverErrorCode(error))) return false;
      throw error;
    }
  }

  /** UPDATE of an existing row; returns the number of rows changed (0: the row is gone). */
  async updateRow(row: SessionRow): Promise<number> {
    // Rows with a custom entity's extra columns are written one by one (the batch writes Django's columns).
    const affected = this.batches && Object.keys(row).join(',') === DJANGO_ROW_PROPERTIES ? await this.batches.updates.load(row) : await this.updateOne(row);
    // A session read from elsewhere (cached_db's cache) whose row is still in the previous table: moved, then updated.
    if (affected === 0 && this.#previous && (await this.takeFromPreviousTable(this.storedKey(row.sessionKey)))) return this.updateOne(row);
    return affected;
  }

  private async updateOne(row: SessionRow): Promise<number> {
    const { sql, parameters } = this.writeStatement('update', row);
    return (await this.execute(sql, parameters)).affected;
  }

  private async updateMany(rows: readonly SessionRow[]): Promise<number[]> {
    const storedKeys = rows.map((row) => this.storedKey(row.sessionKey));
    // A session saved twice in one batch: the later save wins, as it would one after the other.
    const latest = new Map(rows.map((row, i) => [storedKeys[i], row]));
    // Rows in key order, so that overlapping batches of several processes take their locks in one order.
    const keys = [...latest.keys()].sort();
    const parameters = [keys, keys.map((key) => latest.get(key)!.sessionData), keys.map((key) => this.toDatabaseDate(latest.get(key)!.expireDate))];
    // A failure (a deadlock, should the planner lock rows in another order; one row's bad value) sends each row alone (batchPerTurn).
    const updated = new Set((await this.execute(this.statements.updateMany, parameters)).records.map((record) => record.session_key));
    return storedKeys.map((key) => (updated.has(key) ? 1 : 0));
  }

  async deleteRow(sessionKey: string): Promise<void> {
    await this.execute(this.statements.delete, [this.storedKey(sessionKey)]);
  }

  /**
   * Django's `DELETE ... WHERE expire_date < now` (strict, `now` fixed at the start), in bounded
   * batches taken in expire_date index order: each batch is its own short statement, so none holds
   * locks or bloats the table for long. On PostgreSQL, `FOR UPDATE SKIP LOCKED` makes overlapping
   * cleaners skip each other's rows instead of waiting on them.
   */
  override async clearExpired({ batchSize = this.config.clearExpired.batchSize, onProgress }: ClearExpiredRunOptions = {}): Promise<number> {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${String(batchSize)}`);
    const progress: ClearExpiredProgress = { batches: 0, deleted: 0 };
    await this.clearExpiredIn(this.metadata, batchSize, progress, onProgress);
    if (this.#previous) {
      await this.clearExpiredIn(this.#previous, batchSize, progress, onProgress);
      await this.detectPreviousTable(); // the previous table is done with once no live session is left there
    }
    return progress.deleted;
  }

  private async clearExpiredIn(metadata: EntityMetadata, batchSize: number, progress: ClearExpiredProgress, onProgress: ClearExpiredRunOptions['onProgress']): Promise<void> {
    const [table, key, expire] = [this.escape(metadata.tableName), this.columnOf(metadata, 'sessionKey'), this.columnOf(metadata, 'expireDate')];
    // PostgreSQL: the rows are picked by physical address (ctid), which cannot change while this
    // statement holds their lock: no second index lookup per row (batches ~3x faster than by key).
    const sql = this.isPostgres
      ? `DELETE FROM ${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE ${expire} < $1 ORDER BY ${expire} LIMIT ${batchSize} FOR UPDATE SKIP LOCKED))`
      : `DELETE FROM ${table} WHERE ${key} IN (SELECT ${key} FROM ${table} WHERE ${expire} < ? ORDER BY ${expire} LIMIT ${batchSize})`;
    const now = this.toDatabaseDate(new Date());
    for (;;) {
      const { affected } = await this.execute(sql, [now]);
      progress.batches += 1;
      progress.deleted += affected;
      onProgress?.({ ...progress });
      if (affected < batchSize) return;
    }
  }
}
