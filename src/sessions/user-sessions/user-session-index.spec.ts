import { emptyData } from '../session';
import { resolveSessionsOptions, SessionsOptionsError } from '../sessions.options';
import { userOfData } from './user-session-index';

describe("a session's user (userSessions.userKey)", () => {
  const data = (values: Record<string, unknown>) => Object.assign(emptyData(), values);

  it("is Django's _auth_user_id by default: a string, or an integer as text", () => {
    const path = resolveSessionsOptions({ secretKey: 'x', userSessions: {} }).userSessions!.userKeyPath;
    expect(userOfData(data({ _auth_user_id: '42' }), path)).toBe('42');
    expect(userOfData(data({ _auth_user_id: 42 }), path)).toBe('42');
    for (const value of [undefined, null, true, 1.5, { id: 1 }, ['42']]) expect(userOfData(data({ _auth_user_id: value }), path)).toBeNull();
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
