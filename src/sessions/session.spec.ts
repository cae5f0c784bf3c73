/**
 * SessionBase without storage: Django's `SessionBaseTests` (tests/sessions_tests/tests.py) and the pure
 * parts of the API (key generation, isoformat, expiry arithmetic, flags) the engine suites do not pin down.
 */
import { emptyData, SessionBase, suspiciousSessionLogger } from './session';
import { newSessionKey, VALID_KEY_CHARS } from './session-key';
import { isoformat, parseIsoDatetime } from './formats/python-datetime';
import { NotImplementedError, SessionExpiryError, SessionKeyError, SessionNotLoadedError } from './session.errors';
import { resolveSessionsOptions } from './sessions.options';

/** Django's bare `SessionBase()`: a subclass that provides no engine methods. */
class BareSession<T extends object = Record<string, unknown>> extends SessionBase<T> {}

const config = resolveSessionsOptions({ secretKey: 'session-spec-secret' });
const bare = (key: string | null = null) => new BareSession(key, config);

describe('SessionBaseTests', () => {
  it.each([
    ['test_create/test_acreate', (s: BareSession) => s.create(), 'subclasses of SessionBase must provide a create() method'],
    ['test_delete/test_adelete', (s: BareSession) => s.delete(), 'subclasses of SessionBase must provide a delete() method'],
    ['test_exists/test_aexists', (s: BareSession) => s.exists(null), 'subclasses of SessionBase must provide an exists() method'],
    ['test_load/test_aload', (s: BareSession) => s.load(), 'subclasses of SessionBase must provide a load() method'],
    ['test_save/test_asave', (s: BareSession) => s.save(), 'subclasses of SessionBase must provide a save() method'],
  ])('%s is not implemented', async (_label, call, message) => {
    const promise = call(bare());
    await expect(promise).rejects.toThrow(NotImplementedError);
    await expect(promise).rejects.toThrow(message);
  });

  it('test_test_cookie/test_atest_cookie: the test cookie works without storage', () => {
    const session = bare();
    expect(session.has('testcookie')).toBe(false);
    expect(session.testCookieWorked()).toBe(false);
    session.setTestCookie();
    expect(session.testCookieWorked()).toBe(true);
    session.deleteTestCookie();
    expect(session.has('testcookie')).toBe(false);
    expect(() => session.deleteTestCookie()).toThrow(SessionKeyError);
  });

  it('test_is_empty: a fresh session is empty', () => {
    expect(bare().isEmpty()).toBe(true);
  });
});

describe('isEmpty (`SessionBase.is_empty`)', () => {
  it('is false once data is set, and false for a valid key even before loading', () => {
    const withData = bare();
    withData.set('a', 1);
    expect(withData.isEmpty()).toBe(false);
    expect(bare('abcdefgh12345678').isEmpty()).toBe(false);
  });

  it('stays true after a read of a fresh session', () => {
    const session = bare();
    session.get('x');
    expect(session.isEmpty()).toBe(true);
  });
});

describe('data methods', () => {
  it('getItem and deleteItem of a missing key throw KeyError; a failed delete does not mark the session modified', () => {
    const session = bare();
    expect(() => session.getItem('missing')).toThrow(SessionKeyError);
    expect(() => session.deleteItem('missing')).toThrow(SessionKeyError);
    expect(session.modified).toBe(false);
  });

  it('update marks the session modified even with nothing to merge', () => {
    const session = bare();
    session.update({});
    expect(session.modified).toBe(true);
  });

  it('clear does not load, keeps the key, and marks the session accessed and modified', () => {
    const session = bare('abcdefgh12345678');
    session.clear();
    expect(session.sessionKey).toBe('abcdefgh12345678');
    expect(session.items()).toEqual([]);
    expect(session.accessed && session.modified).toBe(true);
  });

  it('data of a keyed session cannot be read before it is loaded', () => {
    expect(() => bare('abcdefgh12345678').get('x')).toThrow(SessionNotLoadedError);
  });

  it('keys like __proto__ are plain keys', () => {
    const session = bare();
    session.set('__proto__', 'value');
    expect(session.get('__proto__')).toBe('value');
    expect(session.keys()).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(emptyData())).toBeNull();
  });

  it('typed sessions check keys and values at compile time', () => {
    const session = new BareSession<{ count?: number }>(null, config);
    // Never called: these lines exist for the type checker (npm test runs tsc --noEmit).
    const rejectedByTheCompiler = () => {
      // @ts-expect-error a value of the wrong type
      session.set('count', 'one');
      // @ts-expect-error an undeclared key
      session.set('other', 1);
    };
    void rejectedByTheCompiler;
    session.set('count', 1);
    const count: number | undefined = session.get('count');
    expect(count).toBe(1);
  });
});

describe('session keys (`SessionBase._get_new_session_key`, `_validate_session_key`)', () => {
  it('are 32 characters of [a-z0-9], every character used', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const key = newSessionKey();
      expect(key).toMatch(/^[a-z0-9]{32}$/);
      for (const ch of key) seen.add(ch);
    }
    expect([...seen].sort().join('')).toBe([...VALID_KEY_CHARS].sort().join(''));
  });

  it("are taken from clients when 8 to 40 characters of Django's alphabet, never otherwise", () => {
    expect(bare('abcdef12').sessionKey).toBe('abcdef12');
    expect(bare('a'.repeat(40)).sessionKey).toBe('a'.repeat(40));
    for (const key of ['1234567', 'a'.repeat(41), 'ABCdef12', 'abc-def_', 'aaaaaaaa\u0000bbbbbbbb', 'aaaaaaaa bbbb', 'aaaaaaaa\u00e9']) {
      expect(bare(key).sessionKey).toBeNull();
    }
  });
});

describe('isoformat / parseIsoDatetime (Python datetime.isoformat / fromisoformat)', () => {
  it.each([
    ['2030-01-01T00:00:00.000Z', '2030-01-01T00:00:00+00:00'],
    ['2026-11-21T23:06:16.769Z', '2026-11-21T23:06:16.769000+00:00'],
  ])('%s → %s', (iso, python) => {
    expect(isoformat(new Date(iso))).toBe(python);
    expect(parseIsoDatetime(python).toISOString()).toBe(iso);
  });

  it("reads Python's microseconds, other offsets, Z and naive values (as UTC)", () => {
    expect(parseIsoDatetime('2026-11-21T23:06:16.769376+00:00').toISOString()).toBe('2026-11-21T23:06:16.769Z');
    expect(parseIsoDatetime('2030-01-01T02:00:00+02:00').toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(parseIsoDatetime('2030-01-01T00:00:00Z').toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(parseIsoDatetime('2030-01-01T00:00:00').toISOString()).toBe('2030-01-01T00:00:00.000Z');
  });

  it('rejects garbage', () => {
    expect(() => parseIsoDatetime('not a date')).toThrow(RangeError);
  });
});

describe('expiry arithmetic (`SessionBase.get_expiry_age`, `get_expiry_date`, `set_expiry`)', () => {
  const modification = new Date('2030-01-01T00:00:00.000Z');
  const at = (ms: number) => new Date(modification.getTime() + ms);

  it('the age to a date is floored to whole seconds', () => {
    const session = bare();
    expect(session.getExpiryAge({ modification, expiry: at(-500) })).toBe(-1);
    expect(session.getExpiryAge({ modification, expiry: at(1500) })).toBe(1);
    expect(session.getExpiryAge({ modification, expiry: isoformat(at(1500)) })).toBe(1);
  });

  it('a stored number is returned as is; falsy values mean the cookie age', () => {
    const session = bare();
    expect(session.getExpiryAge({ expiry: 2.5 })).toBe(2.5);
    expect(session.getExpiryAge({ expiry: -5 })).toBe(-5);
    for (const expiry of [null, 0, '']) expect(session.getExpiryAge({ expiry })).toBe(1209600);
  });

  it('the expiry date of a number counts from the modification; 0 and null mean the cookie age', () => {
    const session = bare();
    expect(session.getExpiryDate({ modification, expiry: -10 })).toEqual(at(-10_000));
    expect(session.getExpiryDate({ modification, expiry: 0 })).toEqual(at(1209600_000));
    expect(session.getExpiryDate({ modification, expiry: null })).toEqual(at(1209600_000));
    expect(session.getExpiryDate({ modification, expiry: isoformat(at(5000)) })).toEqual(at(5000));
  });

  it('setExpiry stores Python isoformat strings and numbers verbatim; null without a value changes nothing', () => {
    const session = bare();
    session.setExpiry(null);
    expect(session.modified).toBe(false);
    session.setExpiry(at(123));
    expect(session.get('_session_expiry' as never)).toBe('2030-01-01T00:00:00.123000+00:00');
    session.setExpiry(-3);
    expect(session.get('_session_expiry' as never)).toBe(-3);
  });

  it('a corrupt stored expiry (not a number or an ISO date) falls back to the cookie age instead of failing', () => {
    const session = bare();
    for (const expiry of ['not a date', true, { at: 1 }, ['2030']]) {
      expect(session.getExpiryAge({ modification, expiry })).toBe(1209600);
      expect(session.getExpiryDate({ modification, expiry })).toEqual(at(1209600_000));
    }
  });

  it('setExpiry and _session_expiry refuse, at the call, what no date of years 1-9999 can hold; nothing is stored', () => {
    const session = bare();
    session.setExpiry(3600);
    for (const value of [
      1e10 + 1,
      -1e10 - 1,
      1e12,
      -1e12,
      1e20,
      Infinity,
      NaN,
      new Date(NaN),
      new Date('+010000-01-01T00:00:00Z'),
      true,
      '2030',
      { at: 1 },
    ]) {
      expect(() => session.setExpiry(value as never)).toThrow(SessionExpiryError);
      expect(() => session.set('_session_expiry' as never, value as never)).toThrow(SessionExpiryError);
      expect(() => session.update({ _session_expiry: value })).toThrow(SessionExpiryError);
    }
    expect(session.get('_session_expiry' as never)).toBe(3600);
    session.setExpiry(-1e10);
    session.setExpiry(1e10); // the bound, about 317 years
    session.set('_session_expiry' as never, '9999-12-31T00:00:00+00:00');
    session.setExpiry(new Date('0999-05-01T00:00:00Z'));
    expect(session.get('_session_expiry' as never)).toBe('0999-05-01T00:00:00+00:00');
  });

  it('a stored _session_expiry out of range reads as corrupt data: an empty session, logged once per session', async () => {
    const warn = jest.spyOn(suspiciousSessionLogger, 'warn').mockImplementation(() => undefined);
    try {
      class Stored extends SessionBase {
        override load() {
          return Promise.resolve(Object.assign(emptyData(), { cart: [1], _session_expiry: 1e20 }));
        }
      }
      const key = 'k'.repeat(32);
      for (let i = 0; i < 3; i++) {
        const session = await new Stored(key, resolveSessionsOptions({ secretKey: 'x' })).ensureLoaded();
        expect(session.keys()).toEqual([]);
      }
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0][0]).toBe('Session data corrupted: invalid _session_expiry');
    } finally {
      warn.mockRestore();
    }
  });

  it('only a stored 0 means expire at browser close', () => {
    const session = bare();
    for (const [value, expected] of [
      [0, true],
      [10, false],
      [at(1000), false],
    ] as const) {
      session.setExpiry(value);
      expect(session.getExpireAtBrowserClose()).toBe(expected);
    }
  });
});
