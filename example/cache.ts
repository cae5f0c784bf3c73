/**
 * The example app's session cache from `REDIS_URL` (used by the cache and cached_db engines): set →
 * Redis through a Keyv Redis store, registered as the app's `CacheModule`, whose `CACHE_MANAGER`
 * the sessions module picks up; unset → nothing registered, the sessions module's in-memory cache.
 */
import { CacheModule } from '@nestjs/cache-manager';
import { Logger, type DynamicModule } from '@nestjs/common';
import type KeyvRedis from '@keyv/redis';
import { createKeyv } from '@keyv/redis';
import type { Keyv } from 'keyv';

/** Prefix of every key the app writes (`sessions::django.contrib.sessions.cache<key>`). */
export const REDIS_NAMESPACE = 'sessions';
const REDIS_CONNECT_TIMEOUT_MS = 2000;

/**
 * A Keyv on Redis that fails fast while Redis is down instead of queueing commands until it is back:
 * reads then miss and cached_db serves from the database. Errors reach the cache's caller (which logs
 * failed writes) instead of being swallowed by Keyv.
 *
 * Its entries are plain JSON: this cache holds sessions, whose data is JSON by definition, so it
 * needs neither Keyv's default serializer (which encodes Buffers) nor its deserializer, a JSON.parse
 * with a reviver called for every value, which cost ~5 µs of the ~300 µs of server CPU of a cached read.
 */
export function redisKeyv(url: string, namespace = REDIS_NAMESPACE): Keyv {
  const keyv = createKeyv(
    { url, disableOfflineQueue: true, socket: { connectTimeout: REDIS_CONNECT_TIMEOUT_MS } },
    { namespace, throwOnErrors: true, connectionTimeout: REDIS_CONNECT_TIMEOUT_MS },
  );
  keyv.serialize = JSON.stringify;
  keyv.deserialize = JSON.parse;
  return keyv;
}

/**
 * `redisKeyv`, connected: without an offline queue, requests racing the first connection would fail
 * ("The client is offline"). Redis down at start-up is a warning, not a failed start: cache
 * operations fail fast, and the client connects again on a later one.
 */
export async function connectedRedisKeyv(url: string, namespace?: string): Promise<Keyv> {
  const keyv = redisKeyv(url, namespace);
  try {
    await (keyv.store as KeyvRedis<unknown>).getClient();
  } catch (error) {
    new Logger('Cache').warn(`Redis is unreachable at start-up, cache operations fail until it is back: ${(error as Error).message}`);
  }
  return keyv;
}

/**
 * The app's CacheModule for this Redis URL (none without one), connected before the app listens;
 * it disconnects Redis when the app closes.
 */
export function cacheModules(redisUrl: string | undefined, namespace?: string): DynamicModule[] {
  if (!redisUrl) return [];
  return [CacheModule.registerAsync({ isGlobal: true, useFactory: async () => ({ stores: [await connectedRedisKeyv(redisUrl, namespace)] }) })];
}
