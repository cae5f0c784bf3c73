/**
 * The example app's session cache from `REDIS_URL` or `REDIS_CLUSTER_NODES` (used by the cache and
 * cached_db engines): set → Redis (one server, or a Redis Cluster) through a Keyv Redis store,
 * registered as the app's `CacheModule`, whose `CACHE_MANAGER` the sessions module picks up; unset →
 * nothing registered, the sessions module's in-memory cache.
 */
import { CacheModule } from '@nestjs/cache-manager';
import { Logger, type DynamicModule } from '@nestjs/common';
import KeyvRedis, { Keyv } from '@keyv/redis';

/** Prefix of every key the app writes (`sessions::django.contrib.sessions.cache<key>`). */
export const REDIS_NAMESPACE = 'sessions';
const REDIS_CONNECT_TIMEOUT_MS = 2000;

/** One Redis server (REDIS_URL), or a Redis Cluster reached through some of its nodes, `host:port` (REDIS_CLUSTER_NODES). */
export type RedisLocation = { url: string } | { clusterNodes: string[] };

/**
 * A Keyv on Redis that fails fast while Redis (on a cluster: a node) is down instead of queueing
 * commands until it is back: reads then miss and cached_db serves from the database. Errors reach the
 * cache's caller (which logs failed writes) instead of being swallowed by Keyv. On a cluster, Keyv
 * and the sessions module route each key to its node (the module also follows failovers).
 *
 * Its entries are plain JSON: this cache holds sessions, whose data is JSON by definition, so it
 * needs neither Keyv's default serializer (which encodes Buffers) nor its deserializer, a JSON.parse
 * with a reviver called for every value, which cost ~5 µs of the ~300 µs of server CPU of a cached read.
 */
export function redisKeyv(location: RedisLocation, namespace = REDIS_NAMESPACE): Keyv {
  const client = { disableOfflineQueue: true, socket: { connectTimeout: REDIS_CONNECT_TIMEOUT_MS } };
  const connection =
    'url' in location
      ? { url: location.url, ...client }
      : { rootNodes: location.clusterNodes.map((node) => ({ url: `redis://${node}` })), defaults: client };
  const store = new KeyvRedis<string>(connection, { throwOnErrors: true, connectionTimeout: REDIS_CONNECT_TIMEOUT_MS });
  // What @keyv/redis's createKeyv builds (whose types take no cluster options): keys `<namespace>::<key>`, prefixed by the store alone.
  const keyv = new Keyv<string>({ store, namespace, useKeyPrefix: false, throwOnErrors: true });
  keyv.serialize = JSON.stringify;
  keyv.deserialize = JSON.parse;
  return keyv;
}

/**
 * `redisKeyv`, connected: without an offline queue, requests racing the first connection would fail
 * ("The client is offline"). Redis down at start-up is a warning, not a failed start: cache
 * operations fail fast, and the client connects again on a later one.
 */
export async function connectedRedisKeyv(location: RedisLocation, namespace?: string): Promise<Keyv> {
  const keyv = redisKeyv(location, namespace);
  try {
    await (keyv.store as KeyvRedis<unknown>).getClient();
  } catch (error) {
    new Logger('Cache').warn(`Redis is unreachable at start-up, cache operations fail until it is back: ${(error as Error).message}`);
  }
  return keyv;
}

/**
 * The app's CacheModule for this Redis (none without one), connected before the app listens; it
 * disconnects Redis when the app closes.
 */
export function cacheModules(redis: RedisLocation | undefined, namespace?: string): DynamicModule[] {
  if (!redis) return [];
  return [
    CacheModule.registerAsync({ isGlobal: true, useFactory: async () => ({ stores: [await connectedRedisKeyv(redis, namespace)] }) }),
  ];
}
