/**
 * The WebSocket acceptance in a real browser: Chromium signs in on a real Django's admin
 * (test/django/auth_site.py), opens a socket to the example app (DJANGO_AUTH=true, WEBSOCKETS=ws and
 * WEBSOCKETS=socket.io), which knows the user; Chromium logs out on Django, and the socket closes
 * within 5 s (ws: close code 1008; socket.io: the server disconnects it). Django and both Nest apps
 * share one PostgreSQL database and SECRET_KEY, on three ports of 127.0.0.1 (cookies ignore ports:
 * all see one `sessionid`); each socket is opened by a page of its Nest app's own origin.
 */
import type { INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { SessionsIoAdapter } from 'nest-django-sessions/socket.io';
import { SessionsWsAdapter } from 'nest-django-sessions/ws';
import { loadConfig } from '../../example/app.config';
import { AppModule } from '../../example/app.module';
import { authSite, createDjangoUser, serveAuthSite, type AuthSiteEnv, type ServedAuthSite } from '../django/auth-site';
import { createTestDatabase, type TestDatabase } from '../support/databases';
import { CHROMIUM_LAUNCH_OPTIONS, describeWithChromiumAndDjango, screenshotOnFailure } from './chromium';

const SECRET_KEY = 'django-insecure-browser-websockets-key-shared-by-django-and-nest';
const ALICE = { username: 'alice', password: 'alice-password' };
/** The bound: the socket closes within 5 s of the logout on Django. */
const CLOSE_DEADLINE_MS = 5000;

type Transport = 'ws' | 'socket.io';

interface NestSite {
  app: INestApplication;
  /** `http://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

/**
 * The example app as `npm start` runs it with WEBSOCKETS (example/main.ts: the sessions' WebSocket
 * adapter), in-process on 127.0.0.1 and a free port. test/support/example-app.ts sets no WebSocket adapter.
 */
async function startWebSocketApp(env: Record<string, string | undefined>): Promise<NestSite> {
  const config = loadConfig({ CLEARSESSIONS_CRON: 'false', LOG_LEVEL: 'error', ...env });
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] }).compile();
  const logger = ['error', 'fatal'] as const;
  const app =
    config.httpPlatform === 'fastify'
      ? moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: [...logger] })
      : moduleRef.createNestApplication({ logger: [...logger] });
  app.useWebSocketAdapter(config.websockets === 'socket.io' ? new SessionsIoAdapter(app) : new SessionsWsAdapter(app));
  await app.listen(0, '127.0.0.1');
  const server = app.getHttpServer() as Server;
  return { app, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => app.close() };
}

/** What the page's socket saw end it (set by its close/disconnect handler), with the page's clock. */
interface Ended {
  /** ws: the close event's code and reason; socket.io: 0 and the disconnect reason. */
  code: number;
  reason: string;
  at: number;
}

interface PageSocketState {
  ended: Ended | null;
  isOpen(): boolean;
}

declare global {
  interface Window {
    testSocket?: PageSocketState;
    io?: (options?: object) => {
      connected: boolean;
      on(event: string, listener: (...args: never[]) => void): void;
      emit(event: string, data: unknown): void;
    };
  }
}

/**
 * Opens a socket from the page (of the Nest app's origin, so the browser sends its cookie and its
 * Origin is the app's own), keeps it in `window.testSocket`, and answers the reply to `whoami`.
 */
async function openSocketAndAskWhoami(page: Page, transport: Transport): Promise<unknown> {
  if (transport === 'ws') {
    return page.evaluate(
      () =>
        new Promise((resolve, reject) => {
          const socket = new WebSocket(`ws://${location.host}/ws`);
          const state: PageSocketState = { ended: null, isOpen: () => socket.readyState === WebSocket.OPEN };
          window.testSocket = state;
          socket.onopen = () => socket.send(JSON.stringify({ event: 'whoami', data: {} }));
          socket.onmessage = (message) => resolve(JSON.parse(String(message.data)));
          socket.onclose = (event) => {
            state.ended = { code: event.code, reason: event.reason, at: Date.now() };
            reject(new Error(`closed before answering: ${event.code} ${event.reason}`));
          };
        }),
    );
  }
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        // Socket.io's own client, as the app serves it; its default transports (polling, then the upgrade).
        const socket = window.io!({ reconnection: false });
        const state: PageSocketState = { ended: null, isOpen: () => socket.connected };
        window.testSocket = state;
        socket.on('connect', () => socket.emit('whoami', {}));
        socket.on('connect_error', (error: Error) => reject(new Error(`connect_error: ${error.message}`)));
        socket.on('whoami', (data: unknown) => resolve({ event: 'whoami', data }));
        socket.on('disconnect', (reason: string) => {
          state.ended = { code: 0, reason, at: Date.now() };
          reject(new Error(`disconnected before answering: ${reason}`));
        });
      }),
  );
}

describeWithChromiumAndDjango(
  'WebSockets in a browser: signed in on Django, a socket to the example app closes when Django logs out (DJANGO_AUTH=true)',
  () => {
    let database: TestDatabase;
    let django: ServedAuthSite;
    const nest: Partial<Record<Transport, NestSite>> = {};
    let browser: Browser;
    let aliceId: number;
    const delays: string[] = [];

    beforeAll(async () => {
      database = await createTestDatabase('postgres');
      const env: AuthSiteEnv = { DATABASE_URL: database.url, SECRET_KEY };
      await authSite(env, 'migrate');
      aliceId = await createDjangoUser(env, ALICE.username, ALICE.password, ['staff']);
      // One at a time: whatever started is in hand for afterAll when a later start fails.
      django = await serveAuthSite(env);
      for (const transport of ['ws', 'socket.io'] as const) {
        nest[transport] = await startWebSocketApp({
          DJANGO_AUTH: 'true',
          WEBSOCKETS: transport,
          DATABASE_URL: database.url,
          SECRET_KEY,
          HTTP_PLATFORM: process.env.HTTP_PLATFORM,
        });
      }
      browser = await chromium.launch(CHROMIUM_LAUNCH_OPTIONS);
    }, 60_000);

    afterAll(async () => {
      if (delays.length) console.log(`Socket closed after Django's logout: ${delays.join('; ')}`);
      await browser?.close();
      await Promise.all([nest.ws?.close(), nest['socket.io']?.close(), django?.close()]);
      await database?.drop();
    });

    /** Django's admin login form, filled and submitted. */
    async function signInOnDjango(page: Page): Promise<void> {
      await page.goto(`${django.url}/admin/login/`);
      await page.fill('#id_username', ALICE.username);
      await page.fill('#id_password', ALICE.password);
      await Promise.all([page.waitForURL(`${django.url}/admin/`), page.click('#login-form [type="submit"]')]);
      expect(await page.locator('#content h1').textContent()).toBe('Site administration');
    }

    async function sessionCookieFor(context: BrowserContext, url: string): Promise<string | undefined> {
      return (await context.cookies(url)).find((cookie) => cookie.name === 'sessionid')?.value;
    }

    it.each(['ws', 'socket.io'] as const)(
      "%s: signed in on Django's admin, a socket to Nest knows the user; logged out on Django, the socket closes within 5 s",
      async (transport) => {
        const site = nest[transport]!;
        const context = await browser.newContext();
        const page = await context.newPage();
        await screenshotOnFailure(page, `websockets-${transport}`, async () => {
          await signInOnDjango(page);
          // One cookie for both: Django's session cookie is sent to the Nest app's port too.
          const djangoKey = await sessionCookieFor(context, django.url);
          expect(djangoKey).toMatch(/^[a-z0-9]{32}$/);
          expect(await sessionCookieFor(context, site.url)).toBe(djangoKey);

          await page.goto(`${site.url}/ping`);
          if (transport === 'socket.io') await page.addScriptTag({ url: `${site.url}/socket.io/socket.io.js` });
          expect(await openSocketAndAskWhoami(page, transport)).toEqual({ event: 'whoami', data: { userId: String(aliceId) } });

          // Still open after a whole revalidation interval (2 s by default): the sweep keeps a signed-in socket.
          await page.waitForTimeout(2500);
          expect(await page.evaluate(() => ({ open: window.testSocket!.isOpen(), ended: window.testSocket!.ended }))).toEqual({
            open: true,
            ended: null,
          });

          // Logged out on Django, in another tab (GET /admin/logout/ logs out on Django 3.2; its
          // session is flushed: the row deleted, the cookie removed).
          const djangoTab = await context.newPage();
          const loggedOut = await djangoTab.goto(`${django.url}/admin/logout/`, { waitUntil: 'commit' });
          const loggedOutAt = Date.now();
          expect(loggedOut?.status()).toBe(200);
          await screenshotOnFailure(djangoTab, `websockets-${transport}-django-logout`, async () => {
            await djangoTab.waitForLoadState();
            expect(await djangoTab.locator('#content h1').textContent()).toBe('Logged out');
          });

          const remaining = Math.max(0, CLOSE_DEADLINE_MS - (Date.now() - loggedOutAt));
          await page.waitForFunction(() => window.testSocket!.ended !== null, undefined, { timeout: remaining, polling: 50 });
          const ended = (await page.evaluate(() => window.testSocket!.ended))!;
          const delay = ended.at - loggedOutAt;
          delays.push(`${transport} ${delay} ms`);
          expect(delay).toBeLessThanOrEqual(CLOSE_DEADLINE_MS);
          if (transport === 'ws') {
            expect(ended).toMatchObject({ code: 1008, reason: 'session ended' });
          } else {
            expect(ended).toMatchObject({ reason: 'io server disconnect' });
          }

          // A new socket from the same page is anonymous now, as Django's logout left the browser.
          expect(await sessionCookieFor(context, site.url)).toBeUndefined();
          expect(await openSocketAndAskWhoami(page, transport)).toEqual({ event: 'whoami', data: { userId: null } });
        });
        await context.close();
      },
    );
  },
);
