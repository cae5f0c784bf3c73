/**
 * Django's `SessionTestsMixin` (tests/sessions_tests/tests.py; each title names the Django test it
 * ports) as a reusable Jest suite, run once per engine. Django's `test_…_async` twins collapse into the
 * same (async) test: every I/O method is async here. For signed_cookies, the tests Django's `CookieSessionTests`
 * overrides with a no-op, and those it skips (with Django's reason in the title), assert what the engine
 * does instead: the engine is known when the tests are defined.
 *
 * Usage (one call per engine and database):
 *
 *   describeSessionMixin('db on sqlite', 'db', async () => {
 *     const { dataSource, close } = await openTestDataSource('sqlite');
 *     const config = resolveSessionsOptions({ secretKey: 'k' });
 *     const store = new DbSessionStore(config, dataSource);
 *     const target: MixinTarget = {
 *       cookieAge: config.cookie.age,
 *       session: (key) => store.session(key),
 *       // The same storage under other settings (Django's @override_settings; test_get_expire_at_browser_close needs it):
 *       withConfig: (partial) => {
 *         const other = new DbSessionStore({ ...config, ...partial }, dataSource);
 *         return { session: (key) => other.session(key) };
 *       },
 *     };
 *     return { target, teardown: close };
 *   });
 *
 * An engine whose stores cannot be rebuilt with another config may instead pass
 * `overrides.expireAtBrowserClose(value)`, a factory of sessions under that setting.
 *
 * `setup` runs once per suite (beforeAll); every test gets a fresh `target.session()` that is
 * deleted afterwards, like Django's setUp/tearDown.
 */
import { SessionKeyError, UpdateError, type SessionsConfig } from '../../src/sessions';
import { suspiciousSessionLogger, type AnySession } from '../../src/sessions/session';
import { b62encode, signature } from '../../src/sessions/formats/signing';

export type MixinEngine = 'db' | 'cache' | 'cached_db' | 'file' | 'signed_cookies' | 'custom_db';

export interface MixinTarget {
  /** Django's `self.backend(key)`: a new session object of the engine under test. */
  session(key?: string | null): AnySession;
  /** Expected default expiry age (Django's get_session_cookie_age(); 86400 for the custom db store). */
  cookieAge: number;
  /**
   * The same engine and storage with some settings changed (Django's `@override_settings`), e.g.
   * `withConfig({ expireAtBrowserClose: true })`. Needed by test_get_expire_at_browser_close unless
   * `overrides.expireAtBrowserClose` is given.
   */
  withConfig?(partial: Partial<SessionsConfig>): Pick<MixinTarget, 'session'>;
}

export interface MixinOverrides {
  /** Sessions created with `SESSION_EXPIRE_AT_BROWSER_CLOSE = value` (test_get_expire_at_browser_close uses it instead of `withConfig`). */
  expireAtBrowserClose?: (value: boolean) => (key?: string | null) => AnySession;
}

/** The secret the session signs with (the mixin re-signs a bad payload for test_decode_serializer_exception). */
function secretOf(session: AnySession): string {
  return (session as unknown as { config: SessionsConfig }).config.secretKey;
}

/** A Date with a non-zero millisecond part, so the isoformat round trip of the fraction is checked. */
function nowWithMillis(): Date {
  const date = new Date();
  if (date.getUTCMilliseconds() === 0) date.setUTCMilliseconds(123);
  return date;
}

/**
 * `engine`: the engine under test, for what Django's subclasses change (signed_cookies: CookieSessionTests'
 * overrides and skips).
 */
export function describeSessionMixin(
  label: string,
  engine: MixinEngine,
  setup: () => Promise<{ target: MixinTarget; teardown(): Promise<void> }>,
  overrides: MixinOverrides = {},
): void {
  describe(`SessionTestsMixin: ${label}`, () => {
    let target: MixinTarget;
    let teardown: (() => Promise<void>) | undefined;
    let session: AnySession;
    const extraKeys: (string | null)[] = [];

    beforeAll(async () => {
      ({ target, teardown } = await setup());
    });
    afterAll(async () => {
      await teardown?.();
    });
    beforeEach(() => {
      session = target.session();
    });
    afterEach(async () => {
      // Django's tearDown: delete() must not throw, even without a key or a stored session.
      await session.delete();
      for (const key of extraKeys.splice(0)) await target.session(key).delete();
    });

    const signedCookies = engine === 'signed_cookies';

    /**
     * A test Django's CookieSessionTests skips (`@unittest.skip`, for `cookieReason`): for
     * signed_cookies, `cookieTest` asserts what that engine does instead.
     */
    function itWithServerStore(name: string, cookieReason: string, test: () => Promise<void>, cookieTest: () => Promise<void>): void {
      if (signedCookies) it(`${name}: signed_cookies (Django skips it: ${cookieReason}) — what the engine does instead`, cookieTest);
      else it(name, test);
    }

    /** Sessions of the same engine with SESSION_EXPIRE_AT_BROWSER_CLOSE set to `value`. */
    function browserCloseSessions(value: boolean): (key?: string | null) => AnySession {
      if (overrides.expireAtBrowserClose) return overrides.expireAtBrowserClose(value);
      if (!target.withConfig)
        throw new Error('MixinTarget needs withConfig() (or overrides.expireAtBrowserClose) for test_get_expire_at_browser_close');
      const other = target.withConfig({ expireAtBrowserClose: value });
      return (key) => other.session(key);
    }

    it('test_new_session: neither modified nor accessed', () => {
      expect(session.modified).toBe(false);
      expect(session.accessed).toBe(false);
    });

    it('test_get_empty: get on an empty session returns nothing', () => {
      expect(session.get('cat')).toBeUndefined();
      expect(session.get('cat', null)).toBeNull();
    });

    it('test_store: store then pop', () => {
      session.set('cat', 'dog');
      expect(session.modified).toBe(true);
      expect(session.pop('cat')).toBe('dog');
    });

    it('test_pop: pop of a present key marks the session accessed and modified', () => {
      session.set('some key', 'exists');
      session.accessed = false;
      session.modified = false;
      expect(session.pop('some key')).toBe('exists');
      expect(session.accessed).toBe(true);
      expect(session.modified).toBe(true);
      expect(session.get('some key')).toBeUndefined();
    });

    // test_pop_default_named_argument (Python keyword argument `default=`) is the same call as test_pop_default in TypeScript.
    it('test_pop_default/test_pop_default_named_argument: pop with a default of a missing key: accessed, not modified', () => {
      expect(session.pop('some key', 'does not exist')).toBe('does not exist');
      expect(session.accessed).toBe(true);
      expect(session.modified).toBe(false);
      // A default passed explicitly as undefined still counts as passed (Python's sentinel).
      expect(session.pop('some key', undefined)).toBeUndefined();
    });

    it('test_pop_no_default_keyerror_raised: pop without a default of a missing key throws KeyError', () => {
      expect(() => {
        session.pop('some key');
      }).toThrow(SessionKeyError);
    });

    it('test_setdefault', () => {
      expect(session.setdefault('foo', 'bar')).toBe('bar');
      expect(session.setdefault('foo', 'baz')).toBe('bar');
      expect(session.accessed).toBe(true);
      expect(session.modified).toBe(true);
    });

    it('test_update', () => {
      session.update({ 'update key': 1 });
      expect(session.accessed).toBe(true);
      expect(session.modified).toBe(true);
      expect(session.get('update key')).toBe(1);
    });

    it('test_has_key: has: accessed, not modified', () => {
      session.set('some key', 1);
      session.modified = false;
      session.accessed = false;
      expect(session.has('some key')).toBe(true);
      expect(session.accessed).toBe(true);
      expect(session.modified).toBe(false);
    });

    it('test_values', () => {
      expect(session.values()).toEqual([]);
      expect(session.accessed).toBe(true);
      session.set('some key', 1);
      session.modified = false;
      session.accessed = false;
      expect(session.values()).toEqual([1]);
      expect(session.accessed).toBe(true);
      expect(session.modified).toBe(false);
    });

    it('test_keys', () => {
      session.set('x', 1);
      session.modified = false;
      session.accessed = false;
      expect(session.keys()).toEqual(['x']);
      expect(session.accessed).toBe(true);
      expect(session.modified).toBe(false);
    });

    it('test_items', () => {
      session.set('x', 1);
      session.modified = false;
      session.accessed = false;
      expect(session.items()).toEqual([['x', 1]]);
      expect(session.accessed).toBe(true);
      expect(session.modified).toBe(false);
    });

    it('test_clear', () => {
      session.set('x', 1);
      session.modified = false;
      session.accessed = false;
      expect(session.items()).toEqual([['x', 1]]);
      session.clear();
      expect(session.items()).toEqual([]);
      expect(session.accessed).toBe(true);
      expect(session.modified).toBe(true);
    });

    if (signedCookies) {
      // CookieSessionTests.test_save is a no-op (exists() means nothing for a client-side session): what the engine does instead.
      it('test_save: save signs the data into the key; nothing server-side exists under it', async () => {
        session.set('a', 'b');
        await session.save();
        expect((await target.session(session.sessionKey).ensureLoaded()).items()).toEqual([['a', 'b']]);
        expect(await session.exists(session.sessionKey)).toBe(false);
      });
    } else {
      it('test_save: save of a fresh session stores it under a new key', async () => {
        await session.save();
        expect(session.sessionKey).toMatch(/^[a-z0-9]{32}$/);
        expect(await session.exists(session.sessionKey)).toBe(true);
      });
    }

    it('test_delete', async () => {
      await session.save();
      await session.delete(session.sessionKey);
      expect(await session.exists(session.sessionKey)).toBe(false);
    });

    it('test_flush', async () => {
      session.set('foo', 'bar');
      await session.save();
      const previousKey = session.sessionKey;
      await session.flush();
      expect(await session.exists(previousKey)).toBe(false);
      expect(session.sessionKey).not.toBe(previousKey);
      expect(session.sessionKey).toBeNull();
      expect(session.modified).toBe(true);
      expect(session.accessed).toBe(true);
    });

    if (signedCookies) {
      // CookieSessionTests.test_cycle is a no-op (an issued cookie cannot be revoked): what the engine does instead.
      it('test_cycle: cycleKey signs the same data again under a new key, and the previous cookie still loads it', async () => {
        session.set('a', 'c');
        session.set('b', 'd');
        await session.save();
        const previousKey = session.sessionKey;
        const previousItems = session.items();
        // A later second: the new signature's timestamp differs (within the same second the value would be the same).
        const realNow = Date.now.bind(Date);
        const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 10_000);
        try {
          await session.cycleKey();
        } finally {
          clock.mockRestore();
        }
        expect(session.sessionKey).not.toBe(previousKey);
        expect(session.items()).toEqual(previousItems);
        expect((await target.session(session.sessionKey).ensureLoaded()).items()).toEqual(previousItems);
        expect((await target.session(previousKey).ensureLoaded()).items()).toEqual(previousItems);
      });
    } else {
      it('test_cycle: new key, same data, old session gone', async () => {
        session.set('a', 'c');
        session.set('b', 'd');
        await session.save();
        const previousKey = session.sessionKey;
        const previousItems = session.items();
        await session.cycleKey();
        expect(await session.exists(previousKey)).toBe(false);
        expect(session.sessionKey).not.toBe(previousKey);
        expect(session.items()).toEqual(previousItems);
      });
    }

    it('test_cycle_with_no_session_cache: cycleKey of a session not loaded yet keeps the stored data', async () => {
      session.set('a', 'c');
      session.set('b', 'd');
      await session.save();
      const previousItems = session.items();
      const reopened = target.session(session.sessionKey);
      expect(reopened.isLoaded).toBe(false);
      await reopened.cycleKey();
      extraKeys.push(reopened.sessionKey);
      expect(Object.fromEntries(reopened.items())).toEqual(Object.fromEntries(previousItems));
    });

    it('cycleKey after a logout elsewhere deleted the stored session: no new key is kept and the session ends empty (signed_cookies: nothing stored, the data stays)', async () => {
      session.set('a', 'c');
      await session.save();
      const key = session.sessionKey!;
      const request = target.session(key);
      await request.ensureLoaded(); // a request has loaded the session...
      await target.session(key).delete(); // ...when a logout on another request deletes it
      await request.cycleKey();
      extraKeys.push(request.sessionKey);
      if (signedCookies) {
        expect(request.sessionKey).not.toBeNull();
        expect(request.get('a')).toBe('c');
        return;
      }
      expect(request.sessionKey).toBeNull();
      expect(request.items()).toEqual([]);
      expect(await request.exists(key)).toBe(false);
    });

    it('test_save_doesnt_clear_data: save does not clear the data', async () => {
      session.set('a', 'b');
      await session.save();
      expect(session.getItem('a')).toBe('b');
    });

    it('test_invalid_key: an invalid (too short) key is never taken', async () => {
      const invalid = target.session('1');
      try {
        await invalid.save();
        expect(invalid.sessionKey).not.toBe('1');
        expect(invalid.get('cat')).toBeUndefined();
        await invalid.delete();
      } finally {
        await invalid.delete('1');
      }
    });

    // Django's test_session_key_*_invalid/_saved set the private `_session_key`; the constructor runs the same validation.
    it('test_session_key_empty_string_invalid: an empty key is no key', () => {
      expect(target.session('').sessionKey).toBeNull();
    });

    it('test_session_key_too_short_invalid: a 7-character key is no key', () => {
      expect(target.session('1234567').sessionKey).toBeNull();
    });

    it('test_session_key_valid_string_saved: an 8-character key is taken', () => {
      expect(target.session('12345678').sessionKey).toBe('12345678');
    });

    it('test_session_key_is_read_only: sessionKey is read-only', () => {
      // @ts-expect-error sessionKey has no setter: assigning it is a compile error...
      expect(() => (session.sessionKey = 'abcdefghijkl')).toThrow(TypeError); // ...and a TypeError at run time.
      expect(session.sessionKey).toBeNull();
    });

    it('test_default_expiry', () => {
      expect(session.getExpiryAge()).toBe(target.cookieAge);
      session.setExpiry(0);
      expect(session.getExpiryAge()).toBe(target.cookieAge);
    });

    it('test_custom_expiry_seconds: custom expiry in seconds', () => {
      const modification = new Date();
      session.setExpiry(10);
      expect(session.getExpiryDate({ modification })).toEqual(new Date(modification.getTime() + 10_000));
      expect(session.getExpiryAge({ modification })).toBe(10);
    });

    it('test_custom_expiry_timedelta: custom expiry as a time span from a frozen now (Django: timedelta)', () => {
      // Python's timedelta has no JS counterpart: the port's equivalent is a Date computed from "now".
      const modification = nowWithMillis();
      jest.useFakeTimers({ now: modification, doNotFake: ['nextTick', 'setImmediate', 'setTimeout', 'setInterval', 'queueMicrotask'] });
      try {
        session.setExpiry(new Date(Date.now() + 10_000));
        expect(session.getExpiryDate({ modification })).toEqual(new Date(modification.getTime() + 10_000));
        expect(session.getExpiryAge({ modification })).toBe(10);
      } finally {
        jest.useRealTimers();
      }
    });

    it('test_custom_expiry_datetime: custom expiry as a Date (stored as isoformat, milliseconds kept)', () => {
      const modification = nowWithMillis();
      session.setExpiry(new Date(modification.getTime() + 10_000));
      expect(session.getExpiryDate({ modification })).toEqual(new Date(modification.getTime() + 10_000));
      expect(session.getExpiryAge({ modification })).toBe(10);
    });

    it('test_custom_expiry_reset: setExpiry(null) goes back to the default age', () => {
      session.setExpiry(null);
      session.setExpiry(10);
      session.setExpiry(null);
      expect(session.getExpiryAge()).toBe(target.cookieAge);
    });

    it('test_get_expire_at_browser_close: getExpireAtBrowserClose under both settings', () => {
      for (const [setting, afterNull] of [
        [false, false],
        [true, true],
      ] as const) {
        const other = browserCloseSessions(setting)();
        other.setExpiry(10);
        expect(other.getExpireAtBrowserClose()).toBe(false);
        other.setExpiry(0);
        expect(other.getExpireAtBrowserClose()).toBe(true);
        other.setExpiry(null);
        expect(other.getExpireAtBrowserClose()).toBe(afterNull);
      }
    });

    it('test_decode: decode(encode(data)) round-trips', () => {
      const data = { 'a test key': 'a test value' };
      expect(session.decode(session.encode(data))).toEqual(data);
    });

    it('test_decode_failure_logged_to_security: undecodable data is an empty session and a "Session data corrupted" warning', () => {
      const warn = jest.spyOn(suspiciousSessionLogger, 'warn').mockImplementation(() => undefined);
      try {
        for (const bad of ['Zmxhc2tkajphbGtkamY=', 'bad:encoded:value']) {
          warn.mockClear();
          expect(session.decode(bad)).toEqual({});
          expect(warn).toHaveBeenCalled();
          expect(String(warn.mock.calls[0][0])).toContain('Session data corrupted');
        }
      } finally {
        warn.mockRestore();
      }
    });

    it('test_decode_serializer_exception: a validly signed payload that is not JSON decodes to an empty session, silently', () => {
      // TimestampSigner(salt=key_salt).sign(b"invalid data") in Python signs the text "b'invalid data'".
      const value = `b'invalid data':${b62encode(Math.floor(Date.now() / 1000))}`;
      const token = `${value}:${signature(value, secretOf(session), session.keySalt)}`;
      const warn = jest.spyOn(suspiciousSessionLogger, 'warn').mockImplementation(() => undefined);
      try {
        expect(session.decode(token)).toEqual({});
        expect(warn).not.toHaveBeenCalled();
      } finally {
        warn.mockRestore();
      }
    });

    it('test_actual_expiry: a session past its expiry date is not loaded', async () => {
      session.set('foo', 'bar');
      session.setExpiry(new Date(Date.now() - 10_000));
      await session.save();
      const oldKey = session.sessionKey;
      const reopened = await target.session(oldKey).ensureLoaded();
      extraKeys.push(oldKey, reopened.sessionKey);
      // signed_cookies: Django's expected failure, kept as is — a cookie's validity follows only the
      // cookie age, never a per-session expiry (Django ticket #19201).
      expect(reopened.has('foo')).toBe(signedCookies);
    });

    itWithServerStore(
      'test_session_load_does_not_create_record: loading an unknown key creates no record',
      'no external store to create records in',
      async () => {
        const unknown = target.session('someunknownkey');
        await unknown.load();
        expect(unknown.sessionKey).toBeNull();
        // The file engine's exists(null) invents a key as a side effect (Django quirk), hence the order.
        expect(await unknown.exists(unknown.sessionKey)).toBe(false);
        expect(unknown.sessionKey).not.toBe('someunknownkey');
        extraKeys.push(unknown.sessionKey);
      },
      async () => {
        // The key is the cookie itself: an unknown one reads as empty data, and nothing exists under it.
        const unknown = target.session('someunknownkey');
        expect(await unknown.load()).toEqual({});
        expect(await unknown.exists(unknown.sessionKey)).toBe(false);
      },
    );

    itWithServerStore(
      'test_session_save_does_not_resurrect_session_logged_out_in_other_context',
      'the session is stored in the client and cannot be queried',
      async () => {
        session.set('test_data', 'value1');
        await session.save(true);
        const other = target.session(session.sessionKey);
        await other.delete();
        session.set('test_data', 'value2');
        await expect(session.save()).rejects.toThrow(UpdateError);
        expect(await session.load()).toEqual({});
      },
      async () => {
        // Nothing stored to delete: the save succeeds under a new cookie, and the issued cookie still reads its own data.
        session.set('test_data', 'value1');
        await session.save(true);
        const issued = session.sessionKey;
        await target.session(issued).delete();
        session.set('test_data', 'value2');
        await session.save();
        expect(session.sessionKey).not.toBe(issued);
        expect(await target.session(session.sessionKey).load()).toEqual({ test_data: 'value2' });
        expect(await target.session(issued).load()).toEqual({ test_data: 'value1' });
      },
    );
  });
}
