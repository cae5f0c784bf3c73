/**
 * The `cache` engine (Django's `django/contrib/sessions/backends/cache.py`): a session is one cache
 * entry under `django.contrib.sessions.cache<key>` holding the data object, expiring with the
 * session. Nothing else stores it, so sessions live as long as the cache keeps them; several app
 * instances share sessions only through a shared cache such as Redis (the cache: sessions-cache.ts).
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { CreateError, ReplacedKeyGoneError, UpdateError } from '../../session.errors';
import { emptyData, type SessionClient, type SessionData } from '../../session';
import { EngineSession } from '../engine-session';
import { USER_AGENT_MAX_LENGTH } from '../../user-sessions/user-session.entity';
import { ActivityThrottle } from '../../user-sessions/activity-throttle';
import { reportEvictions, sessionsToEvict } from '../../user-sessions/session-cap';
import { byRecentActivity, userOfData, type UserSessionIndex, type UserSessionRow } from '../../user-sessions/user-session-index';
import { SESSIONS_CACHE, SESSIONS_CONFIG } from '../../sessions.constants';
import type { SessionsConfig } from '../../sessions.options';
import type { SessionsCache } from './sessions-cache';
import { SessionStore } from '../session-store';

export const CACHE_KEY_PREFIX = 'django.contrib.sessions.cache';
/** The user index's map of a user (cache engine): session key → its client and times, as JSON. */
export const CACHE_USER_INDEX_PREFIX = 'django.contrib.sessions.user';

/** What the user index keeps of a session (the cache entry itself is the session's expiry). */
interface IndexedSession {
  created: number;
  lastActivity: number;
  ip: string | null;
  userAgent: string | null;
}
/** Django's bound: a cache that silently fails to store looks like endless key collisions. */
const CREATE_ATTEMPTS = 10_000;
export const CACHE_UNAVAILABLE_MESSAGE = 'Unable to create a new session key. It is likely that the cache is unavailable.';

export class CacheSession<TData extends object = SessionData> extends EngineSession<TData, CacheSessionStore | undefined> {
  constructor(
    sessionKey: string | null | undefined,
    config: SessionsConfig,
    protected readonly cache: SessionsCache,
    store?: CacheSessionStore,
  ) {
    super(sessionKey, config, store);
  }

  /** The user the index holds this session under (user index only). */
  #indexedUser: string | null = null;

  private userOf(data: SessionData): string | null {
    return this.config.userSessions ? userOfData(data, this.config.userSessions.userKeyPath) : null;
  }

  /** Django's `cache_key`: the cache key of this session (a key is created when it has none). */
  async cacheKey(): Promise<string> {
    return CACHE_KEY_PREFIX + (await this.getOrCreateSessionKey());
  }

  override async load(): Promise<SessionData> {
    const key = this.sessionKey;
    const data = key === null ? undefined : await this.cache.get(CACHE_KEY_PREFIX + key);
    if (data === undefined) {
      this.setSessionKey(null);
      return emptyData();
    }
    this.#indexedUser = this.userOf(data);
    if (this.#indexedUser !== null) void this.store?.noteActivity(this.#indexedUser, key!, this.client);
    return data;
  }

  override async exists(sessionKey: string | null): Promise<boolean> {
    return !!sessionKey && (await this.cache.has(CACHE_KEY_PREFIX + sessionKey));
  }

  override create(): Promise<void> {
    return this.createUnderNewKey({ attempts: CREATE_ATTEMPTS, message: CACHE_UNAVAILABLE_MESSAGE });
  }

  override async save(mustCreate = false): Promise<void> {
    if (this.sessionKey === null) return this.create();
    const replacedKey = mustCreate ? this.replacedKey : null;
    if (this.config.userSessions && this.store) {
      if (!mustCreate) await this.ensureLoaded();
      const user = this.userOf(this.getSessionData(true));
      const cap = user !== null && (mustCreate || user !== this.#indexedUser) && !!this.config.userSessions.maxSessionsPerUser;
      // A login within the cap, or cycleKey's new key: written under the user's lock (revocations take it).
      if (user !== null && (cap || replacedKey !== null)) {
        return this.store.underUserLock(user, { cap, ownKeys: [this.sessionKey, replacedKey] }, () => this.write(mustCreate, replacedKey));
      }
    }
    return this.write(mustCreate, replacedKey);
  }

  private async write(mustCreate: boolean, replacedKey: string | null): Promise<void> {
    const cacheKey = await this.cacheKey();
    if (mustCreate) {
      const data = this.getSessionData(true);
      if (!(await this.cache.addIfAbsent(cacheKey, data, this.getExpiryAge())))
        throw new CreateError(`Session key ${this.sessionKey} is taken`);
    } else {
      // Only an update of a session still in the cache: a deleted one (a logout elsewhere) stays deleted.
      await this.ensureLoaded();
      const data = this.getSessionData();
      const age = this.getExpiryAge();
      // A save that keeps the user: its map lives at least as long as the session, sent beside the write.
      const user = this.store ? this.userOf(data) : null;
      const extended = user !== null && user === this.#indexedUser ? this.store!.extendIndex(user, age) : undefined;
      const [replaced] = await Promise.all([this.cache.replace(cacheKey, data, age), extended]);
      if (!replaced) throw new UpdateError('The session is no longer in the cache');
    }
    // cycleKey: the new entry stays only if the old one was still there to delete.
    if (replacedKey !== null && !(await this.cache.deleteIfPresent(CACHE_KEY_PREFIX + replacedKey))) {
      await this.cache.delete(cacheKey);
      throw new ReplacedKeyGoneError();
    }
    await this.reindex(mustCreate, replacedKey);
  }

  /** cycleKey's create deleted the replaced entry and unindexed it already. */
  protected override deleteReplacedKey(_replacedKey: string): Promise<void> {
    return Promise.resolve();
  }

  /** A save that gives the session a user (a login, a new key) indexes it; one that changes or drops the user unindexes it. */
  private async reindex(created: boolean, replacedKey: string | null): Promise<void> {
    if (!this.store || !this.config.userSessions) return;
    const user = this.userOf(this.getSessionData(true));
    const key = this.sessionKey!;
    if (this.#indexedUser !== null && (this.#indexedUser !== user || replacedKey !== null))
      await this.store.unindex(this.#indexedUser, [replacedKey ?? key]);
    if (user !== null && (created || user !== this.#indexedUser)) await this.store.index(user, key, this.client, this.getExpiryAge());
    this.#indexedUser = user;
  }

  override async delete(sessionKey?: string | null): Promise<void> {
    const key = sessionKey ?? this.sessionKey;
    if (key === null) return;
    await this.cache.delete(CACHE_KEY_PREFIX + key);
    if (this.#indexedUser !== null) await this.store?.unindex(this.#indexedUser, [key]);
  }
}

@Injectable()
export class CacheSessionStore extends SessionStore implements UserSessionIndex {
  readonly engine: string = 'cache';

  constructor(
    @Inject(SESSIONS_CONFIG) protected readonly config: SessionsConfig,
    @Inject(SESSIONS_CACHE) readonly cache: SessionsCache,
  ) {
    super();
  }

  session<T extends object = SessionData>(sessionKey?: string | null): CacheSession<T> {
    return new CacheSession<T>(sessionKey, this.config, this.cache, this);
  }

  /** The cache answers a read (a failing or slow one throws). */
  override checkHealth(): Promise<void> {
    return this.cache.checkHealth();
  }

  /** Of these keys, those still in the cache: reads the cache batches into one `mget` per turn (batchStoreCalls). A failing cache throws. */
  override async liveKeys(sessionKeys: readonly string[]): Promise<Set<string>> {
    const found = await Promise.all(sessionKeys.map((key) => this.cache.has(CACHE_KEY_PREFIX + key)));
    return new Set(sessionKeys.filter((_, index) => found[index]));
  }

  // ----- the user index (`userSessions`): a map per user in the cache (a Redis hash) -----

  storedKey(sessionKey: string): string {
    return sessionKey;
  }

  /** Indexes a session under its user (a login); the map lives as long as its longest session. */
  async index(userId: string, sessionKey: string, client: SessionClient | undefined, ageSeconds: number): Promise<void> {
    const now = Date.now();
    const entry: IndexedSession = {
      created: now,
      lastActivity: now,
      ip: client?.ip ?? null,
      userAgent: client?.userAgent?.slice(0, USER_AGENT_MAX_LENGTH) ?? null,
    };
    await this.cache.mapSet(CACHE_USER_INDEX_PREFIX + userId, sessionKey, JSON.stringify(entry), ageSeconds, CACHE_KEY_PREFIX + sessionKey);
  }

  /** A signed-in session was saved with this age: its user's map lives at least as long. */
  async extendIndex(userId: string, ageSeconds: number): Promise<void> {
    await this.cache.mapExtend(CACHE_USER_INDEX_PREFIX + userId, ageSeconds);
  }

  /**
   * Runs a write of the user's sessions holding the user's lock (Redis: across every instance
   * sharing it) — logins, key rotations and revocations of one user queue. With `cap`, the write
   * stays within `maxSessionsPerUser`: over it, `evict` revokes the least recently active other
   * sessions that still sign in as the user, `refuse` throws SessionLimitReachedException (409)
   * before anything is written.
   */
  async underUserLock(
    userId: string,
    options: { cap: boolean; ownKeys: readonly (string | null)[] },
    write: () => Promise<void>,
  ): Promise<void> {
    const signedIn = options.cap ? await this.config.users.signedInTest(userId) : null;
    await this.cache.withLock(CACHE_USER_INDEX_PREFIX + userId, async () => {
      let evicted: string[] = [];
      if (signedIn) {
        // userSessionRows lists the most recently active first.
        const others = (await this.userSessionRows(userId))
          .filter((row) => !options.ownKeys.includes(row.storedKey) && signedIn(row.data))
          .map((row) => row.storedKey);
        evicted = sessionsToEvict(others.reverse(), this.config);
        await this.deleteStoredKeys(userId, evicted);
      }
      await write();
      reportEvictions(this.config, this.engine, userId, evicted);
    });
  }

  async unindex(userId: string, sessionKeys: readonly string[]): Promise<void> {
    await this.cache.mapDelete(CACHE_USER_INDEX_PREFIX + userId, sessionKeys);
  }

  #activity: ActivityThrottle | undefined;

  /**
   * A use of a signed-in session: its index entry's activity (and client), once `activityInterval`
   * has passed since the last one recorded — the rule of the db engines' conditional UPDATE, so a
   * login's own entry counts as activity. An entry missing while its session lives (its map was
   * lost: evicted by Redis, say) is indexed again. Requests do not wait for it (the returned
   * promise settles when it is written, or skipped; a failure is logged, never thrown).
   */
  noteActivity(userId: string, sessionKey: string, client: SessionClient | undefined): Promise<void> {
    const interval = this.config.userSessions?.activityInterval ?? 0;
    this.#activity ??= new ActivityThrottle(interval);
    if (!this.#activity.due(sessionKey)) return Promise.resolve();
    const mapKey = CACHE_USER_INDEX_PREFIX + userId;
    return (async () => {
      const [entries, expires] = await Promise.all([this.cache.mapEntries(mapKey), this.cache.expiresAt(CACHE_KEY_PREFIX + sessionKey)]);
      if (!expires) return; // signed out meanwhile
      const ageSeconds = (expires.getTime() - Date.now()) / 1000;
      const current = entries[sessionKey];
      if (current === undefined) return this.index(userId, sessionKey, client, ageSeconds);
      const entry = JSON.parse(current) as IndexedSession;
      if (Date.now() - entry.lastActivity < interval * 1000) return;
      entry.lastActivity = Date.now();
      if (client?.ip) entry.ip = client.ip;
      if (client?.userAgent) entry.userAgent = client.userAgent.slice(0, USER_AGENT_MAX_LENGTH);
      await this.cache.mapSet(mapKey, sessionKey, JSON.stringify(entry), ageSeconds, CACHE_KEY_PREFIX + sessionKey);
    })().catch((error: Error) => new Logger('Sessions').warn(`Could not record a session's activity: ${error.message}`));
  }

  /** A user's live sessions (with their data); entries whose session has expired or gone are dropped from the map. */
  async userSessionRows(userId: string): Promise<UserSessionRow[]> {
    const mapKey = CACHE_USER_INDEX_PREFIX + userId;
    const rows: UserSessionRow[] = [];
    const gone: string[] = [];
    for (const [key, json] of Object.entries(await this.cache.mapEntries(mapKey))) {
      const [data, expireDate] = await Promise.all([this.cache.read(CACHE_KEY_PREFIX + key), this.cache.expiresAt(CACHE_KEY_PREFIX + key)]);
      if (!data || !expireDate) {
        gone.push(key);
        continue;
      }
      const entry = JSON.parse(json) as IndexedSession;
      rows.push({
        storedKey: key,
        expireDate,
        ip: entry.ip,
        userAgent: entry.userAgent,
        created: new Date(entry.created),
        lastActivity: new Date(entry.lastActivity),
        data,
      });
    }
    await this.unindex(userId, gone);
    return rows.sort(byRecentActivity);
  }

  revokeWhere(userId: string, choose: (rows: UserSessionRow[]) => string[]): Promise<string[]> {
    return this.cache.withLock(CACHE_USER_INDEX_PREFIX + userId, async () => {
      const chosen = choose(await this.userSessionRows(userId));
      await this.deleteStoredKeys(userId, chosen);
      return chosen;
    });
  }

  private async deleteStoredKeys(userId: string, storedKeys: readonly string[]): Promise<void> {
    for (const key of storedKeys) await this.cache.delete(CACHE_KEY_PREFIX + key);
    await this.unindex(userId, storedKeys);
  }

  /** Only this process's own in-memory cache keeps expired entries until swept; Redis and the app's caches expire them. */
  override get keepsExpiredSessions(): boolean {
    return this.cache.ownsMemoryStore;
  }

  /** The cache expires sessions itself (Django: a no-op); only this process's own in-memory cache needs sweeping. */
  override clearExpired(): Promise<number> {
    return this.cache.sweepExpired();
  }
}
