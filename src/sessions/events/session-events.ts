/**
 * Session events: created, key rotated, destroyed (flush, revocation, cap eviction) and expired
 * (clearsessions). Delivered to the `onSessionEvent` option's listener and, when the app has
 * `@nestjs/event-emitter`, as `EventEmitter2` events of the same names (session-events.bridge.ts) —
 * so an app can, for example, disconnect a revoked user's WebSockets. Never a session key: a key is
 * a credential; `id` is the user index's public id.
 */

export type SessionEventType = 'session.created' | 'session.rotated' | 'session.destroyed' | 'session.expired';

export interface SessionEvent {
  type: SessionEventType;
  /** The engine's name (`db`, `cached_db`, ...). */
  engine: string;
  /** The session's public id (db and cached_db engines, as UserSessionsService lists it); null elsewhere and for `session.expired`. */
  id: string | null;
  /** The session's user (with `userSessions`), or null. */
  userId: string | null;
  /** `session.destroyed`: why (`timeout`: past the `absoluteAge` option). */
  reason?: 'flush' | 'revoke' | 'evicted' | 'timeout';
  /** `session.expired`: how many sessions clearsessions deleted. */
  count?: number;
}

export type SessionEventListener = (event: SessionEvent) => void;

/** The listeners of one SessionsModule: its option's and the EventEmitter2 bridge's. A throwing listener never fails the session operation. */
export class SessionEvents {
  readonly #listeners = new Set<SessionEventListener>();

  constructor(
    listener: SessionEventListener | undefined,
    private readonly onListenerError: (error: unknown) => void,
  ) {
    if (listener) this.#listeners.add(listener);
  }

  get hasListeners(): boolean {
    return this.#listeners.size > 0;
  }

  listen(listener: SessionEventListener): void {
    this.#listeners.add(listener);
  }

  emit(event: SessionEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }
}
