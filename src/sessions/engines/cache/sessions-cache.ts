/**
 * The cache of the `cache` and `cached_db` engines (Django's `SESSION_CACHE_ALIAS`, a cache of
 * `django.core.cache`): a cache-manager `Cache`, used with Django's semantics. Which cache: the
 * module option `cache`, else the `CACHE_MANAGER` of `@nestjs/cache-manager` when the app registers
 * `CacheModule`, else an in-memory cache private to this process (memory-store.ts), which several
 * instances cannot share. On `@keyv/redis` the commands go to Redis itself (redis-store.ts).
 *
 * Values are session data as a JSON string (cache-values.ts). Ages are Django's seconds;
 * cache-manager's TTLs are milliseconds.
 */
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type DataLoader from 'dataloader';
import { engineName, type SessionData } from '../../session';
import { SESSIONS_CONFIG } from '../../sessions.constants';
import type { SessionsConfig } from '../../sessions.options';
import { batchPerTurn } from '../batching';
import { KeyedQueue } from '../keyed-queue';
import type { SessionsCacheManager } from './cache-manager';
import { withTimeout } from './cache-timeout';
import { cacheValueOf, dataFrom } from './cache-values';
import { MemoryStore } from './memory-store';
import { RedisStore } from './redis-store';

/** `@nestjs/cache-manager`'s token (a string), spelled out so apps without that package can load this file. */
const CACHE_MANAGER = 'CACHE_MANAGER';

/** Django logs cache failures on `django.contrib.sessions`. */
const logger = new Logger('Sessions');

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

@Injectable()
export class SessionsCache implements OnModuleDestroy {
  #cache: SessionsCacheManager | undefined;
  /** The in-memory store this provider created (and so owns), when it fell back to one. */
  #memory: MemoryStore | undefined;
  /** The cache's only store when it is `@keyv/redis`: decided once, with the cache. */
  #redis: RedisStore | undefined;
  /** Keys an in-process `addIfAbsent` is working on (its check-then-set is atomic within the process). */
  readonly #pendingAdds = new Set<string>();
  /** In-process read-modify-writes of maps, and locks, on stores other than Redis. */
  readonly #mapWrites = new KeyedQueue();
  #reads: DataLoader<string, unknown> | null | undefined;

  constructor(
    @Inject(SESSIONS_CONFIG) private readonly config: SessionsConfig,
    /** Where to look for the app's CACHE_MANAGER (none: outside Nest, e.g. a script with `config.cache`). */
    private readonly moduleRef?: ModuleRef,
  ) {}

  /**
   * The cache, found on first use: by then every provider of the app exists (the CACHE_MANAGER
   * factory is async, so looking it up while providers are still being created could miss it).
   */
  get cache(): SessionsCacheManager {
    if (!this.#cache) {
      this.#cache = this.config.cache ?? this.appCacheManager() ?? this.createMemoryCache();
      this.#redis = RedisStore.of(this.#cache);
    }
    return this.#cache;
  }

  private appCacheManager(): SessionsCacheManager | undefined {
    try {
      return this.moduleRef?.get<SessionsCacheManager>(CACHE_MANAGER, { strict: false }) ?? undefined;
    } catch {
      return undefined; // the app registered no CacheModule
    }
  }

  private createMemoryCache(): SessionsCacheManager {
    this.#memory = new MemoryStore(this.config.memoryCache);
    return this.#memory.cache;
  }

  /** What the cache is, for log messages (Django logs the cache object). */
  get description(): string {
    const stores = this.cache.stores.map((keyv) => (keyv.store as object | undefined)?.constructor?.name ?? 'store');
    return stores.join(', ');
  }

  /** The cache's only store when it is `@keyv/redis` (commands beyond Keyv's then go to Redis itself; the blocking sessions' locks). */
  redisStore(): RedisStore | undefined {
    void this.cache; // resolving the cache decides #redis
    return this.#redis;
  }

  /** The in-memory store this provider created, when the cache is that one. */
  private memoryStore(): MemoryStore | undefined {
    void this.cache; // resolving the cache decides #memory
    return this.#memory;
  }

  /** Whether the cache is the in-memory LRU this provider created. */
  get ownsMemoryStore(): boolean {
    return this.memoryStore() !== undefined;
  }

  /**
   * `batchStoreCalls`: the reads of one event-loop turn go to the cache as one `mget` (Redis: one
   * MGET, under one timeout); a read alone in its turn is a plain `get`. Not on a Redis Cluster: the
   * keys of a batch lie on several nodes, and an MGET per hash slot goes to each slot's master
   * directly, past the cluster's redirections: after a failover it fails. There each read goes
   * through the cluster's routing, which sends the reads of one turn to each node together.
   */
  private get reads(): DataLoader<string, unknown> | null {
    if (this.#reads === undefined) {
      this.#reads =
        this.config.batchStoreCalls && !this.redisStore()?.cluster
          ? batchPerTurn({
              one: (key: string) => this.readOne(key),
              many: (keys) => withTimeout(this.readMany(keys), 'read'),
              onShared: (size) => this.config.telemetry?.batch(engineName(this.config), 'read', size),
            })
          : null;
    }
    return this.#reads;
  }

  private readOne(key: string): Promise<unknown> {
    const redis = this.redisStore();
    const read = redis ? async () => (await redis.read([key]))[0] : () => this.cache.get<unknown>(key);
    return withTimeout(this.retriedOnCluster(read), 'read');
  }

  private readMany(keys: readonly string[]): Promise<unknown[]> {
    const redis = this.redisStore();
    return redis ? redis.read(keys) : this.cache.mget<unknown>([...keys]);
  }

  /**
   * `operation`, tried once more when it fails on a Redis Cluster: after a failover node-redis fails,
   * instead of redirecting, the commands in flight to a node its new slot map dropped.
   */
  private retriedOnCluster<T>(operation: () => Promise<T>): Promise<T> {
    return this.redisStore()?.cluster ? operation().catch(() => operation()) : operation();
  }

  /** The data under `key`, or undefined: a failing or slow read is a miss (Django #17810), logged. */
  async get(key: string): Promise<SessionData | undefined> {
    try {
      return await this.read(key);
    } catch (error) {
      logger.warn(`Error reading from cache (${this.description}), treated as a miss: ${errorMessage(error)}`);
      return undefined;
    }
  }

  /** Whether `key` holds an entry. A failing or slow read throws, as Django's `key in cache` does: an update must not take a cache failure for a deletion. */
  async has(key: string): Promise<boolean> {
    return (await this.read(key)) !== undefined;
  }

  /** For health checks: a read of a key nobody writes, which throws when the cache fails or is slow. */
  async checkHealth(): Promise<void> {
    await this.read('django.contrib.sessions.health-check');
  }

  /** The data under `key`, or undefined; a failing or slow read throws (what `get` answers as a miss). */
  async read(key: string): Promise<SessionData | undefined> {
    return dataFrom(await (this.reads ? this.reads.load(key) : this.readOne(key)), this.config.maxSessionBytes);
  }

  /** Stores `data` for `ageSeconds`; a non-positive age deletes instead (the entry would be expired already). */
  async set(key: string, data: SessionData, ageSeconds: number): Promise<void> {
    const ttl = Math.round(ageSeconds * 1000);
    if (ttl <= 0) return this.delete(key);
    await this.write(key, cacheValueOf(data, this.config.maxSessionBytes), ttl);
  }

  /** `value` under `key` for `ttl` ms: on `@keyv/redis` one `SET PX` of what Keyv would write, past cache-manager's and Keyv's layers. */
  private async write(key: string, value: string, ttl: number): Promise<void> {
    const redis = this.redisStore();
    const write = redis ? () => redis.write(key, value, ttl) : () => this.cache.set(key, value, ttl);
    await withTimeout(this.retriedOnCluster<unknown>(write), 'write');
  }

  /**
   * Django's update of a cached session (`cache.get` then `cache.set`): stores `data` only over an
   * entry still there; false when there is none (a session deleted meanwhile stays deleted). On
   * Redis one `SET XX PX`, atomic where Django's check and write are two calls; elsewhere the check,
   * then the write. A failing or slow check throws: a cache failure is never taken for a deletion.
   */
  async replace(key: string, data: SessionData, ageSeconds: number): Promise<boolean> {
    const redis = this.redisStore();
    const ttl = Math.round(ageSeconds * 1000);
    if (!redis || ttl <= 0) {
      if (!(await this.has(key))) return false;
      await this.set(key, data, ageSeconds);
      return true;
    }
    const value = cacheValueOf(data, this.config.maxSessionBytes);
    return withTimeout(
      this.retriedOnCluster(() => redis.write(key, value, ttl, 'XX')),
      'write',
    );
  }

  /**
   * Django's `cache.add`: stores `data` only when `key` holds nothing; false when it does. Atomic
   * across processes on a Redis store (`SET NX PX`), within this process on any other store.
   */
  async addIfAbsent(key: string, data: SessionData, ageSeconds: number): Promise<boolean> {
    const ttl = Math.round(ageSeconds * 1000);
    if (ttl <= 0) {
      await this.delete(key); // stored and expired at once, as Django's caches do with a timeout <= 0
      return true;
    }
    const value = cacheValueOf(data, this.config.maxSessionBytes);
    const redis = this.redisStore();
    return withTimeout(redis ? redis.write(key, value, ttl, 'NX') : this.addInProcess(key, value, ttl), 'write');
  }

  private async addInProcess(key: string, value: string, ttl: number): Promise<boolean> {
    if (this.#pendingAdds.has(key)) return false;
    this.#pendingAdds.add(key);
    try {
      if ((await this.cache.get(key)) !== undefined) return false;
      await this.cache.set(key, value, ttl);
      // A cache that fails silently stores nothing: Django's `add` then answers false, like a collision.
      return (await this.cache.get(key)) !== undefined;
    } finally {
      this.#pendingAdds.delete(key);
    }
  }

  // ----- a map of strings under one key (the cache engine's user index) -----

  /**
   * The fields of the map under `key`. Redis: a hash, each field changed atomically by any process.
   * This provider's own in-memory cache: a map beside the LRU. Other stores: a JSON object, changed
   * by one read-modify-write at a time within this process.
   */
  async mapEntries(key: string): Promise<Record<string, string>> {
    const redis = this.redisStore();
    if (redis) return redis.hashEntries(key);
    const memory = this.memoryStore();
    if (memory) return memory.mapEntries(key);
    const stored = await withTimeout(this.cache.get<string>(key), 'read');
    return typeof stored === 'string' ? (JSON.parse(stored) as Record<string, string>) : {};
  }

  /**
   * Sets a field; the map lives at least `ageSeconds` more. On the own in-memory cache the field
   * lives instead as long as the entry `boundTo` (its session).
   */
  async mapSet(key: string, field: string, value: string, ageSeconds: number, boundTo: string): Promise<void> {
    const redis = this.redisStore();
    if (redis) return redis.hashSet(key, field, value, mapTtl(ageSeconds));
    const memory = this.memoryStore();
    if (memory) return memory.mapSet(key, field, value, boundTo);
    await this.changeLocalMap(key, (entries) => (entries[field] = value), mapTtl(ageSeconds));
  }

  /** The map lives at least `ageSeconds` more (a session of it was saved with that age). */
  async mapExtend(key: string, ageSeconds: number): Promise<void> {
    const redis = this.redisStore();
    if (redis) return redis.hashExtend(key, mapTtl(ageSeconds));
    if (!this.memoryStore()) await this.changeLocalMap(key, () => undefined, mapTtl(ageSeconds));
  }

  async mapDelete(key: string, fields: readonly string[]): Promise<void> {
    if (fields.length === 0) return;
    const redis = this.redisStore();
    if (redis) return redis.hashDelete(key, fields);
    const memory = this.memoryStore();
    if (memory) return memory.mapDelete(key, fields);
    await this.changeLocalMap(key, (entries) => fields.forEach((field) => delete entries[field]));
  }

  /** Stores other than Redis: one read-modify-write of the map at a time; it keeps its remaining lifetime, at least `minTtl` ms, and goes when empty. */
  private changeLocalMap(key: string, change: (entries: Record<string, string>) => void, minTtl = 1000): Promise<void> {
    return this.#mapWrites.run(key, async () => {
      const entries = await this.mapEntries(key);
      change(entries);
      if (Object.keys(entries).length === 0) return this.delete(key);
      const remaining = ((await this.cache.ttl?.(key)) ?? 0) - Date.now();
      await withTimeout(this.cache.set(key, JSON.stringify(entries), Math.max(minTtl, remaining)), 'write');
    });
  }

  /**
   * Runs `task` holding the lock named `key`: on Redis across every process sharing it (`SET NX PX`,
   * released only by its holder, freed after 10 s should the holder die), elsewhere within this
   * process. Waiting longer than 5 s fails.
   */
  async withLock<T>(key: string, task: () => Promise<T>): Promise<T> {
    const redis = this.redisStore();
    return redis ? redis.withLock(key, task) : this.#mapWrites.run(`lock:${key}`, task);
  }

  /** When the entry under `key` expires (cache-manager's `ttl`), or undefined when there is none. */
  async expiresAt(key: string): Promise<Date | undefined> {
    const expires = await withTimeout(this.cache.ttl?.(key) ?? Promise.resolve(undefined), 'read');
    return typeof expires === 'number' && expires > Date.now() ? new Date(expires) : undefined;
  }

  /** Marks `key` as deleted for `ageSeconds`: reads miss it, `addIfAbsent` cannot fill it. */
  async setTombstone(key: string, ageSeconds: number): Promise<void> {
    await this.write(key, 'null', ageSeconds * 1000);
  }

  async delete(key: string): Promise<void> {
    await withTimeout(
      this.retriedOnCluster(() => this.cache.del(key)),
      'delete',
    );
  }

  /**
   * Deletes `key`; whether it held an entry (cycleKey keeps a new key only if the old one was
   * there). Redis: one DEL. The own in-memory LRU: one delete. Other stores: a read, then the
   * delete. A failure throws: it is never taken for an absent entry.
   */
  async deleteIfPresent(key: string): Promise<boolean> {
    const redis = this.redisStore();
    if (redis) return redis.deleteIfPresent(key);
    const memory = this.memoryStore();
    if (memory) return memory.deleteIfPresent(key);
    const present = await this.has(key);
    await this.delete(key);
    return present;
  }

  /** Drops expired entries from the in-memory cache this provider owns (memory-store.ts); returns how many. Other caches expire entries themselves: 0. */
  sweepExpired(): Promise<number> {
    return Promise.resolve(this.#memory?.sweepExpired() ?? 0);
  }

  /** Logs a failed write the caller tolerates (`Error saving to cache (...)`, with the cause's stack). */
  logError(action: 'saving to' | 'deleting from', error: unknown): void {
    logger.error(`Error ${action} cache (${this.description}): ${errorMessage(error)}`, error instanceof Error ? error.stack : undefined);
  }

  /** Disconnects only what this provider created; a cache the app passed or registered is the app's to close. */
  async onModuleDestroy(): Promise<void> {
    this.#redis?.close();
    if (this.#memory && this.#cache) await this.#cache.disconnect();
  }
}

/** A map's TTL in ms: at least a second. */
function mapTtl(ageSeconds: number): number {
  return Math.max(1000, Math.round(ageSeconds * 1000));
}
