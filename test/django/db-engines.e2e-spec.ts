/**
 * A real Django and the example app on ONE database (a shared SQLite file, or a private PostgreSQL
 * database): sessions written by either side are read by the other, with the same data, expiry and
 * key state. The app is driven over HTTP through the `sessionid` cookie; Django through its own
 * SessionStore classes (test/django/django_peer.py).
 */
import request from 'supertest';
import { responseSessionKey } from '../support/app';
import { createTestDatabase, DATABASE_KINDS } from '../support/databases';
import { describeWithDjango, djangoAtLeast, DjangoPeer, type DjangoSession } from './django-peer';
import { ENCODING_CASES } from './encoding-cases';
import { shareWithDjango, startInteropApp, type AppSessionState } from './interop-app';

const SECRET_KEY = 'django-interop-db-engines-secret-key';
const COOKIE_AGE = 1209600;

/**
 * A test of SessionBase.set_expiry(datetime), whose storage Django 5.0 changed (an ISO string; before,
 * the datetime object itself, which only the PickleSerializer could store). Asserted on 3.x and 5+;
 * on 4.0–4.2, which this suite does not pin, reported skipped rather than passed without a check.
 */
function itOnPinnedDjango(name: string, test: () => Promise<void>): void {
  if (djangoAtLeast(4) && !djangoAtLeast(5)) it.skip(`${name} (skipped: Django 4.0–4.2 are not pinned here)`, test);
  else it(name, test);
}

describeWithDjango('Django and the app share db sessions', () => {
  describe.each(DATABASE_KINDS)('on %s', (kind) => {
    describe.each(['db', 'cached_db'] as const)('%s engine', (engine) => {
      const shared = shareWithDjango(kind, { secretKey: SECRET_KEY, engine });
      const settings = { SESSION_ENGINE: engine };

      async function appState(key: string): Promise<AppSessionState> {
        const res = await request(shared.app.server).get('/interop/state').set('Cookie', `sessionid=${key}`).expect(200);
        return res.body as AppSessionState;
      }

      /** POST /session (merge): returns the key the response cookie carries. */
      async function appWrite(data: Record<string, unknown>, key?: string): Promise<string> {
        const req = request(shared.app.server).post('/session');
        if (key) req.set('Cookie', `sessionid=${key}`);
        const res = await req.send(data).expect(200);
        const newKey = responseSessionKey(res.headers);
        expect(newKey).toMatch(/^[a-z0-9]{32}$/);
        return newKey as string;
      }

      async function appPost(path: string, key: string, body: object = {}): Promise<{ key: string | undefined; body: unknown }> {
        const res = await request(shared.app.server).post(path).set('Cookie', `sessionid=${key}`).send(body).expect(200);
        return { key: responseSessionKey(res.headers), body: res.body };
      }

      /** Django's view of a session the app wrote must be identical bytes to what Django writes. */
      function expectDjangoBytes(seen: DjangoSession): void {
        expect(seen.stored_json?.value).toBeDefined();
        expect(seen.stored_json?.value).toBe(seen.django_json?.value);
      }

      describe('Django writes, the app reads through the cookie', () => {
        it('data, key and the default expiry', async () => {
          const data = { user: 'ada', cart: [1, 2, 3], prefs: { lang: 'fr' } };
          const written = await shared.django.create(data, settings);
          const state = await appState(written.key as string);
          expect(state).toEqual({
            key: written.key,
            data,
            expiryAge: COOKIE_AGE,
            expiryDate: expect.any(String),
            expireAtBrowserClose: false,
          });
        });

        it('set_expiry(seconds) and set_expiry(0)', async () => {
          const sliding = await shared.django.create({ a: 1 }, settings, { seconds: 300 });
          expect(await appState(sliding.key as string)).toMatchObject({
            data: { a: 1, _session_expiry: 300 },
            expiryAge: 300,
            expireAtBrowserClose: false,
          });
          const browser = await shared.django.create({ a: 1 }, settings, { seconds: 0 });
          expect(await appState(browser.key as string)).toMatchObject({
            data: { _session_expiry: 0 },
            expiryAge: COOKIE_AGE,
            expireAtBrowserClose: true,
          });
        });

        itOnPinnedDjango('set_expiry(datetime): an ISO string on Django 5, impossible with the JSON serializer on 3.2', async () => {
          const date = '2031-02-03T09:35:06.789012+05:30';
          if (djangoAtLeast(5)) {
            const written = await shared.django.create({ a: 1 }, settings, { date });
            expect(written.data).toEqual({ a: 1, _session_expiry: date });
            const state = await appState(written.key as string);
            expect(state.expiryDate).toBe('2031-02-03T04:05:06.789Z');
            expect(state.expireAtBrowserClose).toBe(false);
          } else {
            // Django 3.2 keeps the datetime object in the session: its JSON serializer cannot store it.
            await expect(shared.django.create({ a: 1 }, settings, { date })).rejects.toThrow(
              /TypeError: Object of type datetime is not JSON serializable/,
            );
          }
        });

        it.each([
          ['an aware UTC datetime', '2031-02-03T04:05:06+00:00', '2031-02-03T04:05:06.000Z'],
          ['microseconds', '2031-02-03T04:05:06.789012+00:00', '2031-02-03T04:05:06.789Z'],
          ['another offset', '2031-02-03T09:35:06.5+05:30', '2031-02-03T04:05:06.500Z'],
          ['a negative offset with seconds', '2031-02-02T23:04:05-05:01:01', '2031-02-03T04:05:06.000Z'],
          ['a naive datetime (a USE_TZ=False site), taken as UTC', '2031-02-03T04:05:06', '2031-02-03T04:05:06.000Z'],
          ['a space separator', '2031-02-03 04:05:06.000001+00:00', '2031-02-03T04:05:06.000Z'],
          ['Z (Python 3.11+ fromisoformat)', '2031-02-03T04:05:06Z', '2031-02-03T04:05:06.000Z'],
        ])('reads _session_expiry stored as %s', async (_form, stored, expected) => {
          // Written with Django's own encoder, as Django 4.x/5.x sessions hold it.
          const written = await shared.django.create({ a: 1 }, settings);
          const sessionData = await shared.django.command<string>('encode', { data: { a: 1, _session_expiry: stored } }, settings);
          await shared.django.setRow(written.key as string, sessionData);
          const state = await appState(written.key as string);
          expect(state.data._session_expiry).toBe(stored);
          expect(state.expiryDate).toBe(expected);
          expect(state.expireAtBrowserClose).toBe(false);
        });

        it.each([
          ['an integer', 300, 300, false],
          ['a float', { __py__: 'float', value: '2.5' }, 2.5, false],
          ['zero as a float', { __py__: 'float', value: '0.0' }, COOKIE_AGE, true],
        ])('reads _session_expiry stored as %s of seconds', async (_form, seconds, age, browserClose) => {
          const written = await shared.django.create({ a: 1 }, settings, { seconds });
          expect(await appState(written.key as string)).toMatchObject({ expiryAge: age, expireAtBrowserClose: browserClose });
        });

        it('a session Django modified', async () => {
          const written = await shared.django.create({ a: 1, b: 2 }, settings);
          const modified = await shared.django.modify(written.key as string, { set: { c: 3 }, delete: ['a'] }, settings);
          expect(modified.key).toBe(written.key);
          expect((await appState(written.key as string)).data).toEqual({ b: 2, c: 3 });
        });

        it('cycle_key(): the old key is gone, the data lives under the new one', async () => {
          const written = await shared.django.create({ a: 1 }, settings);
          const cycled = await shared.django.cycleKey(written.key as string, settings);
          expect(cycled.key).not.toBe(written.key);
          expect(cycled.original_key_exists).toBe(false);
          expect(await appState(cycled.key as string)).toMatchObject({ key: cycled.key, data: { a: 1 } });
          expect(await appState(written.key as string)).toMatchObject({ key: null, data: {} });
        });

        it('flush(): the app no longer knows the key', async () => {
          const written = await shared.django.create({ a: 1 }, settings);
          const flushed = await shared.django.flush(written.key as string, settings);
          expect(flushed).toEqual({ key: null, original_key_exists: false });
          expect(await appState(written.key as string)).toMatchObject({ key: null, data: {} });
        });

        it('an empty session keeps its key', async () => {
          const written = await shared.django.create({}, settings);
          expect(written.row?.session_data).toMatch(/^e30:/);
          expect(await appState(written.key as string)).toMatchObject({ key: written.key, data: {} });
        });
      });

      describe('the app writes, Django reads exactly the same', () => {
        it('create: data, key, the default expiry, Django-identical bytes', async () => {
          const data = { user: 'ada', cart: [1, 2, 3], prefs: { lang: 'fr' } };
          const before = Date.now();
          const key = await appWrite(data);
          const after = Date.now();
          const seen = await shared.django.read(key, settings);
          expect(seen).toMatchObject({
            key,
            data,
            exists: true,
            expiry_age: { value: COOKIE_AGE },
            expire_at_browser_close: { value: false },
          });
          const expireDate = new Date(seen.row?.expire_date as string).getTime();
          expect(expireDate).toBeGreaterThanOrEqual(before + COOKIE_AGE * 1000 - 1);
          expect(expireDate).toBeLessThanOrEqual(after + COOKIE_AGE * 1000 + 1);
          expectDjangoBytes(seen);
        });

        it('modify: the same key, the merged data', async () => {
          const key = await appWrite({ a: 1 });
          expect(await appWrite({ b: 2 }, key)).toBe(key);
          expect(await shared.django.read(key, settings)).toMatchObject({ key, data: { a: 1, b: 2 } });
        });

        it('setExpiry(seconds): Django computes the same age and row expiry', async () => {
          const key = await appWrite({ a: 1 });
          const before = Date.now();
          await appPost('/session/expiry', key, { seconds: 300 });
          const after = Date.now();
          const seen = await shared.django.read(key, settings);
          expect(seen).toMatchObject({
            data: { a: 1, _session_expiry: 300 },
            expiry_age: { value: 300 },
            expire_at_browser_close: { value: false },
          });
          const expireDate = new Date(seen.row?.expire_date as string).getTime();
          expect(expireDate).toBeGreaterThanOrEqual(before + 300_000 - 1);
          expect(expireDate).toBeLessThanOrEqual(after + 300_000 + 1);
          expectDjangoBytes(seen);
        });

        it('setExpiry(0): expires at browser close for Django too', async () => {
          const key = await appWrite({ a: 1 });
          await appPost('/session/expiry', key, { seconds: 0 });
          expect(await shared.django.read(key, settings)).toMatchObject({
            data: { a: 1, _session_expiry: 0 },
            expiry_age: { value: COOKIE_AGE },
            expire_at_browser_close: { value: true },
          });
        });

        it('setExpiry(null): back to the global policy', async () => {
          const written = await shared.django.create({ a: 1 }, settings, { seconds: 300 });
          await appPost('/session/expiry', written.key as string, { seconds: null });
          expect(await shared.django.read(written.key as string, settings)).toMatchObject({
            data: { a: 1 },
            expiry_age: { value: COOKIE_AGE },
          });
        });

        itOnPinnedDjango('setExpiry(Date): Django 5 reads the date; Django 3.2 cannot', async () => {
          const key = await appWrite({ a: 1 });
          const date = new Date(Date.now() + 3 * 86400_000);
          await appPost('/interop/expiry-date', key, { date: date.toISOString() });
          const readFrom = Date.now();
          const seen = await shared.django.read(key, settings);
          const readUntil = Date.now();
          const iso = `${date.toISOString().slice(0, 23)}000+00:00`;
          expect(seen.data).toEqual({ a: 1, _session_expiry: iso });
          expect(new Date(seen.row?.expire_date as string).getTime()).toBe(date.getTime());
          expectDjangoBytes(seen);
          if (djangoAtLeast(5)) {
            expect(new Date(seen.expiry_date.value as string).getTime()).toBe(date.getTime());
            expect(seen.expiry_age.value).toBeGreaterThanOrEqual(Math.floor((date.getTime() - readUntil) / 1000));
            expect(seen.expiry_age.value).toBeLessThanOrEqual(Math.floor((date.getTime() - readFrom) / 1000));
            expect(seen.expire_at_browser_close.value).toBe(false);
          } else {
            // Django 3.2 expects a datetime object there: the data loads, but it returns the string as
            // the "age", cannot compute a date, and cannot save the session again.
            expect(seen.expiry_age.value).toBe(iso);
            expect(seen.expiry_date.error).toMatch(/^TypeError/);
            await expect(shared.django.modify(key, { set: { b: 2 } }, settings)).rejects.toThrow(/TypeError/);
          }
        });

        it('cycleKey: Django finds the data under the new key only', async () => {
          const key = await appWrite({ a: 1, b: [2] });
          const { key: newKey, body } = await appPost('/session/cycle', key);
          expect(body).toEqual({ a: 1, b: [2] });
          expect(newKey).toMatch(/^[a-z0-9]{32}$/);
          expect(newKey).not.toBe(key);
          expect(await shared.django.read(newKey as string, settings)).toMatchObject({ key: newKey, data: { a: 1, b: [2] }, exists: true });
          expect(await shared.django.read(key, settings)).toMatchObject({ key: null, data: {}, exists: false });
        });

        it('flush: Django no longer knows the key', async () => {
          const key = await appWrite({ a: 1 });
          await request(shared.app.server).delete('/session').set('Cookie', `sessionid=${key}`).expect(200);
          expect(await shared.django.read(key, settings)).toMatchObject({ key: null, data: {}, exists: false });
        });

        it('an empty session under its key', async () => {
          const key = await appWrite({ a: 1 });
          await appPost('/interop/replace', key, {});
          const seen = await shared.django.read(key, settings);
          expect(seen).toMatchObject({ key, data: {}, exists: true });
          expect(seen.row?.session_data).toMatch(/^e30:/);
        });

        it('a session the app wrote and Django modified reads back in the app', async () => {
          const key = await appWrite({ a: 1 });
          await shared.django.modify(key, { set: { fromDjango: 'é' } }, settings);
          const state = await appState(key);
          expect(state.key).toBe(key);
          if (engine === 'db') expect(state.data).toEqual({ a: 1, fromDjango: 'é' });
          // cached_db: the app answers from its own cache, which Django cannot update (README).
          else expect(state.data).toEqual({ a: 1 });
        });
      });

      describe.each(ENCODING_CASES)('encoding: $name', ({ data, sameBytes, compressed }) => {
        it('Django → app', async () => {
          const written = await shared.django.create(data, settings);
          if (compressed !== undefined) expect(written.row?.session_data.startsWith('.')).toBe(compressed);
          expect((await appState(written.key as string)).data).toEqual(data);
        });

        it('app → Django', async () => {
          const key = await appWrite(data);
          const seen = await shared.django.read(key, settings);
          const stored = seen.row?.session_data as string;
          if (compressed !== undefined) expect(stored.startsWith('.')).toBe(compressed);
          expect(seen.data).toEqual(data);
          if (sameBytes) {
            expectDjangoBytes(seen);
            // Same bytes, same decision to compress.
            const djangoEncoded = await shared.django.command<string>('encode', { data }, settings);
            expect(stored.startsWith('.')).toBe(djangoEncoded.startsWith('.'));
          } else {
            expect(seen.stored_json?.value).not.toBe(seen.django_json?.value);
          }
        });
      });

      describe('values only Python writes', () => {
        it('a float with an integral value and an integer beyond 2^53 load as the nearest doubles', async () => {
          const written = await shared.django.create(
            { one: { __py__: 'float', value: '1.0' }, huge: { __py__: 'int', value: '18446744073709551617' } },
            settings,
          );
          expect((await appState(written.key as string)).data).toEqual({ one: 1, huge: 18446744073709551616 });
        });

        it('NaN (Python JSON, not JSON) makes an empty session, never an error', async () => {
          const written = await shared.django.create({ n: { __py__: 'nan' } }, settings);
          expect(await appState(written.key as string)).toMatchObject({ key: written.key, data: {} });
        });
      });
    });
  });

  describe.each(DATABASE_KINDS)('a %s database Django migrated first', (kind) => {
    it("the app starts on it (its migration leaves Django's table alone) and shares its sessions", async () => {
      const database = await createTestDatabase(kind);
      const django = new DjangoPeer(database.url, SECRET_KEY);
      try {
        await django.command('migrate');
        const written = await django.create({ from: 'django' });
        const app = await startInteropApp({ databaseUrl: database.url, secretKey: SECRET_KEY });
        try {
          const res = await request(app.server)
            .post('/session')
            .set('Cookie', `sessionid=${written.key as string}`)
            .send({ from: 'app' })
            .expect(200);
          expect(res.body).toEqual({ from: 'app' });
          expect((await django.read(written.key as string)).data).toEqual({ from: 'app' });
        } finally {
          await app.close();
        }
      } finally {
        await django.close();
        await database.drop();
      }
    });
  });
});
