/**
 * Sessions Django 3.2 wrote in the pre-3.1 format (DEFAULT_HASHING_ALGORITHM = 'sha1'), kept in
 * test/fixtures/django-legacy-vectors.json by legacy_vectors.py. The app reads them on every run,
 * whatever Django is at hand: Django 4.0+ can no longer write them, so there secret-keys and
 * signed-cookies skip their live round trips of this format. Where the Django at hand is 3.1/3.2,
 * legacy_vectors.py recomputes the fixture.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { SessionStore, type DbSessionStore } from '../../src/sessions';
import { suspiciousSessionLogger } from '../../src/sessions/session';
import { responseSessionKey } from '../support/app';
import { createTestDatabase, type TestDatabase } from '../support/databases';
import { alterOneCharacter, describeWithDjango, DJANGO_PYTHON, djangoAtLeast } from './django-peer';
import { startInteropApp, type AppSessionState, type InteropApp } from './interop-app';

interface LegacyVector {
  secret: string;
  data: Record<string, unknown>;
}

interface LegacyVectors {
  django: string;
  /** What the db (and cached_db) SessionStore.encode(data) wrote. */
  sessionData: (LegacyVector & { encoded: string })[];
  /** The signed_cookies engine's cookie value. */
  signedCookies: (LegacyVector & { cookie: string })[];
}

const FIXTURE = join(__dirname, '..', 'fixtures', 'django-legacy-vectors.json');
const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as LegacyVectors;
/** A key the vectors were not signed with: with a vector's key among the fallbacks, it still reads. */
const NEXT_SECRET_KEY = 'legacy-vectors-the-next-secret-key';

describe.each(['db', 'cached_db', 'signed_cookies'] as const)(
  `the %s engine and what Django ${fixture.django} wrote in the pre-3.1 format`,
  (engine) => {
    let database: TestDatabase;
    const apps = new Map<string, Promise<InteropApp>>();
    let warn: jest.SpyInstance;

    beforeAll(async () => {
      database = await createTestDatabase('sqlite');
    });
    afterAll(async () => {
      for (const app of apps.values()) await (await app).close();
      await database?.drop();
    });
    beforeEach(() => {
      warn = jest.spyOn(suspiciousSessionLogger, 'warn').mockImplementation(() => undefined);
    });
    afterEach(() => warn.mockRestore());

    /** The example app on the suite's database, started once per configuration. */
    function app(secretKey: string, acceptLegacyFormat: boolean, secretKeyFallbacks: string[] = []): Promise<InteropApp> {
      const id = JSON.stringify([secretKey, acceptLegacyFormat, secretKeyFallbacks]);
      if (!apps.has(id))
        apps.set(id, startInteropApp({ databaseUrl: database.url, secretKey, secretKeyFallbacks, engine, acceptLegacyFormat }));
      return apps.get(id)!;
    }

    /** The session as the app reads it, and whether the response set a cookie (signed_cookies re-issues one it could not read). */
    async function state(server: Promise<InteropApp>, key: string): Promise<AppSessionState & { reissued: boolean }> {
      const res = await request((await server).server)
        .get('/interop/state')
        .set('Cookie', `sessionid=${key}`)
        .expect(200);
      return { ...(res.body as AppSessionState), reissued: responseSessionKey(res.headers) !== undefined };
    }

    /** The cookie value that carries this stored value: the cookie itself, or the key of a new row holding it (a row no app has cached). */
    async function sessionOf(stored: string): Promise<string> {
      if (engine === 'signed_cookies') return stored;
      const { app: nest } = await app(NEXT_SECRET_KEY, false);
      const key = randomBytes(16).toString('hex');
      const expireDate = nest.get<DbSessionStore>(SessionStore).toDatabaseDate(new Date(Date.now() + 3600_000));
      await nest
        .get(DataSource)
        .query('INSERT INTO django_session (session_key, session_data, expire_date) VALUES (?, ?, ?)', [key, stored, expireDate]);
      return key;
    }

    /** One character of the signed data changed: the middle of a cookie's payload, or of the JSON in a row (base64 of "<hash>:<JSON>"). */
    function alterPayload(stored: string): string {
      if (engine === 'signed_cookies') return alterOneCharacter(stored, Math.floor(stored.indexOf(':') / 2));
      const raw = Buffer.from(stored, 'base64').toString('latin1');
      return Buffer.from(alterOneCharacter(raw, Math.floor((raw.indexOf(':') + raw.length) / 2)), 'latin1').toString('base64');
    }

    const vectors = (
      engine === 'signed_cookies'
        ? fixture.signedCookies.map((v) => ({ ...v, stored: v.cookie }))
        : fixture.sessionData.map((v) => ({ ...v, stored: v.encoded }))
    ).map((v) => [`{${Object.keys(v.data).join(', ')}} under SECRET_KEY ${JSON.stringify(v.secret)}`, v] as const);

    it.each(vectors)('%s: read with acceptLegacyFormat, under a fallback key too; without it, empty and logged', async (_name, vector) => {
      const key = await sessionOf(vector.stored);
      // Read first: a session that fails to load is logged once only, so a failure here could not be told later
      // (nor by the data of an empty vector); signed_cookies also re-issues a cookie it could not read.
      expect(await state(app(vector.secret, true), key)).toMatchObject({ key, data: vector.data, reissued: false });
      expect(await state(app(NEXT_SECRET_KEY, true, [vector.secret]), key)).toMatchObject({ key, data: vector.data, reissued: false });
      expect(warn).not.toHaveBeenCalled();
      expect(await state(app(vector.secret, false), key)).toMatchObject({ key, data: {} });
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^Session data corrupted/));
    });

    it.each(vectors)('%s: altered by one character, an empty session, logged, even with acceptLegacyFormat', async (_name, vector) => {
      const key = await sessionOf(alterPayload(vector.stored));
      expect(await state(app(vector.secret, true), key)).toMatchObject({ key, data: {} });
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^Session data corrupted/));
    });

    it.each(vectors)('%s: saved back in the current format, which reads without acceptLegacyFormat', async (_name, vector) => {
      const key = await sessionOf(vector.stored);
      const saved = await request((await app(vector.secret, true)).server)
        .post('/session')
        .set('Cookie', `sessionid=${key}`)
        .send({ more: true })
        .expect(200);
      const newKey = responseSessionKey(saved.headers)!;
      if (engine === 'signed_cookies') {
        expect(newKey).toMatch(/:[\w-]{43}$/); // an HMAC-SHA256 signature (SHA-1's has 27 characters)
      } else {
        expect(newKey).toBe(key);
        const [row] = await (
          await app(vector.secret, false)
        ).app
          .get(DataSource)
          .query<{ session_data: string }[]>('SELECT session_data FROM django_session WHERE session_key = ?', [key]);
        expect(row.session_data).toContain(':');
      }
      expect(await state(app(vector.secret, false), newKey)).toMatchObject({ data: { ...vector.data, more: true } });
      expect(warn).not.toHaveBeenCalled();
    });
  },
);

describeWithDjango('the pre-3.1 vectors are what Django writes (test/fixtures/django-legacy-vectors.json)', () => {
  const title = 'legacy_vectors.py recomputes the fixture';
  if (djangoAtLeast(4)) {
    it.skip(`${title} (skipped: Django 4.0 removed DEFAULT_HASHING_ALGORITHM, so only Django 3.1/3.2 write this format)`, () => undefined);
  } else {
    it(title, async () => {
      const { stdout } = await promisify(execFile)(DJANGO_PYTHON, [join(__dirname, 'legacy_vectors.py')], {
        encoding: 'utf8',
        env: { ...process.env, PYTHONIOENCODING: 'utf-8' },
      });
      const computed = JSON.parse(stdout) as LegacyVectors;
      expect(computed.sessionData).toEqual(fixture.sessionData);
      expect(computed.signedCookies).toEqual(fixture.signedCookies);
    });
  }
});
