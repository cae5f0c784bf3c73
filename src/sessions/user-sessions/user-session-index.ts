/**
 * What an engine offers UserSessionsService: its sessions by user. The db engines keep an index (the
 * `user_session` table), the cache engine a map per user in the cache; the file engine scans its
 * directory (O(sessions)).
 */
import type { SessionData } from '../session';

/** A user's session as an index lists it (`storedKey`: what the store names it by; never shown). */
export interface UserSessionRow {
  storedKey: string;
  expireDate: Date | null;
  ip: string | null;
  userAgent: string | null;
  created: Date | null;
  lastActivity: Date | null;
  /** Its data, for the verifier (SessionUsers): whether it still signs in as the user. */
  data: SessionData;
}

export interface UserSessionIndex {
  readonly engine: string;
  /** What the store names a session key by (the key, or its digest with hashKeysAtRest). */
  storedKey(sessionKey: string): string;
  /** The sessions indexed under a user, live ones only, most recently active first. */
  userSessionRows(userId: string): Promise<UserSessionRow[]>;
  /**
   * Holding the user's lock — the one a login and a key rotation of the user's sessions take —
   * lists the user's sessions and deletes those `choose` picks (their next request is anonymous);
   * returns their stored keys. A session cycling its key meanwhile cannot slip past: its rotation
   * runs wholly before (its new key is listed) or after (its old key is gone, so no new one).
   */
  revokeWhere(userId: string, choose: (rows: UserSessionRow[]) => string[]): Promise<string[]>;
}

export function isUserSessionIndex(store: object): store is UserSessionIndex {
  const candidate = store as Partial<UserSessionIndex>;
  return typeof candidate.userSessionRows === 'function' && typeof candidate.revokeWhere === 'function';
}

/** The session's user as the index keeps it: the data at `path` (a string or an integer) as text, or null. */
export function userOfData(data: SessionData, path: readonly string[]): string | null {
  let value: unknown = data;
  for (const part of path) {
    value =
      value !== null && typeof value === 'object' && Object.prototype.hasOwnProperty.call(value, part)
        ? (value as SessionData)[part]
        : undefined;
  }
  return typeof value === 'string' || Number.isSafeInteger(value) ? String(value) : null;
}

/** Most recently active first (never-active last). */
export function byRecentActivity(a: UserSessionRow, b: UserSessionRow): number {
  return (b.lastActivity?.getTime() ?? 0) - (a.lastActivity?.getTime() ?? 0);
}
