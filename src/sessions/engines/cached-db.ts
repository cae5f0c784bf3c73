/**
 * The `cached_db` engine (Django's `django/contrib/sessions/backends/cached_db.py`): the db engine with a
 * write-through cache in front. The database stays the source of truth; a read served by the cache
 * runs no query, a miss reads the row and puts it back in the cache. The cache is best effort: a
 * failing read is a miss and a failing write is logged, never an error of the request (Django 5.1),
 * so requests keep working on the database alone while the cache is down.
 */
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { emptyData, type SessionData } from '../session';
import { SESSIONS_CACHE, SESSIONS_CONFIG, SESSIONS_DATA_SOURCE } from '../sessions.constants';
import type { SessionsConfig } from '../sessions.options';
import type { ClearExpiredRunOptions } from './session-store';
import type { SessionsCache } from './cache/sessions-cache';
import { DbSession } from './db/db-session';
import { DbSessionStore } from './db/db-session-store';

export const CACHED_DB_KEY_PREFIX = 'django.contrib.sessions.cached_db';

/** How often stale entries are deleted again, how many at a time, and how many are remembered at most. */
const STALE_RETRY_MS = 1000;
const STALE_RETRY_BATCH = 500;
const MAX_STALE_ENTRIES = 100_000;

/**
 * Cache entries that may be older than their row: their write (or delete, or tombstone) failed after
 * the database had changed, while the cache or one of its nodes was unreachable. A Redis that comes
 * back with its entries, or a replica promoted after its master died, would otherwise serve the
 * older copy (a lost update, a revoked session back). Reads of such a key skip the cache until its
 * entry is deleted, which is retried every second and at each read; then it is cached again as usual.
 * Known to this process only: another instance sharing the cache may read such an entry until it is
 * deleted, about a second after the cache answers again.
 */
class StaleCacheEntries {
  /** In insertion order: beyond the bound, the oldest are forgotten. */
  readonly #keys = new Set<string>();
  #retries: NodeJS.Timeout | undefined;
  #overflowReported = false;

  constructor(private readonly cache: SessionsCache) {}

  add(key: string): void {
    this.#keys.delete(key);
    this.#keys.add(key);
    if (this.#keys.size > MAX_STALE_ENTRIES) {
      this.#keys.delete(this.#keys.values().next().value!);
      if (!this.#overflowReported)
        new Logger('Sessions').warn(
          `Over ${MAX_STALE_ENTRIES} cache entries may be older than their rows: the oldest are no longer skipped`,
        );
      this.#overflowReported = true;
    }
    this.#retries ??= setInterval(() => void this.retry(), STALE_RETRY_MS).unref();
  }

  /** The cache holds the row's data for `key` again (or a tombstone). */
  forget(key: string): void {
    this.#keys.delete(key);
  }

  /** Whether the cache may be read for `key`: nothing stale was left under it, or that entry is deleted now. */
  async readable(key: string): Promise<boolean> {
    if (!this.#keys.has(key)) return true;
    try {
      await this.cache.delete(key);
    } catch {
      return false;
    }
    this.#keys.delete(key);
    return true;
  }

  private async retry(): Promise<void> {
    await Promise.all([...this.#keys].slice(0, STALE_RETRY_BATCH).map((key) => this.readable(key)));
    if (this.#keys.size === 0) this.stop();
  }

  stop(): void {
    clearInterval(this.#retries);
    this.#retries = undefined;
    this.#overflowReported = false;
  }
}

export class CachedDbSession<TData extends object = SessionData> extends DbSession<TData> {
  readonly #cache: SessionsCache;
  readonly #stale: StaleCacheEntries;

  constructor(sessionKey: string | null | undefined, config: SessionsConfig, store: CachedDbSessionStore) {
    super(sessionKey, config, store);
    this.#cache = store.cache;
    this.#stale = store.staleCacheEntries;
  }

  /** Django's `cache_key`: the cache key of this session (a key is created when it has none). */
  async cacheKey(): Promise<string> {
    return CACHED_DB_KEY_PREFIX + (await this.getOrCreateSessionKey());
  }

  override async load(): Promise<SessionData> {
    const key = this.sessionKey;
    const cacheReadable = key !== null && (await this.#stale.readable(CACHED_DB_KEY_PREFIX + key));
    const cached = cacheReadable ? await this.#cache.get(CACHED_DB_KEY_PREFIX + key) : undefined;
    if (cached !== undefined) return this.loaded(cached);
    const row = await this.getSessionFromDb();
    if (!row) return this.loaded(emptyData());
    const data = this.rowData(row);
    if (cacheReadable && row.expireDate) await this.fillCache(data, this.getExpiryAge({ expiry: row.expireDate }));
    return this.loaded(data);
  }

  override async exists(sessionKey: string | null): Promise<boolean> {
    // get, not has: a failing cache read falls back to the database.
    if (sessionKey && (await this.#cache.get(CACHED_DB_KEY_PREFIX + sessionKey)) !== undefined) return true;
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
    if (key !== null) await this.deleteCacheEntry(key);
  }

  /** cycleKey's create deleted the replaced row in its transaction; its cache entry goes now. */
  protected override deleteReplacedKey(replacedKey: string): Promise<void> {
    return this.deleteCacheEntry(replacedKey);
  }

  private async deleteCacheEntry(key: string): Promise<void> {
    try {
      await this.#cache.delete(CACHED_DB_KEY_PREFIX + key);
      this.#stale.forget(CACHED_DB_KEY_PREFIX + key);
    } catch (error) {
      this.#stale.add(CACHED_DB_KEY_PREFIX + key);
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
    const cacheKey = await this.cacheKey();
    try {
      await this.#cache.set(cacheKey, data, ageSeconds);
      this.#stale.forget(cacheKey);
    } catch (error) {
      this.#stale.add(cacheKey);
      this.#cache.logError('saving to', error);
    }
  }
}

/** How long a revoked session's tombstone stays in the cache. */
const REVOKED_TOMBSTONE_SECONDS = 300;

@Injectable()
export class CachedDbSessionStore extends DbSessionStore implements OnModuleDestroy {
  override readonly engine: string = 'cached_db';
  readonly staleCacheEntries: StaleCacheEntries;

  constructor(
    @Inject(SESSIONS_CONFIG) config: SessionsConfig,
    @Inject(SESSIONS_DATA_SOURCE) dataSource: DataSource,
    @Inject(SESSIONS_CACHE) readonly cache: SessionsCache,
  ) {
    super(config, dataSource);
    this.staleCacheEntries = new StaleCacheEntries(cache);
  }

  /** The database and the cache both answer. */
  override async checkHealth(): Promise<void> {
    await super.checkHealth();
    await this.cache.checkHealth();
  }

  override session<T extends object = SessionData>(sessionKey?: string | null): CachedDbSession<T> {
    return new CachedDbSession<T>(sessionKey, this.config, this);
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
        this.staleCacheEntries.forget(CACHED_DB_KEY_PREFIX + key);
      } catch (error) {
        this.staleCacheEntries.add(CACHED_DB_KEY_PREFIX + key);
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

  onModuleDestroy(): void {
    this.staleCacheEntries.stop();
  }
}
