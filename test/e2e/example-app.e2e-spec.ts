/**
 * The example app (src/app.controller.ts, configured by loadConfig like `npm start`) on SQLite and
 * PostgreSQL, the query-count acceptance figures, and SessionsModule's async set-up.
 */
import { Inject, Injectable, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { Server } from 'node:http';
import request from 'supertest';
import { ConfigError, loadConfig } from '../../example/app.config';
import { AppModule } from '../../example/app.module';
import { DbSessionStore, SessionsModule, SessionStore, type SessionsModuleOptions, type SessionsOptionsFactory } from '../../src/sessions';
import { SessionTestController } from '../fixtures/session-test.controller';
import { responseCookie, responseSessionKey, TEST_SECRET_KEY } from '../support/app';
import { createTestDatabase, DATABASE_KINDS, QueryCounter, type TestDatabase } from '../support/databases';

const SELECT_BY_KEY = /^SELECT .* FROM "django_session" WHERE "session_key" = \S+ AND "expire_date" > \S+$/;

describe.each(DATABASE_KINDS)('example app on %s', (kind) => {
  let database: TestDatabase;
  let app: INestApplication;
  let server: Server;
  const queries = new QueryCounter();

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    const config = loadConfig({ DATABASE_URL: database.url, SECRET_KEY: TEST_SECRET_KEY, CLEARSESSIONS_CRON: 'false', LOG_LEVEL: 'error' });
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot(config, { logging: true, logger: queries })],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    server = app.getHttpServer() as Server;
  });
  afterAll(async () => {
    await app?.close();
    await database?.drop();
  });

  const store = () => app.get<DbSessionStore>(SessionStore);
  const storedData = async (key: string | undefined) => {
    const placeholder = kind === 'postgres' ? '$1' : '?';
    const rows: { session_data: string }[] = await store().dataSource.query(
      `SELECT session_data FROM django_session WHERE session_key = ${placeholder}`,
      [key],
    );
    return rows.length ? store().getDecoded({ sessionData: rows[0].session_data }) : undefined;
  };
  /** A new session holding `data`; returns its cookie header. */
  const sessionWith = async (data: Record<string, unknown>) => {
    const res = await request(server).post('/session').send(data).expect(200);
    return `sessionid=${responseSessionKey(res.headers)}`;
  };

  it('GET /ping never touches the session', async () => {
    const res = await request(server).get('/ping').expect(200);
    expect(res.body).toEqual({ pong: true });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.headers.vary).toBeUndefined();
  });

  it('POST /session merges a JSON object; GET /session returns the data', async () => {
    const first = await request(server)
      .post('/session')
      .send({ cart: [1, 2], name: 'é' })
      .expect(200);
    expect(first.body).toEqual({ cart: [1, 2], name: 'é' });
    const cookie = `sessionid=${responseSessionKey(first.headers)}`;
    const merged = await request(server).post('/session').set('Cookie', cookie).send({ name: 'x', n: 1 }).expect(200);
    expect(merged.body).toEqual({ cart: [1, 2], name: 'x', n: 1 });
    const read = await request(server).get('/session').set('Cookie', cookie).expect(200);
    expect(read.body).toEqual({ cart: [1, 2], name: 'x', n: 1 });
    expect(read.headers['set-cookie']).toBeUndefined();
    expect(read.headers.vary).toBe('Cookie');
  });

  it('GET /session without a cookie is an empty object and sets no cookie', async () => {
    const res = await request(server).get('/session').expect(200);
    expect(res.body).toEqual({});
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it.each([
    ['an array', '[1,2]'],
    ['a string', '"text"'],
    ['a number', '42'],
    ['null', 'null'],
  ])('POST /session with %s is a 400 and stores nothing', async (_label, body) => {
    const cookie = await sessionWith({ keep: true });
    const res = await request(server).post('/session').set('Cookie', cookie).set('Content-Type', 'application/json').send(body).expect(400);
    expect((res.body as { statusCode: number }).statusCode).toBe(400);
    expect(JSON.stringify(res.body)).not.toMatch(/at \w+ \(/); // no stack trace
    expect(await storedData(cookie.slice('sessionid='.length))).toEqual({ keep: true });
  });

  it('DELETE /session flushes: row gone, cookie deleted', async () => {
    const cookie = await sessionWith({ a: 1 });
    const res = await request(server).delete('/session').set('Cookie', cookie).expect(200);
    expect(res.body).toEqual({});
    expect(responseCookie(res.headers)).toMatch(/^sessionid=; Max-Age=0;/);
    expect(await storedData(cookie.slice('sessionid='.length))).toBeUndefined();
  });

  it('GET /counter counts per session', async () => {
    const first = await request(server).get('/counter').expect(200);
    expect(first.body).toEqual({ count: 1 });
    const cookie = `sessionid=${responseSessionKey(first.headers)}`;
    for (const count of [2, 3]) {
      expect((await request(server).get('/counter').set('Cookie', cookie).expect(200)).body).toEqual({ count });
    }
    expect((await request(server).get('/counter').expect(200)).body).toEqual({ count: 1 });
  });

  it('POST /session/cycle: a new key with the same data; the old row is gone', async () => {
    const cookie = await sessionWith({ user: 'alice' });
    const oldKey = cookie.slice('sessionid='.length);
    const res = await request(server).post('/session/cycle').set('Cookie', cookie).expect(200);
    expect(res.body).toEqual({ user: 'alice' });
    const newKey = responseSessionKey(res.headers);
    expect(newKey).toMatch(/^[a-z0-9]{32}$/);
    expect(newKey).not.toBe(oldKey);
    expect(await storedData(newKey)).toEqual({ user: 'alice' });
    expect(await storedData(oldKey)).toBeUndefined();
  });

  it('POST /session/expiry with n, 0 and null', async () => {
    const cookie = await sessionWith({ a: 1 });
    const set = (seconds: unknown) => request(server).post('/session/expiry').set('Cookie', cookie).send({ seconds }).expect(200);

    const timed = await set(60);
    expect(timed.body).toEqual({ expiryAge: 60, expireAtBrowserClose: false });
    expect(responseCookie(timed.headers)).toMatch(/; Max-Age=60;/);

    const browser = await set(0);
    expect(browser.body).toEqual({ expiryAge: 1209600, expireAtBrowserClose: true });
    expect(responseCookie(browser.headers)).not.toMatch(/Max-Age|Expires/);

    const reset = await set(null);
    expect(reset.body).toEqual({ expiryAge: 1209600, expireAtBrowserClose: false });
    expect(responseCookie(reset.headers)).toMatch(/; Max-Age=1209600;/);
    expect(await storedData(cookie.slice('sessionid='.length))).toEqual({ a: 1 });

    await request(server).post('/session/expiry').set('Cookie', cookie).send({ seconds: 'soon' }).expect(400);
  });

  describe('acceptance: queries on django_session', () => {
    it('100 requests to /ping with a valid session cookie make no query', async () => {
      const cookie = await sessionWith({ a: 1 });
      queries.reset();
      for (let i = 0; i < 100; i++) await request(server).get('/ping').set('Cookie', cookie).expect(200);
      expect(queries.queries).toEqual([]);
    });

    it('100 requests to GET /session make exactly one SELECT by session_key each', async () => {
      const cookie = await sessionWith({ a: 1 });
      queries.reset();
      for (let i = 0; i < 100; i++) {
        expect((await request(server).get('/session').set('Cookie', cookie).expect(200)).body).toEqual({ a: 1 });
      }
      expect(queries.count).toBe(100);
      for (const query of queries.queries) expect(query).toMatch(SELECT_BY_KEY);
    });
  });
});

describe('SessionsModule set-up', () => {
  const SECRET = 'SESSIONS_TEST_SECRET';

  @Module({ providers: [{ provide: SECRET, useValue: TEST_SECRET_KEY }], exports: [SECRET] })
  class SecretModule {}

  @Injectable()
  class SessionsOptions implements SessionsOptionsFactory {
    constructor(@Inject(SECRET) private readonly secret: string) {}
    createSessionsOptions(): SessionsModuleOptions {
      return { secretKey: this.secret, cookie: { name: 'classid' }, clearExpired: { cron: false } };
    }
  }

  let database: TestDatabase;
  beforeEach(async () => {
    database = await createTestDatabase('sqlite');
  });
  afterEach(() => database.drop());

  async function start(sessionsModule: unknown): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({
      imports: [TypeOrmModule.forRoot({ ...database.options, migrationsRun: true }), sessionsModule as never],
      controllers: [SessionTestController],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    return app;
  }

  async function roundTrip(app: INestApplication, cookieName: string): Promise<void> {
    const server = app.getHttpServer() as Server;
    const key = responseSessionKey((await request(server).get('/t/set').expect(200)).headers, cookieName);
    expect(key).toMatch(/^[a-z0-9]{32}$/);
    const read = await request(server).get('/t/read').set('Cookie', `${cookieName}=${key}`).expect(200);
    expect(read.body).toEqual({ hello: 'world' });
  }

  it('forRootAsync with imports, inject and useFactory', async () => {
    const app = await start(
      SessionsModule.forRootAsync({
        imports: [SecretModule],
        inject: [SECRET],
        useFactory: (secretKey: string) => Promise.resolve({ secretKey, cookie: { name: 'factoryid' }, clearExpired: { cron: false } }),
      }),
    );
    try {
      await roundTrip(app, 'factoryid');
    } finally {
      await app.close();
    }
  });

  it('forRootAsync with useClass', async () => {
    const app = await start(SessionsModule.forRootAsync({ imports: [SecretModule], useClass: SessionsOptions }));
    try {
      await roundTrip(app, 'classid');
    } finally {
      await app.close();
    }
  });

  it('a missing secret key stops start-up with a message naming the option', async () => {
    const error = /SessionsModule option "secretKey" is required/;
    await expect(start(SessionsModule.forRoot({} as SessionsModuleOptions))).rejects.toThrow(error);
    await expect(start(SessionsModule.forRootAsync({ useFactory: () => ({ secretKey: '' }) }))).rejects.toThrow(error);
  });

  it('an unknown engine and a bad sameSite stop start-up, naming the option', async () => {
    await expect(start(SessionsModule.forRoot({ secretKey: 'k', engine: 'memcached' as never }))).rejects.toThrow(/option "engine"/);
    await expect(start(SessionsModule.forRoot({ secretKey: 'k', cookie: { sameSite: 'Sometimes' as never } }))).rejects.toThrow(
      /option "cookie.sameSite"/,
    );
  });

  it('the example app refuses to start in production without SECRET_KEY', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(ConfigError);
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow('SECRET_KEY is required when NODE_ENV=production');
  });

  it('the example app takes one Redis (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES), not both', () => {
    const env = { SECRET_KEY: 'k' };
    expect(loadConfig({ ...env, REDIS_URL: 'redis://127.0.0.1:6379' }).redis).toEqual({ url: 'redis://127.0.0.1:6379' });
    expect(loadConfig({ ...env, REDIS_CLUSTER_NODES: '10.0.0.1:7000, 10.0.0.2:7001,[::1]:7002' }).redis).toEqual({
      clusterNodes: ['10.0.0.1:7000', '10.0.0.2:7001', '[::1]:7002'],
    });
    expect(loadConfig(env).redis).toBeUndefined();
    expect(() => loadConfig({ ...env, REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: '10.0.0.1:7000' })).toThrow(/not both/);
    expect(() => loadConfig({ ...env, REDIS_CLUSTER_NODES: 'redis://10.0.0.1:7000' })).toThrow(
      'REDIS_CLUSTER_NODES must be comma-separated host:port, got "redis://10.0.0.1:7000"',
    );
    expect(() => loadConfig({ ...env, REDIS_CLUSTER_NODES: ' , ' })).toThrow(ConfigError);
  });
});
