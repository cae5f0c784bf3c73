/**
 * "Where you're signed in": a user's sessions, listed and revoked through the user index
 * (`userSessions` option, db and cached_db engines). Sessions are named by an opaque public id — an
 * HMAC of the key column under the secret key — never by their key, which is a credential.
 */
import { Inject, Injectable } from '@nestjs/common';
import { SessionStore } from '../engines/session-store';
import type { AnySession } from '../session';
import { SESSIONS_CONFIG } from '../sessions.constants';
import type { SessionsConfig } from '../sessions.options';
import { publicSessionId } from './public-id';
import { signInUnderNewKey } from './session-cap';
import { isUserSessionIndex, userOfData, type UserSessionIndex } from './user-session-index';

/** One of a user's sessions, as an account page shows it. */
export interface UserSessionInfo {
  /** Opaque and stable for the session's lifetime (changes with cycleKey); pass it to `revoke`. */
  id: string;
  /** Whether it is the session of the request asking. */
  current: boolean;
  createdAt: Date | null;
  lastActivity: Date | null;
  expireDate: Date | null;
  ip: string | null;
  userAgent: string | null;
}

@Injectable()
export class UserSessionsService {
  constructor(
    private readonly store: SessionStore,
    @Inject(SESSIONS_CONFIG) private readonly config: SessionsConfig,
  ) {}

  private get index(): UserSessionIndex {
    if (!this.config.userSessions || !isUserSessionIndex(this.store)) {
      throw new Error('UserSessionsService needs the userSessions option of SessionsModule (db, cached_db or file engine)');
    }
    return this.store;
  }

  /** The user a session belongs to (the data at `userSessions.userKey`), or null when anonymous. */
  userOf(session: AnySession): string | null {
    return userOfData(session.toJSON() as Record<string, unknown>, this.config.userSessions?.userKeyPath ?? []);
  }

  private publicId(storedKey: string): string {
    return publicSessionId(this.config.secretKey, storedKey);
  }

  /** Deletes the user's sessions and sends `session.destroyed` (reason `revoke`) for each. */
  private async revokeStored(userId: string, storedKeys: readonly string[]): Promise<number> {
    await this.index.deleteStoredKeys(userId, storedKeys);
    for (const storedKey of storedKeys) {
      this.config.events.emit({ type: 'session.destroyed', engine: this.index.engine, id: this.publicId(storedKey), userId, reason: 'revoke' });
    }
    return storedKeys.length;
  }

  private currentKey(current: AnySession | null | undefined): string | null {
    return current?.sessionKey ? this.index.storedKey(current.sessionKey) : null;
  }

  /**
   * Signs `session` in as `userId`, as Django's `login()` does: the user at `userKey`, then a new key
   * (session fixation), saved at once within `maxSessionsPerUser`. A refused login
   * (SessionLimitReachedException, 409) stores nothing and leaves the stored session as it was.
   */
  async login(session: AnySession, userId: string): Promise<void> {
    await session.ensureLoaded();
    const path = this.config.userSessions?.userKeyPath ?? ['_auth_user_id'];
    await signInUnderNewKey(session, { [path[0]]: path.length === 1 ? userId : withPath(session.get(path[0]), path.slice(1), userId) });
  }

  /** The user's live sessions, most recently active first; `current` marks the asking request's one. */
  async list(userId: string, current?: AnySession | null): Promise<UserSessionInfo[]> {
    const currentKey = this.currentKey(current);
    return (await this.index.userSessionRows(userId)).map((row) => ({
      id: this.publicId(row.storedKey),
      current: row.storedKey === currentKey,
      createdAt: row.created,
      lastActivity: row.lastActivity,
      expireDate: row.expireDate,
      ip: row.ip,
      userAgent: row.userAgent,
    }));
  }

  async count(userId: string): Promise<number> {
    return (await this.index.userSessionRows(userId)).length;
  }

  /** Revokes one of the user's sessions by its public id: its next request is anonymous. False when the user has no such session. */
  async revoke(userId: string, id: string): Promise<boolean> {
    const row = (await this.index.userSessionRows(userId)).find((candidate) => this.publicId(candidate.storedKey) === id);
    if (!row) return false;
    await this.revokeStored(userId, [row.storedKey]);
    return true;
  }

  /** Signs the user out everywhere; returns how many sessions were revoked. */
  async revokeAll(userId: string): Promise<number> {
    return this.revokeStored(userId, (await this.index.userSessionRows(userId)).map((row) => row.storedKey));
  }

  /** "Log out my other devices": every session of `current`'s user but `current`; returns how many. */
  async revokeOthers(current: AnySession): Promise<number> {
    const userId = this.userOf(current);
    if (userId === null) return 0;
    const currentKey = this.currentKey(current);
    return this.revokeStored(userId, (await this.index.userSessionRows(userId)).map((row) => row.storedKey).filter((key) => key !== currentKey));
  }
}

/** A copy of `value` (an object or nothing) with `path` set to `leaf`. */
function withPath(value: unknown, path: readonly string[], leaf: unknown): Record<string, unknown> {
  const copy: Record<string, unknown> = value !== null && typeof value === 'object' && !Array.isArray(value) ? { ...(value as Record<string, unknown>) } : {};
  copy[path[0]] = path.length === 1 ? leaf : withPath(copy[path[0]], path.slice(1), leaf);
  return copy;
}
