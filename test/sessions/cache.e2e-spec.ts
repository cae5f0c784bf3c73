/**
 * The cache engine against Django's test suite (tests/sessions_tests/tests.py): SessionTestsMixin and
 * the CacheSessionTests additions, on the in-memory cache and on the real Redis; plus the port's own
 * checks of `django/contrib/sessions/backends/cache.py` (the 10 000-attempt bound of `create`,
 * non-positive TTLs; atomic add).
 */
import KeyvRedis from '@keyv/redis';
import { Logger } from '@nestjs/common';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import {
  CACHE_KEY_PREFIX,
  CacheSessionStore,
  resolveSessionsOptions,
  SessionsCache,
  type SessionsConfig,
  UpdateError,
} from '../../src/sessions';
import { CACHE_UNAVAILABLE_MESSAGE } from '../../src/sessions/engines/cache/cache-engine';
import { CACHE_OPERATION_TIMEOUT_MS } from '../../src/sessions/engines/cache/cache-timeout';
import { CACHE_KINDS, cachedData, createTestCache, REDIS_URL, redisKeys, uniqueNamespace, type TestCache } from '../support/caches';
import { describeSessionMixin, type MixinTarget } from '../support/session-mixin';

const SECRET_KEY = 'cache-engine-tests-secret-key';

function cacheStore(config: SessionsConfig): CacheSessionStore {
  return new CacheSessionStore(config, new SessionsCache(config));
}

describe.each(CACHE_KINDS)('cache engine on %s', (kind) => {
  describeSessionMixin(`cache on ${kind}`, 'cache', async () => {
    const testCache = await createTestCache(kind);
    const config = resolveSessionsOptions({ secretKey: SECRET_KEY, cache: testCache.cache });
    const target: MixinTarget = {
      cookieAge: config.cookie.age,
      session: (key) => cacheStore(config).session(key),
      withConfig: (partial) => ({ session: (key) => cacheStore({ ...config, ...partial }).session(key) }),
    };
    return { target, teardown: () => testCache.close() };
  });

  describe('CacheSessionTests', () => {
    let testCache: TestCache;
    let store: CacheSessionStore;
    beforeAll(async () => {
      testCache = await createTestCache(kind);
      store = cacheStore(resolveSessionsOptions({ secretKey: SECRET_KEY, cache: testCache.cache }));
    });
    afterAll(() => testCache.close());

    it('test_load_overlong_key: an overlong key loads as an empty session without a key', async () => {
      const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
      const session = store.session(alphabet.repeat(20));
      expect(await session.load()).toEqual({});
      expect(session.sessionKey).toBeNull();
    });

    it('test_default_cache: the session is stored in the cache under django.contrib.sessions.cache<key>', async () => {
      const session = store.session();
      session.set('x', 1);
      await session.save();
      expect(await session.cacheKey()).toBe(`${CACHE_KEY_PREFIX}${session.sessionKey}`);
      expect(await cachedData(testCache.cache, await session.cacheKey())).toEqual({ x: 1 });
      if (kind === 'redis') {
        expect(await redisKeys(testCache)).toContain(`${testCache.namespace}::${CACHE_KEY_PREFIX}${session.sessionKey}`);
      }
    });

    it('test_non_default_cache: with a cache of its own (SESSION_CACHE_ALIAS) the sessions stay out of the default cache', async () => {
      const defaultCache = createCache({ stores: [new Keyv()] });
      const sessions = store.session(); // store's cache = the sessions cache, not defaultCache
      await sessions.save();
      expect(await defaultCache.get(await sessions.cacheKey())).toBeUndefined();
      expect(await cachedData(testCache.cache, await sessions.cacheKey())).toEqual({});
    });

    it('test_create_and_save: create then save leaves an entry at cacheKey', async () => {
      const session = store.session();
      await session.create();
      await session.save();
      expect(await cachedData(testCache.cache, await session.cacheKey())).toEqual({});
    });

    it('the stored entry expires with the session (TTL = expiry age)', async () => {
      const session = store.session();
      session.setExpiry(60);
      await session.save();
      const expires = await testCache.cache.ttl(await session.cacheKey());
      expect(expires! - Date.now()).toBeGreaterThan(55_000);
      expect(expires! - Date.now()).toBeLessThanOrEqual(60_000);
    });

    it('a non-positive expiry age deletes the entry instead of storing it', async () => {
      const session = store.session();
      session.set('a', 1);
      await session.save();
      const cacheKey = await session.cacheKey();
      session.setExpiry(new Date(Date.now() - 1000));
      await session.save();
      expect(await testCache.cache.get(cacheKey)).toBeUndefined();
    });

    it('save(mustCreate) refuses a key already in the cache (set-if-absent)', async () => {
      const first = store.session();
      first.set('owner', 'first');
      await first.save();
      const second = store.session(first.sessionKey);
      second.clear(); // data without loading: a new session that happens to draw the same key
      second.set('owner', 'second');
      await expect(second.save(true)).rejects.toThrow('is taken');
      expect(await cachedData(testCache.cache, await first.cacheKey())).toEqual({ owner: 'first' });
    });

    it('concurrent creates of one key: exactly one wins', async () => {
      const key = 'concurrentcreatekey0000000000000';
      const attempts = Array.from({ length: 10 }, (_, i) => {
        const session = store.session(key);
        session.clear();
        session.set('writer', i);
        return session.save(true).then(
          () => i,
          () => undefined,
        );
      });
      const winners = (await Promise.all(attempts)).filter((i) => i !== undefined);
      expect(winners).toHaveLength(1);
      expect(await cachedData(testCache.cache, `${CACHE_KEY_PREFIX}${key}`)).toEqual({ writer: winners[0] });
      await store.session(key).delete();
    });

    it('a loaded session does not share its data object with the cache', async () => {
      const session = store.session();
      session.set('list', [1]);
      await session.save();
      const reopened = await store.session(session.sessionKey).ensureLoaded();
      (reopened.get('list') as number[]).push(2); // mutated without save
      const again = await store.session(session.sessionKey).ensureLoaded();
      expect(again.get('list')).toEqual([1]);
    });

    it('clearExpired is a no-op for a cache that expires entries itself', async () => {
      expect(await store.clearExpired()).toBe(0);
    });

    it(`loads of one event-loop turn share one ${kind === 'redis' ? 'MGET' : 'mget'} (batchStoreCalls); false reads key by key`, async () => {
      const sessions = await Promise.all(
        [1, 2, 3].map(async (n) => {
          const session = store.session();
          session.set('n', n);
          await session.save();
          return session;
        }),
      );
      // On @keyv/redis the reads go to node-redis itself; elsewhere through cache-manager.
      const reader = (kind === 'redis'
        ? (testCache.cache.stores[0].store as KeyvRedis<unknown>).client
        : testCache.cache) as unknown as Record<'mget' | 'get', () => unknown>;
      const [manyName, oneName] = kind === 'redis' ? (['mGet', 'get'] as const) : (['mget', 'get'] as const);
      const mget = jest.spyOn(reader, manyName as 'mget');
      const get = jest.spyOn(reader, oneName);
      try {
        const unknown = store.session('nosuchsessionkey1234');
        const loaded = await Promise.all([...sessions.map((s) => store.session(s.sessionKey).load()), unknown.load()]);
        expect(loaded).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, {}]);
        expect(unknown.sessionKey).toBeNull();
        expect(mget).toHaveBeenCalledTimes(1);
        expect(get).not.toHaveBeenCalled();

        mget.mockClear();
        const unbatched = cacheStore(resolveSessionsOptions({ secretKey: SECRET_KEY, cache: testCache.cache, batchStoreCalls: false }));
        expect(await Promise.all(sessions.map((s) => unbatched.session(s.sessionKey).load()))).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
        expect(mget).not.toHaveBeenCalled();
        expect(get).toHaveBeenCalledTimes(3);
      } finally {
        mget.mockRestore();
        get.mockRestore();
      }
    });
  });
});

describe('cache engine on Redis wrapped by the app in its own Keyv (namespace at both levels)', () => {
  it('set-if-absent writes the key and value Keyv reads back', async () => {
    const namespace = uniqueNamespace('keyv-layout');
    const keyv = new Keyv({ store: new KeyvRedis(REDIS_URL), namespace });
    const cache = createCache({ stores: [keyv] });
    try {
      const store = cacheStore(resolveSessionsOptions({ secretKey: SECRET_KEY, cache }));
      const session = store.session();
      session.set('layout', 'nested');
      await session.save();
      expect((await store.session(session.sessionKey).ensureLoaded()).get('layout')).toBe('nested');
      const second = store.session(session.sessionKey);
      second.clear();
      await expect(second.save(true)).rejects.toThrow('is taken');
    } finally {
      await keyv.clear();
      await cache.disconnect();
    }
  });
});

describe('cache engine: a cache that does not store', () => {
  /** A Map that silently drops every write: a cache that is unavailable without saying so. */
  class DroppingMap<K, V> extends Map<K, V> {
    override set(): this {
      return this;
    }
  }

  it("create() gives up after 10 000 attempts with Django's message", async () => {
    const cache = createCache({ stores: [new Keyv({ store: new DroppingMap() })] });
    const session = cacheStore(resolveSessionsOptions({ secretKey: SECRET_KEY, cache })).session();
    const reads = jest.spyOn(cache, 'get');
    await expect(session.create()).rejects.toThrow(CACHE_UNAVAILABLE_MESSAGE);
    // Per attempt: exists() of the new key, then add's check and read-back.
    expect(reads).toHaveBeenCalledTimes(3 * 10_000);
  });
});

describe('cache engine: a cache that does not answer', () => {
  /** A Map whose reads never complete: a cache server that stopped answering. */
  class HangingMap<K, V> extends Map<K, V> {
    override get(): V | undefined {
      return new Promise<never>(() => undefined) as unknown as V;
    }
  }

  it('a read pending for CACHE_OPERATION_TIMEOUT_MS is a miss', async () => {
    const cache = createCache({ stores: [new Keyv({ store: new HangingMap() })] });
    const session = cacheStore(resolveSessionsOptions({ secretKey: SECRET_KEY, cache })).session('somesessionkey12345');
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.useFakeTimers();
    try {
      const loading = session.load();
      await jest.advanceTimersByTimeAsync(CACHE_OPERATION_TIMEOUT_MS);
      expect(await loading).toEqual({});
      expect(session.sessionKey).toBeNull();
      expect(String(warn.mock.calls.at(-1)?.[0])).toMatch(
        /^Error reading from cache \(HangingMap\), treated as a miss: cache read took longer than/,
      );
    } finally {
      jest.useRealTimers();
      warn.mockRestore();
    }
  });

  it('an update whose check of the entry does not answer fails, never as if the session were deleted (a 503, not SessionInterrupted)', async () => {
    /** Answers until it hangs. */
    class StallingMap<K, V> extends Map<K, V> {
      stalled = false;
      override get(key: K): V | undefined {
        return this.stalled ? (new Promise<never>(() => undefined) as unknown as V) : super.get(key);
      }
    }
    const map = new StallingMap<string, unknown>();
    const store = cacheStore(resolveSessionsOptions({ secretKey: SECRET_KEY, cache: createCache({ stores: [new Keyv({ store: map })] }) }));
    const created = store.session();
    created.set('n', 1);
    await created.save();
    const session = await store.session(created.sessionKey).ensureLoaded();
    session.set('n', 2);
    map.stalled = true;
    jest.useFakeTimers();
    try {
      const saving = session.save();
      const outcome = expect(saving).rejects.toThrow(/^cache read took longer than/);
      await jest.advanceTimersByTimeAsync(CACHE_OPERATION_TIMEOUT_MS);
      await outcome;
      await expect(saving).rejects.not.toBeInstanceOf(UpdateError);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('cache engine: its own in-memory cache', () => {
  it('falls back to a private in-memory cache, sweeps its expired entries and disconnects it', async () => {
    const config = resolveSessionsOptions({ secretKey: SECRET_KEY });
    const sessionsCache = new SessionsCache(config);
    const store = new CacheSessionStore(config, sessionsCache);
    const kept = store.session();
    kept.set('a', 1);
    await kept.save();
    await sessionsCache.cache.set(`${CACHE_KEY_PREFIX}abandonedsession`, {}, 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await store.clearExpired()).toBe(1);
    expect((await store.session(kept.sessionKey).ensureLoaded()).get('a')).toBe(1);
    const disconnect = jest.spyOn(sessionsCache.cache, 'disconnect');
    await sessionsCache.onModuleDestroy();
    expect(disconnect).toHaveBeenCalled();
  });

  it('never disconnects a cache it was given', async () => {
    const cache = createCache({ stores: [new Keyv()] });
    const sessionsCache = new SessionsCache(resolveSessionsOptions({ secretKey: SECRET_KEY, cache }));
    const disconnect = jest.spyOn(cache, 'disconnect');
    expect(sessionsCache.cache).toBe(cache);
    await sessionsCache.onModuleDestroy();
    expect(disconnect).not.toHaveBeenCalled();
  });
});
