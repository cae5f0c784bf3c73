/** `maxSessionsPerUser`: what a login over the cap does, the same for every engine that enforces it. */
import type { AnySession } from '../session';
import type { SessionsConfig } from '../sessions.options';
import { publicSessionId } from './public-id';
import { SessionLimitReachedException } from './session-limit-reached.exception';

/**
 * The user's other sessions (least recently active first) a login must evict to stay within the
 * cap: none when there is room; with `refuse` over the cap, SessionLimitReachedException instead.
 */
export function sessionsToEvict(others: readonly string[], config: SessionsConfig): string[] {
  const { maxSessionsPerUser: max, maxSessionsPolicy: policy } = config.userSessions!;
  const excess = others.length + 1 - max!;
  if (excess <= 0) return [];
  if (policy === 'refuse') {
    config.telemetry?.capOutcome('refused');
    throw new SessionLimitReachedException(max!);
  }
  return others.slice(0, excess);
}

/** `session.destroyed` (reason `evicted`) for each session the cap evicted. */
export function reportEvictions(config: SessionsConfig, engine: string, userId: string, storedKeys: readonly string[]): void {
  if (storedKeys.length > 0) config.telemetry?.capOutcome('evicted', storedKeys.length);
  for (const storedKey of storedKeys) {
    config.events.emit({ type: 'session.destroyed', engine, id: publicSessionId(config.secretKey, storedKey), userId, reason: 'evicted' });
  }
}

/**
 * A login's write: `changes` set, then a new key (session fixation), saved at once — within the cap
 * when the user index is on. A refused login (SessionLimitReachedException, 409) stores nothing and
 * leaves the request's session as it was, unsaved.
 */
export async function signInUnderNewKey(session: AnySession, changes: Record<string, unknown>): Promise<void> {
  const previous = Object.keys(changes).map((key) => [key, session.has(key), session.get(key)] as const);
  session.update(changes);
  try {
    await session.cycleKey(); // the new row is written with its user, under the user's lock
    if (session.sessionKey === null) {
      // The visitor's session was deleted meanwhile (expired, signed out elsewhere): a new one is signed in.
      session.update(changes);
      await session.save();
    }
  } catch (error) {
    for (const [key, had, value] of previous) {
      if (had) session.set(key, value);
      else session.pop(key, undefined);
    }
    session.modified = false;
    throw error;
  }
}
