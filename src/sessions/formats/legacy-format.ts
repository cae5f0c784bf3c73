/**
 * The session data format of Django < 3.1, which Django 3.1/3.2 still read (and wrote
 * with DEFAULT_HASHING_ALGORITHM = 'sha1'): standard base64 of `<hex HMAC-SHA1>:<JSON>`, the HMAC
 * keyed with SHA1("django.contrib.sessions" + class name + SECRET_KEY). Read-only, behind the
 * `acceptLegacyFormat` option; Django 4.0+ reads such rows as empty sessions. Ports Django 3.2's
 * `SessionBase._legacy_decode` (`django/contrib/sessions/backends/base.py`).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { BadSignature } from './signing';

/** Legacy data is base64 (no `:`); data written since Django 3.1 always holds `:` separators. */
export function isLegacySessionData(sessionData: string): boolean {
  return !sessionData.includes(':');
}

/**
 * Django 3.2's `_legacy_decode`: the JSON value, or BadSignature when no key matches. `keySalt` is
 * the 3.1+ salt (`django.contrib.sessions.<ClassName>`); the legacy one is the same without the dot.
 */
export function legacyLoads(sessionData: string, secrets: readonly string[], keySalt: string): unknown {
  // Lenient like Python's b64decode: characters outside the alphabet are skipped.
  const decoded = Buffer.from(sessionData, 'base64');
  const separator = decoded.indexOf(':');
  if (separator < 0) throw new BadSignature('No ":" found in legacy session data');
  const hash = decoded.subarray(0, separator);
  const serialized = decoded.subarray(separator + 1);
  const legacySalt = keySalt.replace(/^django\.contrib\.sessions\./, 'django.contrib.sessions');
  for (const secret of secrets) {
    const key = createHash('sha1')
      .update(legacySalt + secret, 'utf8')
      .digest();
    const expected = Buffer.from(createHmac('sha1', key).update(serialized).digest('hex'), 'latin1');
    if (expected.length === hash.length && timingSafeEqual(expected, hash)) return JSON.parse(serialized.toString('utf8'));
  }
  throw new BadSignature('Legacy session data hash does not match');
}
