/** Options of the user index (`userSessions` of SessionsModule), validated with the module's other options. */

export type MaxSessionsPolicy = 'evict' | 'refuse';

/**
 * The one statement of which built-in engines keep a user index (`userSessions`), and which also
 * enforce `maxSessionsPerUser` (the file engine lists and revokes by scanning, with no lock for a
 * cap); `signed_cookies` keeps no server-side record to list or revoke. Messages and docs read it.
 */
export const USER_INDEX_ENGINES = { index: ['db', 'cached_db', 'cache', 'file'], cap: ['db', 'cached_db', 'cache'] } as const;

/** `db, cached_db or cache`, for messages. */
export function engineList(engines: readonly string[]): string {
  return `${engines.slice(0, -1).join(', ')} or ${engines[engines.length - 1]}`;
}

export interface UserSessionsOptions {
  /** The data key naming the session's user: Django's `_auth_user_id` (default); a dotted path reaches nested keys (`passport.user`). */
  userKey?: string;
  /** Seconds between two writes of a session's `last_activity` (default 60): reads stay reads in between. */
  activityInterval?: number;
  /** At most this many live sessions per user (default: no limit; engines: USER_INDEX_ENGINES.cap). */
  maxSessionsPerUser?: number;
  /** Over the limit: `evict` the least recently active session (default) or `refuse` the new login (409). */
  maxSessionsPolicy?: MaxSessionsPolicy;
}

export interface UserSessionsConfig {
  userKeyPath: readonly string[];
  activityInterval: number;
  maxSessionsPerUser: number | null;
  maxSessionsPolicy: MaxSessionsPolicy;
}

export function resolveUserSessionsOptions(
  options: UserSessionsOptions,
  fail: (option: string, message: string) => never,
): UserSessionsConfig {
  const userKey = options.userKey ?? '_auth_user_id';
  if (typeof userKey !== 'string' || userKey === '' || userKey.split('.').some((part) => part === '')) {
    fail('userSessions.userKey', `must be a data key or a dotted path, got ${JSON.stringify(userKey)}`);
  }
  const activityInterval = options.activityInterval ?? 60;
  if (typeof activityInterval !== 'number' || !Number.isFinite(activityInterval) || activityInterval < 0) {
    fail('userSessions.activityInterval', `must be a non-negative number of seconds, got ${JSON.stringify(activityInterval)}`);
  }
  const max = options.maxSessionsPerUser ?? null;
  if (max !== null && (!Number.isSafeInteger(max) || max < 1))
    fail('userSessions.maxSessionsPerUser', `must be a positive integer, got ${JSON.stringify(max)}`);
  const policy = options.maxSessionsPolicy ?? 'evict';
  if (policy !== 'evict' && policy !== 'refuse')
    fail('userSessions.maxSessionsPolicy', `must be "evict" or "refuse", got ${JSON.stringify(policy)}`);
  return { userKeyPath: userKey.split('.'), activityInterval, maxSessionsPerUser: max, maxSessionsPolicy: policy };
}
