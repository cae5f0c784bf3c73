/**
 * Switching the user index (`userSessions`, USER_SESSIONS) on and off in a running deployment
 * (issue 27, item 1): the db engines then read another table (django_session ↔ user_session). Every
 * live session must survive the switch, each way, on SQLite and PostgreSQL, on `db` and `cached_db`;
 * and clearsessions must purge the expired rows of both tables while both hold sessions.
 */
import request from 'supertest';
import { ClearSessionsService, type SessionsCache } from '../../src/sessions';
import { SESSIONS_CACHE } from '../../src/sessions/sessions.constants';
import { REDIS_URL, uniqueNamespace } from '../support/caches';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../support/databases';
import { djangoSql } from '../support/django-users';
import { SessionCookieJar } from '../support/engine-http';
import { startExampleApp, type ExampleApp } from '../support/example-app';

jest.setTimeout(60_000);

const counter = async (app: ExampleApp, jar: SessionCookieJar) => {
  const res = await request(app.server).get('/counter').set('Cookie', jar.header);
  jar.update(res.headers);
  return (res.body as { count: number }).count;
};

const rows = async (database: TestDatabase, table: string) =>
  Number((await djangoSql<{ n: number | string }>(database, `SELECT COUNT(*) AS n FROM ${table}`))[0].n);

describe.each(DATABASE_KINDS.flatMap((kind) => [[kind, 'db'] as const, ...(kind === 'postgres' ? [[kind, 'cached_db'] as const] : [])]))(
  'switching USER_SESSIONS on %s (%s engine)',
  (kind, engine) => {
    let database: TestDatabase;
    const namespace = uniqueNamespace('user-sessions-switch');
    const env = (userSessions: boolean) => ({
      DATABASE_URL: database.url,
      SESSION_ENGINE: engine,
      ...(engine === 'cached_db' ? { REDIS_URL, REDIS_NAMESPACE: namespace } : {}),
      USER_SESSIONS: String(userSessions),
    });

    beforeAll(async () => {
      database = await createTestDatabase(kind);
    });
    afterAll(() => database?.drop());

    it('keeps every live session through a switch on and a switch off, and clearsessions purges both tables meanwhile', async () => {
      const [alice, bob] = [new SessionCookieJar(), new SessionCookieJar()];
      let app = await startExampleApp(env(false));
      try {
        expect([await counter(app, alice), await counter(app, alice), await counter(app, bob)]).toEqual([1, 2, 1]);
      } finally {
        await app.close();
      }
      expect([await rows(database, 'django_session'), await rows(database, 'user_session')]).toEqual([2, 0]);

      // On: both sessions go on where they were; each moves to user_session at its first use.
      app = await startExampleApp(env(true));
      try {
        expect(await counter(app, alice)).toBe(3);
        expect([await rows(database, 'django_session'), await rows(database, 'user_session')]).toEqual([1, 1]);
        // An expired row in each table: clearsessions deletes both, and leaves bob's unmoved live session.
        await djangoSql(
          database,
          "INSERT INTO django_session (session_key, session_data, expire_date) VALUES ('expiredlegacy0000000000000000001', 'x', $1)",
          [kind === 'sqlite' ? '2001-01-01 00:00:00' : new Date('2001-01-01')],
        );
        await djangoSql(
          database,
          "INSERT INTO user_session (session_key, session_data, expire_date) VALUES ('expiredindexed000000000000000001', 'x', $1)",
          [kind === 'sqlite' ? '2001-01-01 00:00:00' : new Date('2001-01-01')],
        );
        expect((await app.app.get(ClearSessionsService).run()).deleted).toBe(2);
        expect([await rows(database, 'django_session'), await rows(database, 'user_session')]).toEqual([1, 1]);
        expect(await counter(app, bob)).toBe(2);
      } finally {
        await app.close();
      }

      // Off again: both sessions, now in user_session, go on in django_session.
      app = await startExampleApp(env(false));
      try {
        expect([await counter(app, alice), await counter(app, bob)]).toEqual([4, 3]);
        expect([await rows(database, 'django_session'), await rows(database, 'user_session')]).toEqual([2, 0]);
      } finally {
        if (engine === 'cached_db') await app.app.get<SessionsCache>(SESSIONS_CACHE).cache.stores[0].clear(); // this namespace's keys only
        await app.close();
      }
    });
  },
);
