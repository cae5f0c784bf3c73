/** The session header's pure parts: which key a request carries, which carriers the response uses, the option's checks. */
import { resolveSessionsOptions, SessionsOptionsError } from '../sessions.options';
import { carriesSessionHeader, incomingSessionKey, readHeader, responseCarriers } from './session-header';
import { headersWithoutSaving } from './session-response';
import { SessionBase } from '../session';

const KEY = 'a'.repeat(32);
const OTHER = 'b'.repeat(32);

describe('incomingSessionKey', () => {
  it.each([
    ['neither', undefined, undefined, { key: undefined, cookie: false, header: false }],
    ['the cookie', KEY, undefined, { key: KEY, cookie: true, header: false }],
    ['the header', undefined, KEY, { key: KEY, cookie: false, header: true }],
    ['an empty header (a header client without a session)', undefined, '', { key: undefined, cookie: false, header: true }],
    ['both, the same key', KEY, KEY, { key: KEY, cookie: true, header: true }],
    ['a cookie and an empty header', KEY, '', { key: KEY, cookie: true, header: true }],
    ['an empty cookie and a header', '', KEY, { key: KEY, cookie: true, header: true }],
  ])('%s', (_label, cookie, header, expected) => {
    expect(incomingSessionKey(cookie, header)).toEqual(expected);
  });

  it('two different keys are a conflict', () => {
    expect(incomingSessionKey(KEY, OTHER)).toBe('conflict');
    expect(incomingSessionKey('short', KEY)).toBe('conflict');
  });
});

describe('responseCarriers', () => {
  const carried = (cookie: boolean, header: boolean) => ({ key: undefined, cookie, header });

  it('without headerName: the cookie alone, whatever the request sent', () => {
    expect(responseCarriers(carried(false, true), null)).toEqual({ cookie: true, header: false });
  });

  it.each([
    [false, false, { cookie: true, header: true }],
    [true, false, { cookie: true, header: false }],
    [false, true, { cookie: false, header: true }],
    [true, true, { cookie: true, header: true }],
  ])('with headerName: cookie %s, header %s', (cookie, header, expected) => {
    expect(responseCarriers(carried(cookie, header), 'X-Session-Token')).toEqual(expected);
  });
});

describe('readHeader and carriesSessionHeader', () => {
  it('reads one value, joins repeated ones as Node does, and counts an empty header as carried', () => {
    expect(readHeader({ 'x-session-token': KEY }, 'x-session-token')).toBe(KEY);
    expect(readHeader({ 'x-session-token': [KEY, OTHER] }, 'x-session-token')).toBe(`${KEY}, ${OTHER}`);
    expect(carriesSessionHeader({ 'x-session-token': '' }, 'X-Session-Token')).toBe(true);
    expect(carriesSessionHeader({}, 'X-Session-Token')).toBe(false);
    expect(carriesSessionHeader({ 'x-session-token': KEY }, null)).toBe(false);
  });
});

describe('the headerName option', () => {
  it('is unset by default and kept as written', () => {
    expect(resolveSessionsOptions({ secretKey: 'k' }).headerName).toBeNull();
    expect(resolveSessionsOptions({ secretKey: 'k', headerName: 'X-Session-Token' }).headerName).toBe('X-Session-Token');
    // null, as a config loader gives for an unset variable: the cookie only.
    expect(resolveSessionsOptions({ secretKey: 'k', headerName: null as unknown as string }).headerName).toBeNull();
  });

  it.each([
    ['', 'must be an HTTP header name, got ""'],
    ['X Session', 'must be an HTTP header name, got "X Session"'],
    [42, 'must be an HTTP header name, got 42'],
    ['Cookie', 'cannot be Cookie: pick a header of its own, such as X-Session-Token'],
    ['set-cookie', 'cannot be set-cookie: pick a header of its own, such as X-Session-Token'],
  ])('refuses %j at start-up', (headerName, message) => {
    const resolve = () => resolveSessionsOptions({ secretKey: 'k', headerName: headerName as string });
    expect(resolve).toThrow(SessionsOptionsError);
    expect(resolve).toThrow(`SessionsModule option "headerName" ${message}`);
  });
});

describe('headersWithoutSaving with headerName', () => {
  class Bare extends SessionBase {}
  const config = resolveSessionsOptions({ secretKey: 'k', headerName: 'X-Session-Token' });

  it('a key that names no session: the header sent empty to a header client, the cookie deleted for a cookie client', () => {
    const session = new Bare(null, config);
    expect(headersWithoutSaving(session, { key: KEY, cookie: false, header: true }, config)).toEqual({
      setCookie: undefined,
      vary: true,
      header: { name: 'X-Session-Token', value: '' },
    });
    const cookieClient = headersWithoutSaving(session, { key: KEY, cookie: true, header: false }, config);
    expect(cookieClient?.setCookie).toMatch(/^sessionid=; Max-Age=0/);
    expect(cookieClient?.header).toEqual({ name: 'X-Session-Token', value: undefined });
  });

  it('an untouched session: nothing sent, and no Vary', () => {
    expect(headersWithoutSaving(new Bare(null, config), { key: undefined, cookie: false, header: true }, config)).toEqual({
      vary: false,
      header: { name: 'X-Session-Token', value: undefined },
    });
  });
});
