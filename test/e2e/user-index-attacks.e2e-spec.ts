/**
 * The user index and the shared login against a hostile client (issue 25), over HTTP against the
 * example app on every engine with a user index: data that merely names a user, sessions a password
 * change signed out, a stolen session cycling its key through "log out my other devices", and a
 * signed-in session whose expiry was raised after login on the cache engine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import type { SessionsCache } from '../../src/sessions';
import { MODEL_BACKEND } from '../../src/sessions/auth';
import { SESSIONS_CACHE } from '../../src/sessions/sessions.constants';
import { REDIS_URL, uniqueNamespace } from '../support/caches';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from '../support/databases';
import { createDjangoUserTable, insertDjangoUser, setDjangoPassword } from '../support/django-users';
import { SessionCookieJar } from '../support/engine-http';
import { startExampleApp, type ExampleApp } from '../support/example-app';

jest.setTimeout(120_000);

interface StoreSetUp {
  engine: 'db' | 'cached_db' | 'cache' | 'file';
  database: DatabaseKind;
  /** The store's environment beyond DATABASE_URL (given a fresh Redis namespace / directory). */
  env: (scratch: { namespace: string; directory: string }) => Record<string, string>;
  /** Whether the engine enforces MAX_SESSIONS_PER_USER (the file engine has no lock for a cap). */
  cap: boolean;
}

const SET_UPS: Record<string, StoreSetUp> = {
  'db on SQLite, Express': { engine: 'db', database: 'sqlite', env: () => ({ SESSION_ENGINE: 'db' }), cap: true },
  'db on PostgreSQL, Fastify': {
    engine: 'db',
    database: 'postgres',
    env: () => ({ SESSION_ENGINE: 'db', HTTP_PLATFORM: 'fastify' }),
    cap: true,
  },
  'cached_db on PostgreSQL + Redis, Express': {
    engine: 'cached_db',
    database: 'postgres',
    env: ({ namespace }) => ({ SESSION_ENGINE: 'cached_db', REDIS_URL, REDIS_NAMESPACE: namespace }),
    cap: true,
  },
  'cache on Redis, Express': {
    engine: 'cache',
    database: 'sqlite',
    env: ({ namespace }) => ({ SESSION_ENGINE: 'cache', REDIS_URL, REDIS_NAMESPACE: namespace }),
    cap: true,
  },
  'cache in memory, Fastify': {
    engine: 'cache',
    database: 'sqlite',
    env: () => ({ SESSION_ENGINE: 'cache', HTTP_PLATFORM: 'fastify' }),
    cap: true,
  },
  'file, Express': {
    engine: 'file',
    database: 'sqlite',
    env: ({ directory }) => ({ SESSION_ENGINE: 'file', SESSION_FILE_PATH: directory }),
    cap: false,
  },
};

/** A browser: its own session cookie. */
class Client {
  readonly jar = new SessionCookieJar();
  constructor(
    private readonly app: ExampleApp,
    readonly userAgent = 'test-browser',
  ) {}

  async send(method: 'get' | 'post', path: string, body?: object) {
    const res = await request(this.app.server)[method](path).set('Cookie', this.jar.header).set('User-Agent', this.userAgent).send(body);
    this.jar.update(res.headers);
    return res;
  }
}

describe.each(Object.entries(SET_UPS))('the user index under attack: %s', (_label, setUp) => {
  let database: TestDatabase;
  let namespace: string;
  let directory: string;
  const opened: ExampleApp[] = [];
  const open = async (env: Record<string, string>) => {
    const app = await startExampleApp({
      DATABASE_URL: database.url,
      USER_SESSIONS: 'true',
      LOGIN_RATE_LIMIT: '1000',
      ...setUp.env({ namespace, directory }),
      ...env,
    });
    opened.push(app);
    return app;
  };

  beforeAll(async () => {
    database = await createTestDatabase(setUp.database);
    await createDjangoUserTable(database);
    namespace = uniqueNamespace('user-index-attacks');
    directory = mkdtempSync(join(tmpdir(), 'user-index-attacks-'));
  });
  afterAll(async () => {
    for (const app of opened.splice(0)) {
      if (setUp.env({ namespace, directory }).REDIS_NAMESPACE) await app.app.get<SessionsCache>(SESSIONS_CACHE).cache.stores[0].clear(); // this namespace's keys only
      await app.close();
    }
    await database?.drop();
    rmSync(directory, { recursive: true, force: true });
  });

  describe('with the Django auth bridge (DJANGO_AUTH=true)', () => {
    let app: ExampleApp;
    beforeAll(async () => {
      app = await open({ DJANGO_AUTH: 'true' });
    });
    const signIn = async (username: string, password: string) => {
      const client = new Client(app);
      expect((await client.send('post', '/auth/login', { username, password })).status).toBe(200);
      return client;
    };

    it("3. a session whose data merely names a user is not that user's: it neither lists nor revokes the user's sessions, nor is listed", async () => {
      const aliceId = await insertDjangoUser(database, { username: 'alice', password: 'alice-password' });
      const intruder = new Client(app);
      await intruder.send('post', '/session', { _auth_user_id: String(aliceId), _auth_user_backend: MODEL_BACKEND });
      const alice = await signIn('alice', 'alice-password');
      expect((await alice.send('get', '/me/sessions')).body).toEqual([expect.objectContaining({ current: true })]);
      expect((await intruder.send('post', '/me/sessions/revoke-others')).status).toBe(401);
      expect((await intruder.send('get', '/me/sessions')).status).toBe(401);
      expect((await alice.send('get', '/me')).status).toBe(200);
    });

    it("3. a session a password change signed out cannot list the user's devices nor sign out the login made with the new password", async () => {
      await insertDjangoUser(database, { username: 'bruno', password: 'old password' });
      const stale = await signIn('bruno', 'old password');
      await setDjangoPassword(database, 'bruno', 'new password');
      const current = await signIn('bruno', 'new password');
      expect((await current.send('get', '/me/sessions')).body).toEqual([expect.objectContaining({ current: true })]);
      expect((await stale.send('post', '/me/sessions/revoke-others')).status).toBe(401);
      expect((await stale.send('get', '/me/sessions')).status).toBe(401);
      expect((await current.send('get', '/me')).status).toBe(200);
    });

    // The file engine refuses a cap (no lock to enforce it): nothing to test there.
    if (setUp.cap)
      describe('MAX_SESSIONS_PER_USER=3, MAX_SESSIONS_POLICY=refuse', () => {
        let capped: ExampleApp;
        beforeAll(async () => {
          capped = await open({ DJANGO_AUTH: 'true', MAX_SESSIONS_PER_USER: '3', MAX_SESSIONS_POLICY: 'refuse' });
        });
        const login = async (username: string, password: string) => {
          const client = new Client(capped);
          return { client, status: (await client.send('post', '/auth/login', { username, password })).status };
        };

        it("4. three anonymous sessions writing the user's id do not lock the user out", async () => {
          const id = await insertDjangoUser(database, { username: 'carla', password: 'carla-password' });
          for (let i = 0; i < 3; i++)
            await new Client(capped).send('post', '/session', { _auth_user_id: String(id), _auth_user_backend: MODEL_BACKEND });
          expect((await login('carla', 'carla-password')).status).toBe(200);
        });

        it('4. sessions a password change signed out no longer count: the login with the new password is let in, and the cap still holds', async () => {
          await insertDjangoUser(database, { username: 'dario', password: 'old password' });
          for (let i = 0; i < 3; i++) expect((await login('dario', 'old password')).status).toBe(200);
          expect((await login('dario', 'old password')).status).toBe(409); // the cap counts live logins
          await setDjangoPassword(database, 'dario', 'new password');
          for (let i = 0; i < 3; i++) expect((await login('dario', 'new password')).status).toBe(200);
          expect((await login('dario', 'new password')).status).toBe(409);
        });
      });
  });

  describe('with the demo login (USER_SESSIONS=true)', () => {
    let app: ExampleApp;
    beforeAll(async () => {
      app = await open({});
    });

    it('5. a stolen session cycling its key in a loop is signed out by "log out my other devices" (20 trials)', async () => {
      for (let trial = 0; trial < 20; trial++) {
        const user = `cycled-${trial}`;
        const [thief, owner] = [new Client(app), new Client(app)];
        await thief.send('post', '/login', { userId: user });
        await owner.send('post', '/login', { userId: user });
        let cycles = 0;
        let stop = false;
        const cycling = (async () => {
          while (!stop) {
            // 400 (Django's SessionInterrupted): the revocation deleted the new key before the response's save.
            expect([200, 400]).toContain((await thief.send('post', '/session/cycle')).status);
            cycles++;
          }
        })();
        while (cycles < 2) await new Promise((resolve) => setImmediate(resolve));
        expect((await owner.send('post', '/me/sessions/revoke-others')).status).toBe(200);
        stop = true;
        await cycling;
        expect([trial, (await thief.send('get', '/me/sessions')).status]).toEqual([trial, 401]);
        expect((await owner.send('get', '/me/sessions')).body).toEqual([expect.objectContaining({ current: true })]);
      }
    });

    // The file engine keeps no activity of its own (a file's last write is its lastActivity).
    if (setUp.engine !== 'file')
      it("8. a signed-in session's first use within activityInterval (60 s) of its login leaves last_activity as the login wrote it; one after it records the use", async () => {
        const realNow = Date.now.bind(Date);
        let offset = 0;
        const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
        try {
          const [soon, later, observer] = [new Client(app, 'soon'), new Client(app, 'later'), new Client(app, 'observer')];
          for (const client of [soon, later, observer]) await client.send('post', '/login', { userId: 'activity' });
          // Read through a third device: a listing is a use of the session asking.
          const activityOf = async (client: Client) =>
            ((await observer.send('get', '/me/sessions')).body as { userAgent: string; lastActivity: string }[]).find(
              (s) => s.userAgent === client.userAgent,
            )!.lastActivity;
          const [soonAtLogin, laterAtLogin] = [await activityOf(soon), await activityOf(later)];
          offset = 10_000;
          await soon.send('get', '/counter'); // 10 s after its login
          offset = 61_000;
          await later.send('get', '/counter'); // 61 s after its login
          // The later write is recorded (not awaited by the request): wait for it, so the earlier one, sent first, would be in too.
          const deadline = realNow() + 5000;
          while ((await activityOf(later)) === laterAtLogin && realNow() < deadline)
            await new Promise((resolve) => setTimeout(resolve, 10));
          expect(await activityOf(later)).not.toBe(laterAtLogin);
          expect(await activityOf(soon)).toBe(soonAtLogin);
        } finally {
          clock.mockRestore();
        }
      });

    if (setUp.engine === 'cache')
      it("1. cache engine: a session whose expiry was raised after login stays in its user's index past its login-time expiry", async () => {
        const [phone, laptop] = [new Client(app), new Client(app)];
        await phone.send('post', '/session/expiry', { seconds: 1 });
        await phone.send('post', '/login', { userId: 'raised' });
        await phone.send('post', '/session/expiry', { seconds: 3600 });
        await new Promise((resolve) => setTimeout(resolve, 1500)); // past the 1 s the index had at login
        await laptop.send('post', '/login', { userId: 'raised' });
        expect(((await laptop.send('get', '/me/sessions')).body as unknown[]).length).toBe(2);
        expect((await laptop.send('post', '/me/sessions/revoke-others')).body).toEqual({ revoked: 1 });
        expect((await phone.send('get', '/me/sessions')).status).toBe(401);
      });
  });
});
