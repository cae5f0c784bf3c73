/**
 * The cache the cache engines store in (Django's `SESSION_CACHE_ALIAS`, a cache of
 * `django.core.cache`): a cache-manager `Cache` (cache-manager 6/7's `createCache()`,
 * `@nestjs/cache-manager`'s CACHE_MANAGER) by the parts the cache engines call. Spelled out here:
 * cache-manager and Keyv are optional peers, so an app without them still compiles against this
 * package's types.
 */
export interface SessionsCacheManager {
  get<T>(key: string): Promise<T | undefined | null>;
  mget<T>(keys: string[]): Promise<Array<T | undefined | null>>;
  set<T>(key: string, value: T, ttl?: number): Promise<T>;
  del(key: string): Promise<boolean>;
  /** When `key` expires (epoch ms); cache-manager 6/7 have it. */
  ttl?(key: string): Promise<number | undefined | null>;
  disconnect(): Promise<unknown>;
  stores: SessionsCacheStore[];
}

/** A Keyv of the cache (the parts used: its storage adapter, `clear`, and its key and value encoding for Redis's `SET NX` and Redis Cluster reads). */
export interface SessionsCacheStore {
  store: unknown;
  clear(): Promise<void>;
  _getKeyPrefix(key: string): string;
  serializeData(data: { value: unknown; expires?: number }): Promise<unknown>;
  deserializeData(data: string): Promise<unknown>;
}
