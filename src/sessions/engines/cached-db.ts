/**
 * The `cached_db` engine (Django's `backends.cached_db`, SPEC §7.2): the db engine with a
 * write-through cache in front. The database stays the source of truth; a read served by the cache
 * runs no query, a miss reads the row and puts it back in the cache. The cache is best effort: a
 * failing read is a miss and a failing write is logged, never an error of the request (Django 5.1),
 * so requests keep working on the database alone while the cache is down.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { emptyData, type SessionData } from '../session';
import { SESSIONS_CACHE, SESSIONS_CONFIG, SESSIONS_DATA_SOURCE } from '../sessions.constants';
import type { SessionsConfig } from '../sessions.options';
import type { ClearExpiredRunOptions } from './session-store';
import type { SessionsCache } from './session-cache';
import { DbSession, DbSessionStore } from './db';

export const CACHED_DB_KEY_PREFIX = 'django.contrib.sessions.cached_db';

export class CachedDbSession<TData extends object = SessionData> extends DbSession<TData> {
  readonly #cache: SessionsCache;

  constructor(sessionKey: string | null | undefined, config: SessionsConfig, store: CachedDbSessionStore) {
    super(sessionKey, config, store);
    this.#cache = store.cache;
  }

  /** Django's `cache_key`: the cache key of this session (a key is created when it has none). */
  async cacheKey(): Promise<string> {
    return CACHED_DB_KEY_PREFIX + (await this.getOrCreateSessionKey());
  }

  override async load(): Promise<SessionData> {
    const key = this.sessionKey;
    const cached = key === null ? undefined : await this.#cache.get(CACHED_DB_KEY_PREFIX + key);
    if (cached !== undefined) return this.loaded(cached);
    const row = await this.getSessionFromDb();
    if (!row) return this.loaded(emptyData());
    const data = this.rowData(row);
    if (row.expireDate) await this.fillCache(data, this.getExpiryAge({ expiry: row.expireDate }));
    return this.loaded(data);
  }

  override async exists(sessionKey: string | null): Promise<boolean> {
    if (sessionKey && (await this.#cache.has(CACHED_DB_KEY_PREFIX + sessionKey))) return true;
    return super.exists(sessionKey);
  }

  override async save(mustCreate = false): Promise<void> {
    // create() saves under the new key, cache included: nothing left to write here then.
    if (this.sessionKey === null) return this.create();
    await super.save(mustCreate);
    await this.writeToCache(this.getSessionData(true), this.getExpiryAge());
  }

  override async delete(sessionKey?: string | null): Promise<void> {
    await super.delete(sessionKey);
    const key = sessionKey ?? this.sessionKey;
    if (key === null) return;
    try {
      await this.#cache.delete(CACHED_DB_KEY_PREFIX + key);
    } catch (error) {
      this.#cache.logError('deleting from', error);
    }
  }

  /**
   * A cache miss's fill: set only where the cache holds nothing, so a row read just before a
   * revocation cannot come back through the cache (the revocation leaves a tombstone there).
   */
  private async fillCache(data: SessionData, ageSeconds: number): Promise<void> {
    try {
      await this.#cache.addIfAbsent(await this.cacheKey(), data, ageSeconds);
    } catch (error) {
      this.#cache.logError('saving to', error);
    }
  }

  private async writeToCache(data: SessionData, ageSeconds: number): Promise<void> {
    try {
      await this.#cache.set(await this.cacheKey(), data, ageSeconds);
    } catch (error) {
      this.#cache.logError('saving to', error);
    }
  }
}

/** How long a revoked session's tombstone stays in the cache. */
const REVOKED_TOMBSTONE_SECONDS = 300;

@Injectable()
export class CachedDbSessionStore extends DbSessionStore {
  override readonly engine: string = 'cached_db';

  constructor(
    @Inject(SESSIONS_CONFIG) config: SessionsConfig,
    @Inject(SESSIONS_DATA_SOURCE) dataSource: DataSource,
    @Inject(SESSIONS_CACHE) readonly cache: SessionsCache,
  ) {
    super(config, dataSource);
  }

  override session<T extends object = SessionData>(sessionKey?: string | null): CachedDbSession<T> {
    return new CachedDbSession<T>(sessionKey, this.config, this);
  }

  /** Revoked sessions leave the cache too, so their next request is anonymous on every instance sharing it. */
  override async deleteStoredKeys(userId: string, storedKeys: readonly string[]): Promise<void> {
    await super.deleteStoredKeys(userId, storedKeys);
    await this.forgetEvicted(storedKeys);
  }

  /**
   * Revoked or evicted sessions get a tombstone in the cache instead of their entry, for longer than
   * any load in flight: a request that read the row just before cannot put it back (fills are
   * set-if-absent). A cache that is down is logged: the database already signed them out. (The user
   * index refuses hashKeysAtRest with cached_db: a stored key is the session key naming the entry.)
   */
  protected override async forgetEvicted(storedKeys: readonly string[]): Promise<void> {
    for (const key of storedKeys) {
      try {
        await this.cache.setTombstone(CACHED_DB_KEY_PREFIX + key, REVOKED_TOMBSTONE_SECONDS);
      } catch (error) {
        this.cache.logError('saving to', error);
      }
    }
  }

  /** Expired rows, from the database only (cache entries expire with their TTL, as in Django). */
  override async clearExpired(options?: ClearExpiredRunOptions): Promise<number> {
    const removed = await super.clearExpired(options);
    await this.cache.sweepExpired();
    return removed;
  }
}
