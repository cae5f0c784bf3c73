/**
 * What a shared SECRET_KEY protects, with a real Django on the same database: key rotation with
 * fallbacks, tampered rows (empty sessions, logged on both sides), and the pre-3.1 legacy format
 * that Django 3.2 still writes with DEFAULT_HASHING_ALGORITHM = 'sha1'.
 */
import request from 'supertest';
import { suspiciousSessionLogger } from '../../src/sessions/session';
import { responseSessionKey } from '../support/app';
import { DATABASE_KINDS } from '../support/databases';
import { alterOneCharacter, describeWithDjango, djangoAtLeast, type DjangoLog } from './django-peer';
import { shareWithDjango, startInteropApp, type AppSessionState, type InteropApp } from './interop-app';

const SECRET_KEY = 'django-interop-current-secret-key';
const OLD_SECRET_KEY = 'django-interop-old-secret-key';
const UNKNOWN_SECRET_KEY = 'django-interop-some-other-secret-key';
const CORRUPTED: DjangoLog = { logger: 'django.security.SuspiciousSession', level: 'WARNING', message: 'Session data corrupted' };

describeWithDjango('Django and the app share a SECRET_KEY', () => {
  describe.each(DATABASE_KINDS)('on %s', (kind) => {
    describe.each(['db', 'cached_db'] as const)('%s engine', (engine) => {
      const shared = shareWithDjango(kind, { secretKey: SECRET_KEY, secretKeyFallbacks: [OLD_SECRET_KEY], engine });
      let warn: jest.SpyInstance;
      const settings = { SESSION_ENGINE: engine };

      beforeEach(() => {
        warn = jest.spyOn(suspiciousSessionLogger, 'warn').mockImplementation(() => undefined);
      });
      afterEach(() => warn.mockRestore());

      async function appState(key: string, server = shared.app.server): Promise<AppSessionState> {
        return (await request(server).get('/interop/state').set('Cookie', `sessionid=${key}`).expect(200)).body as AppSessionState;
      }

      async function appWrite(data: Record<string, unknown>, key?: string, server = shared.app.server): Promise<string> {
        const req = request(server).post('/session');
        if (key) req.set('Cookie', `sessionid=${key}`);
        return responseSessionKey((await req.send(data).expect(200)).headers) as string;
      }

      describe('SECRET_KEY rotation', () => {
        it('a session Django signed with the old key loads through the fallback and is re-signed with the new key on save', async () => {
          const written = await shared.django.create({ a: 1 }, { ...settings, SECRET_KEY: OLD_SECRET_KEY });
          const key = written.key as string;
          expect(await appState(key)).toMatchObject({ key, data: { a: 1 } });
          expect(await appWrite({ b: 2 }, key)).toBe(key);
          expect(await shared.django.read(key, { ...settings, SECRET_KEY })).toMatchObject({ key, data: { a: 1, b: 2 } });
          // Re-signed: the old key alone no longer verifies it.
          expect(await shared.django.read(key, { ...settings, SECRET_KEY: OLD_SECRET_KEY })).toMatchObject({ data: {} });
          expect(shared.django.lastLogs).toContainEqual(CORRUPTED);
          expect(warn).not.toHaveBeenCalled();
        });

        it('without the old key among the fallbacks, the session is empty and the app logs it', async () => {
          const written = await shared.django.create({ a: 1 }, { ...settings, SECRET_KEY: UNKNOWN_SECRET_KEY });
          expect(await appState(written.key as string)).toMatchObject({ key: written.key, data: {} });
          expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^Session data corrupted/));
        });

        it("Django reads the app's sessions with the app's key among its SECRET_KEY_FALLBACKS (4.1+; refused by 3.2)", async () => {
          const key = await appWrite({ a: 1 });
          const rotated = { ...settings, SECRET_KEY: 'django-interop-next-secret-key', SECRET_KEY_FALLBACKS: [SECRET_KEY] };
          if (djangoAtLeast(4, 1)) {
            expect(await shared.django.read(key, rotated)).toMatchObject({ key, data: { a: 1 } });
          } else {
            await expect(shared.django.read(key, rotated)).rejects.toThrow(/SECRET_KEY_FALLBACKS needs Django 4\.1\+/);
          }
        });
      });

      describe('tampering', () => {
        // cached_db: the app answers a session it wrote from its own cache, which never sees the row change (README).
        const writers = engine === 'db' ? ['app', 'Django'] : ['Django'];
        it.each(writers)(
          'a row %s wrote, altered by one character anywhere, is an empty session for both, logged by both',
          async (writer) => {
            const data = { user: 'ada', role: 'admin' };
            for (const where of ['start', 'middle', 'end']) {
              const key = writer === 'app' ? await appWrite(data) : ((await shared.django.create(data, settings)).key as string);
              const original = (await shared.django.row(key))?.session_data as string;
              const index = where === 'start' ? 1 : where === 'middle' ? Math.floor(original.length / 2) : original.length - 1;
              warn.mockClear();
              expect(await shared.django.setRow(key, alterOneCharacter(original, index))).toBe(1);
              expect(await shared.django.read(key, settings)).toMatchObject({ key, data: {} });
              expect(shared.django.lastLogs).toContainEqual(CORRUPTED);
              expect(await appState(key)).toMatchObject({ key, data: {} });
              expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^Session data corrupted/));
            }
          },
        );
      });

      // Django 4.0+ cannot write this format: there the app is checked against Django 3.2's vectors (legacy-vectors.e2e-spec.ts).
      (djangoAtLeast(4) ? describe.skip : describe)("the pre-3.1 format (Django 3.2's DEFAULT_HASHING_ALGORITHM = 'sha1')", () => {
        let legacyApp: InteropApp;
        beforeAll(async () => {
          legacyApp = await startInteropApp({
            databaseUrl: shared.database.url,
            secretKey: SECRET_KEY,
            secretKeyFallbacks: [OLD_SECRET_KEY],
            engine,
            acceptLegacyFormat: true,
          });
        });
        afterAll(() => legacyApp?.close());
        const sha1 = { ...settings, DEFAULT_HASHING_ALGORITHM: 'sha1' } as const;

        it('is an empty, logged session by default; readable with acceptLegacyFormat; saved back in the current format', async () => {
          const data = { user: 'zoë', cart: [1, 2], note: '東京 😀' };
          const written = await shared.django.create(data, sha1);
          const key = written.key as string;
          expect(written.row?.session_data).not.toContain(':');
          expect(await appState(key)).toMatchObject({ key, data: {} });
          expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^Session data corrupted/));
          expect(await appState(key, legacyApp.server)).toMatchObject({ key, data });
          expect(await appWrite({ more: true }, key, legacyApp.server)).toBe(key);
          const resaved = await shared.django.read(key, settings);
          expect(resaved.row?.session_data).toContain(':');
          expect(resaved.data).toEqual({ ...data, more: true });
        });

        it('is read under a fallback key too, and a tampered legacy row is empty and logged', async () => {
          const written = await shared.django.create({ a: 1 }, { ...sha1, SECRET_KEY: OLD_SECRET_KEY });
          const key = written.key as string;
          expect(await appState(key, legacyApp.server)).toMatchObject({ key, data: { a: 1 } });
          const tamperedKey = (await shared.django.create({ role: 'user' }, sha1)).key as string;
          const legacyRow = (await shared.django.row(tamperedKey))?.session_data as string;
          const altered = Buffer.from(legacyRow, 'base64').toString('latin1').replace('user', 'root');
          await shared.django.setRow(tamperedKey, Buffer.from(altered, 'latin1').toString('base64'));
          expect(await shared.django.read(tamperedKey, sha1)).toMatchObject({ data: {} });
          expect(shared.django.lastLogs).toContainEqual(CORRUPTED);
          warn.mockClear();
          expect(await appState(tamperedKey, legacyApp.server)).toMatchObject({ key: tamperedKey, data: {} });
          expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^Session data corrupted/));
        });
      });
    });
  });
});
