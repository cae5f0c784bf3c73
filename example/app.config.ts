/**
 * The example app's configuration, read from the environment once (README "Configuration").
 * Invalid values stop the app at start-up with a message naming the variable.
 */
import { Logger, type LogLevel } from '@nestjs/common';
import { REDIS_NAMESPACE, type RedisLocation } from './cache';
import { SESSION_ENGINES, type CsrfModuleOptions, type SessionEngineName, type SessionsModuleOptions } from 'nest-django-sessions';

export const DEVELOPMENT_SECRET_KEY = 'django-insecure-development-key-change-me-in-production';

export interface AppConfig {
  port: number;
  databaseUrl?: string;
  /** The cache engines' Redis (REDIS_URL or REDIS_CLUSTER_NODES); none: the in-memory cache. */
  redis?: RedisLocation;
  /** Prefix of the app's Redis keys (REDIS_NAMESPACE, default `sessions`). */
  redisNamespace: string;
  httpPlatform: 'express' | 'fastify';
  logLevels: LogLevel[];
  /** DJANGO_AUTH=true: logins shared with a Django site through Django's `auth_user` table. */
  djangoAuth: boolean;
  /** LOGIN_RATE_LIMIT: sign-in attempts (`POST /auth/login`) a client address may make a minute; default 10. */
  loginRateLimit: number;
  sessions: SessionsModuleOptions;
  /** OTEL=true: OpenTelemetry metrics of the sessions at `GET /metrics` (Prometheus' format). */
  otel: boolean;
  /** WEBSOCKETS=socket.io|ws: the session gateway on that adapter (none when unset). */
  websockets: 'socket.io' | 'ws' | undefined;
  /** CSRF=true: Django's CSRF protection on every unsafe route (CSRF_USE_SESSIONS, CSRF_TRUSTED_ORIGINS). */
  csrf: CsrfModuleOptions | undefined;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

function logLevels(level = 'log'): LogLevel[] {
  const index = LOG_LEVELS.indexOf(level as LogLevel);
  if (index < 0) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  return LOG_LEVELS.slice(0, index + 1);
}

/** `host:port` of a cluster node (a bracketed IPv6 address as host too). */
const CLUSTER_NODE = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/;

function redisLocation(env: NodeJS.ProcessEnv): RedisLocation | undefined {
  const url = env.REDIS_URL || undefined;
  if (!env.REDIS_CLUSTER_NODES) return url === undefined ? undefined : { url };
  if (url !== undefined) throw new ConfigError('Set REDIS_URL (one Redis server) or REDIS_CLUSTER_NODES (a Redis Cluster), not both');
  const clusterNodes = env.REDIS_CLUSTER_NODES.split(',')
    .map((node) => node.trim())
    .filter(Boolean);
  const invalid = clusterNodes.find((node) => !CLUSTER_NODE.test(node));
  if (clusterNodes.length === 0 || invalid !== undefined) {
    throw new ConfigError(
      `REDIS_CLUSTER_NODES must be comma-separated host:port, got ${JSON.stringify(invalid ?? env.REDIS_CLUSTER_NODES)}`,
    );
  }
  return { clusterNodes };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`PORT must be a port number, got ${JSON.stringify(env.PORT)}`);
  let secretKey = env.SECRET_KEY;
  if (!secretKey) {
    if (env.NODE_ENV === 'production') throw new ConfigError('SECRET_KEY is required when NODE_ENV=production');
    new Logger('Config').warn('SECRET_KEY is not set: using an insecure development key');
    secretKey = DEVELOPMENT_SECRET_KEY;
  }
  const engine = (env.SESSION_ENGINE || 'db') as SessionEngineName;
  if (!SESSION_ENGINES.includes(engine)) {
    throw new ConfigError(`SESSION_ENGINE must be one of ${SESSION_ENGINES.join(', ')}, got ${JSON.stringify(env.SESSION_ENGINE)}`);
  }
  const httpPlatform = (env.HTTP_PLATFORM || 'express') as AppConfig['httpPlatform'];
  if (httpPlatform !== 'express' && httpPlatform !== 'fastify') {
    throw new ConfigError(`HTTP_PLATFORM must be express or fastify, got ${JSON.stringify(env.HTTP_PLATFORM)}`);
  }
  const cron = env.CLEARSESSIONS_CRON;
  const maxSessions = env.MAX_SESSIONS_PER_USER ? Number(env.MAX_SESSIONS_PER_USER) : undefined;
  if (maxSessions !== undefined && (!Number.isSafeInteger(maxSessions) || maxSessions < 1)) {
    throw new ConfigError(`MAX_SESSIONS_PER_USER must be a positive integer, got ${JSON.stringify(env.MAX_SESSIONS_PER_USER)}`);
  }
  const policy = env.MAX_SESSIONS_POLICY || 'evict';
  if (policy !== 'evict' && policy !== 'refuse')
    throw new ConfigError(`MAX_SESSIONS_POLICY must be evict or refuse, got ${JSON.stringify(env.MAX_SESSIONS_POLICY)}`);
  const blockWait = Number(env.SESSION_BLOCK_WAIT || 10);
  if (!Number.isFinite(blockWait) || blockWait < 0)
    throw new ConfigError(`SESSION_BLOCK_WAIT must be a number of seconds, 0 or more, got ${JSON.stringify(env.SESSION_BLOCK_WAIT)}`);
  const sessionHeader = env.SESSION_HEADER || undefined;
  if (sessionHeader !== undefined && !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(sessionHeader))
    throw new ConfigError(`SESSION_HEADER must be an HTTP header name such as X-Session-Token, got ${JSON.stringify(sessionHeader)}`);
  const absoluteAge = env.SESSION_ABSOLUTE_AGE ? Number(env.SESSION_ABSOLUTE_AGE) : undefined;
  if (absoluteAge !== undefined && !(Number.isFinite(absoluteAge) && absoluteAge > 0))
    throw new ConfigError(`SESSION_ABSOLUTE_AGE must be a positive number of seconds, got ${JSON.stringify(env.SESSION_ABSOLUTE_AGE)}`);
  const loginRateLimit = Number(env.LOGIN_RATE_LIMIT || 10);
  if (!Number.isSafeInteger(loginRateLimit) || loginRateLimit < 1)
    throw new ConfigError(`LOGIN_RATE_LIMIT must be a positive integer, got ${JSON.stringify(env.LOGIN_RATE_LIMIT)}`);
  const djangoAuth = booleanVariable(env, 'DJANGO_AUTH');
  // The user index: USER_SESSIONS=true, or implied by a cap.
  const userSessions: SessionsModuleOptions['userSessions'] =
    env.USER_SESSIONS === 'true' || maxSessions !== undefined ? { maxSessionsPerUser: maxSessions, maxSessionsPolicy: policy } : undefined;
  const csrf = booleanVariable(env, 'CSRF');
  const csrfUseSessions = booleanVariable(env, 'CSRF_USE_SESSIONS');
  const trustedOrigins = (env.CSRF_TRUSTED_ORIGINS ?? '')
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  const websockets = env.WEBSOCKETS || undefined;
  if (websockets !== undefined && websockets !== 'socket.io' && websockets !== 'ws')
    throw new ConfigError(`WEBSOCKETS must be socket.io or ws, got ${JSON.stringify(websockets)}`);
  const wsAllowedOrigins = (env.WS_ALLOWED_ORIGINS ?? '')
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  const badWsOrigin = wsAllowedOrigins.find((origin) => origin !== '*' && !/^https?:\/\/[^/?#]+$/.test(origin));
  if (badWsOrigin !== undefined)
    throw new ConfigError(
      `WS_ALLOWED_ORIGINS must be comma-separated origins such as https://example.com or https://*.example.com, got ${JSON.stringify(badWsOrigin)}`,
    );
  const badOrigin = trustedOrigins.find((origin) => !/^https?:\/\/[^/?#]+$/.test(origin));
  if (badOrigin !== undefined)
    throw new ConfigError(
      `CSRF_TRUSTED_ORIGINS must be comma-separated origins such as https://example.com or https://*.example.com, got ${JSON.stringify(badOrigin)}`,
    );
  return {
    port,
    databaseUrl: env.DATABASE_URL || undefined,
    redis: redisLocation(env),
    redisNamespace: env.REDIS_NAMESPACE || REDIS_NAMESPACE,
    httpPlatform,
    logLevels: logLevels(env.LOG_LEVEL),
    djangoAuth,
    loginRateLimit,
    websockets,
    otel: booleanVariable(env, 'OTEL'),
    sessions: {
      secretKey,
      secretKeyFallbacks: (env.SECRET_KEY_FALLBACKS ?? '')
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean),
      engine,
      filePath: env.SESSION_FILE_PATH || undefined,
      cookie: { secure: env.NODE_ENV === 'production' },
      clearExpired: { cron: cron === undefined || cron === '' ? undefined : cron === 'false' ? false : cron },
      // SESSION_BLOCK_WAIT: how long `POST /session/items` (@BlockingSession) waits for its session's lock.
      blocking: { wait: blockWait },
      // SESSION_HEADER: the session key also travels in that header; SESSION_ABSOLUTE_AGE: sessions end that long after they began.
      ...(sessionHeader && { headerName: sessionHeader }),
      ...(absoluteAge && { absoluteAge }),
      ...(userSessions && { userSessions }),
      ...(websockets && { websockets: { allowedOrigins: wsAllowedOrigins } }),
    },
    csrf: csrf ? { useSessions: csrfUseSessions, trustedOrigins, cookieSecure: env.NODE_ENV === 'production' } : undefined,
  };
}

/** A true/false variable (unset: false). */
function booleanVariable(env: NodeJS.ProcessEnv, name: string): boolean {
  const value = env[name];
  if (value === undefined || value === '' || value === 'false') return false;
  if (value === 'true') return true;
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(value)}`);
}
