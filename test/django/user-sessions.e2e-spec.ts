/**
 * The user index ("Where you're signed in", `userSessions`) shared with a real Django: the
 * `user_session` table of the package's userSessionMigrations is also the table of a Django custom
 * session model (test/django/usersessions_app: Django's documented "Extending database-backed
 * session engines", the model and backend the README shows). Sessions either side writes are
 * listed, read and revoked by the other: the Nest side through DbSessionStore / CachedDbSessionStore
 * and UserSessionsService, then through the example app over HTTP (USER_SESSIONS=true); Django
 * through its own SessionStore and a `UserSession.objects.filter(user_id=...)` query.
 */
import { Test } from '@nestjs/testing';
import type { Server } from 'node:http';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { loadConfig } from '../../example/app.config';
import { AppModule } from '../../example/app.module';
import {
  CachedDbSessionStore,
  DbSessionStore,
  resolveSessionsOptions,
  SessionEntity,
  sessionMigrations,
  SessionsCache,
  UserSessionEntity,
  userSessionMigrations,
  UserSessionsService,
  type SessionsConfig,
  type UserSessionInfo,
} from '../../src/sessions';
import { responseSessionKey } from '../support/app';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../support/databases';
import { describeWithDjango, DjangoPeer, type DjangoSettings, type DjangoUserSessionRow } from './django-peer';

const SECRET_KEY = 'django-interop-user-sessions-secret-key';
const COOKIE_AGE = 1209600;

/** A fresh database with both tables, migrated by the package's migrations (Django migrates nothing). */
async function openUserIndexDatabase(kind: (typeof DATABASE_KINDS)[number]): Promise<{ database: TestDatabase; dataSource: DataSource }> {
  const database = await createTestDatabase(kind);
  const dataSource = new DataSource({
    ...database.options,
    entities: [SessionEntity, UserSessionEntity],
    migrations: [...sessionMigrations, ...userSessionMigrations],
  });
  await dataSource.initialize();
  await dataSource.runMigrations();
  return { database, dataSource };
}

/** Milliseconds of an ISO date Django wrote (microseconds cut, as a JavaScript Date holds them). */
function ms(iso: string | null | undefined): number {
  return new Date(iso as string).getTime();
}

describeWithDjango('Django and the Nest side share the user index (user_session)', () => {
  describe.each(DATABASE_KINDS)('on %s', (kind) => {
    describe.each([
      ['db', 'user_db'],
      ['cached_db', 'user_cached_db'],
    ] as const)('Nest %s engine, Django %s', (nestEngine, djangoEngine) => {
      let database: TestDatabase;
      let dataSource: DataSource;
      let config: SessionsConfig;
      let store: DbSessionStore;
      let service: UserSessionsService;
      let django: DjangoPeer;
      const settings: DjangoSettings = { SESSION_ENGINE: djangoEngine };

      beforeAll(async () => {
        ({ database, dataSource } = await openUserIndexDatabase(kind));
        config = resolveSessionsOptions({ secretKey: SECRET_KEY, engine: nestEngine, userSessions: {} });
        store =
          nestEngine === 'db'
            ? new DbSessionStore(config, dataSource)
            : new CachedDbSessionStore(config, dataSource, new SessionsCache(config));
        service = new UserSessionsService(store, config);
        django = new DjangoPeer(database.url, SECRET_KEY, { userSessions: true });
      });
      afterAll(async () => {
        await django?.close();
        if (dataSource?.isInitialized) await dataSource.destroy();
        await database?.drop();
      });

      /** A session the Nest store writes with this data (a login when it holds `_auth_user_id`). */
      async function nestWrite(data: Record<string, unknown>, client?: { ip: string; userAgent: string }): Promise<string> {
        const session = store.session(null);
        session.client = client;
        session.update(data);
        await session.save();
        return session.sessionKey as string;
      }

      /** What a fresh Nest store (no cache) loads for this key. */
      async function nestLoad(key: string): Promise<{ key: string | null; data: Record<string, unknown> }> {
        const fresh =
          nestEngine === 'db'
            ? new DbSessionStore(config, dataSource)
            : new CachedDbSessionStore(config, dataSource, new SessionsCache(config));
        const session = fresh.session(key);
        await session.ensureLoaded();
        return { key: session.sessionKey, data: session.toJSON() };
      }

      describe('Django signs in, the Nest side lists and revokes', () => {
        it("a Django session with _auth_user_id '7' is listed by UserSessionsService.list('7'), with Django's columns", async () => {
          const written = await django.create({ _auth_user_id: '7', cart: [1, 2] }, settings);
          const row = written.row as DjangoUserSessionRow;
          expect(row).toMatchObject({
            user_id: '7',
            ip: null,
            user_agent: null,
            created: expect.any(String),
            last_activity: expect.any(String),
          });
          expect(written.stored_json?.value).toBe(written.django_json?.value);

          const listed = await service.list('7');
          expect(listed).toEqual([
            {
              id: expect.stringMatching(/^[\w-]{22}$/),
              current: false,
              createdAt: new Date(ms(row.created)),
              lastActivity: new Date(ms(row.last_activity)),
              expireDate: new Date(ms(row.expire_date)),
              ip: null,
              userAgent: null,
            },
          ]);
          expect(ms(row.expire_date) - ms(row.created)).toBeGreaterThanOrEqual(COOKIE_AGE * 1000 - 1000);
          expect(await service.list('70')).toEqual([]);
          expect(await nestLoad(written.key as string)).toEqual({ key: written.key, data: { _auth_user_id: '7', cart: [1, 2] } });
          // `current` marks the asking session.
          const current = store.session(written.key);
          expect((await service.list('7', current)).map((s) => s.current)).toEqual([true]);

          expect(await service.revoke('7', listed[0].id)).toBe(true);
          const seen = await django.read(written.key as string, settings);
          expect(seen).toMatchObject({ key: null, data: {}, exists: false, row: null });
          expect(await django.userSessions('7')).toEqual([]);
          expect(await service.list('7')).toEqual([]);
          expect(await service.revoke('7', listed[0].id)).toBe(false);
        });

        it("an integer _auth_user_id is the same user '9' on both sides; revokeAll signs out every Django session", async () => {
          const [a, b, other] = [
            await django.create({ _auth_user_id: 9 }, settings),
            await django.create({ _auth_user_id: '9' }, settings),
            await django.create({ _auth_user_id: '90' }, settings),
          ];
          expect((a.row as DjangoUserSessionRow).user_id).toBe('9');
          expect(await service.count('9')).toBe(2);
          expect(await service.revokeAll('9')).toBe(2);
          for (const gone of [a, b]) expect(await django.read(gone.key as string, settings)).toMatchObject({ key: null, exists: false });
          expect(await django.read(other.key as string, settings)).toMatchObject({ key: other.key, exists: true });
          await django.delete(other.key as string, settings);
        });

        it("an anonymous Django session is in nobody's list until the Nest side signs it in", async () => {
          const written = await django.create({ cart: [1] }, settings);
          expect((written.row as DjangoUserSessionRow).user_id).toBeNull();
          const session = store.session(written.key);
          await session.ensureLoaded();
          session.set('_auth_user_id', '11');
          await session.save();
          expect((await service.list('11')).length).toBe(1);
          expect((await django.userSessions('11')).map((s) => s.key)).toEqual([written.key]);
          expect(await django.deleteUserSessions('11')).toBe(1);
        });

        it('Django cycle_key() (its login) moves the session: the list shows the new one only', async () => {
          const written = await django.create({ _auth_user_id: '12' }, settings);
          const before = await service.list('12');
          const cycled = await django.cycleKey(written.key as string, settings);
          expect(cycled.original_key_exists).toBe(false);
          expect((cycled.row as DjangoUserSessionRow).user_id).toBe('12');
          const after = await service.list('12');
          expect(after).toHaveLength(1);
          expect(after[0].id).not.toBe(before[0].id);
          expect(after[0].current).toBe(false);
          expect((await service.list('12', store.session(cycled.key))).map((s) => s.current)).toEqual([true]);
          expect(await service.revokeAll('12')).toBe(1);
        });
      });

      describe('the Nest side signs in, Django reads, lists and deletes', () => {
        it("a Nest session with _auth_user_id '8' is read by Django's custom store, listed by UserSession.objects.filter(user_id='8'), deleted by Django", async () => {
          const data = { _auth_user_id: '8', cart: [3], prefs: { lang: 'fr' } };
          const key = await nestWrite(data, { ip: '203.0.113.5', userAgent: 'Mozilla/5.0 (X11; Linux x86_64)' });

          const seen = await django.read(key, settings);
          expect(seen).toMatchObject({ key, data, exists: true, expiry_age: { value: COOKIE_AGE } });
          expect(seen.stored_json?.value).toBe(seen.django_json?.value);
          expect(seen.row).toMatchObject({ user_id: '8', ip: '203.0.113.5', user_agent: 'Mozilla/5.0 (X11; Linux x86_64)' });

          const rows = await django.userSessions('8');
          expect(rows).toEqual([
            {
              key,
              data: { value: data },
              expire_date: expect.any(String),
              user_id: '8',
              ip: '203.0.113.5',
              user_agent: 'Mozilla/5.0 (X11; Linux x86_64)',
              created: expect.any(String), // the column's default: the Nest side does not write it
              last_activity: expect.any(String),
            },
          ]);
          const [listed] = await service.list('8');
          expect(listed).toMatchObject({ ip: '203.0.113.5', userAgent: 'Mozilla/5.0 (X11; Linux x86_64)' });
          expect(listed.expireDate?.getTime()).toBe(ms(rows[0].expire_date));
          expect(listed.createdAt?.getTime()).toBe(ms(rows[0].created));
          expect(listed.lastActivity?.getTime()).toBe(ms(rows[0].last_activity));

          expect(await django.deleteUserSessions('8')).toBe(1);
          expect(await service.list('8')).toEqual([]);
          expect(await nestLoad(key)).toEqual({ key: null, data: {} });
        });

        it("Django's own SessionStore.delete() (its logout's flush) takes the session out of the Nest list", async () => {
          const key = await nestWrite({ _auth_user_id: '13' });
          expect(await service.count('13')).toBe(1);
          expect(await django.flush(key, settings)).toEqual({ key: null, original_key_exists: false });
          expect(await service.list('13')).toEqual([]);
        });

        it('a Django save of a Nest session keeps created, ip and user_agent, updates last_activity and follows the user', async () => {
          const key = await nestWrite({ _auth_user_id: '14', n: 1 }, { ip: '2001:db8::1', userAgent: 'curl/8.0' });
          const [before] = await service.list('14');
          await new Promise((resolve) => setTimeout(resolve, 20));
          const modified = await django.modify(key, { set: { n: 2 } }, settings);
          expect(modified.row).toMatchObject({ user_id: '14', ip: '2001:db8::1', user_agent: 'curl/8.0' });
          const [after] = await service.list('14');
          expect(after.id).toBe(before.id);
          expect(after.createdAt).toEqual(before.createdAt);
          expect(after.lastActivity!.getTime()).toBeGreaterThan(before.lastActivity!.getTime());
          expect((await nestLoad(key)).data).toEqual({ _auth_user_id: '14', n: 2 });
          // Django's logout without flush: the user key goes, so does the session from the user's list.
          await django.modify(key, { delete: ['_auth_user_id'] }, settings);
          expect(await service.list('14')).toEqual([]);
          expect(await django.row(key, settings)).toMatchObject({ user_id: null, ip: '2001:db8::1', created: expect.any(String) });
          await django.delete(key, settings);
        });

        it('expired rows are in neither list', async () => {
          const key = await nestWrite({ _auth_user_id: '15' });
          await dataSource.query(
            `UPDATE user_session SET expire_date = ${kind === 'postgres' ? "now() - interval '1 hour'" : "datetime('now', '-1 hour')"} WHERE session_key = ${kind === 'postgres' ? '$1' : '?'}`,
            [key],
          );
          expect(await service.list('15')).toEqual([]);
          expect(await django.userSessions('15')).toEqual([]);
          expect((await django.userSessions('15', true)).map((s) => s.key)).toEqual([key]);
          expect(await django.read(key, settings)).toMatchObject({ key: null, data: {} });
          expect(await django.row(key, settings)).toMatchObject({ user_id: '15' }); // still stored, until clearsessions
          await django.delete(key, settings);
        });
      });

      if (nestEngine === 'cached_db') {
        it('cached_db: a row Django deletes leaves the Nest list at once, but the Nest cache still serves the session until its entry expires', async () => {
          // The Nest cache and Django's are separate stores (JSON in Keyv vs Django's pickles):
          // Django's delete() cannot drop the Nest entry, as with any cached_db session Django deletes.
          const session = store.session(null);
          session.update({ _auth_user_id: '16' });
          await session.save();
          const key = session.sessionKey as string;
          expect(await django.deleteUserSessions('16')).toBe(1);
          expect(await service.list('16')).toEqual([]);
          const cached = store.session(key);
          await cached.ensureLoaded();
          expect(cached.toJSON()).toEqual({ _auth_user_id: '16' });
          expect(await nestLoad(key)).toEqual({ key: null, data: {} });
        });
      }
    });
  });

  describe('the example app (USER_SESSIONS=true) and Django on one PostgreSQL database', () => {
    let database: TestDatabase;
    let server: Server;
    let close: () => Promise<void>;
    let django: DjangoPeer;
    const settings: DjangoSettings = { SESSION_ENGINE: 'user_db' };

    beforeAll(async () => {
      database = await createTestDatabase('postgres');
      const config = loadConfig({
        DATABASE_URL: database.url,
        SECRET_KEY,
        SESSION_ENGINE: 'db',
        CLEARSESSIONS_CRON: 'false',
        USER_SESSIONS: 'true',
      });
      const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] }).compile();
      const app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      server = app.getHttpServer() as Server;
      close = () => app.close();
      django = new DjangoPeer(database.url, SECRET_KEY, { userSessions: true });
    });
    afterAll(async () => {
      await django?.close();
      await close?.();
      await database?.drop();
    });

    const mySessions = async (key: string): Promise<UserSessionInfo[]> =>
      (await request(server).get('/me/sessions').set('Cookie', `sessionid=${key}`).expect(200)).body as UserSessionInfo[];

    it('Django logins are listed at GET /me/sessions, DELETE /me/sessions/:id signs one out on Django', async () => {
      const phone = await django.create({ _auth_user_id: '21' }, settings);
      const laptop = await django.create({ _auth_user_id: '21' }, settings);
      const listed = await mySessions(phone.key as string);
      expect(listed).toHaveLength(2);
      expect(listed.filter((s) => s.current)).toHaveLength(1);
      const other = listed.find((s) => !s.current)!;
      await request(server).delete(`/me/sessions/${other.id}`).set('Cookie', `sessionid=${phone.key}`).expect(200, { revoked: true });
      expect(await django.read(laptop.key as string, settings)).toMatchObject({ key: null, exists: false });
      expect(await django.read(phone.key as string, settings)).toMatchObject({ key: phone.key, exists: true });
      expect((await mySessions(phone.key as string)).map((s) => s.current)).toEqual([true]);
    });

    it("a login on the app is in Django's UserSession query with its ip and user agent; Django signing the user out everywhere ends it", async () => {
      const res = await request(server).post('/login').set('User-Agent', 'interop-test/1.0').send({ userId: '22' }).expect(200);
      const key = responseSessionKey(res.headers) as string;
      const rows = await django.userSessions('22');
      expect(rows).toEqual([
        expect.objectContaining({
          key,
          data: { value: { _auth_user_id: '22' } },
          user_agent: 'interop-test/1.0',
          ip: expect.stringMatching(/127\.0\.0\.1|::1/),
        }),
      ]);
      expect(await django.deleteUserSessions('22')).toBe(1);
      await request(server).get('/me/sessions').set('Cookie', `sessionid=${key}`).expect(401);
    });
  });
});
