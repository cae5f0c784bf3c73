/**
 * The user index of the cache engine (issue 15): a map per user in the cache (a Redis hash, fields
 * changed atomically by any process; a JSON map changed one write at a time in the process
 * elsewhere), kept on login, cycleKey, flush, expiry and revocation.
 */
import {
  CacheSession,
  CacheSessionStore,
  resolveSessionsOptions,
  SessionLimitReachedException,
  SessionsCache,
  UserSessionsService,
  type SessionsModuleOptions,
} from '../../src/sessions';
import { CACHE_KINDS, createTestCache, type TestCache } from '../support/caches';

describe.each(CACHE_KINDS)('user sessions on the cache engine (%s)', (kind) => {
  let testCache: TestCache;
  let store: CacheSessionStore;
  let service: UserSessionsService;
  let user: string;
  const options = (): SessionsModuleOptions => ({
    secretKey: 'cache-user-sessions-secret',
    engine: 'cache',
    cache: testCache.cache,
    userSessions: {},
  });

  beforeAll(async () => {
    testCache = await createTestCache(kind);
  });
  afterAll(() => testCache?.close());
  beforeEach(() => {
    const config = resolveSessionsOptions(options());
    store = new CacheSessionStore(config, new SessionsCache(config));
    service = new UserSessionsService(store, config);
    user = `user-${Math.random().toString(36).slice(2)}`;
  });

  async function signIn(agent: string) {
    const session = store.session();
    session.client = { ip: '203.0.113.9', userAgent: agent };
    await service.login(session, user);
    return session;
  }

  it("lists a signed-in user's sessions with client and times, the current one marked; anonymous and other users' sessions are not listed", async () => {
    const [phone, laptop] = [await signIn('phone'), await signIn('laptop')];
    const anonymous = store.session();
    anonymous.set('cart', [1]);
    await anonymous.save();
    const list = await service.list(user, laptop);
    expect(list.map((s) => [s.userAgent, s.current, s.ip])).toEqual(
      expect.arrayContaining([
        ['phone', false, '203.0.113.9'],
        ['laptop', true, '203.0.113.9'],
      ]),
    );
    expect(list).toHaveLength(2);
    expect(list[0].expireDate!.getTime()).toBeGreaterThan(Date.now() + 1_000_000_000);
    expect(JSON.stringify(list)).not.toContain(phone.sessionKey!);
    expect(await service.count('someone-else')).toBe(0);
  });

  it('follows cycleKey and flush; revokes one (its next load is anonymous), the others, then all', async () => {
    const [a, b, c] = [await signIn('a'), await signIn('b'), await signIn('c')];
    const before = a.sessionKey;
    await a.cycleKey();
    expect((await service.list(user, a)).filter((s) => s.current)).toHaveLength(1);
    expect(await service.count(user)).toBe(3);
    await c.flush();
    expect(await service.count(user)).toBe(2);
    const idOfB = (await service.list(user, a)).find((s) => !s.current)!.id;
    expect(await service.revoke(user, idOfB)).toBe(true);
    expect((await store.session(b.sessionKey).ensureLoaded()).sessionKey).toBeNull();
    expect(await service.revokeOthers(a)).toBe(0);
    expect(await service.revokeAll(user)).toBe(1);
    for (const key of [before, a.sessionKey]) expect((await store.session(key).ensureLoaded()).sessionKey).toBeNull();
  });

  it('drops expired sessions from the list and the index', async () => {
    const live = await signIn('live');
    const expiring = await signIn('expiring');
    expiring.setExpiry(1);
    await expiring.save();
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect((await service.list(user, live)).map((s) => s.userAgent)).toEqual(['live']);
  });

  it("a save that raises a signed-in session's expiry keeps it in its user's index past the expiry it had at login", async () => {
    const phone = store.session();
    phone.setExpiry(1);
    await service.login(phone, user);
    phone.setExpiry(3600);
    await phone.save();
    await new Promise((resolve) => setTimeout(resolve, 1500)); // past the login's 1 s: the map had only that long
    expect((await store.session(phone.sessionKey).ensureLoaded()).sessionKey).toBe(phone.sessionKey);
    const laptop = await signIn('laptop');
    expect((await service.list(user, laptop)).map((s) => s.current)).toEqual([true, false]);
    expect(await service.revokeOthers(laptop)).toBe(1);
    expect((await store.session(phone.sessionKey).ensureLoaded()).sessionKey).toBeNull();
  });

  it.each([
    [60, 'leaves the entry as the login wrote it, as the db engines do'],
    [0, 'records it (so the check above would have seen a write)'],
  ])("activityInterval %d: a signed-in session's first use after login %s", async (activityInterval) => {
    const config = resolveSessionsOptions({ ...options(), userSessions: { activityInterval } });
    const own = new CacheSessionStore(config, new SessionsCache(config));
    const ownService = new UserSessionsService(own, config);
    const phone = own.session();
    phone.client = { ip: '203.0.113.1', userAgent: 'at login' };
    await ownService.login(phone, user);
    const [atLogin] = await ownService.list(user);
    await own.noteActivity(user, phone.sessionKey!, { ip: '203.0.113.2', userAgent: 'first use' });
    const [afterUse] = await ownService.list(user);
    if (activityInterval === 0) {
      expect([afterUse.userAgent, afterUse.ip]).toEqual(['first use', '203.0.113.2']);
    } else {
      expect(afterUse).toEqual(atLogin);
    }
  });

  describe.each(['evict', 'refuse'] as const)('maxSessionsPerUser 2, %s', (policy) => {
    /** Stores of "instances" sharing the cache: on Redis, each with a SessionsCache of its own, as two processes have. */
    const instances = (count: number) =>
      Array.from({ length: count }, () => {
        const config = resolveSessionsOptions({ ...options(), userSessions: { maxSessionsPerUser: 2, maxSessionsPolicy: policy } });
        const own = new CacheSessionStore(config, kind === 'redis' || count === 1 ? new SessionsCache(config) : sharedCache(config));
        return { store: own, service: new UserSessionsService(own, config) };
      });
    let shared: SessionsCache | undefined;
    const sharedCache = (config: ReturnType<typeof resolveSessionsOptions>) => (shared ??= new SessionsCache(config));
    beforeEach(() => (shared = undefined));

    async function login(instance: { store: CacheSessionStore; service: UserSessionsService }) {
      const session = instance.store.session();
      session.set('cart', [1]);
      await session.save();
      try {
        await instance.service.login(session, user);
        return session;
      } catch (error) {
        if (error instanceof SessionLimitReachedException) return error;
        throw error;
      }
    }

    it("a third login evicts the least recently active session, or is refused leaving the visitor's session as it was", async () => {
      const [one] = instances(1);
      const first = (await login(one)) as CacheSession;
      const second = (await login(one)) as CacheSession;
      const third = await login(one);
      if (policy === 'evict') {
        expect(third).not.toBeInstanceOf(SessionLimitReachedException);
        expect((await one.store.session(first.sessionKey).ensureLoaded()).sessionKey).toBeNull();
        expect(await one.service.count(user)).toBe(2);
      } else {
        expect(third).toBeInstanceOf(SessionLimitReachedException);
        expect((await one.service.list(user)).map((s) => s.id)).toHaveLength(2);
        expect((await one.store.session(second.sessionKey).ensureLoaded()).get('cart')).toEqual([1]);
      }
    });

    it('10 concurrent logins on 2 instances never leave the user above the cap', async () => {
      const pair = instances(2);
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => login(pair[i % 2])));
      const refused = results.filter((result) => result instanceof SessionLimitReachedException).length;
      expect(await pair[0].service.count(user)).toBe(2);
      expect(refused).toBe(policy === 'refuse' ? 8 : 0);
    });
  });
});

describe("user sessions on the cache engine's own in-memory LRU", () => {
  const secretKey = 'cache-user-sessions-secret';

  function ownStore() {
    const config = resolveSessionsOptions({ secretKey, engine: 'cache', userSessions: {}, memoryCache: { maxEntries: 20 } });
    const store = new CacheSessionStore(config, new SessionsCache(config));
    return { store, service: new UserSessionsService(store, config) };
  }

  async function anonymousTraffic(store: CacheSessionStore, visits: number, meanwhile?: () => Promise<unknown>) {
    for (let i = 0; i < visits; i++) {
      const visitor = store.session();
      visitor.set('visit', i);
      await visitor.save();
      if (i % 5 === 0) await meanwhile?.();
    }
  }

  it("anonymous traffic filling the LRU does not push a live session out of its user's index", async () => {
    const { store, service } = ownStore();
    const phone = store.session();
    await service.login(phone, 'ada');
    // The phone is in use throughout, so the LRU keeps it while 60 visitors come and go.
    await anonymousTraffic(store, 60, () => store.session(phone.sessionKey).ensureLoaded());
    expect((await store.session(phone.sessionKey).ensureLoaded()).sessionKey).toBe(phone.sessionKey);
    const laptop = store.session();
    await service.login(laptop, 'ada');
    expect(await service.count('ada')).toBe(2);
    expect(await service.revokeOthers(laptop)).toBe(1);
    expect((await store.session(phone.sessionKey).ensureLoaded()).sessionKey).toBeNull();
  });

  it("a session the LRU evicts leaves its user's index with it", async () => {
    const { store, service } = ownStore();
    const phone = store.session();
    await service.login(phone, 'ada');
    expect(await service.count('ada')).toBe(1);
    await anonymousTraffic(store, 60);
    expect((await store.session(phone.sessionKey).ensureLoaded()).sessionKey).toBeNull();
    expect(await store.cache.mapEntries('django.contrib.sessions.userada')).toEqual({});
  });
});
