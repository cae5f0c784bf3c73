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
export { SessionBase, VALID_KEY_CHARS, SESSION_KEY_SALT, newSessionKey, type SessionData, type ExpiryOptions, type ExpiryValue } from './session';
export { AbstractBaseSession, SessionEntity } from './session.entity';
export { Session } from './session.decorator';
export { getSession, sessionOf } from './session.request';
export { SessionInterceptor } from './session.interceptor';
export { SessionMiddleware } from './session.middleware';
export {
  CreateError,
  InvalidSessionKey,
  NotImplementedError,
  SessionInterruptedException,
  SessionKeyError,
  SessionNotLoadedError,
  UpdateError,
} from './session.errors';
export { SessionStore } from './engines/session-store';
export { DbSession, DbSessionStore, type SessionRow } from './engines/db';
export * as signing from './signing';
