/**
 * HTTP suites for any engine, on Express and Fastify: the example app's session flows (issue
 * acceptance: /counter counts, DELETE /session empties the session and deletes the cookie, unknown
 * or tampered cookies get a fresh empty session) and the `SessionMiddleware.process_response` cases
 * (`django/contrib/sessions/middleware.py`) that do not look inside the store.
 */
import request from 'supertest';
import { AppController } from '../../example/app.controller';
import type { SessionsModuleOptions } from '../../src/sessions';
import { SESSION_INTERRUPTED_MESSAGE } from '../../src/sessions/session.errors';
import { SessionTestController } from '../fixtures/session-test.controller';
import { createTestApp, HTTP_PLATFORMS, responseCookie, responseSessionKey, type TestApp } from './app';

const DELETION_COOKIE = 'sessionid=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax';

/** A browser's cookie jar for the session cookie alone. */
export class SessionCookieJar {
  value: string | undefined;

  get header(): string[] {
    return this.value === undefined ? [] : [`sessionid=${this.value}`];
  }

  /** Takes the response's Set-Cookie like a browser: a new value replaces, a deletion removes. */
  update(headers: Record<string, unknown>): void {
    const key = responseSessionKey(headers);
    if (key === '') this.value = undefined;
    else if (key !== undefined) this.value = key;
  }
}

/** `sessionOptions()` runs in beforeAll (e.g. after a temporary directory was made). */
export function describeExampleAppFlows(label: string, sessionOptions: () => Partial<SessionsModuleOptions>): void {
  describe.each(HTTP_PLATFORMS)(`example app flows: ${label} (%s)`, (platform) => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp({ platform, sessions: sessionOptions(), controllers: [AppController] });
    });
    afterAll(() => t.close());

    async function get(path: string, jar: SessionCookieJar) {
      const res = await request(t.server).get(path).set('Cookie', jar.header).expect(200);
      jar.update(res.headers);
      return res;
    }

    it('/counter counts across requests', async () => {
      const jar = new SessionCookieJar();
      for (const count of [1, 2, 3]) expect((await get('/counter', jar)).body).toEqual({ count });
      expect((await get('/session', jar)).body).toEqual({ count: 3 });
    });

    it('DELETE /session empties the session and deletes the cookie', async () => {
      const jar = new SessionCookieJar();
      await get('/counter', jar);
      const res = await request(t.server).delete('/session').set('Cookie', jar.header).expect(200);
      expect(res.body).toEqual({});
      expect(responseSessionKey(res.headers)).toBe('');
      expect(String(res.headers['set-cookie'])).toMatch(/Max-Age=0/);
      jar.update(res.headers);
      expect(jar.value).toBeUndefined();
      expect((await get('/counter', jar)).body).toEqual({ count: 1 });
    });

    it('an unknown cookie gets a fresh empty session under a new key', async () => {
      const jar = new SessionCookieJar();
      jar.value = 'unknownsessionkey0123456789abcdef';
      expect((await get('/counter', jar)).body).toEqual({ count: 1 });
      expect(jar.value).not.toBe('unknownsessionkey0123456789abcdef');
      expect((await get('/counter', jar)).body).toEqual({ count: 2 });
    });

    it('a tampered cookie gets a fresh empty session', async () => {
      const jar = new SessionCookieJar();
      await get('/counter', jar);
      await get('/counter', jar);
      const value = jar.value as string;
      // Change the 20th character: inside a key, inside a signed payload's data.
      jar.value = value.slice(0, 19) + (value[19] === 'a' ? 'b' : 'a') + value.slice(20);
      expect((await get('/counter', jar)).body).toEqual({ count: 1 });
      expect(jar.value).not.toBe(value);
    });
  });
}

/**
 * The `process_response` cases through SessionTestController. `storage`: 'server' engines keep sessions by
 * key; with 'cookie' (signed_cookies) an unreadable cookie is re-issued holding `{}` instead of
 * deleted, and there is no stored session a concurrent logout could delete.
 */
export function describeBehaviourMatrix(
  label: string,
  sessionOptions: () => Partial<SessionsModuleOptions>,
  storage: 'server' | 'cookie',
): void {
  describe.each(HTTP_PLATFORMS)(`SessionMiddleware.process_response cases: ${label} (%s)`, (platform) => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp({ platform, sessions: sessionOptions(), controllers: [SessionTestController] });
    });
    afterAll(() => t.close());

    const get = (path: string, cookie?: string) =>
      request(t.server)
        .get(path)
        .set('Cookie', cookie === undefined ? [] : [cookie]);
    /** The cookie of a new session holding `hello: 'world'`. */
    const newSession = async () => `sessionid=${responseSessionKey((await get('/t/set').expect(200)).headers)}`;
    const hello = async (cookie: string) => ((await get('/t/read', cookie).expect(200)).body as { hello?: unknown }).hello;

    it('untouched session without a cookie: no Set-Cookie, no Vary', async () => {
      const res = await get('/t/untouched').expect(200);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.headers.vary).toBeUndefined();
    });

    it("the view sets data: a cookie with Django's attributes and Vary: Cookie; the data reads back", async () => {
      const res = await get('/t/set').expect(200);
      expect(responseCookie(res.headers)).toMatch(/^sessionid=[^;]{8,}; Max-Age=1209600; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax$/);
      expect(res.headers.vary).toBe('Cookie');
      expect(await hello(`sessionid=${responseSessionKey(res.headers)}`)).toBe('world');
    });

    it('an unknown cookie read by the view: never adopted', async () => {
      const res = await get('/t/read', 'sessionid=unknownkey12345678').expect(200);
      expect(res.body).toEqual({ hello: null });
      expect(res.headers.vary).toBe('Cookie');
      if (storage === 'server') expect(responseCookie(res.headers)).toBe(DELETION_COOKIE);
      else expect(responseSessionKey(res.headers)).toMatch(/^e30:/); // Django re-issues an empty signed cookie
    });

    it('a cookie shorter than 8 characters: deletion cookie', async () => {
      const res = await get('/t/untouched', 'sessionid=abc').expect(200);
      expect(responseCookie(res.headers)).toBe(DELETION_COOKIE);
      expect(res.headers.vary).toBe('Cookie');
    });

    it('flush with a cookie: deletion cookie and Vary: Cookie', async () => {
      const cookie = await newSession();
      const res = await get('/t/flush', cookie).expect(200);
      expect(responseCookie(res.headers)).toBe(DELETION_COOKIE);
      expect(res.headers.vary).toBe('Cookie');
      if (storage === 'server') expect(await hello(cookie)).toBeNull();
    });

    it('flush without a cookie: no cookie, Vary: Cookie', async () => {
      const res = await get('/t/flush').expect(200);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.headers.vary).toBe('Cookie');
    });

    it.each([500, 503])('the view modifies and answers %d: nothing saved, no cookie', async (status) => {
      const res = await get(`/t/status/${status}`).expect(status);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.headers.vary).toBe('Cookie');
    });

    it('a 4xx answer still saves the session (Django saves below 500)', async () => {
      const res = await get('/t/bad-request').expect(400);
      expect(await hello(`sessionid=${responseSessionKey(res.headers)}`)).toBe('world');
    });

    it('emptied data with a key: the session is saved empty and its cookie re-issued', async () => {
      const cookie = await newSession();
      const res = await get('/t/delete-hello', cookie).expect(200);
      const key = responseSessionKey(res.headers) as string;
      if (storage === 'server') expect(`sessionid=${key}`).toBe(cookie);
      else expect(key).toMatch(/^e30:/);
      expect(await hello(`sessionid=${key}`)).toBeNull();
    });

    it('the session deleted by a concurrent request while this one modifies it', async () => {
      const cookie = await newSession();
      if (storage === 'server') {
        const res = await get('/t/interrupted', cookie).expect(400);
        expect((res.body as { message: string }).message).toBe(SESSION_INTERRUPTED_MESSAGE);
        expect(res.headers['set-cookie']).toBeUndefined();
      } else {
        // Nothing is stored server-side: the modified session is simply issued.
        const res = await get('/t/interrupted', cookie).expect(200);
        expect(await hello(`sessionid=${responseSessionKey(res.headers)}`)).toBe('again');
      }
    });

    it('an existing Vary header gets Cookie appended', async () => {
      expect((await get('/t/vary').expect(200)).headers.vary).toBe('Accept-Encoding, Cookie');
    });

    it('a handler writing the response itself (@Res) still gets the cookie', async () => {
      const res = await get('/t/res').expect(200);
      expect(await hello(`sessionid=${responseSessionKey(res.headers)}`)).toBe('res');
    });
  });
}
