import { resolveSessionsOptions } from '../sessions.options';
import { sessionCookie } from './session-response';

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
