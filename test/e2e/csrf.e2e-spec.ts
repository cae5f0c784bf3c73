/**
 * Django's CSRF protection on the Nest side (issue 26) over HTTP, on Express and Fastify: the
 * example app with CSRF=true (cookie and CSRF_USE_SESSIONS), its login rotating the token, and a
 * test app for exempt routes, trusted origins and the HTTPS Referer rules. Every rejection is a 403
 * whose message is Django's reason. The token functions themselves are unit-tested against Django's
 * vectors (src/sessions/csrf/csrf.spec.ts); test/django/csrf.e2e-spec.ts trades tokens with a live
 * Django and test/browser/csrf.e2e-spec.ts runs the forms in Chromium.
 */
import { Body, Controller, Get, HttpCode, Post, Req } from '@nestjs/common';
import type { Server } from 'node:http';
import request from 'supertest';
import { CsrfExempt, CsrfModule, getToken, type CsrfModuleOptions } from '../../src/sessions';
import { createTestApp, HTTP_PLATFORMS, type HttpPlatform, type TestApp } from '../support/app';
import { createTestDatabase } from '../support/databases';
import { createDjangoUserTable, insertDjangoUser } from '../support/django-users';
import { exampleAppPerDescribe, startExampleApp } from '../support/example-app';

jest.setTimeout(60_000);

/** Django's test secret and a masked version of it (tests/csrf_tests/tests.py). */
const TEST_SECRET = 'lcccccccX2kcccccccY2jcccccccssIC';
const MASKED_TEST_SECRET1 = '1bcdefghij2bcdefghij3bcdefghij4bcdefghij5bcdefghij6bcdefghijABCD';
const OTHER_TOKEN = 'a'.repeat(64);

/** A browser's cookies for one site: every cookie the responses set, sent back. */
class Browser {
  readonly cookies = new Map<string, string>();
  constructor(private readonly server: Server) {}

  get cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  async send(
    method: 'get' | 'post' | 'delete',
    path: string,
    options: { headers?: Record<string, string>; json?: object; form?: Record<string, string> } = {},
  ) {
    let req = request(this.server)[method](path).set('Cookie', this.cookieHeader);
    for (const [name, value] of Object.entries(options.headers ?? {})) req = req.set(name, value);
    if (options.form) req = req.type('form').send(options.form);
    else if (options.json) req = req.send(options.json);
    const res = await req;
    for (const cookie of ([] as string[]).concat(res.headers['set-cookie'] ?? [])) {
      const [pair, ...attributes] = cookie.split(';');
      const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
      if (attributes.some((a) => /max-age=0$/i.test(a.trim())) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  /** `GET /csrf`: the masked token (the cookie or session keeps the secret). */
  async token(): Promise<string> {
    const res = await this.send('get', '/csrf');
    expect(res.status).toBe(200);
    return (res.body as { token: string }).token;
  }
}

const forbidden = (reason: string) => ({ statusCode: 403, message: reason, error: 'Forbidden' });

describe.each(HTTP_PLATFORMS)("Django's CSRF protection (%s)", (platform) => {
  describe('the example app, CSRF=true', () => {
    const app = exampleAppPerDescribe({ CSRF: 'true', HTTP_PLATFORM: platform });

    it("GET /csrf: a 64-character masked token, the 32-character secret in the csrftoken cookie with Django's attributes, Vary: Cookie", async () => {
      const browser = new Browser(app.server);
      const res = await browser.send('get', '/csrf');
      const { token } = res.body as { token: string };
      expect(token).toMatch(/^[a-zA-Z0-9]{64}$/);
      const cookie = ([] as string[]).concat(res.headers['set-cookie']).find((c) => c.startsWith('csrftoken='))!;
      expect(cookie).toMatch(/^csrftoken=[a-zA-Z0-9]{32}; Max-Age=31449600; Path=\/; Expires=[^;]+; SameSite=Lax$/);
      expect(res.headers.vary).toMatch(/Cookie/);
      // A second token masks the same secret differently.
      expect(await browser.token()).not.toBe(token);
    });

    it('a safe request that never asks for the token stays cookie-free', async () => {
      const res = await request(app.server).get('/ping');
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it("unsafe requests: no cookie, no token, a malformed or a wrong token are 403 with Django's reason; a right one passes", async () => {
      const stranger = new Browser(app.server);
      expect((await stranger.send('post', '/session', { json: { a: 1 } })).body).toEqual(forbidden('CSRF cookie not set.'));
      const browser = new Browser(app.server);
      const token = await browser.token();
      expect((await browser.send('post', '/session', { json: { a: 1 } })).body).toEqual(forbidden('CSRF token missing.'));
      const header = (value: string) => ({ json: { a: 1 }, headers: { 'X-CSRFToken': value } });
      expect((await browser.send('post', '/session', header('short'))).body).toEqual(
        forbidden("CSRF token from the 'X-Csrftoken' HTTP header has incorrect length."),
      );
      expect((await browser.send('post', '/session', header(`${token.slice(0, 63)}!`))).body).toEqual(
        forbidden("CSRF token from the 'X-Csrftoken' HTTP header has invalid characters."),
      );
      expect((await browser.send('post', '/session', header(OTHER_TOKEN))).body).toEqual(
        forbidden("CSRF token from the 'X-Csrftoken' HTTP header incorrect."),
      );
      expect((await browser.send('post', '/session', header(token))).status).toBe(200);
      // The unmasked secret itself is a token too (a SPA reading the cookie, as Django 4.1+ allows).
      expect((await browser.send('delete', '/session', { headers: { 'X-CSRFToken': browser.cookies.get('csrftoken')! } })).status).toBe(
        200,
      );
    });

    it('the csrfmiddlewaretoken form field: checked before the header, with its own reasons', async () => {
      const browser = new Browser(app.server);
      const token = await browser.token();
      expect((await browser.send('post', '/session', { form: { greeting: 'hi', csrfmiddlewaretoken: token } })).status).toBe(200);
      expect(
        (await browser.send('post', '/session', { form: { csrfmiddlewaretoken: OTHER_TOKEN }, headers: { 'X-CSRFToken': token } })).body,
      ).toEqual(forbidden('CSRF token from POST incorrect.'));
      expect((await browser.send('post', '/session', { form: { csrfmiddlewaretoken: 'x' } })).body).toEqual(
        forbidden('CSRF token from POST has incorrect length.'),
      );
      // An empty field falls back to the header, as in Django.
      expect(
        (await browser.send('post', '/session', { form: { csrfmiddlewaretoken: '' }, headers: { 'X-CSRFToken': token } })).status,
      ).toBe(200);
    });

    it("cookies Django writes: 3.2's masked 64-character cookie is read; a malformed one is refused and replaced", async () => {
      const legacy = new Browser(app.server);
      legacy.cookies.set('csrftoken', MASKED_TEST_SECRET1);
      expect((await legacy.send('post', '/session', { json: { a: 1 }, headers: { 'X-CSRFToken': TEST_SECRET } })).status).toBe(200);
      const broken = new Browser(app.server);
      broken.cookies.set('csrftoken', 'tooShort');
      const res = await broken.send('post', '/session', { json: { a: 1 }, headers: { 'X-CSRFToken': MASKED_TEST_SECRET1 } });
      expect(res.body).toEqual(forbidden('CSRF cookie has incorrect length.'));
      expect(broken.cookies.get('csrftoken')).toMatch(/^[a-zA-Z0-9]{32}$/);
      broken.cookies.set('csrftoken', `${TEST_SECRET.slice(0, 31)}$`);
      expect((await broken.send('post', '/session', { json: { a: 1 }, headers: { 'X-CSRFToken': TEST_SECRET } })).body).toEqual(
        forbidden('CSRF cookie has invalid characters.'),
      );
    });

    it("an Origin header must be the site's own", async () => {
      const browser = new Browser(app.server);
      const token = await browser.token();
      const withOrigin = (origin: string) => ({ json: { a: 1 }, headers: { 'X-CSRFToken': token, Origin: origin } });
      expect((await browser.send('post', '/session', withOrigin('http://evil.example'))).body).toEqual(
        forbidden('Origin checking failed - http://evil.example does not match any trusted origins.'),
      );
      expect((await browser.send('post', '/session', withOrigin('null'))).status).toBe(403);
      expect((await browser.send('post', '/session', withOrigin(app.url))).status).toBe(200);
    });
  });

  describe('the example app, CSRF=true and CSRF_USE_SESSIONS=true', () => {
    const app = exampleAppPerDescribe({ CSRF: 'true', CSRF_USE_SESSIONS: 'true', HTTP_PLATFORM: platform });

    it("the secret lives in the session (no csrftoken cookie); its token passes, another session's does not", async () => {
      const browser = new Browser(app.server);
      const token = await browser.token();
      expect([...browser.cookies.keys()]).toEqual(['sessionid']);
      expect((await browser.send('post', '/session', { json: { a: 1 }, headers: { 'X-CSRFToken': token } })).status).toBe(200);
      expect((await browser.send('get', '/session')).body).toEqual({ _csrftoken: expect.stringMatching(/^[a-zA-Z0-9]{32}$/), a: 1 });
      const other = new Browser(app.server);
      await other.token();
      expect((await other.send('post', '/session', { json: { a: 1 }, headers: { 'X-CSRFToken': token } })).body).toEqual(
        forbidden("CSRF token from the 'X-Csrftoken' HTTP header incorrect."),
      );
      expect((await new Browser(app.server).send('post', '/session', { json: { a: 1 }, headers: { 'X-CSRFToken': token } })).body).toEqual(
        forbidden('CSRF cookie not set.'),
      );
    });

    it('a safe request never opens the session for CSRF: no cookie', async () => {
      expect((await request(app.server).get('/ping')).headers['set-cookie']).toBeUndefined();
    });
  });

  describe('with the Django auth bridge (DJANGO_AUTH=true)', () => {
    const app = exampleAppPerDescribe({ CSRF: 'true', DJANGO_AUTH: 'true', HTTP_PLATFORM: platform }, async (database) => {
      await createDjangoUserTable(database);
      await insertDjangoUser(database, { username: 'alice', password: 'alice-password' });
    });

    it('a cross-site login without the token is refused (login CSRF); login rotates the token: the one the login page had stops working', async () => {
      const attacker = new Browser(app.server);
      expect(
        (
          await attacker.send('post', '/auth/login', {
            form: { username: 'alice', password: 'alice-password' },
            headers: { Origin: 'http://attacker.example' },
          })
        ).body,
      ).toEqual(forbidden('Origin checking failed - http://attacker.example does not match any trusted origins.'));
      expect((await attacker.send('post', '/auth/login', { json: { username: 'alice', password: 'alice-password' } })).body).toEqual(
        forbidden('CSRF cookie not set.'),
      );
      const browser = new Browser(app.server);
      const before = await browser.token();
      const secretBefore = browser.cookies.get('csrftoken');
      expect(
        (
          await browser.send('post', '/auth/login', {
            json: { username: 'alice', password: 'alice-password' },
            headers: { 'X-CSRFToken': before },
          })
        ).status,
      ).toBe(200);
      expect(browser.cookies.get('csrftoken')).not.toBe(secretBefore);
      expect((await browser.send('post', '/auth/logout', { headers: { 'X-CSRFToken': before } })).body).toEqual(
        forbidden("CSRF token from the 'X-Csrftoken' HTTP header incorrect."),
      );
      expect((await browser.send('post', '/auth/logout', { headers: { 'X-CSRFToken': await browser.token() } })).status).toBe(200);
    });
  });
});

describe('the auth bridge says when it runs without CSRF protection', () => {
  it.each([
    ['without CsrfModule: one warning at start-up', {}, 1],
    ['with CsrfModule: none', { CSRF: 'true' }, 0],
  ])('%s', async (_label, env, expected) => {
    const database = await createTestDatabase('sqlite');
    await createDjangoUserTable(database);
    const warnings: string[] = [];
    const logger = {
      log() {},
      error() {},
      debug() {},
      verbose() {},
      fatal() {},
      warn: (message: unknown) => void warnings.push(String(message)),
    };
    const app = await startExampleApp({ DJANGO_AUTH: 'true', DATABASE_URL: database.url, ...env }, { logger });
    await app.close();
    await database.drop();
    expect(warnings.filter((message) => message.includes('without CSRF protection'))).toHaveLength(expected);
  });
});

@Controller()
class CsrfTestController {
  @Get('token')
  async token(@Req() req: object): Promise<{ token: string }> {
    return { token: await getToken(req) };
  }

  @Post('protected')
  @HttpCode(200)
  protected(@Body() body: unknown): unknown {
    return body ?? {};
  }

  @Post('exempt')
  @HttpCode(200)
  @CsrfExempt()
  exempt(): { exempt: true } {
    return { exempt: true };
  }
}

@CsrfExempt()
@Controller('webhooks')
class ExemptController {
  @Post('incoming')
  @HttpCode(200)
  incoming(): { received: true } {
    return { received: true };
  }
}

describe.each(HTTP_PLATFORMS)('CsrfModule in an app of its own (%s)', (platform: HttpPlatform) => {
  let t: TestApp;
  const options: CsrfModuleOptions = { trustedOrigins: ['https://trusted.example', 'https://*.example.com'] };
  beforeAll(async () => {
    t = await createTestApp({
      platform,
      trustProxy: true,
      imports: [CsrfModule.forRoot(options)],
      controllers: [CsrfTestController, ExemptController],
    });
  });
  afterAll(() => t?.close());

  const post = (path: string, headers: Record<string, string> = {}) => new Browser(t.server).send('post', path, { json: {}, headers });

  it('@CsrfExempt() on a handler or a controller lets unsafe requests through unchecked', async () => {
    expect((await post('/exempt')).body).toEqual({ exempt: true });
    expect((await post('/webhooks/incoming', { Origin: 'https://elsewhere.example' })).body).toEqual({ received: true });
    expect((await post('/protected')).status).toBe(403);
  });

  it('CSRF_TRUSTED_ORIGINS: exact origins and wildcard subdomains, of their scheme only', async () => {
    const browser = new Browser(t.server);
    const { token } = (await browser.send('get', '/token')).body as { token: string };
    const from = (origin: string) => browser.send('post', '/protected', { json: {}, headers: { 'X-CSRFToken': token, Origin: origin } });
    for (const origin of ['https://trusted.example', 'https://example.com', 'https://a.b.example.com'])
      expect([origin, (await from(origin)).status]).toEqual([origin, 200]);
    for (const origin of ['http://trusted.example', 'http://a.example.com', 'https://evilexample.com', 'https://example.com.evil']) {
      expect([origin, (await from(origin)).body]).toEqual([
        origin,
        forbidden(`Origin checking failed - ${origin} does not match any trusted origins.`),
      ]);
    }
  });

  it('HTTPS without Origin: the Referer must be the site itself or a trusted origin, over HTTPS', async () => {
    const browser = new Browser(t.server);
    const { token } = (await browser.send('get', '/token')).body as { token: string };
    const secure = (referer?: string) =>
      browser.send('post', '/protected', {
        json: {},
        headers: {
          'X-CSRFToken': token,
          'X-Forwarded-Proto': 'https',
          Host: 'www.site.test',
          ...(referer === undefined ? {} : { Referer: referer }),
        },
      });
    expect((await secure()).body).toEqual(forbidden('Referer checking failed - no Referer.'));
    expect((await secure('not a url')).body).toEqual(forbidden('Referer checking failed - Referer is malformed.'));
    expect((await secure('http://www.site.test/form')).body).toEqual(
      forbidden('Referer checking failed - Referer is insecure while host is secure.'),
    );
    expect((await secure('https://evil.test/form')).body).toEqual(
      forbidden('Referer checking failed - https://evil.test/form does not match any trusted origins.'),
    );
    expect((await secure('https://www.site.test/form')).status).toBe(200);
    expect((await secure('https://shop.example.com/cart')).status).toBe(200);
    // Plain HTTP checks no Referer (Django's rule: the check guards HTTPS against a man in the middle).
    expect((await browser.send('post', '/protected', { json: {}, headers: { 'X-CSRFToken': token } })).status).toBe(200);
  });
});
