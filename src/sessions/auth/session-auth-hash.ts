/**
 * Django's `AbstractBaseUser.get_session_auth_hash` (`django/contrib/auth/base_user.py`) and its
 * constant-time comparison.
 */
import { timingSafeEqual } from 'node:crypto';
import { saltedHmac } from '../formats/signing';

const KEY_SALT = 'django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash';

/**
 * Django's `AbstractBaseUser.get_session_auth_hash()` (3.1+; with `secret`: one of
 * `get_session_auth_fallback_hash()`'s, 4.1+): an HMAC of the stored password hash, so a password
 * change on either side invalidates every session signed in with the old one.
 */
export function sessionAuthHash(password: string, secret: string): string {
  return saltedHmac(KEY_SALT, password, secret, 'sha256').toString('hex');
}

/** Django's `constant_time_compare` for two hashes (any input: a session value may be anything). */
export function sameHash(stored: unknown, expected: string): boolean {
  if (typeof stored !== 'string' || stored.length !== expected.length) return false;
  const a = Buffer.from(stored, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
