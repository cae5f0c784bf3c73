/**
 * The package's public API, as its entry points export it at run time: a change to any list is a
 * change users see, made on purpose, here and in the docs together.
 */
import * as auth from '../../src/sessions/auth';
import * as sessions from '../../src/sessions';
import * as socketIo from '../../src/sessions/websockets/sessions-io.adapter';
import * as ws from '../../src/sessions/websockets/sessions-ws.adapter';
import * as health from '../../src/sessions/telemetry/sessions-health.indicator';
import packageJson from '../../package.json';

describe('public API', () => {
  it("nest-django-sessions' runtime exports", () => {
    expect(Object.keys(sessions).sort()).toEqual([
      'AbstractBaseSession',
      'BlockingSession',
      'BlockingSessionGuard',
      'CACHED_DB_KEY_PREFIX',
      'CACHE_KEY_PREFIX',
      'CLEARSESSIONS_JOB_NAME',
      'CSRF_SESSION_KEY',
      'CacheSession',
      'CacheSessionStore',
      'CachedDbSession',
      'CachedDbSessionStore',
      'ClearSessionsNotSupportedError',
      'ClearSessionsScheduler',
      'ClearSessionsService',
      'CreateDjangoSession1700000000000',
      'CreateError',
      'CreateUserSession1700000000001',
      'CsrfExempt',
      'CsrfFailureException',
      'CsrfGuard',
      'CsrfModule',
      'CsrfOptionsError',
      'DbSession',
      'DbSessionStore',
      'FileSession',
      'FileSessionStore',
      'InvalidSessionKey',
      'MAX_COOKIE_BYTES',
      'NotImplementedError',
      'PostgresSessionLock',
      'ProcessSessionLock',
      'RedisSessionLock',
      'SESSIONS_CONFIG',
      'SESSIONS_MODULE_OPTIONS',
      'SESSION_ENGINES',
      'SESSION_KEY_SALT',
      'SESSION_START_KEY',
      'SIGNED_COOKIES_SALT',
      'Session',
      'SessionBase',
      'SessionCookieTooLargeException',
      'SessionEntity',
      'SessionEvents',
      'SessionExpiryError',
      'SessionInterceptor',
      'SessionInterruptedException',
      'SessionKeyConflictException',
      'SessionKeyError',
      'SessionLimitReachedException',
      'SessionLoadMiddleware',
      'SessionLockTimeoutException',
      'SessionLocks',
      'SessionMiddleware',
      'SessionNotLoadedError',
      'SessionStore',
      'SessionStoreUnavailableException',
      'SessionTableMissingError',
      'SessionTooLargeException',
      'SessionsCache',
      'SessionsError',
      'SessionsModule',
      'SessionsOptionsError',
      'SessionsSetupError',
      'SignedCookieSession',
      'SignedCookieSessionStore',
      'SocketSessions',
      'USER_AGENT_MAX_LENGTH',
      'UpdateError',
      'UserSessionEntity',
      'UserSessionsService',
      'emptyData',
      'getSession',
      'getToken',
      'isValidSessionKey',
      'newSessionKey',
      'resolveSessionsOptions',
      'rotateToken',
      'sessionMigrations',
      'sessionOf',
      'sessionViewOf',
      'signing',
      'userSessionMigrations',
    ]);
  });

  it("nest-django-sessions/auth's runtime exports", () => {
    expect(Object.keys(auth).sort()).toEqual([
      'AbstractDjangoUser',
      'AllowAnonymous',
      'BACKEND_SESSION_KEY',
      'DEFAULT_PBKDF2_ITERATIONS',
      'DjangoAuthGuard',
      'DjangoAuthModule',
      'DjangoAuthOptionsError',
      'DjangoAuthService',
      'DjangoUser',
      'DjangoUserEntity',
      'DjangoUserTableMissingError',
      'HASH_SESSION_KEY',
      'MAX_PASSWORD_LENGTH',
      'MODEL_BACKEND',
      'SESSION_KEY',
      'UNUSABLE_PASSWORD_PREFIX',
      'checkPassword',
      'isCheckablePassword',
      'makePassword',
      'sessionAuthHash',
    ]);
  });

  it("nest-django-sessions/socket.io's runtime exports", () => {
    expect(Object.keys(socketIo).sort()).toEqual(['SessionsIoAdapter']);
  });

  it("nest-django-sessions/ws's runtime exports", () => {
    expect(Object.keys(ws).sort()).toEqual(['SESSION_ENDED_CLOSE_CODE', 'SessionsWsAdapter']);
    expect(ws.SESSION_ENDED_CLOSE_CODE).toBe(1008);
  });

  it("nest-django-sessions/health's runtime exports", () => {
    expect(Object.keys(health).sort()).toEqual(['SessionsHealthIndicator']);
  });

  it("package.json's entry points are those modules' builds (exports, and typesVersions for TypeScript's node10 resolution)", () => {
    const built = (source: string) => ({ types: `./dist/src/sessions/${source}.d.ts`, default: `./dist/src/sessions/${source}.js` });
    const exports = packageJson.exports as Record<string, unknown>;
    const typesVersions = packageJson.typesVersions['*'] as Record<string, unknown>;
    expect(exports['./socket.io']).toEqual(built('websockets/sessions-io.adapter'));
    expect(exports['./ws']).toEqual(built('websockets/sessions-ws.adapter'));
    expect(typesVersions['socket.io']).toEqual([built('websockets/sessions-io.adapter').types]);
    expect(typesVersions.ws).toEqual([built('websockets/sessions-ws.adapter').types]);
    expect(exports['./health']).toEqual(built('telemetry/sessions-health.indicator'));
    expect(typesVersions.health).toEqual([built('telemetry/sessions-health.indicator').types]);
    expect(Object.keys(exports).sort()).toEqual(['.', './auth', './health', './package.json', './socket.io', './ws']);
  });
});
