/**
 * Log hygiene for text a client controls (cookie values, signatures, stored data): no request may
 * forge a log line, send terminal escapes through it, or make the log grow more than a bounded line.
 */
import { LRUCache } from 'lru-cache';

/** `text` with control characters escaped (`\n`, `\u001b`, ...) and cut to `max` characters (default 80), saying how long it was. */
export function safeLogText(text: string, max = 80): string {
  const shown = text.length > max ? text.slice(0, max) : text;
  const escaped = shown.replace(
    // eslint-disable-next-line no-control-regex -- control characters are what this escapes
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return text.length > max ? `${escaped}… (${text.length} characters)` : escaped;
}

/**
 * Remembers what was logged recently (bounded, least recently used first out), so a warning about
 * one session is written once per `ttlMs`, not on every request that carries it.
 */
export class RecentlyLogged {
  readonly #seen: LRUCache<string, true>;

  constructor(max = 1000, ttlMs = 10 * 60 * 1000) {
    this.#seen = new LRUCache({ max, ttl: ttlMs });
  }

  /** True the first time `subject` is seen within the window. */
  firstTime(subject: string): boolean {
    if (this.#seen.has(subject)) return false;
    this.#seen.set(subject, true);
    return true;
  }
}
