/**
 * The db engine's own machinery around Django's table, at the store, on SQLite and PostgreSQL: the
 * start-up check (a missing table or column stops the app naming what to run), the statements
 * (TypeORM's logger sees each, a failure is thrown as QueryFailedError, a slow one is logged),
 * transactions (all or nothing; on PostgreSQL a named lock queues them), clearExpired's batches and
 * progress, liveKeys over many keys, and the previous table of a `userSessions` switch.
 */
import { Logger } from '@nestjs/common';
import { DataSource, Entity, QueryFailedError, type DataSourceOptions, type Logger as TypeOrmLogger } from 'typeorm';
import {
  AbstractBaseSession,
  DbSessionStore,
  resolveSessionsOptions,
  SessionEntity,
  sessionMigrations,
  SessionTableMissingError,
  UserSessionEntity,
  userSessionMigrations,
  type ClearExpiredProgress,
  type SessionsModuleOptions,
} from '../../src/sessions';
import { isUniqueViolation, StatementRunner, type Statement } from '../../src/sessions/engines/db/statement-runner';
import { createTestDatabase, DATABASE_KINDS, type DatabaseKind, type TestDatabase } from '../support/databases';

const SECRET_KEY = 'db-table-tests-secret-key';

/** A custom entity (Django's `get_model_class` override) on a table of its own. */
@Entity({ name: 'own_session' })
class OwnSession extends AbstractBaseSession {}

class OwnSessionStore extends DbSessionStore {
  override getModelClass() {
    return OwnSession;
  }
}

/** A TypeORM logger keeping what the db engine reports of its statements. */
class StatementLog implements TypeOrmLogger {
  readonly queries: { sql: string; parameters?: unknown[] }[] = [];
  readonly errors: { error: string | Error; sql: string; parameters?: unknown[] }[] = [];
  readonly slow: { time: number; sql: string }[] = [];

  logQuery(sql: string, parameters?: unknown[]): void {
    this.queries.push({ sql, parameters });
  }
  logQueryError(error: string | Error, sql: string, parameters?: unknown[]): void {
    this.errors.push({ error, sql, parameters });
  }
  logQuerySlow(time: number, sql: string): void {
    this.slow.push({ time, sql });
  }
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

/** A statement the database takes ≥ 30 ms over, on either kind. */
const slowStatement = (kind: DatabaseKind) =>
  kind === 'postgres'
    ? 'SELECT pg_sleep(0.03) IS NULL AS done'
    : 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) SELECT COUNT(*) AS done FROM c';

describe.each(DATABASE_KINDS)('the db engine on %s', (kind) => {
  let database: TestDatabase;
  const open: DataSource[] = [];

  /** A DataSource on this test file's database (`migrate`: with both session tables). */
  async function dataSourceWith(extra: Partial<DataSourceOptions> = {}, migrate = true): Promise<DataSource> {
    const dataSource = new DataSource({
      ...database.options,
      entities: [SessionEntity, UserSessionEntity],
      migrations: [...sessionMigrations, ...userSessionMigrations],
      ...extra,
    } as DataSourceOptions);
    await dataSource.initialize();
    open.push(dataSource);
    if (migrate) await dataSource.runMigrations();
    return dataSource;
  }

  const storeOn = (dataSource: DataSource, options: Partial<SessionsModuleOptions> = {}) =>
    new DbSessionStore(resolveSessionsOptions({ secretKey: SECRET_KEY, clearExpired: { cron: false }, ...options }), dataSource);

  const placeholder = (index: number) => (kind === 'postgres' ? `$${index}` : '?');
  const dateParameter = (date: Date) => (kind === 'postgres' ? date.toISOString() : date.toISOString().replace('T', ' ').slice(0, 23));

  /** Writes rows straight into a session table: `[key, seconds from now]` each. */
  async function insertRows(dataSource: DataSource, table: string, rows: [string, number][]): Promise<void> {
    for (const [key, seconds] of rows) {
      await dataSource.query(
        `INSERT INTO ${table} (session_key, session_data, expire_date) VALUES (${placeholder(1)}, ${placeholder(2)}, ${placeholder(3)})`,
        [key, storeOn(dataSource).session().encode({ key }), dateParameter(new Date(Date.now() + seconds * 1000))],
      );
    }
  }

  const keysIn = async (dataSource: DataSource, table: string) =>
    (await dataSource.query<{ session_key: string }[]>(`SELECT session_key FROM ${table} ORDER BY session_key`)).map((r) => r.session_key);

  beforeAll(async () => {
    database = await createTestDatabase(kind, [SessionEntity, UserSessionEntity]);
  });
  afterEach(async () => {
    for (const dataSource of open.splice(0)) if (dataSource.isInitialized) await dataSource.destroy();
    jest.restoreAllMocks();
  });
  afterAll(() => database?.drop());

  describe('the start-up check', () => {
    let bare: DataSource;
    const dropSessionTable = async (dataSource: DataSource) => void (await dataSource.query('DROP TABLE IF EXISTS django_session'));
    beforeEach(async () => {
      bare = await dataSourceWith({}, false);
      await dropSessionTable(bare);
    });
    // The migrations that the later tests run create Django's table again (synchronize's is not Django's).
    afterAll(async () => dropSessionTable(await dataSourceWith({}, false)));

    it('a missing table stops start-up with SessionTableMissingError naming the engine, the table and what to run', async () => {
      const failure = (await storeOn(bare)
        .verify()
        .catch((error: unknown) => error)) as Error;
      expect(failure).toBeInstanceOf(SessionTableMissingError);
      expect(failure.message).toMatch(/^The db session engine's table "django_session" is missing or lacks Django's columns \(/);
      expect(failure.message).toContain(kind === 'postgres' ? 'relation "django_session" does not exist' : 'no such table: django_session');
      expect(failure.message).toContain('migrations: [...sessionMigrations], migrationsRun: true');
      expect(failure.message).toContain('manage.py migrate sessions');
    });

    it("a table without one of Django's columns is refused the same way; with the three columns, start-up goes on", async () => {
      await bare.query('CREATE TABLE django_session (session_key varchar(40) PRIMARY KEY, session_data text NOT NULL)');
      const failure = (await storeOn(bare)
        .verify()
        .catch((error: unknown) => error)) as Error;
      expect(failure).toBeInstanceOf(SessionTableMissingError);
      expect(failure.message).toContain(kind === 'postgres' ? 'column "expire_date" does not exist' : 'no such column: "expire_date"');

      await bare.query(
        `ALTER TABLE django_session ADD COLUMN expire_date ${kind === 'postgres' ? 'timestamp with time zone' : 'datetime'}`,
      );
      await expect(storeOn(bare).verify()).resolves.toBeUndefined();
    });

    it('any other failure is thrown as it is', async () => {
      await bare.destroy();
      const failure = await storeOn(bare)
        .verify()
        .catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(Error);
      expect(failure).not.toBeInstanceOf(SessionTableMissingError);
    });

    it("TypeORM's synchronize is warned of once, at start-up, naming the table", async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      const synchronized = await dataSourceWith({ synchronize: true, entities: [SessionEntity] }, false);
      await storeOn(synchronized).verify();
      expect(warn.mock.calls.map(([message]) => String(message))).toEqual([
        expect.stringMatching(/^TypeORM synchronize is on: it builds "django_session" with TypeORM's column types, not Django's/),
      ]);
      warn.mockClear();
      await storeOn(await dataSourceWith({}, false)).verify();
      expect(warn).not.toHaveBeenCalled();
    });
  });

  describe('statements', () => {
    it("each reaches TypeORM's logger with its parameters; a read answers its records, a write the rows it changed", async () => {
      const log = new StatementLog();
      const runner = new StatementRunner(await dataSourceWith({ logging: true, logger: log }));
      const insert = `INSERT INTO django_session (session_key, session_data, expire_date) VALUES (${placeholder(1)}, 'x', ${placeholder(2)})`;
      const future = dateParameter(new Date(Date.now() + 60_000));
      for (const key of ['a', 'b', 'c']) expect(await runner.run(insert, [key, future])).toEqual({ records: [], affected: 1 });
      log.queries.length = 0;

      const update = `UPDATE django_session SET session_data = ${placeholder(1)} WHERE session_key <> ${placeholder(2)}`;
      expect(await runner.run(update, ['y', 'c'])).toEqual({ records: [], affected: 2 });
      const select = `SELECT session_key, session_data FROM django_session WHERE session_data = ${placeholder(1)} ORDER BY session_key`;
      expect((await runner.run(select, ['y'])).records).toEqual([
        { session_key: 'a', session_data: 'y' },
        { session_key: 'b', session_data: 'y' },
      ]);
      expect(log.queries).toEqual([
        { sql: update, parameters: ['y', 'c'] },
        { sql: select, parameters: ['y'] },
      ]);
      expect(log.errors).toEqual([]);
    });

    it('statements of different text never share a prepared statement, however often they run; SQLite binds booleans as 1 and 0', async () => {
      const runner = new StatementRunner(await dataSourceWith());
      const cast = kind === 'postgres' ? '::int' : '';
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) => runner.run(`SELECT ${i % 3}${cast} + ${placeholder(1)}${cast} AS n`, [i])),
      );
      expect(answers.map(({ records }) => Number(records[0].n))).toEqual(Array.from({ length: 30 }, (_, i) => (i % 3) + i));
      if (kind === 'sqlite') expect((await runner.run('SELECT ? AS yes, ? AS no', [true, false])).records).toEqual([{ yes: 1, no: 0 }]);
    });

    it('a failure is logged with its statement and thrown as QueryFailedError carrying the driver error', async () => {
      const log = new StatementLog();
      const runner = new StatementRunner(await dataSourceWith({ logging: true, logger: log }));
      const sql = `SELECT * FROM no_such_table WHERE id = ${placeholder(1)}`;
      const failure = (await runner.run(sql, [7]).catch((error: unknown) => error)) as QueryFailedError;
      expect(failure).toBeInstanceOf(QueryFailedError);
      expect(failure.query).toBe(sql);
      expect(failure.parameters).toEqual([7]);
      expect(failure.message).toMatch(kind === 'postgres' ? /relation "no_such_table" does not exist/ : /no such table: no_such_table/);
      expect(log.errors).toEqual([{ error: failure.driverError, sql, parameters: [7] }]);
      expect(log.slow).toEqual([]);
    });

    it('a statement slower than maxQueryExecutionTime is logged as slow with its time; none is without the option or under it', async () => {
      const sql = slowStatement(kind);
      const logs: StatementLog[] = [];
      for (const maxQueryExecutionTime of [5, undefined, 60_000]) {
        const log = new StatementLog();
        logs.push(log);
        await new StatementRunner(await dataSourceWith({ logging: true, logger: log, maxQueryExecutionTime }, false)).run(sql, []);
      }
      expect(logs[0].slow).toEqual([{ time: expect.any(Number) as number, sql }]);
      expect(logs[0].slow[0].time).toBeGreaterThan(5);
      expect([logs[1].slow, logs[2].slow]).toEqual([[], []]);
    });
  });

  describe('transactions', () => {
    const row = (key: string): Statement => ({
      sql: `INSERT INTO django_session (session_key, session_data, expire_date) VALUES (${placeholder(1)}, 'x', ${placeholder(2)})`,
      parameters: [key, dateParameter(new Date(Date.now() + 60_000))],
    });

    it("commit every statement, each answered with its result, and return the body's value", async () => {
      const dataSource = await dataSourceWith();
      await dataSource.query('DELETE FROM django_session');
      const answered = await new StatementRunner(dataSource).transaction(null, function* () {
        const first = yield row('t1');
        const second = yield row('t2');
        const { records } = yield { sql: 'SELECT COUNT(*) AS n FROM django_session', parameters: [] };
        return [first.affected, second.affected, Number(records[0].n)];
      });
      expect(answered).toEqual([1, 1, 2]);
      expect(await keysIn(dataSource, 'django_session')).toEqual(['t1', 't2']);
    });

    it('roll back every statement when one fails, and throw its error', async () => {
      const dataSource = await dataSourceWith();
      await dataSource.query('DELETE FROM django_session');
      await insertRows(dataSource, 'django_session', [['taken', 60]]);
      const failure = await new StatementRunner(dataSource)
        .transaction('a-lock', function* () {
          yield row('new');
          yield row('taken');
        })
        .catch((error: unknown) => error);
      expect(isUniqueViolation(failure)).toBe(true);
      expect(await keysIn(dataSource, 'django_session')).toEqual(['taken']);
    });

    if (kind === 'postgres') {
      it('with a named lock, queue behind each other across connections; with none or another name, overlap', async () => {
        const runner = new StatementRunner(await dataSourceWith());
        const timed = (lock: string | null) =>
          runner.transaction(lock, function* () {
            const start = yield { sql: 'SELECT clock_timestamp() AS t', parameters: [] };
            yield { sql: 'SELECT pg_sleep(0.3)', parameters: [] };
            const end = yield { sql: 'SELECT clock_timestamp() AS t', parameters: [] };
            return [new Date(start.records[0].t as Date).getTime(), new Date(end.records[0].t as Date).getTime()];
          });
        const queued = await Promise.all([timed('user:1'), timed('user:1')]);
        const [first, second] = queued.sort((a, b) => a[0] - b[0]);
        expect(second[0]).toBeGreaterThanOrEqual(first[1]);
        for (const locks of [
          [null, null],
          ['user:1', 'user:2'],
        ]) {
          const [a, b] = (await Promise.all(locks.map(timed))).sort((x, y) => x[0] - y[0]);
          expect(b[0]).toBeLessThan(a[1]);
        }
      });
    }
  });

  describe('clearExpired', () => {
    it('deletes the expired rows in batches of batchSize, reporting the running totals after each', async () => {
      const dataSource = await dataSourceWith();
      await dataSource.query('DELETE FROM django_session');
      await insertRows(dataSource, 'django_session', [
        ...Array.from({ length: 5 }, (_, i): [string, number] => [`expired${i}`, -60 - i]),
        ['live', 60],
      ]);
      const store = storeOn(dataSource);
      const progress: ClearExpiredProgress[] = [];
      expect(await store.clearExpired({ batchSize: 2, onProgress: (p) => progress.push(p) })).toBe(5);
      expect(progress).toEqual([
        { batches: 1, deleted: 2 },
        { batches: 2, deleted: 4 },
        { batches: 3, deleted: 5 },
      ]);
      expect(await keysIn(dataSource, 'django_session')).toEqual(['live']);

      // A full last batch needs one more, empty, statement to know it was the last.
      await insertRows(dataSource, 'django_session', [
        ['expired-a', -1],
        ['expired-b', -1],
      ]);
      progress.length = 0;
      expect(await store.clearExpired({ batchSize: 2, onProgress: (p) => progress.push(p) })).toBe(2);
      expect(progress).toEqual([
        { batches: 1, deleted: 2 },
        { batches: 2, deleted: 2 },
      ]);
    });

    it.each([0, -1, 1.5, Number.NaN, '2'])('refuses batchSize %p with RangeError, deleting nothing', async (batchSize) => {
      const dataSource = await dataSourceWith();
      await dataSource.query('DELETE FROM django_session');
      await insertRows(dataSource, 'django_session', [['expired', -60]]);
      await expect(storeOn(dataSource).clearExpired({ batchSize: batchSize as number })).rejects.toThrow(
        `batchSize must be a positive integer, got ${String(batchSize)}`,
      );
      expect(await keysIn(dataSource, 'django_session')).toEqual(['expired']);
    });
  });

  it.each([
    [1001, [500, 500, 1]],
    [1000, [500, 500]],
  ])('liveKeys answers which of %i keys have an unexpired row, one statement per 500 keys', async (count, perStatement) => {
    const log = new StatementLog();
    const dataSource = await dataSourceWith({ logging: true, logger: log });
    await dataSource.query('DELETE FROM django_session');
    const keys = Array.from({ length: count }, (_, i) => `k${String(i).padStart(4, '0')}`);
    const last = keys[count - 1];
    await insertRows(dataSource, 'django_session', [
      ['k0000', 60],
      ['k0499', 60],
      ['k0500', 60],
      [last, 60],
      ['k0001', -60],
    ]);
    log.queries.length = 0;
    const live = await storeOn(dataSource).liveKeys(keys);
    expect([...live].sort()).toEqual(['k0000', 'k0499', 'k0500', last]);
    expect(
      log.queries.map(({ parameters }) => (kind === 'postgres' ? (parameters![0] as string[]).length : parameters!.length - 1)),
    ).toEqual(perStatement);
  });

  describe('the previous table of a userSessions switch', () => {
    let dataSource: DataSource;
    beforeEach(async () => {
      dataSource = await dataSourceWith();
      await dataSource.query('DELETE FROM django_session');
      await dataSource.query('DELETE FROM user_session');
    });

    it("a live session left in django_session moves to user_session at its first use, indexed by its user; the other one's rows stay", async () => {
      const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
      const before = storeOn(dataSource);
      const alice = before.session();
      alice.set('_auth_user_id', '42');
      await alice.save();
      const bob = before.session();
      bob.set('n', 1);
      await bob.save();

      const after = storeOn(dataSource, { userSessions: {} });
      await after.verify();
      expect(log.mock.calls.map(([message]) => String(message))).toEqual([
        'Sessions left in "django_session" (userSessions was switched) move to "user_session" at their next use; clearsessions purges both',
      ]);
      const loaded = await after.session(alice.sessionKey).ensureLoaded();
      expect(loaded.getItem('_auth_user_id')).toBe('42');
      expect(await keysIn(dataSource, 'django_session')).toEqual([bob.sessionKey]);
      const [moved] = await dataSource.query<Record<string, unknown>[]>('SELECT session_key, user_id, last_activity FROM user_session');
      expect(moved).toMatchObject({ session_key: alice.sessionKey, user_id: '42' });
      expect(moved.last_activity).not.toBeNull();
      expect((await after.userSessionRows('42')).map((r) => r.storedKey)).toEqual([alice.sessionKey]);

      // A save of a session read elsewhere (cached_db's cache) also moves its row first.
      const bobAgain = after.session(bob.sessionKey);
      await expect(
        after.updateRow({ sessionKey: bob.sessionKey!, sessionData: bobAgain.encode({ n: 2 }), expireDate: new Date(Date.now() + 60_000) }),
      ).resolves.toBe(1);
      expect(await keysIn(dataSource, 'django_session')).toEqual([]);
      expect((await after.session(bob.sessionKey).ensureLoaded()).getItem('n')).toBe(2);
    });

    it("the way back moves user_session's rows to django_session without user columns, and two loads racing for one row both get it", async () => {
      const indexed = storeOn(dataSource, { userSessions: {} });
      const session = indexed.session();
      session.set('n', 7);
      await session.save();

      const plain = storeOn(dataSource);
      await plain.verify();
      const [first, second] = await Promise.all([plain.loadRow(session.sessionKey!), plain.loadRow(session.sessionKey!)]);
      expect([first, second].map((row) => row && plain.getDecoded(row))).toEqual([{ n: 7 }, { n: 7 }]);
      expect(await keysIn(dataSource, 'user_session')).toEqual([]);
      expect(await keysIn(dataSource, 'django_session')).toEqual([session.sessionKey]);
    });

    it('only live rows count: a table of expired rows is no previous table, and its rows are never moved', async () => {
      await insertRows(dataSource, 'django_session', [['expiredkey0000000000000000000000', -60]]);
      const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
      const store = storeOn(dataSource, { userSessions: {} });
      await store.verify();
      expect(log).not.toHaveBeenCalled();
      expect(await store.loadRow('expiredkey0000000000000000000000')).toBeNull();
      expect(await keysIn(dataSource, 'django_session')).toEqual(['expiredkey0000000000000000000000']);
    });

    it('an expired row in a previous table that still holds live ones is not moved either', async () => {
      await insertRows(dataSource, 'django_session', [
        ['livekey000000000000000000000000', 60],
        ['expiredkey0000000000000000000000', -60],
      ]);
      const store = storeOn(dataSource, { userSessions: {} });
      await store.verify();
      expect(await store.loadRow('expiredkey0000000000000000000000')).toBeNull();
      expect(await store.loadRow('livekey000000000000000000000000')).not.toBeNull();
      expect(await keysIn(dataSource, 'django_session')).toEqual(['expiredkey0000000000000000000000']);
      expect(await keysIn(dataSource, 'user_session')).toEqual(['livekey000000000000000000000000']);
    });

    it('clearExpired purges both tables, then forgets the previous one once no live session is left there', async () => {
      await insertRows(dataSource, 'django_session', [
        ['livekey000000000000000000000000', 60],
        ['expiredkey0000000000000000000000', -60],
      ]);
      await insertRows(dataSource, 'user_session', [['expiredkey1111111111111111111111', -60]]);
      const store = storeOn(dataSource, { userSessions: {} });
      await store.verify();
      expect(await store.clearExpired()).toBe(2);
      expect(await keysIn(dataSource, 'django_session')).toEqual(['livekey000000000000000000000000']);

      // Once the last one has expired and been purged, django_session is no longer read.
      await dataSource.query(`UPDATE django_session SET expire_date = ${placeholder(1)}`, [dateParameter(new Date(Date.now() - 1000))]);
      expect(await store.clearExpired()).toBe(1);
      await insertRows(dataSource, 'django_session', [['latekey000000000000000000000000', 60]]);
      expect(await store.loadRow('latekey000000000000000000000000')).toBeNull();
    });

    it('a custom entity, or a data source without the other entity, has no previous table', async () => {
      await insertRows(dataSource, 'django_session', [['livekey000000000000000000000000', 60]]);
      await insertRows(dataSource, 'user_session', [['livekey111111111111111111111111', 60]]);
      await dataSource.query(
        'CREATE TABLE IF NOT EXISTS own_session (session_key varchar(40) PRIMARY KEY, session_data text NOT NULL, expire_date ' +
          (kind === 'postgres' ? 'timestamp with time zone' : 'datetime') +
          ' NOT NULL)',
      );
      const withOwn = await dataSourceWith({ entities: [SessionEntity, UserSessionEntity, OwnSession] }, false);
      const own = new OwnSessionStore(resolveSessionsOptions({ secretKey: SECRET_KEY, clearExpired: { cron: false } }), withOwn);
      await own.verify();
      expect(await own.loadRow('livekey000000000000000000000000')).toBeNull();
      expect(await own.loadRow('livekey111111111111111111111111')).toBeNull();

      const withoutPlain = await dataSourceWith({ entities: [UserSessionEntity] }, false);
      const indexed = storeOn(withoutPlain, { userSessions: {} });
      await indexed.verify();
      expect(await indexed.loadRow('livekey000000000000000000000000')).toBeNull();
      expect(await keysIn(dataSource, 'django_session')).toEqual(['livekey000000000000000000000000']);
      expect(await keysIn(dataSource, 'user_session')).toEqual(['livekey111111111111111111111111']);
    });
  });
});
