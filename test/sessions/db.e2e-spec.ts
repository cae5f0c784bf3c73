/**
 * The db engine against Django's own test suite (tests/sessions_tests/tests.py): SessionTestsMixin,
 * the DatabaseSessionTests additions and CustomDatabaseSessionTests, on SQLite and PostgreSQL.
 */
import { Column, Entity, Index, type DataSource } from 'typeorm';
import {
  AbstractBaseSession,
  DbSession,
  DbSessionStore,
  resolveSessionsOptions,
  SessionEntity,
  type SessionData,
  type SessionRow,
  type SessionsConfig,
  type SessionsModuleOptions,
  UpdateError,
} from '../../src/sessions';
import { DATABASE_KINDS, openTestDataSource, QueryCounter, type DatabaseKind } from '../support/databases';
import { describeSessionMixin, type MixinTarget } from '../support/session-mixin';

const SECRET_KEY = 'db-engine-tests-secret-key';

/** Django's `sessions_tests.models.CustomSession`: an extra nullable, indexed account id. */
@Entity({ name: 'sessions_tests_customsession' })
class CustomSession extends AbstractBaseSession {
  @Index('sessions_tests_customsession_account_id')
  @Column({ name: 'account_id', type: 'integer', nullable: true })
  accountId: number | null;
}

/** Django's custom store's session: a one-day default age. */
class CustomDbSession<T extends object = SessionData> extends DbSession<T> {
  override getSessionCookieAge(): number {
    return 86400;
  }
}

/** Django's `sessions_tests.models.SessionStore`. */
class CustomDbSessionStore extends DbSessionStore {
  override readonly engine = 'custom_db';

  override session<T extends object = SessionData>(sessionKey?: string | null): CustomDbSession<T> {
    return new CustomDbSession<T>(sessionKey, this.config, this);
  }

  override getModelClass() {
    return CustomSession;
  }

  override async createModelInstance(session: DbSession<any>, data: SessionData): Promise<SessionRow> {
    const row = await super.createModelInstance(session, data);
    const accountId = Number(data._auth_user_id);
    return { ...row, accountId: data._auth_user_id != null && Number.isInteger(accountId) ? accountId : null };
  }
}

async function createCustomSessionTable(dataSource: DataSource): Promise<void> {
  const expireType = dataSource.options.type === 'postgres' ? 'timestamp with time zone' : 'datetime';
  await dataSource.query(
    `CREATE TABLE "sessions_tests_customsession" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" ${expireType} NOT NULL, "account_id" integer NULL)`,
  );
  await dataSource.query('CREATE INDEX "sessions_tests_customsession_expire_date" ON "sessions_tests_customsession" ("expire_date")');
  await dataSource.query('CREATE INDEX "sessions_tests_customsession_account_id" ON "sessions_tests_customsession" ("account_id")');
}

interface DbFixture {
  dataSource: DataSource;
  store: DbSessionStore;
  close(): Promise<void>;
}

async function openDbFixture(
  kind: DatabaseKind,
  custom: boolean,
  options: Partial<SessionsModuleOptions> = {},
  queries?: QueryCounter,
): Promise<DbFixture> {
  const logging = queries ? { logging: true, logger: queries } : {};
  const { dataSource, close } = await openTestDataSource(kind, { entities: [SessionEntity, CustomSession], ...logging });
  if (custom) await createCustomSessionTable(dataSource);
  const config = resolveSessionsOptions({ secretKey: SECRET_KEY, ...options });
  const StoreClass = custom ? CustomDbSessionStore : DbSessionStore;
  return { dataSource, store: new StoreClass(config, dataSource), close };
}

function mixinTarget(fixture: DbFixture, custom: boolean): MixinTarget {
  const StoreClass = custom ? CustomDbSessionStore : DbSessionStore;
  const config = (fixture.store as unknown as { config: SessionsConfig }).config;
  return {
    cookieAge: custom ? 86400 : config.cookie.age,
    session: (key) => fixture.store.session(key),
    withConfig: (partial) => {
      const store = new StoreClass({ ...config, ...partial }, fixture.dataSource);
      return { session: (key) => store.session(key) };
    },
  };
}

describe.each(DATABASE_KINDS)('db engine on %s', (kind) => {
  for (const custom of [false, true]) {
    const engineLabel = custom ? 'custom db store' : 'db';

    describeSessionMixin(`${engineLabel} on ${kind}`, custom ? 'custom_db' : 'db', async () => {
      const fixture = await openDbFixture(kind, custom);
      return { target: mixinTarget(fixture, custom), teardown: fixture.close };
    });

    describe(`DatabaseSessionTests (${engineLabel})`, () => {
      let fixture: DbFixture;
      const Model = custom ? CustomSession : SessionEntity;
      beforeAll(async () => {
        fixture = await openDbFixture(kind, custom);
      });
      afterAll(() => fixture.close());
      beforeEach(() => fixture.dataSource.getRepository(Model).clear());

      const findRow = (key: string | null) =>
        fixture.dataSource
          .getRepository<AbstractBaseSession & Partial<CustomSession>>(Model)
          .findOneByOrFail({ sessionKey: key as string });

      it('test_session_str: a row reads as its session key', async () => {
        const session = fixture.store.session();
        session.set('x', 1);
        await session.save();
        const row = await findRow(session.sessionKey);
        expect(String(row)).toBe(session.sessionKey);
      });

      it('test_session_get_decoded: getDecoded of a row', async () => {
        const session = fixture.store.session();
        session.set('x', 1);
        await session.save();
        expect(fixture.store.getDecoded(await findRow(session.sessionKey))).toEqual({ x: 1 });
      });

      it('test_sessionmanager_save: data written to the row by another writer is what a session loads', async () => {
        const session = fixture.store.session();
        session.set('y', 1);
        await session.save();
        const row = await findRow(session.sessionKey);
        // Django's SessionManager.save(key, dict, expire_date): encode and store through the ORM.
        row.sessionData = fixture.store.session().encode({ y: 2 });
        await fixture.dataSource.getRepository(Model).save(row);
        const reloaded = await fixture.store.session(session.sessionKey).ensureLoaded();
        expect(reloaded.getItem('y')).toBe(2);
      });

      it('test_clearsessions_command/test_aclear_expired: clearExpired deletes the expired rows only', async () => {
        const repository = fixture.dataSource.getRepository(Model);
        expect(await repository.count()).toBe(0);
        const live = fixture.store.session();
        live.set('foo', 'bar');
        live.setExpiry(3600);
        await live.save();
        const expired = fixture.store.session();
        expired.set('foo', 'bar');
        expired.setExpiry(-3600);
        await expired.save();
        expect(await repository.count()).toBe(2);
        expect(await fixture.store.clearExpired()).toBe(1);
        expect(await repository.count()).toBe(1);
        expect(await fixture.store.session(live.sessionKey).exists(live.sessionKey)).toBe(true);
        expect(await fixture.store.clearExpired()).toBe(0);
      });

      it('save() of a key that has no row is an UpdateError (Django), and stores nothing', async () => {
        const session = fixture.store.session('unknownkey12345');
        await expect(session.save()).rejects.toThrow(UpdateError);
        expect(await fixture.dataSource.getRepository(Model).count()).toBe(0);
      });

      // Also run with TZ=America/New_York: TypeORM must read the SQLite text as UTC.
      it("the row has Django's columns and expire date", async () => {
        const session = fixture.store.session();
        session.set('x', 1);
        await session.save();
        const row = await findRow(session.sessionKey);
        expect(row.sessionKey).toMatch(/^[a-z0-9]{32}$/);
        expect(fixture.store.getDecoded(row)).toEqual({ x: 1 });
        const age = (row.expireDate.getTime() - Date.now()) / 1000;
        expect(age).toBeGreaterThan(session.getSessionCookieAge() - 60);
        expect(age).toBeLessThanOrEqual(session.getSessionCookieAge());
      });

      if (custom) {
        it('test_extra_session_field: an extra column is filled from the data', async () => {
          const session = fixture.store.session();
          session.set('_auth_user_id', 42);
          await session.save();
          expect((await findRow(session.sessionKey)).accountId).toBe(42);
          session.pop('_auth_user_id');
          await session.save();
          expect((await findRow(session.sessionKey)).accountId).toBeNull();
        });

        // CustomDatabaseSessionTests' overrides: the mixin's test_default_expiry and
        // test_custom_expiry_reset with cookieAge 86400 (see mixinTarget).
        it("test_default_expiry/test_custom_expiry_reset: the custom store's default age is one day", () => {
          const session = fixture.store.session();
          expect(session.getExpiryAge()).toBe(86400);
          session.setExpiry(0);
          expect(session.getExpiryAge()).toBe(86400);
          session.setExpiry(10);
          session.setExpiry(null);
          expect(session.getExpiryAge()).toBe(86400);
        });
      }
    });
  }
});

/**
 * PostgreSQL batches the loads and the saves asked for in one event-loop turn (what concurrent
 * requests do under load): each test starts its sessions' work in one turn, as those requests would.
 */
describe('statement batching on PostgreSQL', () => {
  const queries = new QueryCounter(/django_session|sessions_tests_customsession/);
  const fixtures: DbFixture[] = [];
  const open = async (custom = false, options: Partial<SessionsModuleOptions> = {}) => {
    const fixture = await openDbFixture('postgres', custom, options, queries);
    fixtures.push(fixture);
    return fixture;
  };
  afterEach(async () => {
    await Promise.all(fixtures.splice(0).map((f) => f.close()));
  });

  /** Saved sessions, each holding `{ n: i }`, in the order of their keys. */
  async function savedSessions(store: DbSessionStore, count: number): Promise<DbSession[]> {
    const sessions: DbSession[] = [];
    for (let i = 0; i < count; i++) {
      const session = store.session();
      session.set('n', i);
      await session.save();
      sessions.push(session);
    }
    queries.reset();
    return sessions.sort((a, b) => a.sessionKey!.localeCompare(b.sessionKey!));
  }

  const reload = (store: DbSessionStore, sessions: DbSession[]) =>
    Promise.all(sessions.map((s) => store.session(s.sessionKey).ensureLoaded()));

  it('loads of one turn share one SELECT; an unknown key among them loads empty and loses its key', async () => {
    const { store } = await open();
    const sessions = await savedSessions(store, 5);
    const unknown = store.session('nosuchkey0000000000000000000000');
    const loaded = await Promise.all([...sessions.map((s) => store.session(s.sessionKey).ensureLoaded()), unknown.ensureLoaded()]);
    expect(loaded.map((s) => s.get('n'))).toEqual([...sessions.map((s) => s.get('n')), undefined]);
    expect(unknown.sessionKey).toBeNull();
    expect(queries.queries).toHaveLength(1);
    expect(queries.queries[0]).toMatch(/= ANY\(\$1\)/);
  });

  it('saves of one turn share one UPDATE; a session whose row was deleted fails alone with UpdateError', async () => {
    const { store } = await open();
    const sessions = await reload(store, await savedSessions(store, 4));
    await store.session().delete(sessions[2].sessionKey);
    queries.reset();
    sessions.forEach((s, i) => s.set('n', 100 + i));
    const results = await Promise.allSettled(sessions.map((s) => s.save()));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(UpdateError);
    expect(queries.queries).toHaveLength(1);
    expect(queries.queries[0]).toMatch(/^UPDATE .* FROM unnest\(/);
    const stored = await reload(store, sessions);
    expect(stored.map((s) => s.get('n'))).toEqual([100, 101, undefined, 103]);
    expect(await store.session().exists(sessions[2].sessionKey)).toBe(false);
  });

  it('a session saved twice in one turn keeps the later save, and both saves succeed', async () => {
    const { store } = await open();
    const [session] = await savedSessions(store, 1);
    const [first, second] = await reload(store, [session, session]);
    queries.reset();
    first.set('n', 'first');
    second.set('n', 'second');
    await Promise.all([first.save(), second.save()]);
    expect(queries.queries).toHaveLength(1);
    expect((await reload(store, [session]))[0].get('n')).toBe('second');
  });

  it("a lone load or save runs Django's single-row statement", async () => {
    const { store } = await open();
    const [session] = await savedSessions(store, 1);
    const loaded = await store.session(session.sessionKey).ensureLoaded();
    loaded.set('n', 7);
    await loaded.save();
    expect(queries.queries).toHaveLength(2);
    expect(queries.queries[0]).toMatch(/WHERE "session_key" = \$1 AND "expire_date" > \$2$/);
    expect(queries.queries[1]).toMatch(/^UPDATE "django_session" SET .* WHERE "session_key" = \$3$/);
  });

  it('batchStoreCalls: false sends one statement per load and per save', async () => {
    const { store } = await open(false, { batchStoreCalls: false });
    const sessions = await reload(store, await savedSessions(store, 3));
    sessions.forEach((s) => s.set('n', 'x'));
    await Promise.all(sessions.map((s) => s.save()));
    expect(queries.queries).toHaveLength(3 + 3);
    expect(queries.queries.join('\n')).not.toMatch(/ANY|unnest/);
  });

  it('hashKeysAtRest: batched loads and saves find the rows by their digests', async () => {
    const { store } = await open(false, { hashKeysAtRest: true });
    const sessions = await reload(store, await savedSessions(store, 3));
    expect(queries.queries).toHaveLength(1);
    sessions.forEach((s, i) => s.set('n', 100 - i));
    await Promise.all(sessions.map((s) => s.save()));
    expect(queries.queries).toHaveLength(2);
    expect((await reload(store, sessions)).map((s) => s.get('n'))).toEqual([100, 99, 98]);
  });

  it("a custom entity's saves, which write its extra columns, go one by one; its loads are batched", async () => {
    const { store, dataSource } = await open(true);
    const sessions = await reload(store, await savedSessions(store, 3));
    expect(queries.queries).toHaveLength(1);
    sessions.forEach((s, i) => s.set('_auth_user_id', 10 + i));
    await Promise.all(sessions.map((s) => s.save()));
    expect(queries.queries).toHaveLength(1 + 3);
    const rows = await dataSource.getRepository(CustomSession).find({ order: { accountId: 'ASC' } });
    expect(rows.map((r) => r.accountId)).toEqual([10, 11, 12]);
  });

  it('a batch chosen as a deadlock victim is retried row by row: every save lands', async () => {
    const { store, dataSource } = await open();
    const [a, b] = await reload(store, await savedSessions(store, 2));
    const other = dataSource.createQueryRunner();
    try {
      // Another transaction holds b's row and, once the batch holds a's and waits for b's, asks for
      // a's: a deadlock, which the batch's backend detects first (its deadlock_timeout is the 1 s default).
      await other.startTransaction();
      await other.query("SET LOCAL deadlock_timeout = '20s'");
      await other.query('UPDATE django_session SET session_data = session_data WHERE session_key = $1', [b.sessionKey]);
      a.set('n', 'a saved');
      b.set('n', 'b saved');
      const [{ pid }] = (await other.query('SELECT pg_backend_pid() AS pid')) as { pid: number }[];
      const saves = Promise.all([a.save(), b.save()]);
      // Until the batch's backend waits for b's row, held by `other` (not any lock wait of the server's).
      const blockedByOther = async () =>
        (
          await dataSource.query<{ n: number }[]>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [
            pid,
          ])
        )[0].n;
      while ((await blockedByOther()) === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      await other.query('UPDATE django_session SET session_data = session_data WHERE session_key = $1', [a.sessionKey]);
      await other.commitTransaction();
      await saves;
    } finally {
      await other.release();
    }
    expect((await reload(store, [a, b])).map((s) => s.get('n'))).toEqual(['a saved', 'b saved']);
    const updates = queries.queries.filter((q) => q.startsWith('UPDATE "django_session"'));
    expect(updates).toHaveLength(3);
    expect(updates[0]).toMatch(/unnest/);
  });
});
