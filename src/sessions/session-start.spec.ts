/** The absolute timeout's pure parts (django-session-timeout's start key and test) and its end of a loaded session. */
import { absoluteAgeState, SESSION_START_KEY, sessionStartNow } from './session-start';
import { emptyData, SessionBase, type SessionData } from './session';
import { resolveSessionsOptions, SessionsOptionsError } from './sessions.options';
import type { SessionEvent } from './events/session-events';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0, 250);
const data = (values: SessionData) => Object.assign(emptyData(), values);

describe('absoluteAgeState', () => {
  it("is django-session-timeout's test: over once now - start > the age, in Unix seconds", () => {
    const start = sessionStartNow(NOW);
    expect(start).toBe(NOW / 1000);
    expect(absoluteAgeState(data({ [SESSION_START_KEY]: start - 3 }), 3, NOW)).toBe('running');
    expect(absoluteAgeState(data({ [SESSION_START_KEY]: start - 3.001 }), 3, NOW)).toBe('over');
    expect(absoluteAgeState(data({ [SESSION_START_KEY]: start + 60 }), 3, NOW)).toBe('running'); // another instance's clock ahead
  });

  it('an empty session is running; data without a start is unstarted; a start that is not a number ends it', () => {
    expect(absoluteAgeState(emptyData(), 3, NOW)).toBe('running');
    expect(absoluteAgeState(data({ a: 1 }), 3, NOW)).toBe('unstarted');
    expect(absoluteAgeState(data({ [SESSION_START_KEY]: '2026-01-01T12:00:00' }), 3, NOW)).toBe('over');
    expect(absoluteAgeState(data({ [SESSION_START_KEY]: null }), 3, NOW)).toBe('over');
  });
});

describe('the absoluteAge option', () => {
  it('is unset by default', () => {
    expect(resolveSessionsOptions({ secretKey: 'k' }).absoluteAge).toBeNull();
    expect(resolveSessionsOptions({ secretKey: 'k', absoluteAge: 1.5 }).absoluteAge).toBe(1.5);
  });

  it.each([0, -1, Infinity, '60'])('refuses %j at start-up', (absoluteAge) => {
    const resolve = () => resolveSessionsOptions({ secretKey: 'k', absoluteAge: absoluteAge as number });
    expect(resolve).toThrow(SessionsOptionsError);
    expect(resolve).toThrow('SessionsModule option "absoluteAge" must be a positive number of seconds');
  });
});

/** A store of one process's memory: what SessionBase does on load, whatever the engine. */
class MemorySession extends SessionBase {
  static rows = new Map<string, SessionData>();
  override load(): Promise<SessionData> {
    const row = MemorySession.rows.get(this.sessionKey!);
    if (!row) this.setSessionKey(null);
    return Promise.resolve(data(row ?? {}));
  }
  override delete(key: string | null = this.sessionKey): Promise<void> {
    if (key !== null) MemorySession.rows.delete(key);
    return Promise.resolve();
  }
}

describe('a session loaded under absoluteAge', () => {
  const events: SessionEvent[] = [];
  const config = resolveSessionsOptions({ secretKey: 'k', absoluteAge: 60, onSessionEvent: (event) => events.push(event) });
  beforeEach(() => {
    events.length = 0;
    MemorySession.rows.clear();
  });

  it('past its age: deleted, and the request goes on with a new, empty session (a destroyed event, reason timeout)', async () => {
    MemorySession.rows.set('over0000key', { a: 1, [SESSION_START_KEY]: Date.now() / 1000 - 61 });
    const session = await new MemorySession('over0000key', config).ensureLoaded();
    expect(session.sessionKey).toBeNull();
    expect(session.toJSON()).toEqual({});
    expect(MemorySession.rows.has('over0000key')).toBe(false);
    expect(events).toEqual([{ type: 'session.destroyed', engine: 'db', id: null, userId: null, reason: 'timeout' }]);
  });

  it('within its age: as stored, untouched', async () => {
    const start = Date.now() / 1000 - 59;
    MemorySession.rows.set('live0000key', { a: 1, [SESSION_START_KEY]: start });
    const session = await new MemorySession('live0000key', config).ensureLoaded();
    expect(session.toJSON()).toEqual({ a: 1, [SESSION_START_KEY]: start });
    expect(session.modified).toBe(false);
  });

  it('without a start (stored before the option): it starts now, and the session is saved with it', async () => {
    MemorySession.rows.set('old00000key', { a: 1 });
    const before = Date.now() / 1000;
    const session = await new MemorySession('old00000key', config).ensureLoaded();
    expect(session.get(SESSION_START_KEY)).toBeGreaterThanOrEqual(before);
    expect(session.modified).toBe(true);
  });

  it('without the option nothing is looked at', async () => {
    MemorySession.rows.set('any00000key', { a: 1, [SESSION_START_KEY]: 0 });
    const session = await new MemorySession('any00000key', resolveSessionsOptions({ secretKey: 'k' })).ensureLoaded();
    expect(session.toJSON()).toEqual({ a: 1, [SESSION_START_KEY]: 0 });
  });
});
