/**
 * @BlockingSession's settings (Laravel's `Route::block($lockSeconds, $waitSeconds)` and the session
 * manager's `defaultRouteBlockLockSeconds`/`defaultRouteBlockWaitSeconds`, both 10): the module's
 * defaults (option `blocking`), a route's own, and their validation.
 */
import { SESSION_LOCK_BACKENDS, type SessionLock, type SessionLockBackend } from './session-lock';

/** The metadata key of a blocking route's (or controller's) options. */
export const BLOCKING_SESSION = 'nest-django-sessions:blocking-session';

/** A route's settings (`@BlockingSession({ wait, lock })`), in seconds. */
export interface BlockingSessionOptions {
  /** How long a request waits for the session's lock before the 423 (default 10; 0: no wait). */
  wait?: number;
  /** How long the lock is held at most, should the holder hang or die: set it above the route's longest run (default 10). */
  lock?: number;
}

/** The module option `blocking`: the routes' defaults, and the lock's backend. */
export interface BlockingOptions extends BlockingSessionOptions {
  /**
   * Where the locks are (default: chosen from the engine, docs/blocking-sessions.md): `'redis'` (the
   * cache engines' Redis), `'postgres'` (advisory locks on the db engines' PostgreSQL), `'process'`
   * (this instance only), or a SessionLock of the app's (e.g. a RedisSessionLock on a Redis of its own).
   */
  backend?: SessionLockBackend;
}

export interface BlockingConfig {
  wait: number;
  lock: number;
  backend: SessionLockBackend | undefined;
}

export const DEFAULT_BLOCK_WAIT_SECONDS = 10;
export const DEFAULT_BLOCK_LOCK_SECONDS = 10;

type Fail = (option: string, message: string) => never;

/** The route's seconds, checked: `wait` ≥ 0, `lock` > 0, both finite. */
export function checkBlockingSeconds(options: BlockingSessionOptions, fail: Fail, prefix: string): void {
  if (typeof options !== 'object' || options === null) fail(prefix || 'options', 'must be an object');
  const { wait, lock } = options;
  if (wait !== undefined && (typeof wait !== 'number' || !Number.isFinite(wait) || wait < 0))
    fail(`${prefix}wait`, `must be a number of seconds, 0 or more, got ${JSON.stringify(wait)}`);
  if (lock !== undefined && (typeof lock !== 'number' || !Number.isFinite(lock) || lock <= 0))
    fail(`${prefix}lock`, `must be a positive number of seconds, got ${JSON.stringify(lock)}`);
}

export function resolveBlockingOptions(options: BlockingOptions | undefined, fail: Fail): BlockingConfig {
  const blocking = options ?? {};
  checkBlockingSeconds(blocking, fail, 'blocking.');
  const { backend } = blocking;
  if (
    backend !== undefined &&
    !(typeof backend === 'string'
      ? (SESSION_LOCK_BACKENDS as readonly string[]).includes(backend)
      : typeof (backend as Partial<SessionLock> | null)?.acquire === 'function')
  ) {
    fail('blocking.backend', `must be ${SESSION_LOCK_BACKENDS.join(', ')} or a SessionLock, got ${JSON.stringify(backend)}`);
  }
  return { wait: blocking.wait ?? DEFAULT_BLOCK_WAIT_SECONDS, lock: blocking.lock ?? DEFAULT_BLOCK_LOCK_SECONDS, backend };
}
