/** The public API of the sessions library. */
export { SessionsModule } from './sessions.module';
export type { SessionsOptionsFactory } from './sessions.module-definition';
export {
  SESSION_ENGINES,
  resolveSessionsOptions,
  SessionsOptionsError,
  type ClearExpiredOptions,
  type SameSiteOption,
  type SessionCookieOptions,
  type SessionEngineName,
  type SessionsConfig,
  type SessionsModuleExtras,
  type SessionsModuleOptions,
} from './sessions.options';
export { SESSIONS_CONFIG, SESSIONS_MODULE_OPTIONS } from './sessions.constants';
export { SessionBase, SESSION_KEY_SALT, emptyData, type SessionData, type SessionClient, type SessionSettings } from './session';
export { isValidSessionKey, newSessionKey } from './session-key';
export { SESSION_START_KEY } from './session-start';
export type { ExpiryOptions, ExpiryValue } from './session-expiry';
export { AbstractBaseSession, SessionEntity } from './database/session.entity';
export {
  CreateDjangoSession1700000000000,
  CreateUserSession1700000000001,
  sessionMigrations,
  userSessionMigrations,
} from '../../migrations';
export { SessionEvents, type SessionEvent, type SessionEventListener, type SessionEventType } from './events/session-events';
export { UserSessionEntity, USER_AGENT_MAX_LENGTH } from './user-sessions/user-session.entity';
export { UserSessionsService, type UserSessionInfo } from './user-sessions/user-sessions.service';
export { SessionLimitReachedException } from './user-sessions/session-limit-reached.exception';
export type { MaxSessionsPolicy, UserSessionsOptions } from './user-sessions/user-sessions.options';
export { Session } from './http/session.decorator';
export { getSession, sessionOf, sessionViewOf } from './http/session-request';
export { SessionInterceptor } from './http/session.interceptor';
export { SessionLoadMiddleware, SessionMiddleware } from './http/session.middleware';
export type { ExpressSessionMethods, SessionCallback, SessionView } from './http/session-view';
export {
  CreateError,
  InvalidSessionKey,
  NotImplementedError,
  SessionInterruptedException,
  SessionKeyConflictException,
  SessionKeyError,
  SessionNotLoadedError,
  SessionStoreUnavailableException,
  SessionTableMissingError,
  SessionExpiryError,
  SessionTooLargeException,
  SessionsError,
  SessionsSetupError,
  UpdateError,
} from './session.errors';
export { SessionStore, type ClearExpiredProgress, type ClearExpiredRunOptions } from './engines/session-store';
export {
  ClearSessionsNotSupportedError,
  ClearSessionsService,
  type ClearSessionsProgress,
  type ClearSessionsResult,
  type ClearSessionsRunOptions,
} from './clearsessions/clear-sessions.service';
export { ClearSessionsScheduler, CLEARSESSIONS_JOB_NAME } from './clearsessions/clear-sessions.scheduler';
export { DbSession } from './engines/db/db-session';
export { DbSessionStore } from './engines/db/db-session-store';
export type { SessionRow } from './engines/db/session-table';
export type { UserSessionIndex, UserSessionRow } from './user-sessions/user-session-index';
export { CACHE_KEY_PREFIX, CacheSession, CacheSessionStore } from './engines/cache/cache-engine';
export { CACHED_DB_KEY_PREFIX, CachedDbSession, CachedDbSessionStore } from './engines/cached-db';
export { SessionsCache } from './engines/cache/sessions-cache';
export { FileSession, FileSessionStore, type StoredFile } from './engines/file/file-engine';
export {
  MAX_COOKIE_BYTES,
  SessionCookieTooLargeException,
  SIGNED_COOKIES_SALT,
  SignedCookieSession,
  SignedCookieSessionStore,
} from './engines/signed-cookies';
export * as signing from './formats/signing';
export { SocketSessions, type SocketSessionEnd } from './websockets/socket-sessions';
export { CsrfModule } from './csrf/csrf.module';
export type { CsrfOptionsFactory } from './csrf/csrf.module-definition';
export { CsrfOptionsError, type CsrfModuleOptions, type CsrfSameSite } from './csrf/csrf.options';
export { CsrfGuard } from './csrf/csrf.guard';
export { CsrfExempt } from './csrf/csrf-exempt.decorator';
export { CsrfFailureException } from './csrf/csrf-failure.exception';
export { getToken, rotateToken } from './csrf/csrf.request';
export { CSRF_SESSION_KEY } from './csrf/csrf-token';
export { BlockingSession } from './blocking/blocking-session.decorator';
export { BlockingSessionGuard } from './blocking/blocking-session.guard';
export type { BlockingOptions, BlockingSessionOptions } from './blocking/blocking.options';
export { SessionLocks } from './blocking/session-locks';
export { SessionLockTimeoutException } from './blocking/session-lock-timeout.exception';
export type { SessionLock, SessionLockBackend, SessionLockRelease, SessionLockRequest } from './blocking/session-lock';
export { ProcessSessionLock } from './blocking/process-session-lock';
export { RedisSessionLock, type RedisLockClient } from './blocking/redis-session-lock';
export { PostgresSessionLock } from './blocking/postgres-session-lock';
