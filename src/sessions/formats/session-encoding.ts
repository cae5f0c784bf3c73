/**
 * Stored session data as Django writes it: `SessionBase.encode` / `decode`
 * (`django/contrib/sessions/backends/base.py`), signed with the session class's salt; the pre-3.1
 * format too with `acceptLegacyFormat`.
 */
import { emptyData, type SessionData } from '../session-dict';
import type { SessionSettings } from '../session-settings';
import { isLegacySessionData, legacyLoads } from './legacy-format';
import { BadSignature, dumps, loads, maxSignedLength, OversizedPayload } from './signing';

/** Django's `encode`: signed, compressed JSON; SessionTooLargeException when the JSON exceeds `maxSessionBytes`. */
export function encodeSessionData(data: SessionData, settings: SessionSettings, salt: string): string {
  return dumps(data, { secret: settings.secretKey, salt, compress: true, maxBytes: settings.maxSessionBytes });
}

/**
 * Django's `decode`. Never throws: tampered, corrupt or oversized data (over `maxSessionBytes`,
 * before or after inflating) decodes to an empty session; `reportCorrupt` hears why (not for data
 * that merely fails to parse, which Django also drops silently).
 */
export function decodeSessionData(
  sessionData: string,
  settings: SessionSettings,
  salt: string,
  reportCorrupt: (reason: string) => void,
): SessionData {
  const { secretKeys: secrets, maxSessionBytes: maxBytes } = settings;
  try {
    if (sessionData.length > maxSignedLength(maxBytes)) throw new OversizedPayload(`${sessionData.length} characters of stored data`);
    const value =
      settings.acceptLegacyFormat && isLegacySessionData(sessionData)
        ? legacyLoads(sessionData, secrets, salt)
        : loads(sessionData, { secrets, salt, maxBytes });
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return Object.assign(emptyData(), value);
    reportCorrupt('the signed value is not an object');
  } catch (error) {
    if (error instanceof BadSignature || error instanceof OversizedPayload) reportCorrupt(error.message);
  }
  return emptyData();
}
