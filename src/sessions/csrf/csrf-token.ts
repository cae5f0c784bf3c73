/**
 * Django's CSRF secrets and tokens (`django/middleware/csrf.py`): a secret is 32 characters of
 * `CSRF_ALLOWED_CHARS`; a token is the secret masked with a fresh random mask (64 characters), so
 * the token in a page changes on every response (BREACH) while the secret behind it stays.
 */
import { randomInt } from 'node:crypto';

export const CSRF_SECRET_LENGTH = 32;
export const CSRF_TOKEN_LENGTH = 2 * CSRF_SECRET_LENGTH;
/** `string.ascii_letters + string.digits`, in Python's order (the mask's arithmetic depends on it). */
export const CSRF_ALLOWED_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** Where `CSRF_USE_SESSIONS` keeps the secret (Django's `CSRF_SESSION_KEY`). */
export const CSRF_SESSION_KEY = '_csrftoken';

const INVALID_CHARS = /[^a-zA-Z0-9]/;
/** Each allowed character's index, by char code (every request with a token unmasks 32 of them). */
const INDEX = new Int8Array(128).fill(-1);
for (let i = 0; i < CSRF_ALLOWED_CHARS.length; i++) INDEX[CSRF_ALLOWED_CHARS.charCodeAt(i)] = i;
const indexOf = (char: string) => INDEX[char.charCodeAt(0)];

/** Django's `_get_new_csrf_string`: a new secret (or mask). */
export function newCsrfSecret(): string {
  let secret = '';
  for (let i = 0; i < CSRF_SECRET_LENGTH; i++) secret += CSRF_ALLOWED_CHARS[randomInt(CSRF_ALLOWED_CHARS.length)];
  return secret;
}

/** Django's `_mask_cipher_secret`: mask + each secret character shifted by the mask's. */
export function maskSecret(secret: string, mask: string = newCsrfSecret()): string {
  let cipher = '';
  for (let i = 0; i < secret.length; i++) cipher += CSRF_ALLOWED_CHARS[(indexOf(secret[i]) + indexOf(mask[i])) % CSRF_ALLOWED_CHARS.length];
  return mask + cipher;
}

/** Django's `_unmask_cipher_token`: the secret of a 64-character token. */
export function unmaskToken(token: string): string {
  const mask = token.slice(0, CSRF_SECRET_LENGTH);
  let secret = '';
  for (let i = CSRF_SECRET_LENGTH; i < token.length; i++) {
    const shift = indexOf(token[i]) - indexOf(mask[i - CSRF_SECRET_LENGTH]);
    secret += CSRF_ALLOWED_CHARS[(shift + CSRF_ALLOWED_CHARS.length) % CSRF_ALLOWED_CHARS.length];
  }
  return secret;
}

/** Django's `_check_token_format`: the reason a cookie or token is malformed (`has incorrect length`, `has invalid characters`), or null. */
export function tokenFormatError(token: string): string | null {
  if (token.length !== CSRF_TOKEN_LENGTH && token.length !== CSRF_SECRET_LENGTH) return 'has incorrect length';
  if (INVALID_CHARS.test(token)) return 'has invalid characters';
  return null;
}

/**
 * The secret a stored value holds: Django 4.1+ stores the secret itself (32 characters), Django
 * before 4.1 (3.2's cookie and session) a masked token (64). Null for a malformed value.
 */
export function secretOf(stored: string): string | null {
  if (tokenFormatError(stored) !== null) return null;
  return stored.length === CSRF_TOKEN_LENGTH ? unmaskToken(stored) : stored;
}

/**
 * Django's `_does_token_match`: a well-formed request token (masked or not) against the secret, in
 * constant time (Django's `constant_time_compare`): every character is unmasked and compared, the
 * differences accumulated, with no string built on the way (every unsafe request runs this).
 */
export function tokenMatches(requestToken: string, secret: string): boolean {
  if (secret.length !== CSRF_SECRET_LENGTH) return false;
  const masked = requestToken.length === CSRF_TOKEN_LENGTH;
  if (!masked && requestToken.length !== CSRF_SECRET_LENGTH) return false;
  const size = CSRF_ALLOWED_CHARS.length;
  let difference = 0;
  for (let i = 0; i < CSRF_SECRET_LENGTH; i++) {
    const candidate = masked
      ? (INDEX[requestToken.charCodeAt(CSRF_SECRET_LENGTH + i)] - INDEX[requestToken.charCodeAt(i)] + size) % size
      : INDEX[requestToken.charCodeAt(i)];
    difference |= candidate ^ INDEX[secret.charCodeAt(i)];
  }
  return difference === 0;
}
