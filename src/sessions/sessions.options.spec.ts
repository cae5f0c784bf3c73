/** SessionsModule options: Django's defaults, and start-up errors that name the bad option. */
import { resolveSessionsOptions, SessionsOptionsError, type SessionsModuleOptions } from './sessions.options';
import { weakSecretKey } from './sessions.providers';

const resolve = (options: Partial<SessionsModuleOptions>) => resolveSessionsOptions({ secretKey: 'k', ...options });

describe('resolveSessionsOptions', () => {
  it("fills in Django's defaults (global_settings.py)", () => {
    // toMatchObject: port-only options (with their own defaults) may be added beside these.
    expect(resolveSessionsOptions({ secretKey: 'k' })).toMatchObject({
      secretKey: 'k',
      secretKeyFallbacks: [],
      engine: 'db',
      cookie: { name: 'sessionid', age: 1209600, domain: null, path: '/', secure: false, httpOnly: true, sameSite: 'Lax' },
      expireAtBrowserClose: false,
      saveEveryRequest: false,
      clearExpired: { cron: '0 3 * * *', timeZone: 'UTC', batchSize: 1000 },
      acceptLegacyFormat: false,
    });
    const { cookie } = resolveSessionsOptions({ secretKey: 'k' });
    expect(Object.keys(cookie).sort()).toEqual(['age', 'domain', 'httpOnly', 'name', 'path', 'sameSite', 'secure']);
  });

  it('keeps what the user set', () => {
    const config = resolve({
      secretKeyFallbacks: ['old'],
      engine: 'signed_cookies',
      cookie: { name: 'sid', age: 60, domain: '.example.com', path: '/app/', secure: true, httpOnly: false, sameSite: false },
      expireAtBrowserClose: true,
      saveEveryRequest: true,
    });
    expect(config.secretKeyFallbacks).toEqual(['old']);
    expect(config.engine).toBe('signed_cookies');
    expect(config.cookie).toEqual({
      name: 'sid',
      age: 60,
      domain: '.example.com',
      path: '/app/',
      secure: true,
      httpOnly: false,
      sameSite: false,
    });
    expect(config.expireAtBrowserClose).toBe(true);
    expect(config.saveEveryRequest).toBe(true);
  });

  it('normalises the case of sameSite like Django (lax|strict|none, case-insensitive)', () => {
    expect(resolve({ cookie: { sameSite: 'strict' as never } }).cookie.sameSite).toBe('Strict');
    expect(resolve({ cookie: { sameSite: 'NONE' as never } }).cookie.sameSite).toBe('None');
  });

  it.each([
    ['a missing secretKey', {}, 'secretKey'],
    ['an empty secretKey', { secretKey: '' }, 'secretKey'],
    ['a non-string fallback', { secretKey: 'k', secretKeyFallbacks: [42] }, 'secretKeyFallbacks'],
    ['an unknown engine', { secretKey: 'k', engine: 'redis' }, 'engine'],
    ['a bad sameSite', { secretKey: 'k', cookie: { sameSite: 'sometimes' } }, 'cookie.sameSite'],
    ['sameSite true', { secretKey: 'k', cookie: { sameSite: true } }, 'cookie.sameSite'],
    ['a negative cookie age', { secretKey: 'k', cookie: { age: -1 } }, 'cookie.age'],
    ['a relative cookie path', { secretKey: 'k', cookie: { path: 'app' } }, 'cookie.path'],
    ['an invalid cookie name', { secretKey: 'k', cookie: { name: 'session id' } }, 'cookie.name'],
    ['a non-boolean saveEveryRequest', { secretKey: 'k', saveEveryRequest: 'yes' }, 'saveEveryRequest'],
    ['a zero batch size', { secretKey: 'k', clearExpired: { batchSize: 0 } }, 'clearExpired.batchSize'],
  ])('rejects %s, naming the option', (_label, options, option) => {
    expect(() => resolveSessionsOptions(options as unknown as SessionsModuleOptions)).toThrow(SessionsOptionsError);
    expect(() => resolveSessionsOptions(options as unknown as SessionsModuleOptions)).toThrow(`SessionsModule option "${option}"`);
  });

  it('says how to fix a missing secret key', () => {
    expect(() => resolveSessionsOptions({} as SessionsModuleOptions)).toThrow(/secretKey" is required/);
  });

  it('accepts a custom SessionStore class as the engine', () => {
    class MyStore {}
    expect(resolve({ engine: MyStore as never }).engine).toBe(MyStore);
  });
});

describe("weakSecretKey: Django's deployment check security.W009", () => {
  it.each([
    ['x', true],
    ['a'.repeat(60), true], // one distinct character
    [`django-insecure-${'k9#Lq2!'.repeat(8)}`, true], // Django's generated development key
    ['abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLM', true], // 49 characters
    ['abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN', false],
  ])('%j: weak is %s', (key, weak) => {
    expect(weakSecretKey(key)).toBe(weak);
  });
});

describe('userSessions: which engines keep a user index (USER_INDEX_ENGINES)', () => {
  it.each(['db', 'cached_db', 'cache', 'file'] as const)('%s keeps one', (engine) => {
    expect(resolve({ engine, userSessions: {} }).userSessions).not.toBeNull();
  });

  it('signed_cookies has no server-side record: refused, naming the engines that do', () => {
    expect(() => resolve({ engine: 'signed_cookies', userSessions: {} })).toThrow(
      new SessionsOptionsError(
        'SessionsModule option "userSessions" needs the db, cached_db, cache or file engine, not signed_cookies: ' +
          "a session kept in the client's cookie has no server-side record to list or revoke one by one (changing secretKey signs everyone out at once)",
      ),
    );
  });

  it('the file engine keeps no cap: maxSessionsPerUser refused, naming the engines that do', () => {
    expect(() => resolve({ engine: 'file', userSessions: { maxSessionsPerUser: 2 } })).toThrow(
      /"userSessions.maxSessionsPerUser" needs the db, cached_db or cache engine/,
    );
  });
});
