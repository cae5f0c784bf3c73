/**
 * The absolute timeout (option `absoluteAge`): a session is over a fixed time after it began, however
 * active it is (OWASP's absolute timeout, beside the idle one `cookie.age` gives). Django has none
 * built in; the start is kept in the session data as the `django-session-timeout` package keeps it
 * (`SESSION_TIMEOUT_KEY = "_session_init_timestamp_"`, `time.time()`: Unix seconds as a number), so a
 * Django site running its `SessionTimeoutMiddleware` reads and enforces the same start.
 */
import type { SessionData } from './session-dict';

/** The data key of the session's start: `django-session-timeout`'s, Unix seconds (a float, as Python's `time.time()`). */
export const SESSION_START_KEY = '_session_init_timestamp_';

export interface AbsoluteAgeOptions {
  /**
   * Seconds after its start at which a session is over, however active (default none). Its start is
   * kept in the data under `_session_init_timestamp_` (django-session-timeout's key, Unix seconds); a
   * session loaded past it is deleted and the request gets a new, empty session. `cycleKey()` (a login's
   * rotation) keeps the start; `flush()` ends the session, so the next one starts anew.
   */
  absoluteAge?: number;
}

/** `absoluteAge` resolved (SessionsConfig, SessionSettings): null for no absolute timeout. */
export interface AbsoluteAgeConfig {
  absoluteAge: number | null;
}

/** `absoluteAge` validated (null when unset); `fail` throws the module's options error. */
export function resolveAbsoluteAge(value: unknown, fail: (option: string, message: string) => never): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    fail('absoluteAge', `must be a positive number of seconds, got ${JSON.stringify(value)}`);
  return value;
}

/** Now as `time.time()` gives it: Unix seconds, to the millisecond. */
export function sessionStartNow(now = Date.now()): number {
  return now / 1000;
}

/**
 * What loaded data means under `absoluteAge`: `'over'` when its start is older (django-session-timeout's
 * `time.time() - init_time > expire_seconds`; a start that is not a number, which no writer of this key
 * stores, ends the session too), `'unstarted'` for a non-empty session without a start (written before
 * the option, or by code that does not keep one: it starts now, as django-session-timeout's `setdefault`
 * does), else `'running'`.
 */
export function absoluteAgeState(data: SessionData, absoluteAge: number, now = Date.now()): 'over' | 'unstarted' | 'running' {
  const start = data[SESSION_START_KEY];
  if (start === undefined) return Object.keys(data).length === 0 ? 'running' : 'unstarted';
  if (typeof start !== 'number' || !Number.isFinite(start)) return 'over';
  return sessionStartNow(now) - start > absoluteAge ? 'over' : 'running';
}
