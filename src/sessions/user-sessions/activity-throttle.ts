/**
 * The user index's activity throttle: `last_activity` written at most once per `activityInterval` per
 * session (no Django counterpart).
 */
import { LRUCache } from 'lru-cache';

/**
 * Whether a use of a session should write its activity now: at most once per `activityInterval`
 * per session in this process (0: every use). The write itself is conditional too, so another
 * process does not repeat it within the interval either.
 */
export class ActivityThrottle {
  readonly #written = new LRUCache<string, true>({ max: 10_000, ttl: 1000 });

  constructor(private readonly intervalSeconds: number) {}

  due(sessionKey: string): boolean {
    if (this.intervalSeconds === 0) return true;
    if (this.#written.has(sessionKey)) return false;
    this.#written.set(sessionKey, true, { ttl: this.intervalSeconds * 1000 });
    return true;
  }
}
