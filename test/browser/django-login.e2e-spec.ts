/**
 * One real browser (Chromium) and two sites on one PostgreSQL database and SECRET_KEY: a real Django
 * (test/django/auth_site.py: admin, auth, sessions) and the example app with DJANGO_AUTH=true, on two
 * ports of 127.0.0.1 (cookies ignore ports: both see one `sessionid`). Signing in and out on either
 * side holds on the other, a password changed on Django signs the user out of Nest, browser-session
 * cookies end with the browser, and SameSite=Lax is what Chromium applies.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { chromium, type Browser, type BrowserContext, type Cookie, type Page } from 'playwright-core';
import { authSite, createDjangoUser, serveAuthSite, type AuthSiteEnv, type ServedAuthSite } from '../django/auth-site';
import { createTestDatabase, type TestDatabase } from '../support/databases';
import { startExampleApp } from '../support/example-app';
import { CHROMIUM_LAUNCH_OPTIONS, describeWithChromiumAndDjango, screenshotOnFailure } from './chromium';

const SECRET_KEY = 'django-insecure-browser-suite-key-shared-by-django-and-nest';
const ALICE = { username: 'alice', password: 'alice-first-password' };
const ALICE_NEW_PASSWORD = 'alice-password-changed-on-django';
const ADMIN = { username: 'admin', password: 'admin-password' };
const COOKIE_AGE = 1209600;

interface Site {
  url: string;
  close(): Promise<void>;
}

interface Answer {
  status: number;
  body: unknown;
}

/** Another site (Chromium: 127.0.0.2 is not the site of 127.0.0.1) linking and posting to the Nest app. */
async function startOtherSite(nestUrl: string): Promise<Site> {
  const page = `<!doctype html><title>Another site</title>
<a id="read" href="${nestUrl}/session">the session</a>
<form id="post" method="post" action="${nestUrl}/session"><input name="posted" value="from another site"><button type="submit">post</button></form>`;
  const server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.2:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function sessionCookie(context: BrowserContext): Promise<Cookie | undefined> {
  return (await context.cookies()).find((cookie) => cookie.name === 'sessionid');
}

describeWithChromiumAndDjango('a browser signed in on Django and on the example app alike (DJANGO_AUTH=true)', () => {
  let database: TestDatabase;
  let db: Client;
  let django: ServedAuthSite;
  let nest: Site;
  let otherSite: Site;
  let browser: Browser;
  let aliceId: number;
  /** Step 2's browser context: alice signed in through Nest. */
  let nestSignedIn: { context: BrowserContext; page: Page };

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    const env: AuthSiteEnv = { DATABASE_URL: database.url, SECRET_KEY };
    await authSite(env, 'migrate');
    [aliceId] = await Promise.all([
      createDjangoUser(env, ALICE.username, ALICE.password, ['staff']),
      createDjangoUser(env, ADMIN.username, ADMIN.password, ['superuser']),
    ]);
    // One at a time: whatever started is in hand for afterAll when a later start fails.
    django = await serveAuthSite(env);
    nest = await startExampleApp(
      { DJANGO_AUTH: 'true', DATABASE_URL: database.url, SECRET_KEY, HTTP_PLATFORM: process.env.HTTP_PLATFORM },
      { logger: ['error', 'fatal'] },
    );
    otherSite = await startOtherSite(nest.url);
    browser = await chromium.launch(CHROMIUM_LAUNCH_OPTIONS);
    db = new Client({ connectionString: database.url });
    await db.connect();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all([nest?.close(), django?.close(), otherSite?.close(), db?.end()]);
    await database?.drop();
  });

  /** Makes a request from a page of the Nest origin, with the browser's own cookies. */
  async function nestFetch(page: Page, path: string, method = 'GET', json?: unknown): Promise<Answer> {
    if (new URL(page.url()).origin !== nest.url) await page.goto(`${nest.url}/ping`);
    return page.evaluate(
      async ({ path, method, json }) => {
        const response = await fetch(path, {
          method,
          headers: json === undefined ? {} : { 'content-type': 'application/json' },
          body: json === undefined ? undefined : JSON.stringify(json),
        });
        const text = await response.text();
        return { status: response.status, body: text ? (JSON.parse(text) as unknown) : null };
      },
      { path, method, json },
    );
  }

  async function sessionRowExists(key: string): Promise<boolean> {
    const { rowCount } = await db.query('SELECT 1 FROM django_session WHERE session_key = $1', [key]);
    return rowCount === 1;
  }

  /** Django's admin login form, filled and submitted. */
  async function signInOnDjango(page: Page, user: { username: string; password: string }): Promise<void> {
    await page.goto(`${django.url}/admin/login/`);
    await page.fill('#id_username', user.username);
    await page.fill('#id_password', user.password);
    await Promise.all([page.waitForURL(`${django.url}/admin/`), page.click('#login-form [type="submit"]')]);
  }

  async function expectAdminIndex(page: Page): Promise<void> {
    expect(page.url()).toBe(`${django.url}/admin/`);
    expect(await page.locator('#login-form').count()).toBe(0);
    expect(await page.locator('#content h1').textContent()).toBe('Site administration');
  }

  async function expectAdminLoginPage(page: Page): Promise<void> {
    expect(page.url()).toBe(`${django.url}/admin/login/?next=/admin/`);
    expect(await page.locator('#login-form').count()).toBe(1);
  }

  const alice = () => ({ id: aliceId, username: ALICE.username });

  it("1. signed in on Django's admin login form: the admin index shows, and Nest's GET /me is alice", async () => {
    const page = await (await browser.newContext()).newPage();
    await screenshotOnFailure(page, '1-django-login', async () => {
      await signInOnDjango(page, ALICE);
      await expectAdminIndex(page);
      expect(await nestFetch(page, '/me')).toEqual({ status: 200, body: alice() });
    });
  });

  it("2. signed in through Nest's POST /auth/login: Django's /admin/ shows the index, no login form", async () => {
    const context = await browser.newContext();
    nestSignedIn = { context, page: await context.newPage() };
    await screenshotOnFailure(nestSignedIn.page, '2-nest-login', async () => {
      expect(await nestFetch(nestSignedIn.page, '/auth/login', 'POST', ALICE)).toEqual({ status: 200, body: alice() });
      await nestSignedIn.page.goto(`${django.url}/admin/`);
      await expectAdminIndex(nestSignedIn.page);
    });
  });

  it("3. alice's password changed in Django's admin: her Nest session is flushed (GET /me 401, row and cookie gone)", async () => {
    const { context, page } = nestSignedIn;
    expect(await nestFetch(page, '/me')).toEqual({ status: 200, body: alice() });
    const key = (await sessionCookie(context))!.value;
    expect(await sessionRowExists(key)).toBe(true);

    const adminContext = await browser.newContext();
    const adminPage = await adminContext.newPage();
    await screenshotOnFailure(adminPage, '3-django-password-change', async () => {
      await signInOnDjango(adminPage, ADMIN);
      await adminPage.goto(`${django.url}/admin/auth/user/${aliceId}/password/`);
      await adminPage.fill('#id_password1', ALICE_NEW_PASSWORD);
      await adminPage.fill('#id_password2', ALICE_NEW_PASSWORD);
      await Promise.all([
        adminPage.waitForURL(`${django.url}/admin/auth/user/${aliceId}/change/`),
        adminPage.getByRole('button', { name: 'Change password' }).click(),
      ]);
      expect(await adminPage.locator('.messagelist .success').textContent()).toContain('Password changed successfully');
    });
    await adminContext.close();

    expect(await nestFetch(page, '/me')).toEqual({ status: 401, body: expect.anything() });
    expect(await sessionRowExists(key)).toBe(false);
    // Django's SessionMiddleware deletes the cookie of a session flushed empty.
    expect(await sessionCookie(context)).toBeUndefined();
  });

  it("4. signed in through Nest, then Nest's POST /auth/logout: Django's /admin/ redirects to its login page", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await screenshotOnFailure(page, '4-nest-logout', async () => {
      expect(await nestFetch(page, '/auth/login', 'POST', { username: ALICE.username, password: ALICE_NEW_PASSWORD })).toEqual({
        status: 200,
        body: alice(),
      });
      await page.goto(`${django.url}/admin/`);
      await expectAdminIndex(page);
      const key = (await sessionCookie(context))!.value;
      expect((await nestFetch(page, '/auth/logout', 'POST')).status).toBe(200);
      expect(await sessionRowExists(key)).toBe(false);
      await page.goto(`${django.url}/admin/`);
      await expectAdminLoginPage(page);
    });
  });

  it('5. a browser-session cookie ends with the browser; a 300 s cookie outlives it', async () => {
    const userDataDir = await mkdtemp(join(tmpdir(), 'sessions-browser-profile-'));
    const launch = async () => {
      const context = await chromium.launchPersistentContext(userDataDir, CHROMIUM_LAUNCH_OPTIONS);
      return { context, page: context.pages()[0] ?? (await context.newPage()) };
    };
    let { context, page } = await launch();
    try {
      expect(await nestFetch(page, '/session/expiry', 'POST', { seconds: 0 })).toEqual({
        status: 200,
        body: { expiryAge: COOKIE_AGE, expireAtBrowserClose: true },
      });
      expect((await nestFetch(page, '/session', 'POST', { kept: 'until the browser closes' })).status).toBe(200);
      expect((await sessionCookie(context))?.expires).toBe(-1);

      await context.close();
      ({ context, page } = await launch());
      expect(await sessionCookie(context)).toBeUndefined();
      expect(await nestFetch(page, '/session')).toEqual({ status: 200, body: {} });

      const setFrom = Date.now() / 1000;
      expect(await nestFetch(page, '/session/expiry', 'POST', { seconds: 300 })).toEqual({
        status: 200,
        body: { expiryAge: 300, expireAtBrowserClose: false },
      });
      expect((await nestFetch(page, '/session', 'POST', { kept: 'five minutes' })).status).toBe(200);
      const setUntil = Date.now() / 1000;
      const cookie = (await sessionCookie(context))!;
      // 300 s from when a response set it (Expires has whole seconds: 1 s either way).
      expect(cookie.expires).toBeGreaterThanOrEqual(Math.floor(setFrom) + 300 - 1);
      expect(cookie.expires).toBeLessThanOrEqual(Math.ceil(setUntil) + 300 + 1);

      await context.close();
      ({ context, page } = await launch());
      expect(await sessionCookie(context)).toMatchObject({ value: cookie.value, expires: cookie.expires });
      expect(await nestFetch(page, '/session')).toMatchObject({ status: 200, body: { kept: 'five minutes' } });
    } finally {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    }
  });

  it('6. SameSite=Lax in Chromium: a link from another site carries the cookie, a form POST from it does not', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${nest.url}/counter`);
    await page.goto(`${nest.url}/counter`);
    expect(await sessionCookie(context)).toMatchObject({ sameSite: 'Lax' });

    await page.goto(otherSite.url);
    await Promise.all([page.waitForURL(`${nest.url}/session`), page.click('#read')]);
    expect(JSON.parse(await page.innerText('pre'))).toEqual({ count: 2 });

    await page.goto(otherSite.url);
    await Promise.all([page.waitForURL(`${nest.url}/session`), page.click('#post button')]);
    expect(JSON.parse(await page.innerText('pre'))).toEqual({ posted: 'from another site' });
  });
});
