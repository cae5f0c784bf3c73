/**
 * The cached_db engine against Django's test suite (tests/sessions_tests/tests.py): SessionTestsMixin
 * and the CacheDBSessionTests additions, on SQLite and PostgreSQL, each with the in-memory
 * cache and with the real Redis; plus the write-through rules the engine promises.
 */
import { Logger } from '@nestjs/common';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import type { DataSource } from 'typeorm';
import {
  CACHED_DB_KEY_PREFIX,
  CachedDbSessionStore,
  resolveSessionsOptions,
  SessionsCache,
  SessionsOptionsError,
  type SessionsConfig,
} from '../../src/sessions';
import { CACHE_KINDS, cachedData, createTestCache, type CacheKind, type TestCache } from '../support/caches';
import { DATABASE_KINDS, openTestDataSource, QueryCounter, type DatabaseKind } from '../support/databases';
import { describeSessionMixin, type MixinTarget } from '../support/session-mixin';

const SECRET_KEY = 'cached-db-engine-tests-secret-key';

function cachedDbStore(config: SessionsConfig, dataSource: DataSource): CachedDbSessionStore {
  return new CachedDbSessionStore(config, dataSource, new SessionsCache(config));
}

/** Django's `tests/cache/failing_cache.py`: a cache store whose writes raise. */
class FailingSetMap<K, V> extends Map<K, V> {
  override set(): this {
    throw new Error('Faked exception saving to cache');
  }
}

const COMBINATIONS = DATABASE_KINDS.flatMap((database) => CACHE_KINDS.map((cache) => [database, cache] as [DatabaseKind, CacheKind]));

describe.each(COMBINATIONS)('cached_db engine on %s with the %s cache', (databaseKind, cacheKind) => {
  describeSessionMixin(`cached_db on ${databaseKind} + ${cacheKind}`, 'cached_db', async () => {
    const testCache = await createTestCache(cacheKind);
    const { dataSource, close } = await openTestDataSource(databaseKind);
    const config = resolveSessionsOptions({ secretKey: SECRET_KEY, cache: testCache.cache });
    const target: MixinTarget = {
      cookieAge: config.cookie.age,
      session: (key) => cachedDbStore(config, dataSource).session(key),
      withConfig: (partial) => ({ session: (key) => cachedDbStore({ ...config, ...partial }, dataSource).session(key) }),
    };
    return {
      target,
      teardown: async () => {
        await close();
        await testCache.close();
      },
    };
  });

  describe('CacheDBSessionTests and write-through', () => {
    let testCache: TestCache;
    let store: CachedDbSessionStore;
    let queries: QueryCounter;
    let closeDatabase: () => Promise<void>;
    let dataSource: DataSource;

    beforeAll(async () => {
      testCache = await createTestCache(cacheKind);
      queries = new QueryCounter();
      ({ dataSource, close: closeDatabase } = await openTestDataSource(databaseKind, { logging: true, logger: queries }));
      store = cachedDbStore(resolveSessionsOptions({ secretKey: SECRET_KEY, cache: testCache.cache }), dataSource);
    });
    afterAll(async () => {
      await closeDatabase();
      await testCache.close();
    });
    beforeEach(() => queries.reset());

    async function savedSession(data: Record<string, unknown> = { x: 1 }) {
      const session = store.session();
      session.update(data);
      await session.save();
      queries.reset();
      return session;
    }

    it('test_exists_searches_cache_first: exists() looks in the cache first: no database query for a cached session', async () => {
      const session = await savedSession();
      expect(await session.exists(session.sessionKey)).toBe(true);
      expect(queries.count).toBe(0);
    });

    it('test_load_overlong_key: an overlong key loads as an empty session without a key', async () => {
      const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
      const session = store.session(alphabet.repeat(20));
      expect(await session.load()).toEqual({});
      expect(session.sessionKey).toBeNull();
    });

    it('test_non_default_cache: a cache option that is not a cache is a start-up error naming the option', () => {
      expect(() => resolveSessionsOptions({ secretKey: SECRET_KEY, cache: 'sessions' as never })).toThrow(SessionsOptionsError);
      expect(() => resolveSessionsOptions({ secretKey: SECRET_KEY, cache: 'sessions' as never })).toThrow(/"cache"/);
    });

    it('test_cache_set_failure_non_fatal: a failing cache write is logged and does not fail the save', async () => {
      const failing = createCache({ stores: [new Keyv({ store: new FailingSetMap(), throwOnErrors: true })] });
      const failingStore = cachedDbStore(resolveSessionsOptions({ secretKey: SECRET_KEY, cache: failing }), dataSource);
      const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
      try {
        const session = failingStore.session();
        session.set('key', 'val');
        await session.save();
        const [message, stack] = errors.mock.calls.at(-1) as [string, string];
        expect(message).toMatch(/^Error saving to cache \(FailingSetMap\)/);
        expect(stack).toContain('Faked exception saving to cache');
        // The database has it: a store with a working cache reads it.
        expect((await store.session(session.sessionKey).ensureLoaded()).get('key')).toBe('val');
      } finally {
        errors.mockRestore();
      }
    });

    it('a cache that failed writes and deletes, then answers again with its older entries, serves none of them', async () => {
      /** A Map whose writes and deletes fail while `failing`: a cache node down, later back (or replaced by its replica). */
      class FlakyMap<K, V> extends Map<K, V> {
        failing = false;
        override set(key: K, value: V): this {
          if (this.failing) throw new Error('Faked exception saving to cache');
          return super.set(key, value);
        }
        override delete(key: K): boolean {
          if (this.failing) throw new Error('Faked exception deleting from cache');
          return super.delete(key);
        }
      }
      const map = new FlakyMap<string, unknown>();
      const flakyCache = createCache({ stores: [new Keyv({ store: map, throwOnErrors: true })] });
      const config = resolveSessionsOptions({ secretKey: SECRET_KEY, cache: flakyCache });
      const flakyStore = cachedDbStore(config, dataSource);
      const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
      try {
        const updated = flakyStore.session();
        updated.set('n', 1);
        await updated.save();
        const flushed = flakyStore.session();
        flushed.set('user', 'alice');
        await flushed.save();
        const flushedKey = flushed.sessionKey!;

        map.failing = true;
        const reopened = await flakyStore.session(updated.sessionKey).ensureLoaded();
        reopened.set('n', 2);
        await reopened.save(); // the row holds 2, the cache still 1
        await flushed.flush(); // the row is gone, the cache still holds it
        expect((await flakyStore.session(updated.sessionKey).ensureLoaded()).get('n')).toBe(2);
        expect((await flakyStore.session(flushedKey).ensureLoaded()).toJSON()).toEqual({});

        map.failing = false;
        // Another instance on the same cache: served the older entries until they are deleted (retried every second).
        const otherInstance = cachedDbStore(config, dataSource);
        const olderEntries = () => flakyCache.mget([flushedKey, updated.sessionKey!].map((key) => `${CACHED_DB_KEY_PREFIX}${key}`));
        while ((await olderEntries()).some((entry) => entry !== undefined)) await new Promise((resolve) => setTimeout(resolve, 50));
        expect((await otherInstance.session(flushedKey).ensureLoaded()).toJSON()).toEqual({});
        expect((await otherInstance.session(updated.sessionKey).ensureLoaded()).get('n')).toBe(2);
        // Cached again as usual: the next read runs no query.
        queries.reset();
        expect((await flakyStore.session(updated.sessionKey).ensureLoaded()).get('n')).toBe(2);
        expect(queries.count).toBe(0);
      } finally {
        errors.mockRestore();
        flakyStore.onModuleDestroy();
      }
    });

    it('a cached read runs no database query', async () => {
      const session = await savedSession({ n: 1 });
      const reopened = await store.session(session.sessionKey).ensureLoaded();
      expect(reopened.get('n')).toBe(1);
      expect(queries.count).toBe(0);
    });

    it('a cache miss reads the row and puts it back in the cache, expiring with the row', async () => {
      const session = await savedSession({ n: 2 });
      session.setExpiry(600);
      await session.save();
      const cacheKey = await session.cacheKey();
      await testCache.cache.del(cacheKey);
      queries.reset();
      const reopened = await store.session(session.sessionKey).ensureLoaded();
      expect(reopened.get('n')).toBe(2);
      expect(queries.count).toBe(1);
      expect(await cachedData(testCache.cache, cacheKey)).toEqual({ n: 2, _session_expiry: 600 });
      const expires = (await testCache.cache.ttl(cacheKey))! - Date.now();
      expect(expires).toBeGreaterThan(590_000);
      expect(expires).toBeLessThanOrEqual(600_000);
    });

    it('save writes through: database and cache hold the new data', async () => {
      const session = await savedSession({ n: 3 });
      const reopened = await store.session(session.sessionKey).ensureLoaded();
      reopened.set('n', 4);
      await reopened.save();
      expect(await cachedData(testCache.cache, `${CACHED_DB_KEY_PREFIX}${session.sessionKey}`)).toEqual({ n: 4 });
      expect(
        store.getDecoded(
          await dataSource
            .query(`SELECT session_data AS "sessionData" FROM django_session WHERE session_key = '${session.sessionKey}'`)
            .then((rows: { sessionData: string }[]) => rows[0]),
        ),
      ).toEqual({ n: 4 });
    });

    it('flush deletes the session from both the database and the cache', async () => {
      const session = await savedSession();
      const key = session.sessionKey!;
      await session.flush();
      expect(await testCache.cache.get(`${CACHED_DB_KEY_PREFIX}${key}`)).toBeUndefined();
      expect(await store.existsRow(key)).toBe(false);
    });

    it('clearExpired deletes expired rows from the database only', async () => {
      const expired = store.session();
      expired.set('old', true);
      expired.setExpiry(new Date(Date.now() - 3600_000));
      await expired.save();
      const live = await savedSession({ live: true });
      expect(await store.clearExpired()).toBe(1);
      expect(await store.existsRow(expired.sessionKey!)).toBe(false);
      expect(await store.existsRow(live.sessionKey!)).toBe(true);
      expect(await cachedData(testCache.cache, `${CACHED_DB_KEY_PREFIX}${live.sessionKey}`)).toEqual({ live: true });
    });
  });
});
