/**
 * The in-process lock (Laravel's `ArrayLock`, its lock for a single process): a keyed mutex whose
 * waiters queue in arrival order, each with its own wait limit, and whose holds free themselves after
 * their TTL. Alone it serialises the requests of one instance: the backend for engines that have no
 * shared store (SQLite, file, the in-memory cache, signed_cookies); SessionLocks also puts it in front
 * of the Redis and PostgreSQL locks, so an instance's own requests wait here instead of polling.
 */
import type { SessionLock, SessionLockRelease, SessionLockRequest } from './session-lock';

interface Waiter {
  grant: () => void;
  timer: NodeJS.Timeout | undefined;
}

/** A held name: those waiting for it, first come first served. */
interface Entry {
  waiters: Waiter[];
}

export class ProcessSessionLock implements SessionLock {
  /** Held names and their queues; an idle name leaves the map. */
  readonly #held = new Map<string, Entry>();

  /** `onExpired(name)`: a hold outlived its TTL and was freed (SessionLocks logs it). */
  constructor(private readonly onExpired?: (name: string) => void) {}

  acquire(name: string, { waitMs, ttlMs }: SessionLockRequest): Promise<SessionLockRelease | null> {
    const entry = this.#held.get(name);
    if (!entry) {
      this.#held.set(name, { waiters: [] });
      return Promise.resolve(this.hold(name, ttlMs));
    }
    if (waitMs <= 0) return Promise.resolve(null);
    return new Promise((resolve) => {
      const waiter: Waiter = { grant: () => resolve(this.hold(name, ttlMs)), timer: undefined };
      waiter.timer = setTimeout(() => {
        entry.waiters.splice(entry.waiters.indexOf(waiter), 1);
        resolve(null);
      }, waitMs);
      entry.waiters.push(waiter);
    });
  }

  /** The release of a hold just granted on `name`; after `ttlMs` it frees itself. */
  private hold(name: string, ttlMs: number): SessionLockRelease {
    let held = true;
    const free = () => {
      if (!held) return;
      held = false;
      clearTimeout(expiry);
      this.handOver(name);
    };
    const expiry = setTimeout(() => {
      free();
      this.onExpired?.(name);
    }, ttlMs);
    expiry.unref();
    return () => {
      free();
      return Promise.resolve();
    };
  }

  /** The next waiter of `name` holds it now, or the name is free. */
  private handOver(name: string): void {
    const entry = this.#held.get(name);
    const next = entry?.waiters.shift();
    if (!next) {
      this.#held.delete(name);
      return;
    }
    clearTimeout(next.timer);
    next.grant();
  }

  /** How many names are held (0 when idle). */
  get size(): number {
    return this.#held.size;
  }
}
