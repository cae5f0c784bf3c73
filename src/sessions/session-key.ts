/** Session keys: Django's `get_random_string(32)` keys and the rules for a key a client sends. */
import { randomInt } from 'node:crypto';

export const VALID_KEY_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** Django's `_validate_session_key`: a key shorter than 8 characters is never taken (and its cookie is deleted). */
export function isValidSessionKey(key: string | null | undefined): key is string {
  return typeof key === 'string' && key.length >= 8;
}

/**
 * What a key-based engine (db, cache, file) can have issued: Django's rule narrowed to its alphabet
 * and to the 40 characters of the `session_key` column. Any other key (a NUL, a quote, 10 KB) is an
 * unknown session that never reaches a store.
 */
export function isStorableSessionKey(key: string | null | undefined): key is string {
  return typeof key === 'string' && /^[a-z0-9]{8,40}$/.test(key);
}

/** 32 characters of `[a-z0-9]` from the CSPRNG (`get_random_string(32, VALID_KEY_CHARS)`). */
export function newSessionKey(): string {
  let key = '';
  for (let i = 0; i < 32; i++) key += VALID_KEY_CHARS[randomInt(36)];
  return key;
}
