/**
 * The cache and cached_db engines over HTTP: the `SessionMiddleware.process_response` basics on Express and Fastify with
 * the sessions module's own in-memory cache and with the app's Redis CacheModule; then the issue's
 * acceptance checks with the example app on PostgreSQL + Redis: a cached read runs no query,
 * stopping Redis (a redis-server of this test's own) does not break requests, and two app
 * instances on one PostgreSQL + Redis share their sessions at once.
 */
import { CACHE_MANAGER, CacheModule } from '@nestjs/cache-manager';
import { Logger, type DynamicModule, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import type { Server } from 'node:http';
import request from 'supertest';
import { loadConfig } from '../../example/app.config';
import { AppController } from '../../example/app.controller';
import { AppModule } from '../../example/app.module';
import { cacheModules } from '../../example/cache';
import { CACHE_KEY_PREFIX, CACHED_DB_KEY_PREFIX, SessionsCache, SessionStore, type SessionsModuleOptions } from '../../src/sessions';
import { SESSIONS_CACHE } from '../../src/sessions/sessions.constants';
import { createTestApp, HTTP_PLATFORMS, responseSessionKey, TEST_SECRET_KEY, type TestApp } from '../support/app';
import { CACHE_KINDS, privateRedis, REDIS_URL, uniqueNamespace } from '../support/caches';
import { createTestDatabase, QueryCounter, type TestDatabase } from '../support/databases';

const CACHE_ENGINES = ['cache', 'cached_db'] as const;
type CacheEngine = (typeof CACHE_ENGINES)[number];
/** This test file's own redis-server (helper B's port range). */
const PRIVATE_REDIS_PORT = 6391;

const PREFIX: Record<CacheEngine, string> = { cache: CACHE_KEY_PREFIX, cached_db: CACHED_DB_KEY_PREFIX };

const MATRIX = CACHE_ENGINES.flatMap((engine) =>
  HTTP_PLATFORMS.flatMap((platform) => CACHE_KINDS.map((cache) => [engine, platform, cache] as const)),
);

describe.each(MATRIX)('%s engine over HTTP (%s, %s cache)', (engine, platform, cacheKind) => {
  let t: TestApp;
  const namespace = uniqueNamespace('http');

  beforeAll(async () => {
    t = await createTestApp({
      platform,
      sessions: { engine },
      controllers: [AppController],
      // redis: the app's CacheModule, which the sessions module picks up; memory: nothing registered.
      imports: cacheKind === 'redis' ? cacheModules({ url: REDIS_URL }, namespace) : [],
    });
  });
  afterAll(async () => {
    await sessionsCache().cache.stores[0].clear(); // this namespace's keys only
    await t.close();
  });

  const sessionsCache = () => t.app.get<SessionsCache>(SESSIONS_CACHE);
  const counter = (cookie?: string) =>
    request(t.server)
      .get('/counter')
      .set('Cookie', cookie ?? '');

  it('uses the cache it should', () => {
    const stores = sessionsCache().cache.stores.map((keyv) => (keyv.store as object).constructor.name);
    expect(stores).toEqual([cacheKind === 'redis' ? 'KeyvRedis' : 'LruStore']);
  });

  it('answers a burst of concurrent first requests (the cache is connected before the app listens)', async () => {
    const responses = await Promise.all(Array.from({ length: 20 }, () => counter()));
    expect(responses.map((r) => r.status)).toEqual(Array.from({ length: 20 }, () => 200));
  });

  it('counts across requests, the session living in the cache', async () => {
    const first = await counter().expect(200);
    expect(first.body).toEqual({ count: 1 });
    const key = responseSessionKey(first.headers);
    expect(key).toMatch(/^[a-z0-9]{32}$/);
    expect((await counter(`sessionid=${key}`).expect(200)).body).toEqual({ count: 2 });
    expect((await counter(`sessionid=${key}`).expect(200)).body).toEqual({ count: 3 });
    expect(await sessionsCache().get(PREFIX[engine] + key)).toEqual({ count: 3 });
  });

  it('DELETE /session empties the session, deletes it and the cookie', async () => {
    const key = responseSessionKey((await counter()).headers);
    const res = await request(t.server).delete('/session').set('Cookie', `sessionid=${key}`).expect(200);
    expect(res.body).toEqual({});
    expect(responseSessionKey(res.headers)).toBe('');
    expect(String(res.headers['set-cookie'])).toMatch(/Max-Age=0/);
    expect(await sessionsCache().get(PREFIX[engine] + key)).toBeUndefined();
    // The old cookie now opens a fresh, empty session.
    expect((await counter(`sessionid=${key}`).expect(200)).body).toEqual({ count: 1 });
  });

  it.each([
    ['an unknown', () => 'unknownsessionkey0000000000000000'],
    ['a tampered', (key: string) => `${key.slice(0, -1)}${key.endsWith('a') ? 'b' : 'a'}`],
  ])('%s cookie gets a fresh empty session', async (_label, cookieKey) => {
    const key = responseSessionKey((await counter().expect(200)).headers)!;
    const sent = cookieKey(key);
    const read = await request(t.server).get('/session').set('Cookie', `sessionid=${sent}`).expect(200);
    expect(read.body).toEqual({});
    const res = await counter(`sessionid=${sent}`).expect(200);
    expect(res.body).toEqual({ count: 1 });
    expect(responseSessionKey(res.headers)).not.toBe(sent);
    expect(await sessionsCache().get(PREFIX[engine] + sent)).toBeUndefined();
  });
});

describe('which cache the cache engines use', () => {
  const open = async (sessions: Partial<SessionsModuleOptions>, imports: DynamicModule[]) => {
    const t = await createTestApp({ sessions: { engine: 'cache', ...sessions }, imports });
    return { t, cache: t.app.get<SessionsCache>(SESSIONS_CACHE).cache };
  };

  it("the app's CACHE_MANAGER, even from a CacheModule that is not global", async () => {
    const { t, cache } = await open({}, [CacheModule.register({ stores: [new Keyv()] })]);
    try {
      expect(cache).toBe(t.app.get(CACHE_MANAGER, { strict: false }));
    } finally {
      await t.close();
    }
  });

  it('the cache option before the CACHE_MANAGER', async () => {
    const own = createCache({ stores: [new Keyv()] });
    const { t, cache } = await open({ cache: own }, [CacheModule.register({ isGlobal: true })]);
    try {
      expect(cache).toBe(own);
    } finally {
      await t.close();
    }
  });
});

/** The example app (`AppModule.forRoot(loadConfig(env))`), counting its django_session queries. */
async function startExampleApp(env: Record<string, string>): Promise<{ app: INestApplication; server: Server; queries: QueryCounter }> {
  const queries = new QueryCounter();
  const config = loadConfig({ SECRET_KEY: TEST_SECRET_KEY, CLEARSESSIONS_CRON: 'false', LOG_LEVEL: 'error', ...env });
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config, { logging: true, logger: queries })] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  queries.reset();
  return { app, server: app.getHttpServer() as Server, queries };
}

describe('acceptance: cached_db with Redis on PostgreSQL (example app)', () => {
  const redis = privateRedis(PRIVATE_REDIS_PORT);
  let database: TestDatabase;
  let example: Awaited<ReturnType<typeof startExampleApp>>;
  let cookie: string;

  beforeAll(async () => {
    await redis.start();
    database = await createTestDatabase('postgres');
    example = await startExampleApp({
      SESSION_ENGINE: 'cached_db',
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      REDIS_NAMESPACE: uniqueNamespace('acceptance'),
    });
    const res = await request(example.server).post('/session').send({ user: 'alice' }).expect(200);
    cookie = `sessionid=${responseSessionKey(res.headers)}`;
  });
  afterAll(async () => {
    await example?.app.close();
    await redis.stop();
    await database?.drop();
  });

  const read = () => request(example.server).get('/session').set('Cookie', cookie).expect(200);

  it('a read of a cached session makes no database query', async () => {
    example.queries.reset();
    expect((await read()).body).toEqual({ user: 'alice' });
    expect((await read()).body).toEqual({ user: 'alice' });
    expect(example.queries.count).toBe(0);
  });

  it('with Redis stopped, requests fall back to the database; once it is back, reads come from the cache again', async () => {
    const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      await redis.stop();
      example.queries.reset();
      expect((await read()).body).toEqual({ user: 'alice' });
      expect(example.queries.count).toBe(1); // the SELECT the cache would have saved
      const counted = await request(example.server).get('/counter').set('Cookie', cookie).expect(200);
      expect(counted.body).toEqual({ count: 1 });
      expect(errors.mock.calls.map(([message]) => String(message))).toContainEqual(
        expect.stringMatching(/^Error saving to cache \(KeyvRedis\)/),
      );
      expect((await read()).body).toEqual({ user: 'alice', count: 1 });
    } finally {
      errors.mockRestore();
    }

    await redis.start(); // empty: it keeps nothing on disk
    const client = example.app.get<SessionsCache>(SESSIONS_CACHE).cache.stores[0].store as { client: { isReady: boolean } };
    for (let attempt = 0; !client.client.isReady; attempt++) {
      if (attempt > 200) throw new Error('the Redis client did not reconnect');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect((await read()).body).toEqual({ user: 'alice', count: 1 }); // a miss: read from the database, back in the cache
    example.queries.reset();
    expect((await read()).body).toEqual({ user: 'alice', count: 1 });
    expect(example.queries.count).toBe(0);
  });
});

describe.each(CACHE_ENGINES)('acceptance: two app instances on one PostgreSQL + Redis share %s sessions', (engine) => {
  let database: TestDatabase;
  let first: Awaited<ReturnType<typeof startExampleApp>>;
  let second: Awaited<ReturnType<typeof startExampleApp>>;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    const env = { SESSION_ENGINE: engine, DATABASE_URL: database.url, REDIS_URL, REDIS_NAMESPACE: uniqueNamespace('instances') };
    first = await startExampleApp(env);
    second = await startExampleApp(env);
  });
  afterAll(async () => {
    await first?.app.get<SessionsCache>(SESSIONS_CACHE).cache.stores[0].clear();
    await first?.app.close();
    await second?.app.close();
    await database?.drop();
  });

  it('a write through one instance is read through the other at once', async () => {
    expect(first.app.get(SessionStore)).not.toBe(second.app.get(SessionStore));
    const created = await request(first.server).post('/session').send({ user: 'alice' }).expect(200);
    const cookie = `sessionid=${responseSessionKey(created.headers)}`;
    expect((await request(second.server).get('/session').set('Cookie', cookie).expect(200)).body).toEqual({ user: 'alice' });
    expect((await request(second.server).get('/counter').set('Cookie', cookie).expect(200)).body).toEqual({ count: 1 });
    expect((await request(first.server).get('/counter').set('Cookie', cookie).expect(200)).body).toEqual({ count: 2 });
    await request(second.server).delete('/session').set('Cookie', cookie).expect(200);
    expect((await request(first.server).get('/session').set('Cookie', cookie).expect(200)).body).toEqual({});
  });
});
