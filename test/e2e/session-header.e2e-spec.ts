/**
 * Session ids in a header (issue 31, part 1; option `headerName`, the example app's SESSION_HEADER)
 * over HTTP, on Express and Fastify: a client without a cookie jar keeps its session through the
 * header; creation and rotation are announced with the new key, a flush with an empty value (Spring
 * Session's HeaderHttpSessionIdResolver); a cookie and a header naming two sessions are a 400; CSRF
 * protection does not apply to a request carrying the header without the session cookie. Django's
 * SessionStore reading such a session: test/django/header-sessions.e2e-spec.ts.
 */
import { Controller, Get, Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import request from 'supertest';
import type { Server } from 'node:http';
import { SessionLoadMiddleware } from '../../src/sessions';
import { exampleAppPerDescribe } from '../support/example-app';
import { createTestApp, HTTP_PLATFORMS, responseSessionKey, type TestApp } from '../support/app';
import { VisitsMiddleware } from '../fixtures/visits.middleware';

jest.setTimeout(60_000);

const HEADER = 'X-Session-Token';
const header = HEADER.toLowerCase();

/** An API client: no cookie jar, only the header's last announced key. */
class HeaderClient {
  key: string | undefined;
  constructor(private readonly server: () => Server) {}

  async send(method: 'get' | 'post' | 'delete', path: string, body?: object) {
    let req = request(this.server())[method](path);
    if (this.key !== undefined) req = req.set(HEADER, this.key);
    const res = body === undefined ? await req : await req.send(body);
    const announced = res.headers[header] as string | undefined;
    if (announced !== undefined) this.key = announced === '' ? undefined : announced;
    return res;
  }
}

@Controller('visits')
class VisitsController {
  @Get()
  visits(): object {
    return {};
  }
}

@Module({ controllers: [VisitsController] })
class VisitsModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(SessionLoadMiddleware, VisitsMiddleware).forRoutes('visits');
  }
}

describe.each(HTTP_PLATFORMS)('session ids in a header (%s)', (platform) => {
  describe('SessionLoadMiddleware (which on Fastify runs before the sessions hook)', () => {
    let t: TestApp | undefined;
    afterEach(() => t?.close());

    // The app is made in the test: its set-up (the header's name as Node keys it) is then part of what the test covers.
    it('loads the session of the header, and refuses a conflict with 400', async () => {
      t = await createTestApp({ platform, sessions: { headerName: HEADER }, imports: [VisitsModule] });
      const first = await request(t.server).get('/visits').set(HEADER, '').expect(200);
      const key = first.headers[header];
      expect(key).toMatch(/^[a-z0-9]{32}$/);
      await request(t.server).get('/visits').set(HEADER, key).expect(200);
      const stored = await t.store.session(key).ensureLoaded();
      expect(stored.get('visits')).toBe(2);
      const conflict = await request(t.server)
        .get('/visits')
        .set(HEADER, key)
        .set('Cookie', `sessionid=${'c'.repeat(32)}`);
      expect(conflict.status).toBe(400);
      expect((await t.store.session(key).ensureLoaded()).get('visits')).toBe(2);
    });
  });

  describe('the example app, SESSION_HEADER=X-Session-Token', () => {
    const app = exampleAppPerDescribe({ SESSION_HEADER: HEADER, HTTP_PLATFORM: platform });
    const client = () => new HeaderClient(() => app.server);

    it('a client with no cookie jar counts 1, 2, 3 through the header; the key is announced once, when created', async () => {
      const api = client();
      const first = await api.send('get', '/counter');
      expect(first.body).toEqual({ count: 1 });
      expect(api.key).toMatch(/^[a-z0-9]{32}$/);
      // A new client (neither carrier): the cookie too, for a browser.
      expect(responseSessionKey(first.headers)).toBe(api.key);
      for (const count of [2, 3]) {
        const res = await api.send('get', '/counter');
        expect(res.body).toEqual({ count });
        expect(res.headers[header]).toBeUndefined(); // the same key: nothing to announce
        expect(res.headers['set-cookie']).toBeUndefined(); // a header client gets no cookie
        expect(res.headers.vary).toBe(`Cookie, ${HEADER}`);
      }
      expect((await api.send('get', '/session')).body).toEqual({ count: 3 });
    });

    it('a client that sends the header empty starts a session in the header alone', async () => {
      const res = await request(app.server).get('/counter').set(HEADER, '');
      expect(res.body).toEqual({ count: 1 });
      expect(res.headers[header]).toMatch(/^[a-z0-9]{32}$/);
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it('rotation announces the new key; the old one names no session any more', async () => {
      const api = client();
      await api.send('get', '/counter');
      await api.send('get', '/counter');
      const old = api.key!;
      const rotated = await api.send('post', '/session/cycle');
      expect(rotated.body).toEqual({ count: 2 });
      expect(api.key).toMatch(/^[a-z0-9]{32}$/);
      expect(api.key).not.toBe(old);
      expect((await api.send('get', '/counter')).body).toEqual({ count: 3 });
      const stale = await request(app.server).get('/session').set(HEADER, old);
      expect(stale.body).toEqual({});
      expect(stale.headers[header]).toBe(''); // unknown key: announced over
    });

    it('a flush announces the end with an empty header', async () => {
      const api = client();
      await api.send('get', '/counter');
      const old = api.key!;
      const flushed = await api.send('delete', '/session');
      expect(flushed.status).toBe(200);
      expect(flushed.headers[header]).toBe('');
      expect(flushed.headers['set-cookie']).toBeUndefined();
      expect(api.key).toBeUndefined();
      expect((await request(app.server).get('/session').set(HEADER, old)).body).toEqual({});
      expect((await api.send('get', '/counter')).body).toEqual({ count: 1 });
    });

    it('cookie and header with different keys: 400; with the same key: one session', async () => {
      const a = client();
      const b = client();
      await a.send('get', '/counter');
      await b.send('get', '/counter');
      const both = await request(app.server).get('/counter').set('Cookie', `sessionid=${a.key}`).set(HEADER, b.key!);
      expect(both.status).toBe(400);
      expect(both.body).toEqual({
        statusCode: 400,
        message: `The request carries two different session keys, in the sessionid cookie and the ${HEADER} header: send one`,
        error: 'Bad Request',
      });
      expect(both.headers['set-cookie']).toBeUndefined();
      expect((await a.send('get', '/session')).body).toEqual({ count: 1 }); // neither session was touched
      const same = await request(app.server).get('/counter').set('Cookie', `sessionid=${a.key}`).set(HEADER, a.key!);
      expect(same.status).toBe(200);
      expect(same.body).toEqual({ count: 2 });
      // Even a request that never reads its session is refused.
      expect((await request(app.server).get('/ping').set('Cookie', `sessionid=${a.key}`).set(HEADER, b.key!)).status).toBe(400);
    });

    it('a cookie client never gets the key in a header (its HttpOnly cookie stays out of scripts’ reach)', async () => {
      const created = await request(app.server).get('/counter');
      const cookieKey = responseSessionKey(created.headers)!;
      const rotated = await request(app.server).post('/session/cycle').set('Cookie', `sessionid=${cookieKey}`);
      expect(rotated.body).toEqual({ count: 1 });
      expect(responseSessionKey(rotated.headers)).toMatch(/^[a-z0-9]{32}$/);
      expect(rotated.headers[header]).toBeUndefined();
    });
  });

  describe('SESSION_ENGINE=signed_cookies: the header carries the signed data, as the cookie would', () => {
    const app = exampleAppPerDescribe({ SESSION_HEADER: HEADER, SESSION_ENGINE: 'signed_cookies', HTTP_PLATFORM: platform });

    it('counts 1, 2, 3; each save announces the new signed value; a flush the end', async () => {
      const api = new HeaderClient(() => app.server);
      const values: string[] = [];
      for (const count of [1, 2, 3]) {
        expect((await api.send('get', '/counter')).body).toEqual({ count });
        values.push(api.key!);
      }
      expect(new Set(values).size).toBe(3);
      expect(values[2]).toMatch(/^[\w.:-]+$/);
      expect((await api.send('delete', '/session')).headers[header]).toBe('');
    });
  });

  describe('the example app without SESSION_HEADER (the default)', () => {
    const app = exampleAppPerDescribe({ HTTP_PLATFORM: platform });

    it('the header is neither read nor written', async () => {
      const first = await request(app.server).get('/counter');
      const key = responseSessionKey(first.headers)!;
      expect(first.headers[header]).toBeUndefined();
      expect(first.headers.vary).toBe('Cookie');
      const res = await request(app.server).get('/counter').set(HEADER, key);
      expect(res.body).toEqual({ count: 1 });
      expect(res.headers[header]).toBeUndefined();
    });
  });

  describe('CSRF=true and SESSION_HEADER', () => {
    const app = exampleAppPerDescribe({ SESSION_HEADER: HEADER, CSRF: 'true', HTTP_PLATFORM: platform });
    const forbidden = (reason: string) => ({ statusCode: 403, message: reason, error: 'Forbidden' });

    it('a request with the header and no session cookie is not checked; one with the cookie is', async () => {
      // The header empty: a header client's first unsafe request (a login) passes too.
      const start = await request(app.server).post('/session').set(HEADER, '').send({ a: 1 });
      expect(start.status).toBe(200);
      const key = start.headers[header];
      expect(key).toMatch(/^[a-z0-9]{32}$/);
      const next = await request(app.server).post('/session').set(HEADER, key).send({ b: 2 });
      expect(next.status).toBe(200);
      expect(next.body).toEqual({ a: 1, b: 2 });
      // The same key in the cookie too: the cookie is an ambient credential, so Django's checks apply.
      const withCookie = await request(app.server).post('/session').set(HEADER, key).set('Cookie', `sessionid=${key}`).send({ c: 3 });
      expect(withCookie.status).toBe(403);
      expect(withCookie.body).toEqual(forbidden('CSRF cookie not set.'));
      const cookieOnly = await request(app.server).post('/session').set('Cookie', `sessionid=${key}`).send({ c: 3 });
      expect(cookieOnly.body).toEqual(forbidden('CSRF cookie not set.'));
      // Neither carrier: a browser's request, checked.
      expect((await request(app.server).post('/session').send({ c: 3 })).body).toEqual(forbidden('CSRF cookie not set.'));
    });
  });
});
