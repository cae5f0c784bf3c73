/**
 * The signed_cookies engine: Django's SessionTestsMixin with CookieSessionTests' changes
 * (tests/sessions_tests/tests.py), the wire format and expiry (`django/contrib/sessions/backends/signed_cookies.py`,
 * `django/core/signing.py`), the cookie size
 * guard, and the example app over HTTP.
 */
import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { AppController } from '../../example/app.controller';
import {
  MAX_COOKIE_BYTES,
  resolveSessionsOptions,
  SessionCookieTooLargeException,
  SIGNED_COOKIES_SALT,
  SignedCookieSessionStore,
  type SessionsModuleOptions,
} from '../../src/sessions';
import { b62encode, dumps, loads, signature } from '../../src/sessions/formats/signing';
import { createTestApp, HTTP_PLATFORMS, responseCookie, responseSessionKey, TEST_SECRET_KEY, type TestApp } from '../support/app';
import { describeBehaviourMatrix, describeExampleAppFlows } from '../support/engine-http';
import { describeSessionMixin, type MixinTarget } from '../support/session-mixin';

const TWO_WEEKS = 1209600;

function signedCookieStore(options: Partial<SessionsModuleOptions> = {}): SignedCookieSessionStore {
  return new SignedCookieSessionStore(resolveSessionsOptions({ secretKey: TEST_SECRET_KEY, ...options }));
}

/** A cookie value as Django's signed_cookies engine signs it, at an optional timestamp (seconds). */
function djangoCookie(data: unknown, options: { secret?: string; timestamp?: number } = {}): string {
  return dumps(data, {
    secret: options.secret ?? TEST_SECRET_KEY,
    salt: SIGNED_COOKIES_SALT,
    compress: true,
    timestamp: options.timestamp,
  });
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

describeSessionMixin('signed_cookies', 'signed_cookies', () => {
  const config = resolveSessionsOptions({ secretKey: TEST_SECRET_KEY });
  const store = new SignedCookieSessionStore(config);
  const target: MixinTarget = {
    cookieAge: config.cookie.age,
    session: (key) => store.session(key),
    withConfig: (partial) => {
      const other = new SignedCookieSessionStore({ ...config, ...partial });
      return { session: (key) => other.session(key) };
    },
  };
  return Promise.resolve({ target, teardown: () => Promise.resolve() });
});

describe('CookieSessionTests', () => {
  const store = signedCookieStore();

  // CookieSessionTests' other changes are in the mixin: what signed_cookies does where Django's
  // tests are no-ops, its expected failure, its skips.

  it('test_unpickling_exception: a validly signed payload that is not JSON loads as an empty, modified session', async () => {
    const value = `not json at all:${b62encode(nowSeconds())}`;
    const token = `${value}:${signature(value, TEST_SECRET_KEY, SIGNED_COOKIES_SALT)}`;
    const session = await store.session(token).ensureLoaded();
    expect(session.toJSON()).toEqual({});
    expect(session.modified).toBe(true);
    expect(session.sessionKey).toBe(token); // Django keeps the old key
  });

  it('a signed value that is not an object loads as an empty, modified session', async () => {
    const session = await store.session(djangoCookie([1, 2, 3])).ensureLoaded();
    expect(session.toJSON()).toEqual({});
    expect(session.modified).toBe(true);
  });
});

describe('signed_cookies engine (`django/contrib/sessions/backends/signed_cookies.py`)', () => {
  const store = signedCookieStore();

  it("writes Django's exact cookie (what Django 5.2 writes for the same data at time 123456789)", async () => {
    jest.useFakeTimers({ now: 123456789_000, doNotFake: ['nextTick', 'setImmediate', 'setTimeout', 'setInterval', 'queueMicrotask'] });
    try {
      const config = { secretKey: 'predictable-secret' };
      const session = signedCookieStore(config).session();
      session.set('foo', 'bar');
      await session.save();
      expect(session.sessionKey).toBe('eyJmb28iOiJiYXIifQ:8M0kX:PemOLnbHpiYnFNXCGeCuEJLkT8ffpMo8SAqt55fy8ag');
      const read = await signedCookieStore(config).session(session.sessionKey).ensureLoaded();
      expect(read.toJSON()).toEqual({ foo: 'bar' });
    } finally {
      jest.useRealTimers();
    }
  });

  it('the session key is the signed, compressed data; saving re-signs it', async () => {
    const session = store.session();
    session.set(
      'list',
      Array.from({ length: 50 }, () => 'repeated'),
    );
    await session.save();
    const key = session.sessionKey as string;
    expect(key.startsWith('.')).toBe(true); // zlib was shorter
    expect(loads(key, { secrets: [TEST_SECRET_KEY], salt: SIGNED_COOKIES_SALT })).toEqual(session.toJSON());
    expect(session.modified).toBe(true);
  });

  it('accepts long keys (the whole data rides in them)', async () => {
    const data = { blob: randomBytes(1500).toString('hex') };
    const key = djangoCookie(data);
    expect(key.length).toBeGreaterThan(2000);
    expect((await store.session(key).ensureLoaded()).toJSON()).toEqual(data);
  });

  it('a cookie older than the cookie age is an empty, modified session (per-session expiry ignored)', async () => {
    const old = djangoCookie({ foo: 'bar' }, { timestamp: nowSeconds() - TWO_WEEKS - 10 });
    const expired = await store.session(old).ensureLoaded();
    expect(expired.toJSON()).toEqual({});
    expect(expired.modified).toBe(true);
    expect(expired.sessionKey).toBe(old);
    // Only the cookie age counts (Django #19201): a long per-session expiry does not extend it...
    const longExpiry = djangoCookie({ _session_expiry: 10 * TWO_WEEKS }, { timestamp: nowSeconds() - TWO_WEEKS - 10 });
    expect((await store.session(longExpiry).ensureLoaded()).toJSON()).toEqual({});
    // ...and a cookie within the age is read.
    const recent = djangoCookie({ foo: 'bar' }, { timestamp: nowSeconds() - TWO_WEEKS + 60 });
    expect((await store.session(recent).ensureLoaded()).toJSON()).toEqual({ foo: 'bar' });
  });

  it('reads cookies signed with a fallback key and re-signs them with the current key', async () => {
    const oldCookie = djangoCookie({ user: 7 }, { secret: 'the-old-secret' });
    expect((await store.session(oldCookie).ensureLoaded()).toJSON()).toEqual({});
    const rotated = signedCookieStore({ secretKeyFallbacks: ['the-old-secret'] });
    const session = await rotated.session(oldCookie).ensureLoaded();
    expect(session.toJSON()).toEqual({ user: 7 });
    await session.save();
    expect(loads(session.sessionKey as string, { secrets: [TEST_SECRET_KEY], salt: SIGNED_COOKIES_SALT })).toEqual({ user: 7 });
  });

  it('a bad signature is an empty, modified session', async () => {
    const good = djangoCookie({ admin: false });
    const tampered = djangoCookie({ admin: true }).split(':').slice(0, 2).join(':') + ':' + good.split(':')[2];
    const session = await store.session(tampered).ensureLoaded();
    expect(session.toJSON()).toEqual({});
    expect(session.modified).toBe(true);
  });

  it('exists is always false; delete empties the session and drops the key; clearExpired removes nothing', async () => {
    const session = await store.session(djangoCookie({ a: 1 })).ensureLoaded();
    expect(await session.exists(session.sessionKey)).toBe(false);
    session.modified = false;
    await session.delete();
    expect(session.sessionKey).toBeNull();
    expect(session.toJSON()).toEqual({});
    expect(session.modified).toBe(true);
    expect(await store.clearExpired()).toBe(0);
  });

  it('cycleKey re-signs the same data', async () => {
    const key = djangoCookie({ a: 1 }, { timestamp: nowSeconds() - 100 });
    const session = store.session(key);
    await session.cycleKey();
    expect(session.sessionKey).not.toBe(key);
    expect((await store.session(session.sessionKey).ensureLoaded()).toJSON()).toEqual({ a: 1 });
  });

  it('a session whose cookie would not fit in 4096 bytes is a logged SessionCookieTooLargeException', async () => {
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      const session = store.session();
      session.set('blob', randomBytes(3000).toString('hex'));
      const error = await session.save().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SessionCookieTooLargeException);
      const { bytes } = error as SessionCookieTooLargeException;
      expect(bytes).toBeGreaterThan(MAX_COOKIE_BYTES);
      expect((error as Error).message).toContain(`${bytes} bytes`);
      expect((error as SessionCookieTooLargeException).getStatus()).toBe(500);
      expect(session.sessionKey).toBeNull(); // nothing was issued
      expect(logged).toHaveBeenCalledWith(expect.stringContaining(`${bytes} bytes`));
    } finally {
      logged.mockRestore();
    }
  });
});

describe.each(HTTP_PLATFORMS)('signed_cookies engine in the app (%s)', (platform) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ platform, sessions: { engine: 'signed_cookies' }, controllers: [AppController] });
  });
  afterAll(() => t.close());

  it('the cookie value is written raw (no percent-encoding) and round-trips', async () => {
    const res = await request(t.server).get('/counter').expect(200);
    const cookie = responseCookie(res.headers) as string;
    expect(cookie).toMatch(/^sessionid=[\w.-]+:[0-9A-Za-z]+:[\w-]{43}; /);
    const value = cookie.slice('sessionid='.length).split(';')[0];
    expect(loads(value, { secrets: [TEST_SECRET_KEY], salt: SIGNED_COOKIES_SALT })).toEqual({ count: 1 });
    const next = await request(t.server).get('/counter').set('Cookie', `sessionid=${value}`).expect(200);
    expect(next.body).toEqual({ count: 2 });
  });

  it('an expired cookie gets a re-issued cookie holding {} (payload e30)', async () => {
    const expired = djangoCookie({ count: 9 }, { timestamp: nowSeconds() - TWO_WEEKS - 10 });
    const res = await request(t.server).get('/session').set('Cookie', `sessionid=${expired}`).expect(200);
    expect(res.body).toEqual({});
    expect(responseSessionKey(res.headers)).toMatch(/^e30:[0-9A-Za-z]+:[\w-]{43}$/);
  });

  it('as in Django, a cookie issued before a logout stays valid until it expires', async () => {
    const first = await request(t.server).get('/counter').expect(200);
    const value = responseSessionKey(first.headers) as string;
    await request(t.server).delete('/session').set('Cookie', `sessionid=${value}`).expect(200);
    const replayed = await request(t.server).get('/counter').set('Cookie', `sessionid=${value}`).expect(200);
    expect(replayed.body).toEqual({ count: 2 });
  });

  it('an oversize session is a clear 500 naming the size, with no cookie', async () => {
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      const res = await request(t.server)
        .post('/session')
        .send({ blob: randomBytes(3000).toString('hex') })
        .expect(500);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      const body = res.body as { statusCode: number; message: string };
      expect(body.statusCode).toBe(500);
      expect(body.message).toMatch(
        /^The signed_cookies session does not fit in a cookie: its Set-Cookie header would be \d+ bytes, over the 4096 bytes/,
      );
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(logged).toHaveBeenCalled();
    } finally {
      logged.mockRestore();
    }
  });
});

describeExampleAppFlows('signed_cookies', () => ({ engine: 'signed_cookies' }));
describeBehaviourMatrix('signed_cookies', () => ({ engine: 'signed_cookies' }), 'cookie');
