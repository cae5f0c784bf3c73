/**
 * CSRF tokens traded with a live Django (test/django/auth_site.py: `django.middleware.csrf`'s
 * CsrfViewMiddleware and get_token) over HTTP: the example app with CSRF=true and the Django site on
 * one PostgreSQL database and SECRET_KEY, on two ports of 127.0.0.1 (a cookie ignores ports, so one
 * client's `csrftoken` and `sessionid` reach both). A token either side issues passes the other's
 * check, in the header and in the form field, with the secret in the cookie and in the shared
 * session (CSRF_USE_SESSIONS); a wrong one fails on both, so the acceptance is not vacuous.
 */
import { authSite, serveAuthSite, type ServedAuthSite } from './auth-site';
import { describeWithDjango, djangoAtLeast } from './django-peer';
import { createTestDatabase, type TestDatabase } from '../support/databases';
import { startExampleApp, type ExampleApp } from '../support/example-app';

jest.setTimeout(60_000);

const SECRET_KEY = 'django-insecure-csrf-interop-key-shared-by-django-and-nest';

/** One client of both sites: the cookies of 127.0.0.1, whichever port set them. */
class Client {
  readonly cookies = new Map<string, string>();

  async send(
    url: string,
    init: { method?: string; token?: string; form?: Record<string, string>; json?: object } = {},
  ): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ') };
    if (init.token) headers['x-csrftoken'] = init.token;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    } else if (init.json) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }
    const res = await fetch(url, {
      method: init.method ?? (body === undefined && !init.token ? 'GET' : 'POST'),
      headers,
      body,
      redirect: 'manual',
    });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1).replace(/^"|"$/g, '');
      if (value === '' || /max-age=0\b/i.test(cookie)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Django's 403 page is HTML
    }
    return { status: res.status, body: parsed };
  }
}

describeWithDjango('CSRF tokens shared with a live Django', () => {
  describe.each([
    ['the csrftoken cookie', false],
    ['the shared session (CSRF_USE_SESSIONS)', true],
  ])('the secret in %s', (_label, useSessions) => {
    let database: TestDatabase;
    let django: ServedAuthSite;
    let nest: ExampleApp;

    beforeAll(async () => {
      database = await createTestDatabase('postgres');
      const env = { DATABASE_URL: database.url, SECRET_KEY, CSRF_USE_SESSIONS: String(useSessions) };
      await authSite(env, 'migrate');
      nest = await startExampleApp(
        { CSRF: 'true', CSRF_USE_SESSIONS: String(useSessions), DATABASE_URL: database.url, SECRET_KEY },
        // Django before 4.1 reads only a masked secret from the session (its cookie it reads either way).
        { configure: (config) => ({ ...config, csrf: { ...config.csrf, cookieMasked: useSessions && !djangoAtLeast(4, 1) } }) },
      );
      django = await serveAuthSite(env);
    }, 60_000);
    afterAll(async () => {
      await Promise.all([nest?.close(), django?.close()]);
      await database?.drop();
    });

    it("a token Django's get_token issues passes Nest's check, in the header and in the form field", async () => {
      const client = new Client();
      const { body } = await client.send(`${django.url}/csrf/token/`);
      const { token } = body as { token: string };
      expect(client.cookies.has(useSessions ? 'sessionid' : 'csrftoken')).toBe(true);
      expect((await client.send(`${nest.url}/session`, { token, json: { from: 'django token' } })).status).toBe(200);
      expect((await client.send(`${nest.url}/session`, { form: { csrfmiddlewaretoken: token, from: 'django form' } })).status).toBe(200);
      expect((await client.send(`${nest.url}/session`, { token: 'a'.repeat(64), json: {} })).status).toBe(403);
    });

    it("a token Nest's getToken issues passes Django's CsrfViewMiddleware, in the header and in the form field", async () => {
      const client = new Client();
      const { body } = await client.send(`${nest.url}/csrf`);
      const { token } = body as { token: string };
      expect(client.cookies.has(useSessions ? 'sessionid' : 'csrftoken')).toBe(true);
      expect(await client.send(`${django.url}/csrf/protected/`, { token })).toEqual({ status: 200, body: { ok: true } });
      expect(await client.send(`${django.url}/csrf/protected/`, { form: { csrfmiddlewaretoken: token } })).toEqual({
        status: 200,
        body: { ok: true },
      });
      expect((await client.send(`${django.url}/csrf/protected/`, { token: 'a'.repeat(64) })).status).toBe(403);
    });
  });
});
