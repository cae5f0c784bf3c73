/**
 * The `cache` engine (Django's `backends.cache`, SPEC §7.3): a session is one cache entry under
 * `django.contrib.sessions.cache<key>` holding the data object, expiring with the session. Nothing
 * else stores it, so sessions live as long as the cache keeps them; several app instances share
 * sessions only through a shared cache such as Redis.
 */
import { Inject, Injectable } from '@nestjs/common';
import { CreateError, UpdateError } from '../session.errors';
import { emptyData, SessionBase, type SessionData } from '../session';
import { SESSIONS_CACHE, SESSIONS_CONFIG } from '../sessions.constants';
import type { SessionsConfig } from '../sessions.options';
import type { SessionsCache } from './session-cache';
import { SessionStore } from './session-store';

export const CACHE_KEY_PREFIX = 'django.contrib.sessions.cache';
/** Django's bound: a cache that silently fails to store looks like endless key collisions. */
const CREATE_ATTEMPTS = 10_000;
export const CACHE_UNAVAILABLE_MESSAGE = 'Unable to create a new session key. It is likely that the cache is unavailable.';

export class CacheSession<TData extends object = SessionData> extends SessionBase<TData> {
  constructor(
    sessionKey: string | null | undefined,
    config: SessionsConfig,
    protected readonly cache: SessionsCache,
  ) {
    super(sessionKey, config);
  }

  /** Django's `cache_key`: the cache key of this session (a key is created when it has none). */
  async cacheKey(): Promise<string> {
    return CACHE_KEY_PREFIX + (await this.getOrCreateSessionKey());
  }

  override async load(): Promise<SessionData> {
    const key = this.sessionKey;
    const data = key === null ? undefined : await this.cache.get(CACHE_KEY_PREFIX + key);
    if (data !== undefined) return data;
    this.setSessionKey(null);
    return emptyData();
  }

  override async exists(sessionKey: string | null): Promise<boolean> {
    return !!sessionKey && (await this.cache.has(CACHE_KEY_PREFIX + sessionKey));
  }

  override create(): Promise<void> {
    return this.createUnderNewKey({ attempts: CREATE_ATTEMPTS, message: CACHE_UNAVAILABLE_MESSAGE });
  }

  override async save(mustCreate = false): Promise<void> {
    if (this.sessionKey === null) return this.create();
    const cacheKey = await this.cacheKey();
    if (mustCreate) {
      const data = this.getSessionData(true);
      if (!(await this.cache.addIfAbsent(cacheKey, data, this.getExpiryAge()))) throw new CreateError(`Session key ${this.sessionKey} is taken`);
      return;
    }
    // Only an update of a session still in the cache: a deleted one (a logout elsewhere) stays deleted.
    if (!(await this.cache.has(cacheKey))) throw new UpdateError('The session is no longer in the cache');
    await this.ensureLoaded();
    await this.cache.set(cacheKey, this.getSessionData(), this.getExpiryAge());
  }

  override async delete(sessionKey?: string | null): Promise<void> {
    const key = sessionKey ?? this.sessionKey;
    if (key !== null) await this.cache.delete(CACHE_KEY_PREFIX + key);
  }
}

@Injectable()
export class CacheSessionStore extends SessionStore {
  readonly engine: string = 'cache';

  constructor(
    @Inject(SESSIONS_CONFIG) protected readonly config: SessionsConfig,
    @Inject(SESSIONS_CACHE) readonly cache: SessionsCache,
  ) {
    super();
  }

  session<T extends object = SessionData>(sessionKey?: string | null): CacheSession<T> {
    return new CacheSession<T>(sessionKey, this.config, this.cache);
  }

  /** The cache expires sessions itself (Django: a no-op); only this process's own in-memory cache needs sweeping. */
  override clearExpired(): Promise<number> {
    return this.cache.sweepExpired();
  }
}
