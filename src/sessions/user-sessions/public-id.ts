/** A session's public id in the user index: never its key (no Django counterpart). */
import { createHmac } from 'node:crypto';

/**
 * The public id of a session of the user index: an HMAC of its key column under the secret key,
 * 128 bits in base64url. Stable for the session's lifetime, useless as a credential: ids are what
 * lists, revocations and events show, never keys.
 */
export function publicSessionId(secretKey: string, storedKey: string): string {
  return createHmac('sha256', secretKey)
    .update(`nest-django-sessions.user-session:${storedKey}`)
    .digest()
    .subarray(0, 16)
    .toString('base64url');
}
