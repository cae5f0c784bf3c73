/**
 * Session data as the cache engines' cache stores it (Django's cache backends pickle the session
 * dict; here JSON): a JSON string. Every store and serializer (an in-memory one that keeps
 * references, Keyv's default serializer, which treats a `toJSON` key specially, Redis) keeps a
 * string as it is, so any data key round-trips, and a request never shares its object with the
 * cache.
 */
import { emptyData, type SessionData } from '../../session';
import { SessionTooLargeException } from '../../session.errors';

/** The cache value of `data`: its JSON; SessionTooLargeException over `maxBytes`. */
export function cacheValueOf(data: SessionData, maxBytes: number): string {
  const json = JSON.stringify(data);
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) throw new SessionTooLargeException(bytes, maxBytes);
  return json;
}

/** Session data from a cache value: a JSON string (or an object, as earlier versions stored); anything else, or over `maxBytes`, is a miss. */
export function dataFrom(value: unknown, maxBytes: number): SessionData | undefined {
  let parsed = value;
  if (typeof value === 'string') {
    if (Buffer.byteLength(value) > maxBytes) return undefined;
    try {
      parsed = JSON.parse(value);
    } catch {
      return undefined;
    }
  } else if (value !== null && typeof value === 'object') {
    parsed = JSON.parse(JSON.stringify(value));
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  return Object.assign(emptyData(), parsed as SessionData);
}
