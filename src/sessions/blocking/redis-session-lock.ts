/**
 * The lock on Redis (Laravel's `RedisLock`: `SET NX EX`, and a release that checks the owner in Lua):
 * `SET <name> <token> NX PX <ttl>` takes it for `ttl` ms, so a crashed holder frees it then; the
 * release deletes it only while it still holds the holder's token (a lock that outlived its TTL may
 * be another's by now). Polled while held elsewhere. Works on one server and on a Redis Cluster (one
 * key per lock). The client is node-redis's (v4/v5), as `@keyv/redis` has it; a command pending
 * beyond the cache's time limit fails (cache-timeout.ts).
 */
import { randomUUID } from 'node:crypto';
import { withTimeout } from '../engines/cache/cache-timeout';
import { pollUntil, type SessionLock, type SessionLockRelease, type SessionLockRequest } from './session-lock';

/** The node-redis commands used (a client, cluster or sentinel has them). */
export interface RedisLockClient {
  set(key: string, value: string, options: { condition: 'NX'; expiration: { type: 'PX'; value: number } }): Promise<string | null>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** Deletes the lock only while it holds this holder's token. */
const RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

export class RedisSessionLock implements SessionLock {
  /**
   * `client`: a node-redis client (or a function resolving it, connected); `keyOf(name)`: the Redis
   * key of a lock (default `nest-django-sessions:<name>`).
   */
  constructor(
    private readonly client: RedisLockClient | (() => Promise<RedisLockClient>),
    private readonly keyOf: (name: string) => string = (name) => `nest-django-sessions:${name}`,
  ) {}

  async acquire(name: string, { waitMs, ttlMs }: SessionLockRequest): Promise<SessionLockRelease | null> {
    const client = typeof this.client === 'function' ? await this.client() : this.client;
    const key = this.keyOf(name);
    const token = randomUUID();
    const ttl = Math.max(1, Math.ceil(ttlMs));
    const taken = await pollUntil(
      async () => (await withTimeout(client.set(key, token, { condition: 'NX', expiration: { type: 'PX', value: ttl } }), 'lock')) === 'OK',
      waitMs,
    );
    if (!taken) return null;
    let held = true;
    return async () => {
      if (!held) return;
      held = false;
      await withTimeout(client.eval(RELEASE_SCRIPT, { keys: [key], arguments: [token] }), 'unlock');
    };
  }
}
