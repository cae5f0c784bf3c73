/**
 * The user index of the db engine (issue 15) at the store, on SQLite and PostgreSQL: the checks the
 * cache and file engines have (cache-user-sessions, file-user-sessions) — listing with client and
 * times, revocation, cycleKey and flush, activity, maxSessionsPerUser's evict and refuse — and what is
 * the db engine's own: a save that keeps the user writes Django's columns only, a user id too long
 * for its column is refused (the previous table of a `userSessions` switch: db-table.e2e-spec.ts).
 * The same over HTTP, on the example app: test/e2e/user-sessions*.e2e-spec.ts.
 */
import { DataSource } from 'typeorm';
import {
  DbSession,
  DbSessionStore,
  resolveSessionsOptions,
  SessionEntity,
  SessionLimitReachedException,
  sessionMigrations,
  UserSessionEntity,
  userSessionMigrations,
  UserSessionsService,
  type SessionEvent,
  type UserSessionsOptions,
} from '../../src/sessions';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../support/databases';

const SECRET_KEY = 'db-user-sessions-secret';

describe.each(DATABASE_KINDS)('user sessions on the db engine (%s)', (kind) => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let user: string;

  beforeAll(async () => {
    database = await createTestDatabase(kind, [SessionEntity, UserSessionEntity]);
    dataSource = new DataSource({ ...database.options, migrations: [...sessionMigrations, ...userSessionMigrations] });
    await dataSource.initialize();
    await dataSource.runMigrations();
  });
  afterAll(async () => {
    if (dataSource?.isInitialized) await dataSource.destroy();
    await database?.drop();
  });
  beforeEach(() => {
    user = `user-${Math.random().toString(36).slice(2)}`;
  });

  function instance(userSessions: UserSessionsOptions = {}, heard: SessionEvent[] = []) {
    const config = resolveSessionsOptions({
      secretKey: SECRET_KEY,
      userSessions,
      onSessionEvent: (event) => heard.push(event),
      clearExpired: { cron: false },
    });
    const store = new DbSessionStore(config, dataSource);
    return { store, service: new UserSessionsService(store, config) };
  }

  async function signIn(on: ReturnType<typeof instance>, agent: string, ip = '203.0.113.9') {
    const session = on.store.session();
    session.client = { ip, userAgent: agent };
    await on.service.login(session, user);
    return session;
  }

  const reload = (on: ReturnType<typeof instance>, key: string | null) => on.store.session(key).ensureLoaded();

  it("lists a signed-in user's sessions with client and times, most recent first, the current one marked; anonymous and other users' sessions are not listed", async () => {
    const on = instance();
    const phone = await signIn(on, 'phone', '203.0.113.1');
    const laptop = await signIn(on, 'laptop', '203.0.113.2');
    const anonymous = on.store.session();
    anonymous.set('cart', [1]);
    await anonymous.save();
    const list = await on.service.list(user, laptop);
    expect(list.map((s) => [s.userAgent, s.ip, s.current])).toEqual([
      ['laptop', '203.0.113.2', true],
      ['phone', '203.0.113.1', false],
    ]);
    for (const entry of list) {
      expect(entry.expireDate!.getTime()).toBeGreaterThan(Date.now() + 1_209_000_000);
      expect(entry.createdAt!.getTime()).toBeGreaterThan(Date.now() - 60_000);
      expect(entry.lastActivity!.getTime()).toBeGreaterThan(Date.now() - 60_000);
      expect(entry.id).toMatch(/^[\w-]{22}$/);
    }
    expect(JSON.stringify(list)).not.toContain(phone.sessionKey!);
    expect(await on.service.count(user)).toBe(2);
    expect(await on.service.count(`${user}-other`)).toBe(0);
  });

  it('follows cycleKey and flush; revokes one (its next load is anonymous), the others, then all', async () => {
    const heard: SessionEvent[] = [];
    const on = instance({}, heard);
    const [a, b, c] = [await signIn(on, 'a'), await signIn(on, 'b'), await signIn(on, 'c')];
    const before = a.sessionKey;
    await a.cycleKey();
    expect((await reload(on, before)).sessionKey).toBeNull();
    expect((await on.service.list(user, a)).filter((s) => s.current).map((s) => s.userAgent)).toEqual(['a']);
    expect(await on.service.count(user)).toBe(3);
    await c.flush();
    expect(await on.service.count(user)).toBe(2);
    const idOfB = (await on.service.list(user, a)).find((s) => !s.current)!.id;
    expect(await on.service.revoke(`${user}-other`, idOfB)).toBe(false);
    heard.length = 0;
    expect(await on.service.revoke(user, idOfB)).toBe(true);
    expect(heard.map((event) => [event.type, event.reason, event.userId, event.id])).toEqual([
      ['session.destroyed', 'revoke', user, idOfB],
    ]);
    expect((await reload(on, b.sessionKey)).sessionKey).toBeNull();
    expect(await on.service.revokeOthers(a)).toBe(0);
    expect(await on.service.revokeAll(user)).toBe(1);
    expect((await reload(on, a.sessionKey)).sessionKey).toBeNull();
  });

  it("a save that keeps the user writes Django's columns only: the address and user agent stay as the last recorded use left them", async () => {
    const on = instance({ activityInterval: 3600 });
    const phone = await signIn(on, 'at login', '203.0.113.1');
    const later = on.store.session(phone.sessionKey);
    later.client = { ip: '198.51.100.7', userAgent: 'another request' };
    await later.ensureLoaded();
    later.set('cart', [2]);
    await later.save();
    expect((await reload(on, phone.sessionKey)).get('cart')).toEqual([2]);
    expect((await on.service.list(user)).map((s) => [s.userAgent, s.ip])).toEqual([['at login', '203.0.113.1']]);
  });

  // The load does not wait for noteActivity's UPDATE; better-sqlite3 runs it at once, before the load
  // resolves, so on SQLite the row already says what the use did.
  if (kind === 'sqlite') {
    it.each([
      [3600, 'leaves the row as the login wrote it'],
      [0, 'records its time, address and user agent'],
    ])("activityInterval %d: a signed-in session's next use %s", async (activityInterval) => {
      const on = instance({ activityInterval });
      const phone = await signIn(on, 'at login', '203.0.113.1');
      const [atLogin] = await on.service.list(user);
      const use = on.store.session(phone.sessionKey);
      use.client = { ip: '203.0.113.2', userAgent: 'first use' };
      await use.ensureLoaded();
      const [afterUse] = await on.service.list(user);
      if (activityInterval === 0) {
        expect([afterUse.userAgent, afterUse.ip]).toEqual(['first use', '203.0.113.2']);
        expect(afterUse.lastActivity!.getTime()).toBeGreaterThanOrEqual(atLogin.lastActivity!.getTime());
      } else {
        expect(afterUse).toEqual(atLogin);
      }
    });
  }

  it('a user id longer than its column is refused: the session is not saved', async () => {
    const on = instance();
    const session = on.store.session();
    session.set('_auth_user_id', 'x'.repeat(300));
    await expect(session.save()).rejects.toThrow(RangeError);
    expect(await on.service.count('x'.repeat(300))).toBe(0);
  });

  it("a signed-in session whose data no longer names its user leaves the user's list at its next save", async () => {
    const on = instance();
    const phone = await signIn(on, 'phone');
    const loaded = await reload(on, phone.sessionKey);
    loaded.pop('_auth_user_id');
    await loaded.save();
    expect(await on.service.count(user)).toBe(0);
    expect((await reload(on, phone.sessionKey)).sessionKey).toBe(phone.sessionKey);
  });

  describe.each(['evict', 'refuse'] as const)('maxSessionsPerUser 2, %s', (policy) => {
    async function login(on: ReturnType<typeof instance>) {
      const session = on.store.session();
      session.set('cart', [1]);
      await session.save();
      try {
        await on.service.login(session, user);
        return session;
      } catch (error) {
        if (error instanceof SessionLimitReachedException) return error;
        throw error;
      }
    }

    it("a third login evicts the least recently active session, or is refused leaving the visitor's session as it was", async () => {
      const heard: SessionEvent[] = [];
      const on = instance({ maxSessionsPerUser: 2, maxSessionsPolicy: policy }, heard);
      const first = (await login(on)) as DbSession;
      const second = (await login(on)) as DbSession;
      heard.length = 0;
      const third = await login(on);
      if (policy === 'evict') {
        expect(third).toBeInstanceOf(DbSession);
        expect((await reload(on, first.sessionKey)).sessionKey).toBeNull();
        expect((await reload(on, second.sessionKey)).sessionKey).toBe(second.sessionKey);
        expect(await on.service.count(user)).toBe(2);
        expect(heard.filter((event) => event.type === 'session.destroyed').map((event) => [event.reason, event.userId])).toEqual([
          ['evicted', user],
        ]);
      } else {
        expect(third).toBeInstanceOf(SessionLimitReachedException);
        expect(await on.service.count(user)).toBe(2);
        expect((await reload(on, first.sessionKey)).sessionKey).toBe(first.sessionKey);
        expect(heard.filter((event) => event.type === 'session.destroyed')).toEqual([]);
      }
    });

    it('a signed-in session that logs in again (cycleKey) is not counted against itself', async () => {
      const on = instance({ maxSessionsPerUser: 2, maxSessionsPolicy: policy });
      const first = (await login(on)) as DbSession;
      const second = (await login(on)) as DbSession;
      await on.service.login(second, user);
      expect(await on.service.count(user)).toBe(2);
      expect((await reload(on, first.sessionKey)).sessionKey).toBe(first.sessionKey);
    });
  });
});
