/**
 * The cache on `@keyv/redis` (as Django's `django.core.cache.backends.redis`, which speaks to Redis
 * itself): the Redis commands the cache engines send past cache-manager's and Keyv's layers, on the
 * node-redis client, cluster or sentinel of the cache's only store. Entries are written and read as
 * Keyv would (its key prefix, its serializer), so Keyv still reads what they write. Recognised by
 * shape, so `@keyv/redis` is loaded only by apps that use it.
 */
import { randomUUID } from 'node:crypto';
import type { SessionsCacheManager, SessionsCacheStore } from './cache-manager';
import { withTimeout } from './cache-timeout';
import { ClusterFailoverWatch, isRedisCluster, type RedisClusterClient } from './redis-cluster';

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

/** The parts of an `@keyv/redis` store used. */
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

/** The value of a Keyv entry, or undefined when it expired (Keyv's own check: Redis's TTL may lag it). */
function entryValue(entry: unknown): unknown {
  const { value, expires } = (entry ?? {}) as { value?: unknown; expires?: number };
  return typeof expires === 'number' && expires <= Date.now() ? undefined : value;
}

/** How long a lock is held at most (a crashed holder frees it then), and how long a caller waits for it. */
const LOCK_MS = 10_000;
const LOCK_WAIT_MS = 5_000;

/** The cache's `@keyv/redis` store, with its cluster client when it is on a Redis Cluster. */
export class RedisStore {
  /** The cluster client when the store is on a Redis Cluster. */
  readonly cluster: RedisClusterClient | undefined;
  readonly #clusterWatch: ClusterFailoverWatch | undefined;

  private constructor(readonly keyv: SessionsCacheStore) {
    const client = (keyv.store as KeyvRedisStore).client;
    this.cluster = isRedisCluster(client) ? client : undefined;
    if (this.cluster) this.#clusterWatch = new ClusterFailoverWatch(this.cluster);
  }

  /** The Redis store of a cache whose only store is `@keyv/redis`; undefined for any other cache. */
  static of(cache: SessionsCacheManager): RedisStore | undefined {
    const { stores } = cache;
    return stores.length === 1 && isKeyvRedisStore(stores[0].store) ? new RedisStore(stores[0]) : undefined;
  }

  /** The name Keyv gives `key` in Redis (its namespace, then `@keyv/redis`'s own prefix). */
  storeKey(key: string): string {
    const adapter = this.keyv.store as KeyvRedisStore;
    return adapter.createKeyPrefix(this.keyv._getKeyPrefix(key), adapter.namespace);
  }

  /** The node-redis client, connected: for commands of other parts of the package (blocking/redis-session-lock.ts). */
  client(): Promise<unknown> {
    return (this.keyv.store as KeyvRedisStore).getClient();
  }

  /** The Redis client and the name Keyv gives `key` there. */
  private async redis(key: string): Promise<{ client: RedisClient; storeKey: string }> {
    const adapter = this.keyv.store as KeyvRedisStore;
    return { client: (await adapter.getClient()) as RedisClient, storeKey: this.storeKey(key) };
  }

  /**
   * Reads go to node-redis itself (one GET, or one MGET for a batch), each entry decoded by its Keyv
   * as Keyv's `get` does: cache-manager's and Keyv's layers cost a read ~40 µs of CPU (measured in
   * the bench against connect-redis), and both answer a failed read as a miss, which the cache
   * engine would take for a deleted session (a failure is the caller's to judge).
   */
  async read(keys: readonly string[]): Promise<unknown[]> {
    const client = (await (this.keyv.store as KeyvRedisStore).getClient()) as RedisClient;
    const storeKeys = keys.map((key) => this.storeKey(key));
    const stored = storeKeys.length === 1 ? [await client.get(storeKeys[0])] : await client.mGet(storeKeys);
    return Promise.all(stored.map(async (value) => (value === null ? undefined : entryValue(await this.keyv.deserializeData(value)))));
  }

  /** One `SET PX` of what Keyv would write for `key` (`NX`: only where there is none, `XX`: only over one); whether Redis stored it. */
  async write(key: string, value: string, ttl: number, condition?: 'NX' | 'XX'): Promise<boolean> {
    const { client, storeKey } = await this.redis(key);
    const payload = (await this.keyv.serializeData({ value, expires: Date.now() + ttl })) as string;
    return (await client.set(storeKey, payload, { condition, expiration: { type: 'PX', value: ttl } })) === 'OK';
  }

  /** One DEL; whether `key` held an entry. */
  async deleteIfPresent(key: string): Promise<boolean> {
    const { client, storeKey } = await this.redis(key);
    return (await withTimeout(client.del(storeKey), 'delete')) > 0;
  }

  // ----- a hash under one key (the cache engine's user index): each field changed atomically by any process -----

  async hashEntries(key: string): Promise<Record<string, string>> {
    const { client, storeKey } = await this.redis(key);
    return withTimeout(client.hGetAll(storeKey), 'read');
  }

  /** Sets a field; a new hash gets the TTL (ms), an existing one only a longer one. */
  async hashSet(key: string, field: string, value: string, ttl: number): Promise<void> {
    const { client, storeKey } = await this.redis(key);
    await withTimeout(client.hSet(storeKey, field, value), 'write');
    await withTimeout(client.pExpire(storeKey, ttl, 'NX'), 'write');
    await this.hashExtend(key, ttl);
  }

  /** The hash lives at least `ttl` ms more. */
  async hashExtend(key: string, ttl: number): Promise<void> {
    const { client, storeKey } = await this.redis(key);
    await withTimeout(client.pExpire(storeKey, ttl, 'GT'), 'write');
  }

  async hashDelete(key: string, fields: readonly string[]): Promise<void> {
    const { client, storeKey } = await this.redis(key);
    await withTimeout(client.hDel(storeKey, [...fields]), 'write');
  }

  /**
   * Runs `task` holding the lock named `key` across every process sharing Redis (`SET NX PX`,
   * released only by its holder, freed after 10 s should the holder die). Waiting longer than 5 s
   * fails.
   */
  async withLock<T>(key: string, task: () => Promise<T>): Promise<T> {
    const { client, storeKey } = await this.redis(`lock:${key}`);
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

  /** Stops following the cluster's failovers (the client is the app's, or its cache's, to close). */
  close(): void {
    this.#clusterWatch?.close();
  }
}
