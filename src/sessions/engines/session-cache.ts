/**
 * The cache of the `cache` and `cached_db` engines (Django's `SESSION_CACHE_ALIAS`): a cache-manager
 * `Cache`, used with Django's semantics. Which cache: the module option `cache`, else the
 * `CACHE_MANAGER` of `@nestjs/cache-manager` when the app registers `CacheModule`, else an in-memory
 * cache private to this process (which several instances cannot share).
 *
 * Values are session data objects, copied through JSON on the way in and out, so every store (an
 * in-memory one that keeps references, Redis that serialises) behaves alike and a request never
 * shares its object with the cache. Ages are Django's seconds; cache-manager's TTLs are milliseconds.
 */
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { Cache } from 'cache-manager';
import type DataLoader from 'dataloader';
import type { Keyv } from 'keyv';
import { emptyData, type SessionData } from '../session';
import { SESSIONS_CONFIG } from '../sessions.constants';
import type { SessionsConfig } from '../sessions.options';
import { batchPerTurn } from './batching';

/** `@nestjs/cache-manager`'s token (a string), spelled out so apps without that package can load this file. */
const CACHE_MANAGER = 'CACHE_MANAGER';

/** A cache operation still pending after this long counts as failed (a stopped Redis must not hang requests). */
export const CACHE_OPERATION_TIMEOUT_MS = 2000;

function withTimeout<T>(operation: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`cache ${what} took longer than ${CACHE_OPERATION_TIMEOUT_MS} ms`)), CACHE_OPERATION_TIMEOUT_MS);
  });
  return Promise.race([operation, timeout]).finally(() => clearTimeout(timer));
}

/** Django logs cache failures on `django.contrib.sessions`. */
const logger = new Logger('Sessions');

/** A JSON copy of session data; anything that is not a JSON object is no session (a miss). */
function copyData(value: unknown): SessionData | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return Object.assign(emptyData(), JSON.parse(JSON.stringify(value)) as SessionData);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The parts of a node-redis client `addIfAbsent` uses (client, cluster and sentinel all have them). */
interface RedisSetClient {
  set(key: string, value: string, options: { condition: 'NX'; expiration: { type: 'PX'; value: number } }): Promise<string | null>;
}

/** The parts of an `@keyv/redis` store `addIfAbsent` uses; recognised by shape, so `@keyv/redis` is loaded only by apps that use it. */
interface KeyvRedisStore {
  namespace?: string;
  getClient(): Promise<unknown>;
  createKeyPrefix(key: string, namespace?: string): string;
}

function isKeyvRedisStore(store: unknown): store is KeyvRedisStore {
  const candidate = store as Partial<KeyvRedisStore> | undefined;
  return typeof candidate?.getClient === 'function' && typeof candidate.createKeyPrefix === 'function';
}

@Injectable()
export class SessionsCache implements OnModuleDestroy {
  #cache: Cache | undefined;
  /** The in-memory Keyv this provider created (and so owns), when it fell back to one. */
  #ownMemoryStore: Keyv | undefined;
  /** Keys an in-process `addIfAbsent` is working on (its check-then-set is atomic within the process). */
  readonly #pendingAdds = new Set<string>();
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
  get cache(): Cache {
    this.#cache ??= this.config.cache ?? this.appCacheManager() ?? this.createMemoryCache();
    return this.#cache;
  }

  private appCacheManager(): Cache | undefined {
    try {
      return this.moduleRef?.get<Cache>(CACHE_MANAGER, { strict: false }) ?? undefined;
    } catch {
      return undefined; // the app registered no CacheModule
    }
  }

  /** cache-manager and Keyv are optional peers: loaded here, by the cache engines' apps only. */
  private createMemoryCache(): Cache {
    const { createCache } = require('cache-manager') as typeof import('cache-manager');
    const { Keyv } = require('keyv') as typeof import('keyv');
    logger.log('Session cache: in-memory, private to this process (pass a shared cache to run several instances)');
    this.#ownMemoryStore = new Keyv();
    return createCache({ stores: [this.#ownMemoryStore] });
  }

  /** What the cache is, for log messages (Django logs the cache object). */
  get description(): string {
    const stores = this.cache.stores.map((keyv) => (keyv.store as object | undefined)?.constructor?.name ?? 'store');
    return stores.join(', ');
  }

  /**
   * `batchStoreCalls`: the reads of one event-loop turn go to the cache as one `mget` (Redis: one
   * MGET, under one timeout); a read alone in its turn is a plain `get`.
   */
  private get reads(): DataLoader<string, unknown> | null {
    if (this.#reads === undefined) {
      this.#reads = this.config.batchStoreCalls
        ? batchPerTurn({ one: (key: string) => this.readOne(key), many: (keys) => withTimeout(this.cache.mget<unknown>([...keys]), 'read') })
        : null;
    }
    return this.#reads;
  }

  private readOne(key: string): Promise<unknown> {
    return withTimeout(this.cache.get<unknown>(key), 'read');
  }

  /** The data under `key`, or undefined: a failing or slow read is a miss (Django #17810), logged. */
  async get(key: string): Promise<SessionData | undefined> {
    try {
      return copyData(await (this.reads ? this.reads.load(key) : this.readOne(key)));
    } catch (error) {
      logger.warn(`Error reading from cache (${this.description}), treated as a miss: ${errorMessage(error)}`);
      return undefined;
    }
  }

  async has(key: string): Promise<boolean> {
    return (await this.get(key)) !== undefined;
  }

  /** Stores `data` for `ageSeconds`; a non-positive age deletes instead (the entry would be expired already). */
  async set(key: string, data: SessionData, ageSeconds: number): Promise<void> {
    const ttl = Math.round(ageSeconds * 1000);
    if (ttl <= 0) return this.delete(key);
    await withTimeout(this.cache.set(key, copyData(data), ttl), 'write');
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
    const stores = this.cache.stores;
    const redis = stores.length === 1 && isKeyvRedisStore(stores[0].store) ? stores[0] : undefined;
    return withTimeout(redis ? this.addToRedis(redis, key, copyData(data), ttl) : this.addInProcess(key, data, ttl), 'write');
  }

  /** One `SET key value NX PX ttl`, with the key and value Keyv itself would write for `key`. */
  private async addToRedis(keyv: Keyv, key: string, value: SessionData | undefined, ttl: number): Promise<boolean> {
    const adapter = keyv.store as KeyvRedisStore;
    const client = (await adapter.getClient()) as unknown as RedisSetClient;
    const storeKey = adapter.createKeyPrefix(keyv._getKeyPrefix(key), adapter.namespace);
    const payload = await keyv.serializeData({ value, expires: Date.now() + ttl });
    const reply = await client.set(storeKey, payload as string, { condition: 'NX', expiration: { type: 'PX', value: ttl } });
    return reply === 'OK';
  }

  private async addInProcess(key: string, data: SessionData, ttl: number): Promise<boolean> {
    if (this.#pendingAdds.has(key)) return false;
    this.#pendingAdds.add(key);
    try {
      if ((await this.cache.get(key)) !== undefined) return false;
      await this.cache.set(key, copyData(data), ttl);
      // A cache that fails silently stores nothing: Django's `add` then answers false, like a collision.
      return (await this.cache.get(key)) !== undefined;
    } finally {
      this.#pendingAdds.delete(key);
    }
  }

  async delete(key: string): Promise<void> {
    await withTimeout(this.cache.del(key), 'delete');
  }

  /**
   * Drops expired entries from the in-memory cache this provider owns (a Map only drops an entry
   * when it is read again, so abandoned sessions would pile up); returns how many. Other caches
   * expire entries themselves: 0.
   */
  async sweepExpired(): Promise<number> {
    const store = this.#ownMemoryStore;
    if (!store?.iterator) return 0;
    const before = (store.store as Map<string, unknown>).size;
    for await (const _entry of store.iterator(undefined)) {
      // Keyv's iterator deletes each expired entry it meets.
    }
    return before - (store.store as Map<string, unknown>).size;
  }

  /** Logs a failed write the caller tolerates (`Error saving to cache (...)`, with the cause's stack). */
  logError(action: 'saving to' | 'deleting from', error: unknown): void {
    logger.error(`Error ${action} cache (${this.description}): ${errorMessage(error)}`, error instanceof Error ? error.stack : undefined);
  }

  /** Disconnects only what this provider created; a cache the app passed or registered is the app's to close. */
  async onModuleDestroy(): Promise<void> {
    if (this.#ownMemoryStore && this.#cache) await this.#cache.disconnect();
  }
}
