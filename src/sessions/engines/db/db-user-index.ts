/**
 * The user index of the db engines (`userSessions`; no Django counterpart: Django's
 * `django/contrib/sessions/backends/db.py` has no index, django-user-sessions has one): each row's
 * user, client and activity in the session table itself; a user's sessions listed and revoked; and
 * the writes that must be one transaction under the user's lock: a login within
 * `maxSessionsPerUser`, a cycleKey's new row with the replaced row's delete (with or without the
 * index).
 */
import { Logger } from '@nestjs/common';
import type { ObjectLiteral } from 'typeorm';
import { CreateError, ReplacedKeyGoneError, UpdateError } from '../../session.errors';
import type { SessionClient, SessionData } from '../../session';
import type { SessionsConfig } from '../../sessions.options';
import { USER_AGENT_MAX_LENGTH } from '../../user-sessions/user-session.entity';
import { reportEvictions, sessionsToEvict } from '../../user-sessions/session-cap';
import { ActivityThrottle } from '../../user-sessions/activity-throttle';
import { byRecentActivity, type UserSessionRow } from '../../user-sessions/user-session-index';
import { fromDatabaseDate, type SessionRow, type SessionTable } from './session-table';
import { isUniqueViolation, type RunStatement, type Statement, type StatementRunner } from './statement-runner';
import type { TransactionalWrite } from './db-session';

/** What the index uses of its store (DbSessionStore). */
export interface IndexedStore {
  readonly config: SessionsConfig;
  readonly engine: string;
  readonly table: SessionTable;
  readonly runner: StatementRunner;
  /** The store's `execute`. */
  readonly run: RunStatement;
  storedKey(sessionKey: string): string;
  decode(sessionData: string): SessionData;
  /** After a cap eviction or a revocation deleted these rows (cached_db drops their cache entries). */
  forgetEvicted(storedKeys: readonly string[]): Promise<void>;
}

export class DbUserIndex {
  readonly #activity: ActivityThrottle;

  constructor(private readonly store: IndexedStore) {
    this.#activity = new ActivityThrottle(store.config.userSessions?.activityInterval ?? 0);
  }

  /**
   * Records a use of a signed-in session: `last_activity`, with the request's address and user
   * agent, is set when older than `activityInterval` (0: on every use), by one conditional UPDATE
   * that another process cannot repeat within the interval either. Failures are the session's own
   * business: logged, never the request's error.
   */
  noteActivity(sessionKey: string, client: SessionClient | undefined): void {
    if (!this.#activity.due(sessionKey)) return;
    const { table, config } = this.store;
    const interval = config.userSessions?.activityInterval ?? 0;
    const now = Date.now();
    const [activity, ip, agent, key] = ['lastActivity', 'ip', 'userAgent', 'sessionKey'].map((p) => table.column(p));
    const p = (index: number) => table.placeholder(index);
    const sql =
      `UPDATE ${table.name} SET ${activity} = ${p(1)}, ${ip} = COALESCE(${p(2)}, ${ip}), ${agent} = COALESCE(${p(3)}, ${agent}) ` +
      `WHERE ${key} = ${p(4)} AND (${activity} IS NULL OR ${activity} <= ${p(5)})`;
    const parameters = [
      table.toDatabaseDate(new Date(now)),
      client?.ip ?? null,
      client?.userAgent?.slice(0, USER_AGENT_MAX_LENGTH) ?? null,
      this.store.storedKey(sessionKey),
      table.toDatabaseDate(new Date(now - interval * 1000)),
    ];
    this.store
      .run(sql, parameters)
      .catch((error: Error) => new Logger('Sessions').warn(`Could not record a session's activity: ${error.message}`));
  }

  /** The listing of a user's live sessions (with their data, for the verifier). */
  private userRowsStatement(userId: string): Statement {
    const { table } = this.store;
    const [key, data, expire, user, ip, agent, created, activity] = [
      'sessionKey',
      'sessionData',
      'expireDate',
      'userId',
      'ip',
      'userAgent',
      'created',
      'lastActivity',
    ].map((p) => table.column(p));
    return {
      sql:
        `SELECT ${key} AS session_key, ${data} AS session_data, ${expire} AS expire_date, ${ip} AS ip, ${agent} AS user_agent, ${created} AS created, ${activity} AS last_activity ` +
        `FROM ${table.name} WHERE ${user} = ${table.placeholder(1)} AND ${expire} > ${table.placeholder(2)}`,
      parameters: [userId, table.toDatabaseDate(new Date())],
    };
  }

  /** Rows of `userRowsStatement`, most recently active first. */
  private userRows(records: readonly ObjectLiteral[]): UserSessionRow[] {
    const date = (value: unknown) => (value === null || value === undefined ? null : fromDatabaseDate(value));
    return records
      .map((record) => ({
        storedKey: String(record.session_key),
        expireDate: date(record.expire_date),
        ip: (record.ip as string | null) ?? null,
        userAgent: (record.user_agent as string | null) ?? null,
        created: date(record.created),
        lastActivity: date(record.last_activity),
        data: this.store.decode(String(record.session_data)),
      }))
      .sort(byRecentActivity);
  }

  async userSessionRows(userId: string): Promise<UserSessionRow[]> {
    const { sql, parameters } = this.userRowsStatement(userId);
    return this.userRows((await this.store.run(sql, parameters)).records);
  }

  async revokeWhere(userId: string, choose: (rows: UserSessionRow[]) => string[]): Promise<string[]> {
    const { statements } = this.store.table;
    const rowsStatement = () => this.userRowsStatement(userId);
    const rowsOf = (records: readonly ObjectLiteral[]) => this.userRows(records);
    const chosen = await this.store.runner.transaction(userLock(userId), function* () {
      const picked = choose(rowsOf((yield rowsStatement()).records));
      for (const storedKey of picked) yield { sql: statements.delete, parameters: [storedKey] };
      return picked;
    });
    await this.store.forgetEvicted(chosen);
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
  async writeInTransaction(row: SessionRow, write: TransactionalWrite): Promise<void> {
    const { store } = this;
    const { mustCreate, userId, cap, replacedKey } = write;
    const own = new Set(write.ownKeys.flatMap((key) => (key === null ? [] : [store.storedKey(key)])));
    const signedIn = cap && userId !== null ? await store.config.users.signedInTest(userId) : null;
    const others = signedIn ? this.capStatement() : '';
    const statement = store.table.writeStatement(mustCreate ? 'insert' : 'update', row, store.storedKey(row.sessionKey));
    const { statements } = store.table;
    let evicted: string[];
    try {
      evicted = await store.runner.transaction(userLock(userId), function* () {
        let chosen: string[] = [];
        if (signedIn) {
          // The user's other sessions that still sign in as the user, oldest activity first.
          const counted = (yield { sql: others, parameters: [userId, store.table.toDatabaseDate(new Date())] }).records
            .filter((record) => !own.has(String(record.session_key)) && signedIn(store.decode(String(record.session_data))))
            .map((record) => String(record.session_key));
          chosen = sessionsToEvict(counted, store.config);
        }
        for (const storedKey of chosen) yield { sql: statements.delete, parameters: [storedKey] };
        if ((yield statement).affected === 0 && !mustCreate) throw new UpdateError('The session row no longer exists');
        if (replacedKey !== null && (yield { sql: statements.delete, parameters: [store.storedKey(replacedKey)] }).affected === 0)
          throw new ReplacedKeyGoneError();
        return chosen;
      });
    } catch (error) {
      if (mustCreate && isUniqueViolation(error)) throw new CreateError(`Session key ${row.sessionKey} is taken`);
      throw error;
    }
    if (evicted.length > 0) await store.forgetEvicted(evicted);
    if (userId !== null) reportEvictions(store.config, store.engine, userId, evicted);
  }

  /** The cap's listing of a user's other sessions, oldest activity first. */
  private capStatement(): string {
    const { table } = this.store;
    const [key, data, expire, user, activity] = ['sessionKey', 'sessionData', 'expireDate', 'userId', 'lastActivity'].map((p) =>
      table.column(p),
    );
    return `SELECT ${key} AS session_key, ${data} AS session_data FROM ${table.name} WHERE ${user} = ${table.placeholder(1)} AND ${expire} > ${table.placeholder(2)} ORDER BY ${activity} ASC`;
  }
}

/** The transaction lock of a user's sessions (PostgreSQL's advisory lock; none for a row without a user). */
function userLock(userId: string | null): string | null {
  return userId === null ? null : `user_session:${userId}`;
}
