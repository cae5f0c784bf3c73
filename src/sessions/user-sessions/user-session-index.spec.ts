import { emptyData } from '../session';
import { resolveSessionsOptions, SessionsOptionsError } from '../sessions.options';
import { userOfData } from './user-session-index';
import { SignedCookieSessionStore } from '../engines/signed-cookies';
import { UserSessionsService } from './user-sessions.service';

describe("a session's user (userSessions.userKey)", () => {
  const data = (values: Record<string, unknown>) => Object.assign(emptyData(), values);

  it("is Django's _auth_user_id by default: a string, or an integer as text", () => {
    const path = resolveSessionsOptions({ secretKey: 'x', userSessions: {} }).userSessions!.userKeyPath;
    expect(userOfData(data({ _auth_user_id: '42' }), path)).toBe('42');
    expect(userOfData(data({ _auth_user_id: 42 }), path)).toBe('42');
    for (const value of [undefined, null, true, 1.5, { id: 1 }, ['42']])
      expect(userOfData(data({ _auth_user_id: value }), path)).toBeNull();
  });

  it("follows a dotted path, such as passport's passport.user", () => {
    const path = resolveSessionsOptions({ secretKey: 'x', userSessions: { userKey: 'passport.user' } }).userSessions!.userKeyPath;
    expect(userOfData(data({ passport: { user: 'ada' } }), path)).toBe('ada');
    expect(userOfData(data({ passport: {} }), path)).toBeNull();
    expect(userOfData(data({ 'passport.user': 'not nested' }), path)).toBeNull();
    // Inherited properties are never a user.
    expect(userOfData(data({ passport: Object.create({ user: 'inherited' }) }), path)).toBeNull();
  });

  it('refuses an empty key or path segment at start-up', () => {
    for (const userKey of ['', 'passport.', '.user']) {
      expect(() => resolveSessionsOptions({ secretKey: 'x', userSessions: { userKey } })).toThrow(SessionsOptionsError);
    }
  });
});

describe('UserSessionsService without the userSessions option', () => {
  it('fails on every call, naming the option, instead of answering as if nobody were signed in', async () => {
    const config = resolveSessionsOptions({ secretKey: 'x', engine: 'signed_cookies' });
    const store = new SignedCookieSessionStore(config);
    const service = new UserSessionsService(store, config);
    const session = store.session();
    for (const call of [
      () => service.userOf(session),
      () => service.login(session, '42'),
      () => service.list('42'),
      () => service.count('42'),
      () => service.revokeAll('42'),
      () => service.revokeOthers(session),
    ]) {
      await expect(call()).rejects.toThrow(/userSessions option of SessionsModule/);
    }
  });
});
