/**
 * A session's own expiry, `_session_expiry` in its data (Django's `set_expiry`): what may be stored
 * there and what it means, checked the same way when a value is set and when data is loaded.
 */
import { SessionExpiryError } from './session.errors';
import { isoformat, parseIsoDatetime } from './formats/python-datetime';
import { safeLogText } from './log-text';

/** Where `setExpiry` keeps a per-session expiry in the data (Django's `_session_expiry`). */
export const EXPIRY_KEY = '_session_expiry';

export interface ExpiryOptions {
  /** The moment the expiry is computed from (default: now). */
  modification?: Date;
  /** The stored expiry to use instead of loading `_session_expiry` (even `null` counts). */
  expiry?: unknown;
}

export type ExpiryValue = number | Date | null;

/** Python's datetime range (Django must read every expiry back), which every database and cookie also holds. */
const EARLIEST_EXPIRY = Date.parse('0001-01-01T00:00:00Z');
const LATEST_EXPIRY = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * The largest expiry in seconds, either way: about 317 years. A number is a sliding expiry counted
 * from each save, so its bound is fixed rather than "in range from now", which would let a value
 * accepted today read as out of range later; from any date of the next millennia it stays in range.
 */
export const MAX_EXPIRY_SECONDS = 1e10;

function inExpiryRange(time: number): boolean {
  return time >= EARLIEST_EXPIRY && time <= LATEST_EXPIRY;
}

/**
 * A `_session_expiry` as stored (Django's forms): absent or null (the global policy), a finite
 * number of seconds within ±MAX_EXPIRY_SECONDS, or an ISO date string of years 1–9999. Anything
 * else is corrupt data.
 */
export function isValidStoredExpiry(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (typeof value === 'number') return Number.isFinite(value) && Math.abs(value) <= MAX_EXPIRY_SECONDS;
  if (typeof value !== 'string') return false;
  try {
    return inExpiryRange(parseIsoDatetime(value).getTime());
  } catch {
    return false;
  }
}

/**
 * What `setExpiry(value)` and `set('_session_expiry', value)` store: seconds as a number, a Date as
 * Django's ISO string. Anything isValidStoredExpiry refuses throws SessionExpiryError.
 */
export function storableExpiry(value: unknown): number | string | null {
  const stored = value instanceof Date && !Number.isNaN(value.getTime()) ? isoformat(value) : value;
  if (stored === null || ((typeof stored === 'number' || typeof stored === 'string') && isValidStoredExpiry(stored))) return stored;
  const shown =
    typeof value === 'string' ? JSON.stringify(safeLogText(value)) : value instanceof Date ? 'an invalid Date' : String(value).slice(0, 40);
  throw new SessionExpiryError(
    `Session expiry must be a number of seconds within ±${MAX_EXPIRY_SECONDS}, a Date or an ISO date of years 1 to 9999, or null; got ${shown}`,
  );
}
