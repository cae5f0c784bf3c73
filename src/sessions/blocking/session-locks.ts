/**
 * SessionLocks: the locks of @BlockingSession, one per session (Laravel's `StartSession` takes
 * `cache->lock('session:'.$id, $lockSeconds)->block($waitSeconds)`). The backend is chosen once, on
 * first use, from the engine (option `blocking.backend` overrides): the cache engines on Redis lock on
 * that Redis, the db engines on PostgreSQL take advisory locks, anything else locks within this
 * instance (SQLite, file, the in-memory cache, signed_cookies, custom engines). An instance's own
 * requests queue in-process first, so only one of them at a time waits on the shared backend. Lock
 * names hold a digest of the session key, never the key.
 */
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { hashSessionKey } from '../engines/db/session-table';
import type { SessionsCache } from '../engines/cache/sessions-cache';
import { SessionsSetupError } from '../session.errors';
import { SESSIONS_CACHE, SESSIONS_CONFIG, SESSIONS_DATA_SOURCE } from '../sessions.constants';
import type { SessionsConfig } from '../sessions.options';
import type { BlockingSessionOptions } from './blocking.options';
import { PostgresSessionLock } from './postgres-session-lock';
import { ProcessSessionLock } from './process-session-lock';
import { RedisSessionLock, type RedisLockClient } from './redis-session-lock';
import type { SessionLock, SessionLockBackendName, SessionLockRelease } from './session-lock';

const logger = new Logger('Sessions');

interface ChosenBackend {
  name: SessionLockBackendName | 'custom';
  /** The shared lock; none for 'process'. */
  lock: SessionLock | undefined;
  /** Made here, so closed here (not an app's own SessionLock). */
  owned: boolean;
}

@Injectable()
export class SessionLocks implements OnApplicationBootstrap, OnModuleDestroy {
  /** This instance's queue, in front of the shared backend (or the only lock, for 'process'). */
  readonly #local = new ProcessSessionLock((name) =>
    logger.warn(`A blocking request held its session's lock (${name}) beyond blocking.lock seconds: the lock was freed`),
  );
  #backend: ChosenBackend | undefined;

  constructor(
    @Inject(SESSIONS_CONFIG) private readonly config: SessionsConfig,
    @Inject(SESSIONS_CACHE) private readonly cache: SessionsCache,
    @Inject(SESSIONS_DATA_SOURCE) private readonly dataSource: DataSource | null,
  ) {}

  /** A backend named in the options must be there: checked at start-up, not on the first blocking request. */
  onApplicationBootstrap(): void {
    if (typeof this.config.blocking.backend === 'string') this.backend();
  }

  /** The module's default wait, in seconds (option `blocking.wait`). */
  get defaultWait(): number {
    return this.config.blocking.wait;
  }

  /** Where the locks are: 'redis', 'postgres', 'process' or 'custom' (decided on first use). */
  get backendName(): SessionLockBackendName | 'custom' {
    return this.backend().name;
  }

  /**
   * Takes the lock of the session `sessionKey` (`wait`, `lock`: seconds, default the module's
   * `blocking` option): its release, or null when `wait` ran out. Rejects when the backend fails.
   */
  async acquire(sessionKey: string, options: BlockingSessionOptions = {}): Promise<SessionLockRelease | null> {
    const waitMs = (options.wait ?? this.config.blocking.wait) * 1000;
    const ttlMs = (options.lock ?? this.config.blocking.lock) * 1000;
    const name = `session:${hashSessionKey(sessionKey)}`;
    const shared = this.backend().lock;
    const deadline = Date.now() + waitMs;
    const local = await this.#local.acquire(name, { waitMs, ttlMs });
    if (!local || !shared) return local;
    let remote: SessionLockRelease | null;
    try {
      remote = await shared.acquire(name, { waitMs: Math.max(0, deadline - Date.now()), ttlMs });
    } catch (error) {
      await local();
      throw error;
    }
    if (!remote) {
      await local();
      return null;
    }
    let held = true;
    return async () => {
      if (!held) return;
      held = false;
      try {
        await remote();
      } catch (error) {
        // Its TTL frees it.
        logger.warn(`Could not release a blocking session's lock: ${error instanceof Error ? error.message : String(error)}`);
      } finally {
        await local();
      }
    };
  }

  /** The shared backend (no lock for 'process': the local queue is the lock). */
  private backend(): ChosenBackend {
    if (this.#backend) return this.#backend;
    const { backend } = this.config.blocking;
    if (typeof backend === 'object') return (this.#backend = { name: 'custom', lock: backend, owned: false });
    const { engine } = this.config;
    const cached = engine === 'cache' || engine === 'cached_db';
    // Resolving the cache of an engine that has none would create one: only when it is asked for.
    const redis = cached || backend === 'redis' ? this.cache.redisStore() : undefined;
    const postgres = this.dataSource?.options.type === 'postgres' ? this.dataSource : undefined;
    const name = backend ?? (redis ? 'redis' : postgres && (engine === 'db' || engine === 'cached_db') ? 'postgres' : 'process');
    let lock: SessionLock | undefined;
    if (name === 'redis') {
      if (!redis) throw new SessionsSetupError('blocking.backend "redis" needs the sessions\' cache on Redis (@keyv/redis)');
      lock = new RedisSessionLock(
        () => redis.client() as Promise<RedisLockClient>,
        (lockName) => redis.storeKey(`lock:${lockName}`),
      );
    } else if (name === 'postgres') {
      if (!postgres) throw new SessionsSetupError('blocking.backend "postgres" needs a TypeORM DataSource on PostgreSQL');
      lock = new PostgresSessionLock(postgres);
    }
    logger.debug(`Blocking sessions lock on ${name}`);
    return (this.#backend = { name, lock, owned: true });
  }

  async onModuleDestroy(): Promise<void> {
    if (this.#backend?.owned) await this.#backend.lock?.close?.();
  }
}
