/**
 * The in-memory cache of the cache engines when the app passes none (as Django's local-memory cache,
 * `django.core.cache.backends.locmem`): a least-recently-used store bounded in entries and bytes
 * (`memoryCache`; Django's culls at 300 entries), each entry expiring at its TTL, private to this
 * process. Beside it, not in it, the maps of the cache engine's user index.
 */
import { Logger } from '@nestjs/common';
import type { LRUCache } from 'lru-cache';
import type { SessionsCacheManager } from './cache-manager';

/** Keyv's storage interface over an LRU, the entry's TTL (ms) given to the LRU. */
class LruStore {
  constructor(private readonly lru: LRUCache<string, string>) {}
  get = (key: string) => this.lru.get(key);
  set = (key: string, value: string, ttl?: number) => void this.lru.set(key, value, ttl ? { ttl } : undefined);
  delete = (key: string) => this.lru.delete(key);
  clear = () => this.lru.clear();
  has = (key: string) => this.lru.has(key);
}

export class MemoryStore {
  readonly #lru: LRUCache<string, string>;
  /** The cache-manager `Cache` over the LRU. */
  readonly cache: SessionsCacheManager;
  /**
   * The maps, kept beside the LRU, not in it. An LRU evicts by recency, so anonymous traffic would
   * push a user's map out while their sessions live on; here a field goes when the LRU drops the
   * entry it is bound to (`mapSet`'s `boundTo`), so the maps never hold more fields than the LRU
   * holds entries.
   */
  readonly #maps = new Map<string, Map<string, string>>();
  /** The LRU key of each bound entry (as Keyv names it) → the map and field to drop with it. */
  readonly #boundFields = new Map<string, { key: string; field: string }>();

  /** cache-manager and Keyv are optional peers: loaded here, by the cache engines' apps only. */
  constructor({ maxEntries, maxBytes }: { maxEntries: number; maxBytes: number }) {
    /* eslint-disable @typescript-eslint/no-require-imports -- optional peers, loaded only by the cache engines' apps */
    const { createCache } = require('cache-manager') as typeof import('cache-manager');
    const { Keyv } = require('keyv') as typeof import('keyv');
    const { LRUCache } = require('lru-cache') as typeof import('lru-cache');
    /* eslint-enable @typescript-eslint/no-require-imports */
    new Logger('Sessions').log(
      `Session cache: in-memory (at most ${maxEntries} sessions, ${maxBytes} bytes), private to this process (pass a shared cache to run several instances)`,
    );
    this.#lru = new LRUCache<string, string>({
      max: maxEntries,
      maxSize: maxBytes,
      sizeCalculation: (value, key) => value.length + key.length || 1,
      dispose: (_value, key, reason) => reason !== 'set' && this.entryDropped(key),
    });
    this.cache = createCache({ stores: [new Keyv({ store: new LruStore(this.#lru) })] });
  }

  /** The LRU's name for a cache key (Keyv prefixes what it stores). */
  private lruKey(key: string): string {
    return this.cache.stores[0]._getKeyPrefix(key);
  }

  /** Deletes the entry of `key`; whether there was one. */
  deleteIfPresent(key: string): boolean {
    return this.#lru.delete(this.lruKey(key));
  }

  /**
   * Drops expired entries (the LRU drops an expired entry when it is read again or pushed out, so
   * abandoned sessions would hold memory until then); returns how many.
   */
  sweepExpired(): number {
    const before = this.#lru.size;
    this.#lru.purgeStale();
    return before - this.#lru.size;
  }

  // ----- the maps -----

  /** The LRU dropped an entry (deleted, evicted or expired; not overwritten): its bound field goes too. */
  private entryDropped(lruKey: string): void {
    const bound = this.#boundFields.get(lruKey);
    if (!bound) return;
    this.#boundFields.delete(lruKey);
    this.mapDelete(bound.key, [bound.field]);
  }

  mapEntries(key: string): Record<string, string> {
    return Object.fromEntries(this.#maps.get(key) ?? []);
  }

  /** Sets a field, which lives as long as the entry `boundTo` (its session); nothing when that entry is gone already. */
  mapSet(key: string, field: string, value: string, boundTo: string): void {
    const lruKey = this.lruKey(boundTo);
    if (!this.#lru.has(lruKey)) return;
    if (!this.#maps.has(key)) this.#maps.set(key, new Map());
    this.#maps.get(key)!.set(field, value);
    this.#boundFields.set(lruKey, { key, field });
  }

  mapDelete(key: string, fields: readonly string[]): void {
    const map = this.#maps.get(key);
    if (!map) return;
    for (const field of fields) map.delete(field);
    if (map.size === 0) this.#maps.delete(key);
  }
}
