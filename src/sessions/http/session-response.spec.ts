import { HttpException, Logger } from '@nestjs/common';
import { IncomingMessage, ServerResponse, type OutgoingHttpHeaders } from 'node:http';
import { Socket } from 'node:net';
import { emptyData, SessionBase, type SessionData } from '../session';
import { SessionInterruptedException, SessionStoreUnavailableException, UpdateError } from '../session.errors';
import { SESSION_START_KEY } from '../session-start';
import { resolveSessionsOptions, type SessionsModuleOptions } from '../sessions.options';
import {
  addVaryCookie,
  appendSetCookie,
  deletionCookie,
  headersStep,
  patchHeaderObject,
  persistForResponse,
  saveForResponse,
  sessionCookie,
  type SessionHeaders,
} from './session-response';
import type { IncomingSessionKey } from './session-header';

const config = resolveSessionsOptions({ secretKey: 'session-response-spec' });

describe('sessionCookie', () => {
  afterEach(() => jest.useRealTimers());

  it("is Django's cookie: Max-Age, Path, Expires at now + max age, HttpOnly, SameSite", () => {
    jest.useFakeTimers({ now: Date.UTC(2026, 0, 1, 12, 0, 0, 500) });
    expect(sessionCookie(config, 'abc123', 1209600)).toBe(
      'sessionid=abc123; Max-Age=1209600; Path=/; Expires=Thu, 15 Jan 2026 12:00:00 GMT; HttpOnly; SameSite=Lax',
    );
  });

  it('follows the clock and the max age from one cookie to the next', () => {
    jest.useFakeTimers({ now: Date.UTC(2026, 0, 1, 12, 0, 0, 999) });
    expect(sessionCookie(config, 'a', 60)).toBe(
      'sessionid=a; Max-Age=60; Path=/; Expires=Thu, 01 Jan 2026 12:01:00 GMT; HttpOnly; SameSite=Lax',
    );
    jest.setSystemTime(Date.UTC(2026, 0, 1, 12, 0, 1, 0));
    expect(sessionCookie(config, 'b', 60)).toBe(
      'sessionid=b; Max-Age=60; Path=/; Expires=Thu, 01 Jan 2026 12:01:01 GMT; HttpOnly; SameSite=Lax',
    );
    expect(sessionCookie(config, 'c', 30.7)).toBe(
      'sessionid=c; Max-Age=30; Path=/; Expires=Thu, 01 Jan 2026 12:00:31 GMT; HttpOnly; SameSite=Lax',
    );
    expect(sessionCookie(config, 'd', undefined)).toBe('sessionid=d; Path=/; HttpOnly; SameSite=Lax');
  });

  it("each configuration gets its own attributes; values outside Django's alphabet are percent-encoded", () => {
    jest.useFakeTimers({ now: Date.UTC(2026, 0, 1, 12, 0, 0) });
    const other = resolveSessionsOptions({
      secretKey: 'session-response-spec',
      cookie: { name: '__Host-s', secure: true, httpOnly: false, sameSite: 'Strict' },
    });
    expect(sessionCookie(config, 'k', 10)).toBe(
      'sessionid=k; Max-Age=10; Path=/; Expires=Thu, 01 Jan 2026 12:00:10 GMT; HttpOnly; SameSite=Lax',
    );
    expect(sessionCookie(other, 'a b;c', 10)).toBe(
      '__Host-s=a%20b%3Bc; Max-Age=10; Path=/; Expires=Thu, 01 Jan 2026 12:00:10 GMT; Secure; SameSite=Strict',
    );
    expect(sessionCookie(config, 'x.y:z-_', 10)).toBe(
      'sessionid=x.y:z-_; Max-Age=10; Path=/; Expires=Thu, 01 Jan 2026 12:00:10 GMT; HttpOnly; SameSite=Lax',
    );
  });
});

describe("deletionCookie (Django's delete_cookie)", () => {
  const deletion = (cookie: SessionsModuleOptions['cookie']) => deletionCookie(resolveSessionsOptions({ secretKey: 's', cookie }));

  it('expires the cookie at once, on the same path, domain and SameSite', () => {
    expect(deletion({ domain: 'example.com', path: '/app' })).toBe(
      'sessionid=; Max-Age=0; Domain=example.com; Path=/app; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax',
    );
    expect(deletion({ sameSite: false })).toBe('sessionid=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  });

  it('is Secure where browsers ignore it otherwise: a __Secure- or __Host- name, or SameSite=None', () => {
    const expired = 'Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT';
    expect(deletion({ name: '__Secure-s' })).toBe(`__Secure-s=; ${expired}; Secure; SameSite=Lax`);
    expect(deletion({ name: '__Host-s' })).toBe(`__Host-s=; ${expired}; Secure; SameSite=Lax`);
    expect(deletion({ sameSite: 'None', secure: true })).toBe(`sessionid=; ${expired}; Secure; SameSite=None`);
    expect(deletion({ name: 'x__Secure-' })).toBe(`x__Secure-=; ${expired}; SameSite=Lax`);
    expect(deletion({ name: 'x__Host-' })).toBe(`x__Host-=; ${expired}; SameSite=Lax`);
    expect(deletion({ sameSite: 'Strict', secure: true })).toBe(`sessionid=; ${expired}; SameSite=Strict`);
  });
});

describe('sessionCookie attributes', () => {
  afterEach(() => jest.useRealTimers());

  it('a different max age within the same second gets its own Max-Age and Expires', () => {
    jest.useFakeTimers({ now: Date.UTC(2026, 0, 1, 12, 0, 0) });
    const own = resolveSessionsOptions({ secretKey: 'session-cookie-cache' });
    expect(sessionCookie(own, 'a', 60)).toContain('Max-Age=60; Path=/; Expires=Thu, 01 Jan 2026 12:01:00 GMT');
    expect(sessionCookie(own, 'b', 120)).toContain('Max-Age=120; Path=/; Expires=Thu, 01 Jan 2026 12:02:00 GMT');
    expect(sessionCookie(own, 'c', 120.5)).toContain('Max-Age=120; Path=/; Expires=Thu, 01 Jan 2026 12:02:00 GMT');
  });

  it('fractional max ages with the same Expires but another whole Max-Age get their own Max-Age', () => {
    jest.useFakeTimers({ now: Date.UTC(2026, 0, 1, 12, 0, 0, 500) });
    const own = resolveSessionsOptions({ secretKey: 'session-cookie-fractions' });
    expect(sessionCookie(own, 'a', 59.6)).toContain('Max-Age=59; Path=/; Expires=Thu, 01 Jan 2026 12:01:00 GMT');
    expect(sessionCookie(own, 'b', 60.3)).toContain('Max-Age=60; Path=/; Expires=Thu, 01 Jan 2026 12:01:00 GMT');
  });
});

describe("addVaryCookie (Django's patch_vary_headers)", () => {
  it.each([
    [undefined, undefined, 'Cookie'],
    ['', undefined, 'Cookie'],
    ['Accept-Encoding', undefined, 'Accept-Encoding, Cookie'],
    ['Accept-Encoding ,Origin', undefined, 'Accept-Encoding, Origin, Cookie'],
    ['accept-encoding,  cookie', undefined, 'accept-encoding, cookie'],
    [['Origin', 'Accept'], undefined, 'Origin, Accept, Cookie'],
    ['Origin, *', undefined, '*'],
    ['Origin', 'X-Session-Token', 'Origin, Cookie, X-Session-Token'],
    ['x-session-token, COOKIE', 'X-Session-Token', 'x-session-token, COOKIE'],
    [5, undefined, '5, Cookie'],
  ] as const)('%p (also %p) → %p', (vary, also, expected) => {
    expect(addVaryCookie(vary as string | readonly string[] | number | undefined, also)).toBe(expected);
  });
});

describe('appendSetCookie', () => {
  it("appends to the response's other cookies, never replacing one", () => {
    expect(appendSetCookie(undefined, 'c=1')).toEqual(['c=1']);
    expect(appendSetCookie('a=1', 'c=1')).toEqual(['a=1', 'c=1']);
    expect(appendSetCookie(['a=1', 'b=2'], 'c=1')).toEqual(['a=1', 'b=2', 'c=1']);
  });
});

describe('patchHeaderObject (headers passed to writeHead)', () => {
  const patch: SessionHeaders = { setCookie: 'sessionid=k', vary: true, header: { name: 'X-Session-Token', value: 'k' } };

  it('patches the names as the object spells them, appending the cookie and naming Cookie and the header in Vary', () => {
    const headers: OutgoingHttpHeaders = { 'Set-Cookie': 'a=1', VARY: 'Origin', 'x-session-token': 'old', 'Content-Type': 'text/plain' };
    patchHeaderObject(headers, patch);
    expect(headers).toEqual({
      'Set-Cookie': ['a=1', 'sessionid=k'],
      VARY: 'Origin, Cookie, X-Session-Token',
      'x-session-token': 'k',
      'Content-Type': 'text/plain',
    });
  });

  it('adds what the object lacks under lower-case names (the header as configured); adds nothing not asked for', () => {
    const headers: OutgoingHttpHeaders = {};
    patchHeaderObject(headers, patch);
    expect(headers).toEqual({ 'set-cookie': ['sessionid=k'], vary: 'Cookie, X-Session-Token', 'X-Session-Token': 'k' });
    const untouched: OutgoingHttpHeaders = { Vary: 'Origin' };
    patchHeaderObject(untouched, { vary: false, header: { name: 'X-Session-Token' } });
    expect(untouched).toEqual({ Vary: 'Origin' });
  });
});

describe('headersStep', () => {
  const response = () => new ServerResponse(new IncomingMessage(new Socket()));
  const apply = (headers: SessionHeaders, res: ServerResponse, writeHeadHeaders?: OutgoingHttpHeaders) => {
    const step = headersStep(headers);
    if (step.kind !== 'headers') throw new Error('expected headers');
    step.apply(res, writeHeadHeaders);
  };

  it('sets the headers on the response, after its own cookies and Vary', () => {
    const res = response();
    res.setHeader('Set-Cookie', 'a=1');
    res.setHeader('Vary', 'Origin');
    apply({ setCookie: 'sessionid=k', vary: true, header: { name: 'X-Session-Token', value: 'k' } }, res);
    expect(res.getHeaders()).toEqual({
      'set-cookie': ['a=1', 'sessionid=k'],
      vary: 'Origin, Cookie, X-Session-Token',
      'x-session-token': 'k',
    });
  });

  it('an empty header value (the session ended) is sent; no cookie, no Vary and no header value changes nothing', () => {
    const ended = response();
    apply({ vary: false, header: { name: 'X-Session-Token', value: '' } }, ended);
    expect(ended.getHeaders()).toEqual({ 'x-session-token': '' });
    const res = response();
    res.setHeader('Vary', 'Origin');
    apply({ vary: false, header: { name: 'X-Session-Token' } }, res);
    expect(res.getHeaders()).toEqual({ vary: 'Origin' });
  });

  it("patches the writeHead headers where they name the same header (they override the response's), else the response", () => {
    const res = response();
    const writeHead: OutgoingHttpHeaders = { 'set-cookie': 'a=1', Vary: 'Origin', 'X-Session-Token': 'old' };
    apply({ setCookie: 'sessionid=k', vary: true, header: { name: 'X-Session-Token', value: 'k' } }, res, writeHead);
    expect(writeHead).toEqual({ 'set-cookie': ['a=1', 'sessionid=k'], Vary: 'Origin, Cookie, X-Session-Token', 'X-Session-Token': 'k' });
    expect(res.getHeaders()).toEqual({});

    const other = response();
    const unrelated: OutgoingHttpHeaders = { 'Content-Type': 'text/plain' };
    apply({ setCookie: 'sessionid=k', vary: true, header: { name: 'X-Session-Token', value: 'k' } }, other, unrelated);
    expect(unrelated).toEqual({ 'Content-Type': 'text/plain' });
    expect(other.getHeaders()).toEqual({ 'set-cookie': ['sessionid=k'], vary: 'Cookie, X-Session-Token', 'x-session-token': 'k' });
  });
});

/** A session stored in memory, whose save can be made to fail. */
class MemorySession extends SessionBase {
  stored: SessionData = emptyData();
  failure: Error | undefined;
  override load(): Promise<SessionData> {
    return Promise.resolve(Object.assign(emptyData(), this.stored));
  }
  override exists(): Promise<boolean> {
    return Promise.resolve(false);
  }
  override async save(): Promise<void> {
    if (this.failure) throw this.failure;
    await this.getOrCreateSessionKey();
    this.stored = this.toJSON();
  }
}

describe('saveForResponse and persistForResponse', () => {
  afterEach(() => jest.restoreAllMocks());
  const withAge = resolveSessionsOptions({ secretKey: 'save-for-response', absoluteAge: 600 });
  const noKey: IncomingSessionKey = { key: undefined, cookie: false, header: false };

  it('absoluteAge: the first save of a session with data records its start, now, in Unix seconds', async () => {
    const session = new MemorySession(null, withAge);
    session.set('n', 1);
    const before = Date.now() / 1000;
    await saveForResponse(session, 200, withAge);
    expect(session.stored[SESSION_START_KEY]).toBeGreaterThanOrEqual(before);
    expect(session.stored[SESSION_START_KEY]).toBeLessThanOrEqual(Date.now() / 1000);
  });

  it('absoluteAge: a recorded start is kept; an empty session, or no absoluteAge, records none', async () => {
    const started = new MemorySession(null, withAge);
    started.update({ n: 1, [SESSION_START_KEY]: 12.5 });
    await saveForResponse(started, 200, withAge);
    expect(started.stored[SESSION_START_KEY]).toBe(12.5);

    const empty = new MemorySession(null, withAge);
    empty.modified = true;
    await saveForResponse(empty, 200, withAge);
    expect(empty.stored).toEqual({});

    const plain = new MemorySession(null, config);
    plain.set('n', 1);
    await saveForResponse(plain, 200, config);
    expect(plain.stored).toEqual({ n: 1 });
  });

  it('a 5xx saves nothing and sends no cookie (Vary still names Cookie: the session was read)', async () => {
    const session = new MemorySession(null, config);
    session.set('n', 1);
    expect(await saveForResponse(session, 500, config)).toEqual({ vary: true });
    expect(session.stored).toEqual({});
  });

  it('a save that finds its row gone is SessionInterruptedException; any other failure is thrown as it is', async () => {
    const vanished = new MemorySession(null, config);
    vanished.set('n', 1);
    vanished.failure = new UpdateError('gone');
    await expect(saveForResponse(vanished, 200, config)).rejects.toBeInstanceOf(SessionInterruptedException);
    const broken = new MemorySession(null, config);
    broken.set('n', 1);
    broken.failure = new RangeError('too long');
    await expect(saveForResponse(broken, 200, config)).rejects.toBe(broken.failure);
  });

  it.each([
    ['a vanished row', new UpdateError('gone'), 400, { statusCode: 400, message: expect.any(String) as string, error: 'Bad Request' }],
    ['an HTTP error with a text body', new HttpException('No room', 507), 507, { statusCode: 507, message: 'No room' }],
    ['a store failure', new Error('connection refused'), 503, new SessionStoreUnavailableException().getResponse()],
  ])('a failed save (%s) replaces the response with its status and a JSON body', async (_, failure, statusCode, body) => {
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const session = new MemorySession(null, config);
    session.set('n', 1);
    session.failure = failure;
    const result = await persistForResponse(session, noKey, 200, config);
    expect(result).toEqual({
      kind: 'replace',
      statusCode,
      contentType: 'application/json; charset=utf-8',
      body: expect.any(String) as string,
    });
    expect(JSON.parse((result as { body: string }).body)).toMatchObject(body as object);
  });

  it('a session that cannot tell whether it is empty (its load failed) replaces the response the same way', () => {
    const session = new MemorySession('abcdefgh12345678', config);
    jest.spyOn(session, 'isEmpty').mockImplementation(() => {
      throw new UpdateError('gone');
    });
    expect(persistForResponse(session, { key: 'abcdefgh12345678', cookie: true, header: false }, 200, config)).toMatchObject({
      kind: 'replace',
      statusCode: 400,
    });
  });
});
