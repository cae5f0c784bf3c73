/**
 * The cache engine's user index over HTTP (issue 15): the example app on Redis with USER_SESSIONS,
 * three devices of one user, revoke, revoke-others, the cap with each policy, and a revocation
 * through a second instance seen by the first at once.
 */
import { Test } from '@nestjs/testing';
import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';
import request from 'supertest';
import { loadConfig } from '../../example/app.config';
import { AppModule } from '../../example/app.module';
import { SESSIONS_CACHE } from '../../src/sessions/sessions.constants';
import type { SessionsCache } from '../../src/sessions';
import { TEST_SECRET_KEY } from '../support/app';
import { REDIS_URL, uniqueNamespace } from '../support/caches';
import { createTestDatabase, type TestDatabase } from '../support/databases';

interface Instance {
  app: INestApplication;
  server: Server;
}

async function boot(database: TestDatabase, namespace: string, env: Record<string, string> = {}): Promise<Instance> {
  const config = loadConfig({
    SECRET_KEY: TEST_SECRET_KEY,
    CLEARSESSIONS_CRON: 'false',
    LOG_LEVEL: 'error',
    SESSION_ENGINE: 'cache',
    DATABASE_URL: database.url,
    REDIS_URL,
    REDIS_NAMESPACE: namespace,
    USER_SESSIONS: 'true',
    ...env,
  });
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return { app, server: app.getHttpServer() as Server };
}

/** A browser: its own cookie and User-Agent. */
class Device {
  cookie = '';
  constructor(readonly agent: string) {}

  async send(instance: Instance, method: 'get' | 'post' | 'delete', path: string, body?: object) {
    const res = await request(instance.server)[method](path).set('User-Agent', this.agent).set('Cookie', this.cookie).send(body);
    const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('sessionid='));
    if (set) this.cookie = set.split(';')[0];
    return res;
  }
}

describe('user index on the cache engine over HTTP (Redis)', () => {
  let database: TestDatabase;
  let namespace: string;
  const opened: Instance[] = [];
  const open = async (env: Record<string, string> = {}) => {
    const instance = await boot(database, namespace, env);
    opened.push(instance);
    return instance;
  };

  beforeEach(async () => {
    database = await createTestDatabase('sqlite');
    namespace = uniqueNamespace('user-sessions-cache');
  });
  afterEach(async () => {
    if (opened[0]) await opened[0].app.get<SessionsCache>(SESSIONS_CACHE).cache.stores[0].clear(); // this namespace's keys only
    for (const instance of opened.splice(0)) await instance.app.close();
    await database.drop();
  });

  it('three devices: listed with the current one marked; one revoked from another; then the others', async () => {
    const app = await open();
    const [a, b, c] = ['phone', 'laptop', 'tablet'].map((agent) => new Device(agent));
    for (const device of [a, b, c]) expect((await device.send(app, 'post', '/login', { userId: '42' })).status).toBe(200);
    const list = (await a.send(app, 'get', '/me/sessions')).body as { id: string; current: boolean; userAgent: string }[];
    expect(list.map((s) => [s.userAgent, s.current]).sort()).toEqual([
      ['laptop', false],
      ['phone', true],
      ['tablet', false],
    ]);
    const laptop = list.find((s) => s.userAgent === 'laptop')!;
    expect((await a.send(app, 'delete', `/me/sessions/${laptop.id}`)).body).toEqual({ revoked: true });
    expect((await b.send(app, 'get', '/me/sessions')).status).toBe(401);
    expect((await a.send(app, 'post', '/me/sessions/revoke-others')).body).toEqual({ revoked: 1 });
    expect((await c.send(app, 'get', '/me/sessions')).status).toBe(401);
    expect(((await a.send(app, 'get', '/me/sessions')).body as unknown[]).length).toBe(1);
  });

  it.each(['evict', 'refuse'])('caps at 2 (%s)', async (policy) => {
    const app = await open({ MAX_SESSIONS_PER_USER: '2', MAX_SESSIONS_POLICY: policy });
    const [a, b, c] = ['a', 'b', 'c'].map((agent) => new Device(agent));
    for (const device of [a, b]) expect((await device.send(app, 'post', '/login', { userId: '7' })).status).toBe(200);
    const third = await c.send(app, 'post', '/login', { userId: '7' });
    if (policy === 'evict') {
      expect(third.status).toBe(200);
      expect((await a.send(app, 'get', '/me/sessions')).status).toBe(401);
    } else {
      expect(third.status).toBe(409);
      expect((await c.send(app, 'get', '/me/sessions')).status).toBe(401);
      expect((await a.send(app, 'get', '/me/sessions')).status).toBe(200);
    }
    expect(((await b.send(app, 'get', '/me/sessions')).body as unknown[]).length).toBe(2);
  });

  it('a revocation through a second instance is seen by the first at once', async () => {
    const [first, second] = [await open(), await open()];
    const [a, b] = [new Device('a'), new Device('b')];
    await a.send(first, 'post', '/login', { userId: '9' });
    await b.send(second, 'post', '/login', { userId: '9' });
    expect((await a.send(first, 'get', '/counter')).body).toEqual({ count: 1 });
    expect((await b.send(second, 'post', '/me/sessions/revoke-others')).body).toEqual({ revoked: 1 });
    expect((await a.send(first, 'get', '/me/sessions')).status).toBe(401);
    expect((await a.send(first, 'get', '/counter')).body).toEqual({ count: 1 }); // a new, anonymous session
  });
});
