/**
 * "Where you're signed in": a user's sessions, listed and revoked through the user index
 * (`userSessions` option). Sessions are named by an opaque public id — an
 * HMAC of the key column under the secret key — never by their key, which is a credential.
 */
import { Inject, Injectable } from '@nestjs/common';
import { SessionStore } from '../engines/session-store';
import type { AnySession } from '../session';
import { SESSIONS_CONFIG } from '../sessions.constants';
import type { SessionsConfig } from '../sessions.options';
import { publicSessionId } from './public-id';
import { signInUnderNewKey } from './session-cap';
import { isUserSessionIndex, type UserSessionIndex, type UserSessionRow } from './user-session-index';
import { SessionsSetupError } from '../session.errors';
import { engineList, USER_INDEX_ENGINES } from './user-sessions.options';

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

  /** The store's user index; calls with the feature off fail, naming the option, instead of answering as if no one were signed in. */
  private get index(): UserSessionIndex {
    if (!this.config.userSessions || !isUserSessionIndex(this.store)) {
      throw new SessionsSetupError(
        `UserSessionsService needs the userSessions option of SessionsModule (${engineList(USER_INDEX_ENGINES.index)} engine)`,
      );
    }
    return this.store;
  }

  /**
   * The user a session belongs to, or null when anonymous: with the Django auth bridge, the user
   * Django's `get_user` returns (allowed backend, current password hash; a stale hash flushes the
   * session, as in Django); otherwise the data at `userSessions.userKey`.
   */
  async userOf(session: AnySession): Promise<string | null> {
    void this.index;
    return this.config.users.userOf(session);
  }

  private publicId(storedKey: string): string {
    return publicSessionId(this.config.secretKey, storedKey);
  }

  /** The user's sessions that sign in as the user now (an index row alone may be stale: a password changed since). */
  private async signedInRows(userId: string): Promise<UserSessionRow[]> {
    const [rows, signedIn] = await Promise.all([this.index.userSessionRows(userId), this.config.users.signedInTest(userId)]);
    return rows.filter((row) => signedIn(row.data));
  }

  /** Deletes, under the user's lock, the user's signed-in sessions `choose` picks; sends `session.destroyed` (reason `revoke`) for each. */
  private async revokeWhere(userId: string, choose: (rows: UserSessionRow[]) => UserSessionRow[]): Promise<number> {
    const signedIn = await this.config.users.signedInTest(userId);
    const revoked = await this.index.revokeWhere(userId, (rows) =>
      choose(rows.filter((row) => signedIn(row.data))).map((row) => row.storedKey),
    );
    for (const storedKey of revoked) {
      this.config.events.emit({
        type: 'session.destroyed',
        engine: this.index.engine,
        id: this.publicId(storedKey),
        userId,
        reason: 'revoke',
      });
    }
    return revoked.length;
  }

  private currentKey(current: AnySession | null | undefined): string | null {
    return current?.sessionKey ? this.index.storedKey(current.sessionKey) : null;
  }

  /**
   * Signs `session` in as `userId`, as Django's `login()` does: the user at `userKey`, then a new key
   * (session fixation), saved at once within `maxSessionsPerUser`. A refused login
   * (SessionLimitReachedException, 409) stores nothing and leaves the stored session as it was.
   * With the Django auth bridge, sign in with `DjangoAuthService.login` instead (it stores what
   * Django's `get_user` checks).
   */
  async login(session: AnySession, userId: string): Promise<void> {
    void this.index;
    if (this.config.users.verified)
      throw new SessionsSetupError(
        'UserSessionsService.login stores no password hash: with DjangoAuthModule, sign in with DjangoAuthService.login',
      );
    await session.ensureLoaded();
    const path = this.config.userSessions?.userKeyPath ?? ['_auth_user_id'];
    await signInUnderNewKey(session, { [path[0]]: path.length === 1 ? userId : withPath(session.get(path[0]), path.slice(1), userId) });
  }

  /** The user's live sessions, most recently active first; `current` marks the asking request's one. */
  async list(userId: string, current?: AnySession | null): Promise<UserSessionInfo[]> {
    const currentKey = this.currentKey(current);
    return (await this.signedInRows(userId)).map((row) => ({
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
    return (await this.signedInRows(userId)).length;
  }

  /** Revokes one of the user's sessions by its public id: its next request is anonymous. False when the user has no such session. */
  async revoke(userId: string, id: string): Promise<boolean> {
    return (await this.revokeWhere(userId, (rows) => rows.filter((row) => this.publicId(row.storedKey) === id))) > 0;
  }

  /** Signs the user out everywhere; returns how many sessions were revoked. */
  revokeAll(userId: string): Promise<number> {
    return this.revokeWhere(userId, (rows) => rows);
  }

  /** "Log out my other devices": every session of `current`'s user but `current`; returns how many (0 when `current` is anonymous). */
  async revokeOthers(current: AnySession): Promise<number> {
    const userId = await this.userOf(current);
    if (userId === null) return 0;
    const currentKey = this.currentKey(current);
    return this.revokeWhere(userId, (rows) => rows.filter((row) => row.storedKey !== currentKey));
  }
}

/** A copy of `value` (an object or nothing) with `path` set to `leaf`. */
function withPath(value: unknown, path: readonly string[], leaf: unknown): Record<string, unknown> {
  const copy: Record<string, unknown> =
    value !== null && typeof value === 'object' && !Array.isArray(value) ? { ...(value as Record<string, unknown>) } : {};
  copy[path[0]] = path.length === 1 ? leaf : withPath(copy[path[0]], path.slice(1), leaf);
  return copy;
}
