/**
 * Django's CSRF protection as Chromium meets it, with a real Django (test/django/auth_site.py) and
 * the example app (CSRF=true, DJANGO_AUTH=true) on one PostgreSQL database and SECRET_KEY, on two
 * ports of 127.0.0.1: a form Django renders posts to Nest; a page of another site (127.0.0.2) that
 * posts the attacker's credentials to Nest's login (login CSRF) is refused; and a login on either
 * side rotates the token, so the one a page held before fails on both sites.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { authSite, createDjangoUser, serveAuthSite, type AuthSiteEnv, type ServedAuthSite } from '../django/auth-site';
import { createTestDatabase, type TestDatabase } from '../support/databases';
import { startExampleApp, type ExampleApp } from '../support/example-app';
import { CHROMIUM_LAUNCH_OPTIONS, describeWithChromiumAndDjango } from './chromium';

const SECRET_KEY = 'django-insecure-browser-csrf-key-shared-by-django-and-nest';
const ALICE = { username: 'alice', password: 'alice-password' };
const MALLORY = { username: 'mallory', password: 'mallory-password' };

interface Answer {
  status: number;
  body: string;
}

/** A page of another site (Chromium: 127.0.0.2 is not the site of 127.0.0.1) with a login form posting the attacker's credentials to Nest. */
async function startAttackerSite(nestUrl: string): Promise<{ url: string; close(): Promise<void> }> {
  const page = `<!doctype html><title>Win a prize</title>
<form id="login" method="post" action="${nestUrl}/auth/login"><input name="username" value="${MALLORY.username}"><input name="password" value="${MALLORY.password}"><button type="submit">claim</button></form>`;
  const server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.2:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** A request from a page of the site of `landing` (a page opened first unless the tab is on that site), with the browser's cookies and, if given, the X-CSRFToken header. */
async function fetchFrom(
  page: Page,
  landing: string,
  path: string,
  init: { method?: string; token?: string; json?: object } = {},
): Promise<Answer> {
  if (new URL(page.url()).origin !== new URL(landing).origin) await page.goto(landing);
  return page.evaluate(
    async ({ path, method, token, json }) => {
      const headers: Record<string, string> = {};
      if (token) headers['X-CSRFToken'] = token;
      if (json) headers['content-type'] = 'application/json';
      const response = await fetch(path, { method: method ?? 'GET', headers, body: json ? JSON.stringify(json) : undefined });
      return { status: response.status, body: await response.text() };
    },
    { path, method: init.method, token: init.token, json: init.json },
  );
}

describeWithChromiumAndDjango('CSRF in a browser, Django and the example app (CSRF=true, DJANGO_AUTH=true)', () => {
  let database: TestDatabase;
  let django: ServedAuthSite;
  let nest: ExampleApp;
  let attacker: { url: string; close(): Promise<void> };
  let browser: Browser;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    const env: AuthSiteEnv = { DATABASE_URL: database.url, SECRET_KEY };
    await authSite(env, 'migrate');
    await createDjangoUser(env, ALICE.username, ALICE.password, ['staff']);
    await createDjangoUser(env, MALLORY.username, MALLORY.password);
    django = await serveAuthSite(env);
    // Django's pages post to Nest from Django's origin (another port): Nest trusts it. (Django 3.2 checks no Origin.)
    nest = await startExampleApp(
      {
        CSRF: 'true',
        DJANGO_AUTH: 'true',
        CSRF_TRUSTED_ORIGINS: django.url,
        DATABASE_URL: database.url,
        SECRET_KEY,
        HTTP_PLATFORM: process.env.HTTP_PLATFORM,
      },
      { logger: ['error', 'fatal'] },
    );
    attacker = await startAttackerSite(nest.url);
    browser = await chromium.launch(CHROMIUM_LAUNCH_OPTIONS);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all([nest?.close(), django?.close(), attacker?.close()]);
    await database?.drop();
  });

  // Pages to fetch from: Nest's /ping and Django's token view (neither rotates anything).
  const onNest = () => `${nest.url}/ping`;
  const onDjango = () => `${django.url}/csrf/token/`;
  const nestToken = async (page: Page) => (JSON.parse((await fetchFrom(page, onNest(), '/csrf')).body) as { token: string }).token;
  const djangoToken = async (page: Page) =>
    (JSON.parse((await fetchFrom(page, onDjango(), '/csrf/token/')).body) as { token: string }).token;

  it('a form Django renders, with its {% csrf_token %}, posts to Nest and succeeds', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${django.url}/csrf/form/?action=${encodeURIComponent(`${nest.url}/session`)}`);
    const [response] = await Promise.all([page.waitForResponse((r) => r.url() === `${nest.url}/session`), page.click('#form button')]);
    expect(response.status()).toBe(200);
    expect(await response.json()).toEqual(expect.objectContaining({ greeting: 'from a Django page' }));
  });

  it("another site's page posting the attacker's login to Nest is refused (403): the visitor is not signed in as the attacker", async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(attacker.url);
    const [response] = await Promise.all([page.waitForResponse((r) => r.url() === `${nest.url}/auth/login`), page.click('#login button')]);
    expect(response.status()).toBe(403);
    expect(await response.text()).toContain(`Origin checking failed - ${new URL(attacker.url).origin} does not match any trusted origins.`);
    expect((await fetchFrom(page, onNest(), '/me')).status).toBe(401);
  });

  it('a login on Nest rotates the token: the one held before fails on Nest and on Django; a new one passes both', async () => {
    const page = await (await browser.newContext()).newPage();
    const before = await nestToken(page);
    expect((await fetchFrom(page, onNest(), '/auth/login', { method: 'POST', token: before, json: ALICE })).status).toBe(200);
    expect((await fetchFrom(page, onNest(), '/session', { method: 'POST', token: before, json: { a: 1 } })).status).toBe(403);
    expect((await fetchFrom(page, onDjango(), '/csrf/protected/', { method: 'POST', token: before })).status).toBe(403);
    const after = await nestToken(page);
    expect((await fetchFrom(page, onNest(), '/session', { method: 'POST', token: after, json: { a: 1 } })).status).toBe(200);
    expect((await fetchFrom(page, onDjango(), '/csrf/protected/', { method: 'POST', token: after })).status).toBe(200);
  });

  it("a login on Django's admin rotates the token: the one held before fails on Django and on Nest", async () => {
    const page = await (await browser.newContext()).newPage();
    const before = await djangoToken(page);
    expect((await fetchFrom(page, onNest(), '/session', { method: 'POST', token: before, json: { a: 1 } })).status).toBe(200);
    await page.goto(`${django.url}/admin/login/`);
    await page.fill('#id_username', ALICE.username);
    await page.fill('#id_password', ALICE.password);
    await Promise.all([page.waitForURL(`${django.url}/admin/`), page.click('#login-form [type="submit"]')]);
    expect((await fetchFrom(page, onDjango(), '/csrf/protected/', { method: 'POST', token: before })).status).toBe(403);
    expect((await fetchFrom(page, onNest(), '/session', { method: 'POST', token: before, json: { a: 1 } })).status).toBe(403);
    expect((await fetchFrom(page, onNest(), '/session', { method: 'POST', token: await djangoToken(page), json: { a: 1 } })).status).toBe(
      200,
    );
  });
});
