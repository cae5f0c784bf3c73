/**
 * Django's SessionMiddleware over HTTP: SessionMiddlewareTests (tests/sessions_tests/tests.py), every
 * case of `SessionMiddleware.process_response` (`django/contrib/sessions/middleware.py`) and the
 * port's extra checks (SESSION_SAVE_EVERY_REQUEST, Vary merging, browser-length cookies), on Express and
 * Fastify with the db engine (SQLite; the default-settings rows also on PostgreSQL).
 */
import express from 'express';
import request from 'supertest';
import type { DbSessionStore, SessionsModuleOptions } from '../../src/sessions';
import { SESSION_INTERRUPTED_MESSAGE } from '../../src/sessions/session.errors';
import { SessionTestController } from '../fixtures/session-test.controller';
import { createTestApp, HTTP_PLATFORMS, responseCookie, responseSessionKey, type TestApp } from '../support/app';
import { DATABASE_KINDS, type DatabaseKind } from '../support/databases';

const DELETION_COOKIE = 'sessionid=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax';

interface StoredRow {
  key: string;
  data: Record<string, unknown>;
  expireDate: Date;
}

/** A Set-Cookie value as attributes: `{ name, value, 'max-age': '…', httponly: true, … }` (lower-case names). */
function cookieAttributes(cookie: string): Record<string, string | true> {
  const [pair, ...attributes] = cookie.split(/;\s*/);
  const separator = pair.indexOf('=');
  const result: Record<string, string | true> = { name: pair.slice(0, separator), value: pair.slice(separator + 1) };
  for (const attribute of attributes) {
    const [name, ...value] = attribute.split('=');
    result[name.toLowerCase()] = value.length ? value.join('=') : true;
  }
  return result;
}

function startApp(database: DatabaseKind, platform: (typeof HTTP_PLATFORMS)[number], sessions: Partial<SessionsModuleOptions> = {}) {
  return createTestApp({ database, platform, sessions, controllers: [SessionTestController] });
}

/** Helpers bound to one running app. */
function helpers(app: () => TestApp) {
  const store = () => app().store as DbSessionStore;
  const rows = async (): Promise<StoredRow[]> => {
    const records: { session_key: string; session_data: string; expire_date: Date | string }[] = await store().dataSource.query(
      'SELECT session_key, session_data, expire_date FROM django_session',
    );
    return records.map((r) => ({
      key: r.session_key,
      data: store().getDecoded({ sessionData: r.session_data }),
      expireDate: store().fromDatabaseDate(r.expire_date),
    }));
  };
  const row = async (key: string | undefined) => (await rows()).find((r) => r.key === key);
  const get = (path: string, cookie?: string) => {
    const req = request(app().server).get(path);
    return cookie === undefined ? req : req.set('Cookie', cookie);
  };
  /** A stored session with `hello: 'world'`; returns its key. */
  const newSession = async () => {
    const key = responseSessionKey((await get('/t/set').expect(200)).headers);
    expect(key).toMatch(/^[a-z0-9]{32}$/);
    return key as string;
  };
  return { store, rows, row, get, newSession };
}

describe.each(HTTP_PLATFORMS)('SessionMiddleware over HTTP (%s)', (platform) => {
  describe.each(DATABASE_KINDS)('default settings on %s', (database) => {
    let t: TestApp;
    const { rows, row, get, newSession } = helpers(() => t);
    beforeAll(async () => {
      t = await startApp(database, platform);
    });
    afterAll(() => t.close());

    describe('SessionMiddleware.process_response cases', () => {
      it('untouched session, no cookie: no Set-Cookie, no Vary, no query', async () => {
        t.queries.reset();
        const res = await get('/t/untouched').expect(200);
        expect(res.headers['set-cookie']).toBeUndefined();
        expect(res.headers.vary).toBeUndefined();
        expect(t.queries.count).toBe(0);
      });

      it('the view sets data: session cookie with Django attributes, Vary: Cookie, row stored', async () => {
        const res = await get('/t/set').expect(200);
        expect(res.text).toBe('Session test');
        const cookie = cookieAttributes(responseCookie(res.headers) as string);
        expect(cookie.value).toMatch(/^[a-z0-9]{32}$/);
        expect(cookie).toMatchObject({ 'max-age': '1209600', path: '/', httponly: true, samesite: 'Lax' });
        expect(cookie.secure).toBeUndefined();
        expect(cookie.domain).toBeUndefined();
        // Expires is Max-Age after the response's Date (same second, give or take the clock tick).
        const expiresIn = (Date.parse(cookie.expires as string) - Date.parse(res.headers.date)) / 1000;
        expect(Math.abs(expiresIn - 1209600)).toBeLessThanOrEqual(1);
        expect(res.headers.vary).toBe('Cookie');
        expect((await row(cookie.value as string))?.data).toEqual({ hello: 'world' });
      });

      it('unknown key (≥ 8 chars), view untouched: nothing set, nothing queried', async () => {
        t.queries.reset();
        const res = await get('/t/untouched', 'sessionid=unknownkey12345678').expect(200);
        expect(res.headers['set-cookie']).toBeUndefined();
        expect(res.headers.vary).toBeUndefined();
        expect(t.queries.count).toBe(0);
      });

      it('unknown key, view reads: deletion cookie and Vary: Cookie; the key is never adopted', async () => {
        const res = await get('/t/read', 'sessionid=unknownkey12345678').expect(200);
        expect(res.body).toEqual({ hello: null });
        expect(responseCookie(res.headers)).toBe(DELETION_COOKIE);
        expect(res.headers.vary).toBe('Cookie');
        expect(await row('unknownkey12345678')).toBeUndefined();
      });

      it('unknown key, view writes: a new key is issued, the unknown one is never stored', async () => {
        const res = await get('/t/set', 'sessionid=unknownkey12345678').expect(200);
        const key = responseSessionKey(res.headers);
        expect(key).toMatch(/^[a-z0-9]{32}$/);
        expect(await row('unknownkey12345678')).toBeUndefined();
        expect((await row(key))?.data).toEqual({ hello: 'world' });
      });

      it('cookie shorter than 8 chars, view untouched: deletion cookie and Vary: Cookie', async () => {
        const res = await get('/t/untouched', 'sessionid=abc').expect(200);
        expect(responseCookie(res.headers)).toBe(DELETION_COOKIE);
        expect(res.headers.vary).toBe('Cookie');
      });

      it.each([
        ['empty', ''],
        ['overlong (1240 chars)', 'aB3'.repeat(413) + 'x'],
        ['odd characters', encodeURIComponent('ключ"; DROP TABLE django_session; --')],
      ])('a cookie with an %s value is an unknown session, never an error', async (_label, value) => {
        const untouched = await get('/t/untouched', `sessionid=${value}`).expect(200);
        expect(untouched.headers['set-cookie']).toEqual(value.length >= 8 ? undefined : [DELETION_COOKIE]);
        const read = await get('/t/read', `sessionid=${value}`).expect(200);
        expect(read.body).toEqual({ hello: null });
        expect(responseCookie(read.headers)).toBe(DELETION_COOKIE);
      });

      it('flush with a cookie: deletion cookie, Vary: Cookie, row deleted', async () => {
        const key = await newSession();
        const res = await get('/t/flush', `sessionid=${key}`).expect(200);
        expect(responseCookie(res.headers)).toBe(DELETION_COOKIE);
        expect(res.headers.vary).toBe('Cookie');
        expect(await row(key)).toBeUndefined();
      });

      it('test_flush_empty_without_session_cookie_doesnt_set_cookie: flush without a cookie: no cookie at all, but Vary: Cookie (the session was accessed)', async () => {
        const res = await get('/t/flush').expect(200);
        expect(res.headers['set-cookie']).toBeUndefined();
        expect(res.headers.vary).toBe('Cookie');
      });

      it.each([500, 503])(
        'test_session_save_on_500/test_session_save_on_5xx: the view modifies and answers %d: nothing saved, no cookie, Vary: Cookie',
        async (status) => {
          const before = (await rows()).length;
          const res = await get(`/t/status/${status}`).expect(status);
          expect(res.headers['set-cookie']).toBeUndefined();
          expect(res.headers.vary).toBe('Cookie');
          expect((await rows()).length).toBe(before);
        },
      );

      it('a change made by a view that fails with a 5xx is lost; the stored session is untouched', async () => {
        const key = await newSession();
        await get('/t/delete-hello', `sessionid=${key}`).expect(200);
        const res = await get('/t/error', `sessionid=${key}`).expect(500); // sets hello, then throws
        expect(res.body).toEqual({ statusCode: 500, message: 'Internal server error' });
        expect(res.headers['set-cookie']).toBeUndefined();
        expect((await row(key))?.data).toEqual({});
      });

      it('test_empty_session_saved: emptied data with a key: row saved as {} and the same key re-issued, Vary: Cookie', async () => {
        const key = await newSession();
        const res = await get('/t/delete-hello', `sessionid=${key}`).expect(200);
        expect(responseSessionKey(res.headers)).toBe(key);
        expect(res.headers.vary).toBe('Cookie');
        expect((await row(key))?.data).toEqual({});
      });

      it('test_session_update_error_redirect: the session deleted concurrently, then modified: 400 SessionInterrupted, no cookie', async () => {
        const key = await newSession();
        const res = await get('/t/interrupted', `sessionid=${key}`).expect(400);
        expect((res.body as { message: string }).message).toBe(SESSION_INTERRUPTED_MESSAGE);
        expect(res.headers['set-cookie']).toBeUndefined();
        expect(await row(key)).toBeUndefined();
      });

      it('reading an existing session: one SELECT, no write, no cookie, Vary: Cookie', async () => {
        const key = await newSession();
        t.queries.reset();
        const res = await get('/t/read', `sessionid=${key}`).expect(200);
        expect(res.body).toEqual({ hello: 'world' });
        expect(res.headers['set-cookie']).toBeUndefined();
        expect(res.headers.vary).toBe('Cookie');
        expect(t.queries.queries).toEqual([expect.stringMatching(/^SELECT .* FROM "django_session" WHERE "session_key" = /)]);
      });
    });

    describe('SessionMiddlewareTests and error responses', () => {
      it('test_httponly_session_cookie: the cookie is HttpOnly by default', async () => {
        expect(responseCookie((await get('/t/set')).headers)).toMatch(/; HttpOnly(;|$)/);
      });

      it('test_session_delete_on_end: flush with an invalid cookie: the exact deletion cookie', async () => {
        const res = await get('/t/flush', 'sessionid=abc').expect(200);
        expect(res.headers['set-cookie']).toEqual([DELETION_COOKIE]);
        expect(res.headers.vary).toBe('Cookie');
      });

      it('a 4xx from a thrown HttpException still persists the session', async () => {
        for (const path of ['/t/bad-request', '/t/status/404']) {
          const res = await get(path).expect(path.endsWith('404') ? 404 : 400);
          const key = responseSessionKey(res.headers);
          expect(key).toMatch(/^[a-z0-9]{32}$/);
          expect(res.headers.vary).toBe('Cookie');
          expect((await row(key))?.data).toEqual({ hello: 'world' });
        }
      });

      it('a response written with @Res() persists the session too', async () => {
        const res = await get('/t/res').expect(200);
        expect(res.text).toBe('raw');
        expect((await row(responseSessionKey(res.headers)))?.data).toEqual({ hello: 'res' });
      });

      it('a session first reached after the response went out: the response is intact, nothing saved', async () => {
        const before = (await rows()).length;
        const res = await get('/t/late').expect(200);
        expect(res.text).toBe('sent');
        expect(res.headers['set-cookie']).toBeUndefined();
        expect((await rows()).length).toBe(before);
      });

      it('an existing Vary is merged: "Accept-Encoding, Cookie"', async () => {
        const res = await get('/t/vary').expect(200);
        expect(res.headers.vary).toBe('Accept-Encoding, Cookie');
      });

      it('a per-session expiry sets Max-Age; setExpiry(0) makes a browser-session cookie', async () => {
        const timed = cookieAttributes(responseCookie((await get('/t/expiry/60').expect(200)).headers) as string);
        expect(timed['max-age']).toBe('60');
        const browser = cookieAttributes(responseCookie((await get('/t/expiry/0').expect(200)).headers) as string);
        expect(browser['max-age']).toBeUndefined();
        expect(browser.expires).toBeUndefined();
        // The row still expires after the default age (Django: get_expiry_date() of 0 is the cookie age).
        const stored = await row(browser.value as string);
        expect((stored!.expireDate.getTime() - Date.now()) / 1000).toBeGreaterThan(1209600 - 60);
      });
    });
  });

  describe('other cookie settings (sqlite)', () => {
    let t: TestApp;
    const { get } = helpers(() => t);
    beforeAll(async () => {
      t = await startApp('sqlite', platform, {
        cookie: { secure: true, httpOnly: false, sameSite: 'Strict', domain: '.example.local', path: '/example/' },
      });
    });
    afterAll(() => t.close());

    it('test_secure_session_cookie, test_samesite_session_cookie, test_no_httponly_session_cookie: Secure, SameSite=Strict, no HttpOnly, and the domain and path', async () => {
      const cookie = responseCookie((await get('/t/set').expect(200)).headers) as string;
      const attributes = cookieAttributes(cookie);
      expect(attributes).toMatchObject({ secure: true, samesite: 'Strict', domain: '.example.local', path: '/example/' });
      expect(attributes.httponly).toBeUndefined();
      expect(cookie).not.toMatch(/HttpOnly/i);
    });

    it('test_session_delete_on_end_with_custom_domain_and_path: the deletion cookie has the same domain and path (and SameSite), no Secure/HttpOnly', async () => {
      const res = await get('/t/flush', 'sessionid=abc').expect(200);
      expect(res.headers['set-cookie']).toEqual([
        'sessionid=; Max-Age=0; Domain=.example.local; Path=/example/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Strict',
      ]);
      expect(res.headers.vary).toBe('Cookie');
    });
  });

  describe('saveEveryRequest (sqlite)', () => {
    let t: TestApp;
    const { get, row, rows, store, newSession } = helpers(() => t);
    beforeAll(async () => {
      t = await startApp('sqlite', platform, { saveEveryRequest: true });
    });
    afterAll(() => t.close());

    it('an untouched existing session is re-saved: same key re-issued, fresh expiry, Vary: Cookie', async () => {
      const key = await newSession();
      const soon = new Date(Date.now() + 60_000);
      await store().dataSource.query('UPDATE django_session SET expire_date = ? WHERE session_key = ?', [
        store().toDatabaseDate(soon),
        key,
      ]);
      const res = await get('/t/untouched', `sessionid=${key}`).expect(200);
      const cookie = cookieAttributes(responseCookie(res.headers) as string);
      expect(cookie.value).toBe(key);
      expect(cookie['max-age']).toBe('1209600');
      expect(res.headers.vary).toBe('Cookie');
      const stored = await row(key);
      expect(stored?.data).toEqual({ hello: 'world' });
      expect(stored!.expireDate.getTime()).toBeGreaterThan(soon.getTime() + 1209600_000 - 120_000);
    });

    it('no cookie and an untouched session: nothing set, nothing stored, no Vary', async () => {
      const before = (await rows()).length;
      const res = await get('/t/untouched').expect(200);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.headers.vary).toBeUndefined();
      expect((await rows()).length).toBe(before);
    });
  });

  describe('expireAtBrowserClose (sqlite)', () => {
    let t: TestApp;
    const { get, row } = helpers(() => t);
    beforeAll(async () => {
      t = await startApp('sqlite', platform, { expireAtBrowserClose: true });
    });
    afterAll(() => t.close());

    it('the cookie has neither Max-Age nor Expires; the row still expires after the cookie age', async () => {
      const res = await get('/t/set').expect(200);
      const cookie = cookieAttributes(responseCookie(res.headers) as string);
      expect(cookie['max-age']).toBeUndefined();
      expect(cookie.expires).toBeUndefined();
      expect(cookie).toMatchObject({ path: '/', httponly: true, samesite: 'Lax' });
      const stored = await row(cookie.value as string);
      expect((stored!.expireDate.getTime() - Date.now()) / 1000).toBeGreaterThan(1209600 - 60);
    });

    it('a per-session expiry overrides the setting', async () => {
      const cookie = cookieAttributes(responseCookie((await get('/t/expiry/60').expect(200)).headers) as string);
      expect(cookie['max-age']).toBe('60');
    });
  });
});

describe('Express middleware mounted ahead of Nest (sqlite)', () => {
  let t: TestApp;
  beforeAll(async () => {
    const expressApp = express();
    // Runs before SessionsModule's middleware: req.session attaches the session on this first access.
    expressApp.use((req, _res, next) => {
      if (req.path === '/t/untouched') (req as unknown as { session: Record<string, unknown> }).session.hello = 'early';
      next();
    });
    t = await createTestApp({ database: 'sqlite', expressApp, controllers: [SessionTestController] });
  });
  afterAll(() => t.close());

  it('reads and changes req.session: the change is saved and the cookie set, once', async () => {
    const response = await request(t.server).get('/t/untouched').expect(200);
    expect(response.headers['set-cookie']).toHaveLength(1);
    const cookie = responseCookie(response.headers)!.split(';')[0];
    expect((await request(t.server).get('/t/read').set('Cookie', cookie).expect(200)).body).toEqual({ hello: 'early' });
  });
});
