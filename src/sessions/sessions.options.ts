/**
 * SessionsModule options: Django's SESSION_* settings with Nest-style names and Django's defaults.
 * `resolveSessionsOptions` validates them once at start-up and fills in the defaults, so a typo is a
 * start-up error that names the option, never a surprise at request time.
 */
import { Logger, type Type } from '@nestjs/common';
import { SessionsError } from './session.errors';
import type { SessionStore } from './engines/session-store';
import type { SessionsCacheManager } from './engines/cache/cache-manager';
import { SessionEvents, type SessionEventListener } from './events/session-events';
import { SessionUsers } from './user-sessions/session-user-verifier';
import { parseTrustedOrigins, type TrustedOrigins } from './csrf/csrf-origin';
import type { SessionTelemetry } from './telemetry/session-telemetry';
import { resolveBlockingOptions, type BlockingConfig, type BlockingOptions } from './blocking/blocking.options';
import {
  engineList,
  resolveUserSessionsOptions,
  USER_INDEX_ENGINES,
  type UserSessionsConfig,
  type UserSessionsOptions,
} from './user-sessions/user-sessions.options';
import { resolveHeaderName, type SessionHeaderConfig, type SessionHeaderOptions } from './http/session-header';
import { resolveAbsoluteAge, type AbsoluteAgeConfig, type AbsoluteAgeOptions } from './session-start';

export const SESSION_ENGINES = ['db', 'cache', 'cached_db', 'file', 'signed_cookies'] as const;
export type SessionEngineName = (typeof SESSION_ENGINES)[number];

/** `SESSION_COOKIE_SAMESITE`: `false` omits the attribute. */
export type SameSiteOption = 'Lax' | 'Strict' | 'None' | false;

export interface SessionCookieOptions {
  /** `SESSION_COOKIE_NAME` (default `sessionid`); also the file engine's file-name prefix. */
  name?: string;
  /** `SESSION_COOKIE_AGE` in seconds (default 1209600, two weeks). */
  age?: number;
  /** `SESSION_COOKIE_DOMAIN` (default none: host-only cookie). */
  domain?: string | null;
  /** `SESSION_COOKIE_PATH` (default `/`). */
  path?: string;
  /** `SESSION_COOKIE_SECURE` (default false; a warning is logged in production). */
  secure?: boolean;
  /** `SESSION_COOKIE_HTTPONLY` (default true). */
  httpOnly?: boolean;
  /** `SESSION_COOKIE_SAMESITE` (default `Lax`). */
  sameSite?: SameSiteOption;
}

export interface ClearExpiredOptions {
  /** Cron expression of the scheduled clearsessions job (default daily at 03:00 UTC); `false` disables it. */
  cron?: string | false;
  /** Time zone of the cron expression (default UTC). */
  timeZone?: string;
  /** Rows deleted per statement on database engines (default 1000). */
  batchSize?: number;
}

export interface SessionsModuleOptions extends SessionHeaderOptions, AbsoluteAgeOptions {
  /** `SECRET_KEY`: signs session data and signed cookies. Required. */
  secretKey: string;
  /** `SECRET_KEY_FALLBACKS`: old keys still accepted when verifying, never used to sign. */
  secretKeyFallbacks?: readonly string[];
  /** `SESSION_ENGINE`: a built-in engine name or a custom `SessionStore` class (default `db`). */
  engine?: SessionEngineName | Type<SessionStore>;
  cookie?: SessionCookieOptions;
  /** `SESSION_EXPIRE_AT_BROWSER_CLOSE` (default false). */
  expireAtBrowserClose?: boolean;
  /** `SESSION_SAVE_EVERY_REQUEST` (default false). */
  saveEveryRequest?: boolean;
  /**
   * The cache of the `cache` and `cached_db` engines (`SESSION_CACHE_ALIAS`): a cache-manager `Cache`.
   * Default: the `CACHE_MANAGER` of `@nestjs/cache-manager` when the app registers one, else an
   * in-memory cache private to this process.
   */
  cache?: SessionsCacheManager;
  /**
   * `SESSION_FILE_PATH` of the file engine. Default: a private directory the engine creates (mode
   * 0700) under the OS temp directory. A directory other users can write to is refused at start-up
   * unless `fileSharedDirectory` is true.
   */
  filePath?: string;
  /** Accept a `filePath` that other users can write to (they could plant or swap session files; default false). */
  fileSharedDirectory?: boolean;
  /**
   * Largest encoded session (the stored `session_data`, file or cookie value) in bytes, default
   * 1 MiB: a bigger save fails with SessionTooLargeException (413), and stored data that would inflate
   * beyond it reads as corrupt. Signed cookies are also capped at 4 096 bytes per cookie.
   */
  maxSessionBytes?: number;
  /**
   * The user index ("Where you're signed in", README): each session's user, client and activity in
   * the `user_session` table, for UserSessionsService (list, revoke, count) and a per-user cap.
   * `db` and `cached_db` engines.
   */
  userSessions?: UserSessionsOptions;
  /**
   * Called with each session event (created, rotated, destroyed, expired; see SessionEvent). With
   * `@nestjs/event-emitter` in the app, the same events are also emitted on its EventEmitter2.
   */
  onSessionEvent?: SessionEventListener;
  /** Bounds of the in-memory cache the cache engines create when the app passes none (least recently used entries go first). */
  memoryCache?: { maxEntries?: number; maxBytes?: number };
  /** The scheduled clearsessions job. */
  clearExpired?: ClearExpiredOptions;
  /** Also read pre-Django-3.1 session data (Django 3.1/3.2's `SessionBase._legacy_decode`); off by default, as in Django 4+. */
  acceptLegacyFormat?: boolean;
  /**
   * `db` and `cached_db` engines: store a SHA-256 digest of each session key instead of the key, so a
   * leaked table or backup holds no usable session key (default false). Not Django-compatible: Django
   * cannot find these rows. Turning it on or off logs every user out.
   */
  hashKeysAtRest?: boolean;
  /**
   * Concurrent requests share store calls (default true): on PostgreSQL (`db`, `cached_db`) their
   * session loads share one SELECT and their saves one UPDATE and one commit; with a cache
   * (`cache`, `cached_db`) their reads share one `mget` (not on a Redis Cluster, whose reads go one
   * by one through its routing). A request alone in its event-loop turn is sent Django's single-row
   * statement or a plain `get`. `false`: one call per load and per save.
   */
  batchStoreCalls?: boolean;
  /**
   * Sessions on WebSockets (`SessionsIoAdapter` of `nest-django-sessions/socket.io`, `SessionsWsAdapter`
   * of `nest-django-sessions/ws`). `allowedOrigins`: origins whose pages may open a socket besides the
   * app's own (the Origin's host is the request's Host), as `CSRF_TRUSTED_ORIGINS` writes them
   * (`https://*.example.com`), or `['*']` for any (Channels' `OriginValidator`). `revalidateInterval`:
   * milliseconds between checks that the instance's open sockets' sessions still live (default 2000).
   */
  websockets?: { allowedOrigins?: string[]; revalidateInterval?: number };
  /**
   * Metrics and traces through `@opentelemetry/api` (default true: recorded when the app has
   * registered an OpenTelemetry SDK before the module starts; nothing otherwise). `false`: never.
   */
  telemetry?: boolean;
  /** `@BlockingSession()`'s defaults (`wait`, `lock`: 10 s each) and its lock's `backend` (docs/blocking-sessions.md). */
  blocking?: BlockingOptions;
}

/** Module-graph options, known before any provider runs (see ConfigurableModuleBuilder extras). */
export interface SessionsModuleExtras {
  /** Register the module globally (default true). */
  isGlobal?: boolean;
  /**
   * The TypeORM data source the database engines use: its name (default `'default'`), or `false` when
   * the app has no TypeORM (cache, file and signed_cookies engines only).
   */
  dataSource?: string | false;
}

/** Options after validation, every default filled in. */
export interface SessionsConfig extends SessionHeaderConfig, AbsoluteAgeConfig {
  secretKey: string;
  secretKeyFallbacks: readonly string[];
  /** `secretKey` then the fallbacks: every key a signature is checked against, in that order. */
  secretKeys: readonly string[];
  engine: SessionEngineName | Type<SessionStore>;
  cookie: Required<Omit<SessionCookieOptions, 'domain'>> & { domain: string | null };
  expireAtBrowserClose: boolean;
  saveEveryRequest: boolean;
  cache?: SessionsCacheManager;
  filePath?: string;
  fileSharedDirectory: boolean;
  maxSessionBytes: number;
  memoryCache: { maxEntries: number; maxBytes: number };
  userSessions: UserSessionsConfig | null;
  /** Who a session of the user index belongs to (an auth layer such as the Django auth bridge verifies it). */
  users: SessionUsers;
  events: SessionEvents;
  clearExpired: { cron: string | false; timeZone: string; batchSize: number };
  acceptLegacyFormat: boolean;
  hashKeysAtRest: boolean;
  batchStoreCalls: boolean;
  websockets: { allowedOrigins: TrustedOrigins | 'any'; revalidateInterval: number };
  /** Whether to look for an OpenTelemetry SDK at start-up (option `telemetry`). */
  telemetryWanted: boolean;
  /** The app's OpenTelemetry metrics and traces once the module started with an SDK present; null otherwise. */
  telemetry: SessionTelemetry | null;
  blocking: BlockingConfig;
}

export const DEFAULT_CLEARSESSIONS_CRON = '0 3 * * *';
export const DEFAULT_MAX_SESSION_BYTES = 1024 * 1024;
export const DEFAULT_MEMORY_CACHE = { maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 } as const;

export class SessionsOptionsError extends SessionsError {
  override name = 'SessionsOptionsError';
}

function fail(option: string, message: string): never {
  throw new SessionsOptionsError(`SessionsModule option "${option}" ${message}`);
}

function positiveInteger(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < 1) fail(option, `must be a positive integer, got ${JSON.stringify(value)}`);
  return value as number;
}

function checkBoolean(option: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') fail(option, `must be a boolean, got ${JSON.stringify(value)}`);
}

export function resolveSessionsOptions(options: SessionsModuleOptions): SessionsConfig {
  if (!options || typeof options !== 'object') fail('options', 'must be an object');
  if (typeof options.secretKey !== 'string' || options.secretKey === '') {
    fail('secretKey', "is required: set it to a long random string (Django's SECRET_KEY)");
  }
  const fallbacks = options.secretKeyFallbacks ?? [];
  if (!Array.isArray(fallbacks) || fallbacks.some((k) => typeof k !== 'string' || k === '')) {
    fail('secretKeyFallbacks', 'must be an array of non-empty strings');
  }
  const engine = options.engine ?? 'db';
  if (typeof engine === 'string' ? !SESSION_ENGINES.includes(engine) : typeof engine !== 'function') {
    fail('engine', `must be one of ${SESSION_ENGINES.join(', ')} or a SessionStore class, got ${JSON.stringify(engine)}`);
  }
  const cookie = options.cookie ?? {};
  const name = cookie.name ?? 'sessionid';
  if (typeof name !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) {
    fail('cookie.name', `must be a valid cookie name, got ${JSON.stringify(name)}`);
  }
  const age = cookie.age ?? 1209600;
  if (typeof age !== 'number' || !Number.isFinite(age) || age < 0) {
    fail('cookie.age', `must be a non-negative number of seconds, got ${JSON.stringify(age)}`);
  }
  const path = cookie.path ?? '/';
  if (typeof path !== 'string' || !path.startsWith('/')) fail('cookie.path', `must start with "/", got ${JSON.stringify(path)}`);
  const domain = cookie.domain ?? null;
  if (domain !== null && (typeof domain !== 'string' || domain === '')) {
    fail('cookie.domain', `must be a non-empty string or null, got ${JSON.stringify(domain)}`);
  }
  checkBoolean('cookie.secure', cookie.secure);
  checkBoolean('cookie.httpOnly', cookie.httpOnly);
  let sameSite = cookie.sameSite ?? 'Lax';
  if (sameSite !== false) {
    const normalised =
      typeof sameSite === 'string'
        ? ['Lax', 'Strict', 'None'].find((v) => v.toLowerCase() === sameSite.toString().toLowerCase())
        : undefined;
    if (!normalised) fail('cookie.sameSite', `must be "Lax", "Strict", "None" or false, got ${JSON.stringify(sameSite)}`);
    sameSite = normalised as SameSiteOption;
  }
  checkBoolean('expireAtBrowserClose', options.expireAtBrowserClose);
  checkBoolean('saveEveryRequest', options.saveEveryRequest);
  checkBoolean('acceptLegacyFormat', options.acceptLegacyFormat);
  checkBoolean('hashKeysAtRest', options.hashKeysAtRest);
  checkBoolean('batchStoreCalls', options.batchStoreCalls);
  checkBoolean('telemetry', options.telemetry);
  checkBoolean('fileSharedDirectory', options.fileSharedDirectory);
  const maxSessionBytes = positiveInteger('maxSessionBytes', options.maxSessionBytes, DEFAULT_MAX_SESSION_BYTES);
  const memoryCache = {
    maxEntries: positiveInteger('memoryCache.maxEntries', options.memoryCache?.maxEntries, DEFAULT_MEMORY_CACHE.maxEntries),
    maxBytes: positiveInteger('memoryCache.maxBytes', options.memoryCache?.maxBytes, DEFAULT_MEMORY_CACHE.maxBytes),
  };
  if (options.hashKeysAtRest && typeof engine === 'string' && engine !== 'db' && engine !== 'cached_db') {
    fail('hashKeysAtRest', `applies to the db and cached_db engines only, not ${engine}`);
  }
  if (options.filePath !== undefined && (typeof options.filePath !== 'string' || options.filePath === '')) {
    fail('filePath', 'must be a non-empty string');
  }
  let userSessions: UserSessionsConfig | null = null;
  if (options.userSessions !== undefined) {
    if (typeof options.userSessions !== 'object' || options.userSessions === null) fail('userSessions', 'must be an object');
    if (typeof engine === 'string' && !(USER_INDEX_ENGINES.index as readonly string[]).includes(engine)) {
      fail(
        'userSessions',
        `needs the ${engineList(USER_INDEX_ENGINES.index)} engine, not ${engine}: a session kept in the client's cookie has no server-side record to list or revoke one by one ` +
          '(changing secretKey signs everyone out at once)',
      );
    }
    if (
      typeof engine === 'string' &&
      !(USER_INDEX_ENGINES.cap as readonly string[]).includes(engine) &&
      options.userSessions.maxSessionsPerUser !== undefined
    ) {
      fail(
        'userSessions.maxSessionsPerUser',
        `needs the ${engineList(USER_INDEX_ENGINES.cap)} engine (the file engine lists and revokes by scanning, with no lock to enforce a cap)`,
      );
    }
    if (engine === 'cached_db' && options.hashKeysAtRest)
      fail(
        'userSessions',
        'cannot revoke cached_db sessions with hashKeysAtRest (their cache entries are keyed by the session key, which the table no longer holds)',
      );
    userSessions = resolveUserSessionsOptions(options.userSessions, fail);
  }
  if (options.onSessionEvent !== undefined && typeof options.onSessionEvent !== 'function') fail('onSessionEvent', 'must be a function');
  const cache = options.cache as Partial<SessionsCacheManager> | undefined;
  if (
    cache !== undefined &&
    (typeof cache?.get !== 'function' || typeof cache.set !== 'function' || typeof cache.del !== 'function' || !Array.isArray(cache.stores))
  ) {
    fail('cache', 'must be a cache-manager Cache (createCache() of cache-manager, or the CACHE_MANAGER of @nestjs/cache-manager)');
  }
  const clear = options.clearExpired ?? {};
  const cron = clear.cron === undefined ? DEFAULT_CLEARSESSIONS_CRON : clear.cron;
  if (cron !== false && (typeof cron !== 'string' || cron.trim() === '')) {
    fail('clearExpired.cron', `must be a cron expression or false, got ${JSON.stringify(cron)}`);
  }
  const websockets = options.websockets ?? {};
  if (typeof websockets !== 'object' || websockets === null) fail('websockets', 'must be an object');
  const allowedOrigins = websockets.allowedOrigins ?? [];
  if (!Array.isArray(allowedOrigins) || allowedOrigins.some((origin) => typeof origin !== 'string'))
    fail('websockets.allowedOrigins', 'must be an array of origins');
  const batchSize = clear.batchSize ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    fail('clearExpired.batchSize', `must be a positive integer, got ${JSON.stringify(batchSize)}`);
  return {
    secretKey: options.secretKey,
    // (Array.isArray above narrowed the readonly string[] to any[].)
    secretKeyFallbacks: [...(fallbacks as readonly string[])],
    secretKeys: [options.secretKey, ...(fallbacks as readonly string[])],
    engine,
    cookie: {
      name,
      age,
      domain,
      path,
      secure: cookie.secure ?? false,
      httpOnly: cookie.httpOnly ?? true,
      sameSite,
    },
    expireAtBrowserClose: options.expireAtBrowserClose ?? false,
    saveEveryRequest: options.saveEveryRequest ?? false,
    cache: options.cache,
    filePath: options.filePath,
    fileSharedDirectory: options.fileSharedDirectory ?? false,
    maxSessionBytes,
    memoryCache,
    userSessions,
    users: new SessionUsers(userSessions?.userKeyPath ?? null),
    events: new SessionEvents(options.onSessionEvent, (error) =>
      new Logger('Sessions').error(`A session event listener failed: ${error instanceof Error ? error.message : String(error)}`),
    ),
    clearExpired: { cron, timeZone: clear.timeZone ?? 'UTC', batchSize },
    acceptLegacyFormat: options.acceptLegacyFormat ?? false,
    hashKeysAtRest: options.hashKeysAtRest ?? false,
    batchStoreCalls: options.batchStoreCalls ?? true,
    websockets: {
      allowedOrigins: allowedOrigins.includes('*')
        ? 'any'
        : parseTrustedOrigins(allowedOrigins, (message) => fail('websockets.allowedOrigins', message)),
      revalidateInterval: positiveInteger('websockets.revalidateInterval', websockets.revalidateInterval, 2000),
    },
    telemetryWanted: options.telemetry ?? true,
    headerName: resolveHeaderName(options.headerName, fail),
    absoluteAge: resolveAbsoluteAge(options.absoluteAge, fail),
    telemetry: null,
    blocking: resolveBlockingOptions(options.blocking, fail),
  };
}
