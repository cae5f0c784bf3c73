/**
 * The cache of the `cache` and `cached_db` engines (Django's `SESSION_CACHE_ALIAS`): a cache-manager
 * `Cache`, used with Django's semantics. Which cache: the module option `cache`, else the
 * `CACHE_MANAGER` of `@nestjs/cache-manager` when the app registers `CacheModule`, else an in-memory
 * cache private to this process (which several instances cannot share).
 *
 * Values are session data as a JSON string: every store and serializer (an in-memory one that keeps
 * references, Keyv's default serializer, which treats a `toJSON` key specially, Redis) keeps a
 * string as it is, so any data key round-trips, and a request never shares its object with the
 * cache. Ages are Django's seconds; cache-manager's TTLs are milliseconds.
 */
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import type DataLoader from 'dataloader';
import type { LRUCache } from 'lru-cache';
import { emptyData, engineName, type SessionData } from '../session';
import { SessionTooLargeException } from '../session.errors';
import { SESSIONS_CONFIG } from '../sessions.constants';
import type { SessionsCacheManager, SessionsCacheStore, SessionsConfig } from '../sessions.options';
import { batchPerTurn } from './batching';
import { KeyedQueue } from './keyed-queue';

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

/** Session data from a cache value: a JSON string (or an object, as earlier versions stored); anything else, or over `maxBytes`, is a miss. */
function dataFrom(value: unknown, maxBytes: number): SessionData | undefined {
  let parsed = value;
  if (typeof value === 'string') {
    if (Buffer.byteLength(value) > maxBytes) return undefined;
    try {
      parsed = JSON.parse(value);
    } catch {
      return undefined;
    }
  } else if (value !== null && typeof value === 'object') {
    parsed = JSON.parse(JSON.stringify(value));
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  return Object.assign(emptyData(), parsed as SessionData);
}

/** The name Keyv gives `key` in Redis (its namespace, then `@keyv/redis`'s own prefix). */
function storeKeyOf(keyv: SessionsCacheStore, key: string): string {
  const adapter = keyv.store as KeyvRedisStore;
  return adapter.createKeyPrefix(keyv._getKeyPrefix(key), adapter.namespace);
}

/** The value of a Keyv entry, or undefined when it expired (Keyv's own check: Redis's TTL may lag it). */
function entryValue(entry: unknown): unknown {
  const { value, expires } = (entry ?? {}) as { value?: unknown; expires?: number };
  return typeof expires === 'number' && expires <= Date.now() ? undefined : value;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The parts of a node-redis client used directly: entries' reads and writes, `SET NX` (addIfAbsent), `SET XX` (replace) and the user index's hashes (client, cluster and sentinel all have them). */
interface RedisClient {
  set(key: string, value: string, options: { condition?: 'NX' | 'XX'; expiration: { type: 'PX'; value: number } }): Promise<string | null>;
  mGet(keys: string[]): Promise<(string | null)[]>;
  hSet(key: string, field: string, value: string): Promise<number>;
  hDel(key: string, fields: string[]): Promise<number>;
  hGetAll(key: string): Promise<Record<string, string>>;
  pExpire(key: string, milliseconds: number, mode?: 'NX' | 'GT'): Promise<number>;
  get(key: string): Promise<string | null>;
  del(key: string): Promise<number>;
}

/** How long a lock is held at most (a crashed holder frees it then), and how long a caller waits for it. */
const LOCK_MS = 10_000;
const LOCK_WAIT_MS = 5_000;

/** The parts of an `@keyv/redis` store `addIfAbsent` uses; recognised by shape, so `@keyv/redis` is loaded only by apps that use it. */
interface KeyvRedisStore {
  namespace?: string;
  /** Its node-redis client, cluster or sentinel (created with the store, connected by getClient). */
  client: unknown;
  getClient(): Promise<unknown>;
  createKeyPrefix(key: string, namespace?: string): string;
}

function isKeyvRedisStore(store: unknown): store is KeyvRedisStore {
  const candidate = store as Partial<KeyvRedisStore> | undefined;
  return typeof candidate?.getClient === 'function' && typeof candidate.createKeyPrefix === 'function';
}

/**
 * The parts of node-redis's cluster client (`@keyv/redis` on a Redis Cluster) used to follow a
 * failover. It re-reads the cluster's slot map only when a node answers MOVED or ASK, which a master
 * that died never does: its keys would go on being sent to it after its replica took over
 * (node-redis #2806). `_slots.rediscover` is the re-read it runs itself on MOVED.
 */
interface RedisClusterClient {
  readonly masters: readonly { client?: { readonly isReady: boolean } }[];
  readonly _slots: { rediscover(startWith: object): Promise<void> };
  on(event: 'node-error', listener: () => void): unknown;
  off(event: 'node-error', listener: () => void): unknown;
}

function isRedisCluster(client: unknown): client is RedisClusterClient {
  const candidate = client as Partial<RedisClusterClient> | undefined;
  return Array.isArray(candidate?.masters) && typeof candidate._slots?.rediscover === 'function' && typeof candidate.on === 'function';
}

/** The cache's `@keyv/redis` store, with its cluster client when it is on a Redis Cluster. */
interface RedisStore {
  keyv: SessionsCacheStore;
  cluster: RedisClusterClient | undefined;
}

/** How often the slot map is read again while a master of the cluster is unreachable. */
const CLUSTER_REDISCOVER_INTERVAL_MS = 500;

/**
 * Follows a failover of the cluster: from a node's connection error until every master answers
 * again (its replica took over, or it came back), the slot map is read again from a master that
 * answers, every 500 ms. Costs nothing while the cluster is healthy.
 */
class ClusterFailoverWatch {
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly cluster: RedisClusterClient) {
    cluster.on('node-error', this.#watch);
  }

  readonly #watch = (): void => {
    this.#timer ??= setInterval(() => void this.#rediscover(), CLUSTER_REDISCOVER_INTERVAL_MS).unref();
  };

  async #rediscover(): Promise<void> {
    // A master without a client is one not connected to yet (minimizeConnections), not a failing one.
    const clients = this.cluster.masters.map((master) => master.client);
    if (clients.every((client) => client === undefined || client.isReady)) return this.stop();
    const answering = clients.find((client) => client?.isReady);
    // The cluster emits a failed re-read as an 'error' of its own; the next tick tries again.
    if (answering) await this.cluster._slots.rediscover(answering).catch(() => undefined);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  close(): void {
    this.cluster.off('node-error', this.#watch);
    this.stop();
  }
}

/** Keyv's storage interface over an LRU, the entry's TTL (ms) given to the LRU. */
class LruStore {
  constructor(private readonly lru: LRUCache<string, string>) {}
  get = (key: string) => this.lru.get(key);
  set = (key: string, value: string, ttl?: number) => void this.lru.set(key, value, ttl ? { ttl } : undefined);
  delete = (key: string) => this.lru.delete(key);
  clear = () => this.lru.clear();
  has = (key: string) => this.lru.has(key);
}

@Injectable()
export class SessionsCache implements OnModuleDestroy {
  #cache: SessionsCacheManager | undefined;
  /** The in-memory LRU this provider created (and so owns), when it fell back to one. */
  #ownMemoryStore: LRUCache<string, string> | undefined;
  /** Keys an in-process `addIfAbsent` is working on (its check-then-set is atomic within the process). */
  readonly #pendingAdds = new Set<string>();
  #reads: DataLoader<string, unknown> | null | undefined;
  #clusterWatch: ClusterFailoverWatch | undefined;
  /** The cache's only store when it is `@keyv/redis`, and its cluster client on a Redis Cluster: decided once, with the cache. */
  #redis: RedisStore | undefined;

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
      const { stores } = this.#cache;
      if (stores.length === 1 && isKeyvRedisStore(stores[0].store)) {
        const client = (stores[0].store as KeyvRedisStore).client;
        this.#redis = { keyv: stores[0], cluster: isRedisCluster(client) ? client : undefined };
        if (this.#redis.cluster) this.#clusterWatch = new ClusterFailoverWatch(this.#redis.cluster);
      }
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

  /**
   * A least-recently-used in-memory store bounded in entries and bytes (`memoryCache`; Django's
   * local-memory cache culls at 300 entries), each entry expiring at its TTL. cache-manager and Keyv
   * are optional peers: loaded here, by the cache engines' apps only.
   */
  private createMemoryCache(): SessionsCacheManager {
    const { createCache } = require('cache-manager') as typeof import('cache-manager');
    const { Keyv } = require('keyv') as typeof import('keyv');
    const { LRUCache } = require('lru-cache') as typeof import('lru-cache');
    const { maxEntries, maxBytes } = this.config.memoryCache;
    logger.log(`Session cache: in-memory (at most ${maxEntries} sessions, ${maxBytes} bytes), private to this process (pass a shared cache to run several instances)`);
    const lru = new LRUCache<string, string>({
      max: maxEntries,
      maxSize: maxBytes,
      sizeCalculation: (value, key) => value.length + key.length || 1,
      dispose: (_value, key, reason) => reason !== 'set' && this.entryDropped(key),
    });
    this.#ownMemoryStore = lru;
    return createCache({ stores: [new Keyv({ store: new LruStore(lru) })] });
  }

  /** What the cache is, for log messages (Django logs the cache object). */
  get description(): string {
    const stores = this.cache.stores.map((keyv) => (keyv.store as object | undefined)?.constructor?.name ?? 'store');
    return stores.join(', ');
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
        this.config.batchStoreCalls && !this.redisCluster()
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
    const read = redis ? async () => (await this.readFromRedis(redis, [key]))[0] : () => this.cache.get<unknown>(key);
    return withTimeout(this.retriedOnCluster(read), 'read');
  }

  private readMany(keys: readonly string[]): Promise<unknown[]> {
    const redis = this.redisStore();
    return redis ? this.readFromRedis(redis, keys) : this.cache.mget<unknown>([...keys]);
  }

  /**
   * `operation`, tried once more when it fails on a Redis Cluster: after a failover node-redis fails,
   * instead of redirecting, the commands in flight to a node its new slot map dropped.
   */
  private retriedOnCluster<T>(operation: () => Promise<T>): Promise<T> {
    return this.redisCluster() ? operation().catch(() => operation()) : operation();
  }

  /**
   * Reads on `@keyv/redis` go to node-redis itself (one GET, or one MGET for a batch), each entry
   * decoded by its Keyv as Keyv's `get` does: cache-manager's and Keyv's layers cost a read ~40 µs of
   * CPU (measured in the bench against connect-redis), and both answer a failed read as a miss,
   * which the cache engine would take for a deleted session (a failure is the caller's to judge).
   */
  private async readFromRedis(keyv: SessionsCacheStore, keys: readonly string[]): Promise<unknown[]> {
    const adapter = keyv.store as KeyvRedisStore;
    const client = (await adapter.getClient()) as RedisClient;
    const storeKeys = keys.map((key) => storeKeyOf(keyv, key));
    const stored = storeKeys.length === 1 ? [await client.get(storeKeys[0])] : await client.mGet(storeKeys);
    return Promise.all(stored.map(async (value) => (value === null ? undefined : entryValue(await keyv.deserializeData(value)))));
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

  /** The cache value of `data`: its JSON; SessionTooLargeException over `maxSessionBytes`. */
  private valueOf(data: SessionData): string {
    const json = JSON.stringify(data);
    const bytes = Buffer.byteLength(json);
    if (bytes > this.config.maxSessionBytes) throw new SessionTooLargeException(bytes, this.config.maxSessionBytes);
    return json;
  }

  /** Stores `data` for `ageSeconds`; a non-positive age deletes instead (the entry would be expired already). */
  async set(key: string, data: SessionData, ageSeconds: number): Promise<void> {
    const ttl = Math.round(ageSeconds * 1000);
    if (ttl <= 0) return this.delete(key);
    await this.write(key, this.valueOf(data), ttl);
  }

  /** `value` under `key` for `ttl` ms: on `@keyv/redis` one `SET PX` of what Keyv would write, past cache-manager's and Keyv's layers. */
  private async write(key: string, value: string, ttl: number): Promise<void> {
    const redis = this.redisStore();
    const write = redis ? () => this.writeToRedis(redis, key, value, ttl) : () => this.cache.set(key, value, ttl);
    await withTimeout(this.retriedOnCluster<unknown>(write), 'write');
  }

  /** One `SET PX` of what Keyv would write for `key` (`XX`: only over an existing entry); whether Redis stored it. */
  private async writeToRedis(keyv: SessionsCacheStore, key: string, value: string, ttl: number, condition?: 'NX' | 'XX'): Promise<boolean> {
    const { client, storeKey } = await this.redis(keyv, key);
    const payload = (await keyv.serializeData({ value, expires: Date.now() + ttl })) as string;
    return (await client.set(storeKey, payload, { condition, expiration: { type: 'PX', value: ttl } })) === 'OK';
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
    const value = this.valueOf(data);
    return withTimeout(this.retriedOnCluster(() => this.writeToRedis(redis, key, value, ttl, 'XX')), 'write');
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
    const value = this.valueOf(data);
    const redis = this.redisStore();
    return withTimeout(redis ? this.writeToRedis(redis, key, value, ttl, 'NX') : this.addInProcess(key, value, ttl), 'write');
  }

  /** The cache's only store when it is `@keyv/redis` (commands beyond Keyv's then go to Redis itself). */
  private redisStore(): SessionsCacheStore | undefined {
    return this.resolvedRedis()?.keyv;
  }

  /** The cluster client when the cache's only store is `@keyv/redis` on a Redis Cluster. */
  private redisCluster(): RedisClusterClient | undefined {
    return this.resolvedRedis()?.cluster;
  }

  private resolvedRedis(): RedisStore | undefined {
    void this.cache; // resolving the cache decides #redis
    return this.#redis;
  }

  /** The Redis client and the name Keyv gives `key` there. */
  private async redis(keyv: SessionsCacheStore, key: string): Promise<{ client: RedisClient; storeKey: string }> {
    const adapter = keyv.store as KeyvRedisStore;
    return { client: (await adapter.getClient()) as RedisClient, storeKey: storeKeyOf(keyv, key) };
  }

  // ----- a map of strings under one key (the cache engine's user index) -----

  /** In-process read-modify-writes of maps on stores other than Redis. */
  readonly #mapWrites = new KeyedQueue();

  /**
   * The maps, when the cache is this provider's own in-memory LRU: kept beside it, not in it. An LRU
   * evicts by recency, so anonymous traffic would push a user's map out while their sessions live
   * on; here a field goes when the LRU drops the entry it is bound to (`mapSet`'s `boundTo`), so
   * the maps never hold more fields than the LRU holds entries.
   */
  readonly #ownMaps = new Map<string, Map<string, string>>();
  /** The LRU key of each bound entry (as Keyv names it) → the map and field to drop with it. */
  readonly #boundFields = new Map<string, { key: string; field: string }>();

  /** The own LRU dropped an entry (deleted, evicted or expired; not overwritten): its bound field goes too. */
  private entryDropped(lruKey: string): void {
    const bound = this.#boundFields.get(lruKey);
    if (!bound) return;
    this.#boundFields.delete(lruKey);
    this.deleteOwnMapFields(bound.key, [bound.field]);
  }

  private deleteOwnMapFields(key: string, fields: readonly string[]): void {
    const map = this.#ownMaps.get(key);
    if (!map) return;
    for (const field of fields) map.delete(field);
    if (map.size === 0) this.#ownMaps.delete(key);
  }

  /**
   * The fields of the map under `key`. Redis: a hash, each field changed atomically by any process.
   * This provider's own in-memory cache: a map beside the LRU. Other stores: a JSON object, changed
   * by one read-modify-write at a time within this process.
   */
  async mapEntries(key: string): Promise<Record<string, string>> {
    const redis = this.redisStore();
    if (redis) {
      const { client, storeKey } = await this.redis(redis, key);
      return withTimeout(client.hGetAll(storeKey), 'read');
    }
    if (this.ownsMemoryStore) return Object.fromEntries(this.#ownMaps.get(key) ?? []);
    const stored = await withTimeout(this.cache.get<string>(key), 'read');
    return typeof stored === 'string' ? (JSON.parse(stored) as Record<string, string>) : {};
  }

  /**
   * Sets a field; the map lives at least `ageSeconds` more. On the own in-memory cache the field
   * lives instead as long as the entry `boundTo` (its session).
   */
  async mapSet(key: string, field: string, value: string, ageSeconds: number, boundTo: string): Promise<void> {
    const redis = this.redisStore();
    if (redis) {
      const { client, storeKey } = await this.redis(redis, key);
      await withTimeout(client.hSet(storeKey, field, value), 'write');
      // A new map gets the TTL; an existing one only a longer one.
      await withTimeout(client.pExpire(storeKey, this.mapTtl(ageSeconds), 'NX'), 'write');
      await this.mapExtend(key, ageSeconds);
      return;
    }
    if (this.ownsMemoryStore) {
      const lruKey = this.ownLruKey(boundTo);
      if (!this.#ownMemoryStore!.has(lruKey)) return; // its session is gone already
      if (!this.#ownMaps.has(key)) this.#ownMaps.set(key, new Map());
      this.#ownMaps.get(key)!.set(field, value);
      this.#boundFields.set(lruKey, { key, field });
      return;
    }
    await this.changeLocalMap(key, (entries) => (entries[field] = value), this.mapTtl(ageSeconds));
  }

  /** The map lives at least `ageSeconds` more (a session of it was saved with that age). */
  async mapExtend(key: string, ageSeconds: number): Promise<void> {
    const redis = this.redisStore();
    if (redis) {
      const { client, storeKey } = await this.redis(redis, key);
      await withTimeout(client.pExpire(storeKey, this.mapTtl(ageSeconds), 'GT'), 'write');
      return;
    }
    if (!this.ownsMemoryStore) await this.changeLocalMap(key, () => undefined, this.mapTtl(ageSeconds));
  }

  private mapTtl(ageSeconds: number): number {
    return Math.max(1000, Math.round(ageSeconds * 1000));
  }

  async mapDelete(key: string, fields: readonly string[]): Promise<void> {
    if (fields.length === 0) return;
    const redis = this.redisStore();
    if (redis) {
      const { client, storeKey } = await this.redis(redis, key);
      await withTimeout(client.hDel(storeKey, [...fields]), 'write');
      return;
    }
    if (this.ownsMemoryStore) return this.deleteOwnMapFields(key, fields);
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

  /** The own LRU's name for a cache key (Keyv prefixes what it stores). */
  private ownLruKey(key: string): string {
    return this.cache.stores[0]._getKeyPrefix(key);
  }

  /** Whether the cache is the in-memory LRU this provider created. */
  get ownsMemoryStore(): boolean {
    void this.cache; // resolving the cache decides #ownMemoryStore
    return this.#ownMemoryStore !== undefined;
  }

  /**
   * Runs `task` holding the lock named `key`: on Redis across every process sharing it (`SET NX PX`,
   * released only by its holder, freed after 10 s should the holder die), elsewhere within this
   * process. Waiting longer than 5 s fails.
   */
  async withLock<T>(key: string, task: () => Promise<T>): Promise<T> {
    const redis = this.redisStore();
    if (!redis) return this.#mapWrites.run(`lock:${key}`, task);
    const { client, storeKey } = await this.redis(redis, `lock:${key}`);
    const token = randomUUID();
    const deadline = Date.now() + LOCK_WAIT_MS;
    while ((await client.set(storeKey, token, { condition: 'NX', expiration: { type: 'PX', value: LOCK_MS } })) !== 'OK') {
      if (Date.now() > deadline) throw new Error(`cache lock ${key} still held after ${LOCK_WAIT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 20));
    }
    try {
      return await task();
    } finally {
      // Released by its holder only (a lock that outlived LOCK_MS may be another's by now).
      if ((await client.get(storeKey)) === token) await client.del(storeKey);
    }
  }

  /** When the entry under `key` expires (cache-manager's `ttl`), or undefined when there is none. */
  async expiresAt(key: string): Promise<Date | undefined> {
    const expires = await withTimeout(this.cache.ttl?.(key) ?? Promise.resolve(undefined), 'read');
    return typeof expires === 'number' && expires > Date.now() ? new Date(expires) : undefined;
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

  /** Marks `key` as deleted for `ageSeconds`: reads miss it, `addIfAbsent` cannot fill it. */
  async setTombstone(key: string, ageSeconds: number): Promise<void> {
    await this.write(key, 'null', ageSeconds * 1000);
  }

  async delete(key: string): Promise<void> {
    await withTimeout(this.retriedOnCluster(() => this.cache.del(key)), 'delete');
  }

  /**
   * Deletes `key`; whether it held an entry (cycleKey keeps a new key only if the old one was
   * there). Redis: one DEL. The own in-memory LRU: one delete. Other stores: a read, then the
   * delete. A failure throws: it is never taken for an absent entry.
   */
  async deleteIfPresent(key: string): Promise<boolean> {
    const redis = this.redisStore();
    if (redis) {
      const { client, storeKey } = await this.redis(redis, key);
      return (await withTimeout(client.del(storeKey), 'delete')) > 0;
    }
    if (this.ownsMemoryStore) return this.#ownMemoryStore!.delete(this.ownLruKey(key));
    const present = await this.has(key);
    await this.delete(key);
    return present;
  }

  /**
   * Drops expired entries from the in-memory cache this provider owns (the LRU drops an expired
   * entry when it is read again or pushed out, so abandoned sessions would hold memory until then);
   * returns how many. Other caches expire entries themselves: 0.
   */
  sweepExpired(): Promise<number> {
    const store = this.#ownMemoryStore;
    if (!store) return Promise.resolve(0);
    const before = store.size;
    store.purgeStale();
    return Promise.resolve(before - store.size);
  }

  /** Logs a failed write the caller tolerates (`Error saving to cache (...)`, with the cause's stack). */
  logError(action: 'saving to' | 'deleting from', error: unknown): void {
    logger.error(`Error ${action} cache (${this.description}): ${errorMessage(error)}`, error instanceof Error ? error.stack : undefined);
  }

  /** Disconnects only what this provider created; a cache the app passed or registered is the app's to close. */
  async onModuleDestroy(): Promise<void> {
    this.#clusterWatch?.close();
    if (this.#ownMemoryStore && this.#cache) await this.#cache.disconnect();
  }
}
