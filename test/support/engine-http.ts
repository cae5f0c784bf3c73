/**
 * The example app's session flows over HTTP (issue acceptance: /counter counts, DELETE /session
 * empties the session and deletes the cookie, unknown or tampered cookies get a fresh empty session),
 * run against any engine on Express and Fastify.
 */
import request from 'supertest';
import { AppController } from '../../src/app.controller';
import type { SessionsModuleOptions } from '../../src/sessions';
import { createTestApp, HTTP_PLATFORMS, responseSessionKey, type TestApp } from './app';

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
