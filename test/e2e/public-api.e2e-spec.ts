/**
 * The package's public API, as its two entry points export it at run time: a change to either list
 * is a change users see, made on purpose, here and in the docs together.
 */
import * as auth from '../../src/sessions/auth';
import * as sessions from '../../src/sessions';

describe('public API', () => {
  it("nest-django-sessions' runtime exports", () => {
    expect(Object.keys(sessions).sort()).toEqual([
      'AbstractBaseSession', 'CACHED_DB_KEY_PREFIX', 'CACHE_KEY_PREFIX', 'CLEARSESSIONS_JOB_NAME', 'CSRF_SESSION_KEY', 'CacheSession', 'CacheSessionStore', 'CachedDbSession',
      'CachedDbSessionStore', 'ClearSessionsNotSupportedError', 'ClearSessionsScheduler', 'ClearSessionsService', 'CreateDjangoSession1700000000000', 'CreateError',
      'CreateUserSession1700000000001', 'CsrfExempt', 'CsrfFailureException', 'CsrfGuard', 'CsrfModule', 'CsrfOptionsError', 'DbSession', 'DbSessionStore', 'FileSession',
      'FileSessionStore', 'InvalidSessionKey', 'MAX_COOKIE_BYTES', 'NotImplementedError', 'SESSIONS_CONFIG', 'SESSIONS_MODULE_OPTIONS', 'SESSION_ENGINES', 'SESSION_KEY_SALT',
      'SIGNED_COOKIES_SALT', 'Session', 'SessionBase', 'SessionCookieTooLargeException', 'SessionEntity', 'SessionEvents', 'SessionExpiryError', 'SessionInterceptor',
      'SessionInterruptedException', 'SessionKeyError', 'SessionLimitReachedException', 'SessionLoadMiddleware', 'SessionMiddleware', 'SessionNotLoadedError', 'SessionStore',
      'SessionStoreUnavailableException', 'SessionTableMissingError', 'SessionTooLargeException', 'SessionsCache', 'SessionsModule', 'SessionsOptionsError', 'SignedCookieSession',
      'SignedCookieSessionStore', 'USER_AGENT_MAX_LENGTH', 'UpdateError', 'UserSessionEntity', 'UserSessionsService', 'emptyData', 'getSession', 'getToken', 'isValidSessionKey',
      'newSessionKey', 'resolveSessionsOptions', 'rotateToken', 'sessionMigrations', 'sessionOf', 'sessionViewOf', 'signing', 'userSessionMigrations',
    ]);
  });

  it("nest-django-sessions/auth's runtime exports", () => {
    expect(Object.keys(auth).sort()).toEqual([
      'AbstractDjangoUser', 'AllowAnonymous', 'BACKEND_SESSION_KEY', 'DEFAULT_PBKDF2_ITERATIONS', 'DjangoAuthGuard', 'DjangoAuthModule', 'DjangoAuthOptionsError',
      'DjangoAuthService', 'DjangoUser', 'DjangoUserEntity', 'DjangoUserTableMissingError', 'HASH_SESSION_KEY', 'MAX_PASSWORD_LENGTH', 'MODEL_BACKEND', 'SESSION_KEY',
      'UNUSABLE_PASSWORD_PREFIX', 'checkPassword', 'isCheckablePassword', 'makePassword', 'sessionAuthHash',
    ]);
  });
});
