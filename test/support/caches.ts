/**
 * Real caches for tests: an in-memory cache-manager cache, or the machine's Redis (TEST_REDIS_URL,
 * default redis://127.0.0.1:6379) under a key namespace private to the caller, whose keys are
 * deleted afterwards (never FLUSHALL/FLUSHDB: other programs share that Redis). An unreachable
 * Redis fails the test. `startPrivateRedis` runs a redis-server of the test's own, to stop at will.
 */
import KeyvRedis from '@keyv/redis';
import { createCache, type Cache } from 'cache-manager';
import { Keyv } from 'keyv';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { redisKeyv } from '../../example/cache';

export type CacheKind = 'memory' | 'redis';
export const CACHE_KINDS: CacheKind[] = ['memory', 'redis'];

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestCache {
  kind: CacheKind;
  cache: Cache;
  /** The Redis key namespace (redis only). */
  namespace?: string;
  close(): Promise<void>;
}

/** A namespace no other test file uses. */
export function uniqueNamespace(label: string): string {
  return `test-${label}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export async function createTestCache(kind: CacheKind, url = REDIS_URL): Promise<TestCache> {
  if (kind === 'memory') {
    const cache = createCache({ stores: [new Keyv()] });
    return { kind, cache, close: async () => void (await cache.disconnect()) };
  }
  const namespace = uniqueNamespace('sessions');
  const keyv = redisKeyv({ url }, namespace);
  try {
    await (keyv.store as KeyvRedis<unknown>).getClient();
  } catch (error) {
    throw new Error(`Redis is unreachable at ${url} (tests need it): ${(error as Error).message}`, { cause: error });
  }
  const cache = createCache({ stores: [keyv] });
  return {
    kind,
    cache,
    namespace,
    close: async () => {
      await keyv.clear(); // only this namespace's keys (SCAN MATCH <namespace>::*)
      await cache.disconnect();
    },
  };
}

/** The raw Redis keys of a namespace (to check what the engines wrote). */
export async function redisKeys(testCache: TestCache): Promise<string[]> {
  const client = await (testCache.cache.stores[0].store as KeyvRedis<unknown>).getClient();
  return (client as unknown as { keys(pattern: string): Promise<string[]> }).keys(`${testCache.namespace}::*`);
}

export interface PrivateRedis {
  url: string;
  port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A redis-server of the caller's own on `port` (no persistence); start() and stop() it at will. */
export function privateRedis(port: number): PrivateRedis {
  let server: ChildProcess | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      if (await isListening(port)) throw new Error(`Port ${port} is already taken: cannot start a private redis-server there`);
      let spawnError: Error | undefined;
      server = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      server.once('error', (error) => (spawnError = error));
      for (let attempt = 0; !(await isListening(port)); attempt++) {
        if (attempt > 100 || server.exitCode !== null || spawnError) {
          throw new Error(`redis-server did not start on port ${port}${spawnError ? `: ${spawnError.message}` : ''}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      const running = server;
      server = undefined;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGTERM');
      await exited;
    },
  };
}

/** The session data a cache entry holds (the engines store it as a JSON string); undefined when absent. */
export async function cachedData(cache: TestCache['cache'], key: string): Promise<unknown> {
  const value = await cache.get<string>(key);
  return value === undefined ? undefined : JSON.parse(value);
}
