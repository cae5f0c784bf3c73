/**
 * The lock @BlockingSession takes on a session (Laravel's `Illuminate\Contracts\Cache\Lock`, which its
 * `StartSession::handleRequestWhileBlocking` takes through the cache's `lock()`): the interface every
 * backend implements, and the wait shared by those that poll.
 */

/** Frees a held lock; calling it again does nothing. */
export type SessionLockRelease = () => Promise<void>;

export interface SessionLockRequest {
  /** How long to wait for the lock (ms); 0: one attempt. */
  waitMs: number;
  /** How long the lock is held at most (ms): it frees itself then, so a holder that died or hangs cannot keep it. */
  ttlMs: number;
}

/**
 * A named lock: `acquire` resolves its release once it holds the lock, or null when `waitMs` passed
 * first; it rejects when the lock's store fails. Names are already hashed (never a session key).
 */
export interface SessionLock {
  acquire(name: string, request: SessionLockRequest): Promise<SessionLockRelease | null>;
  /** Frees what the backend opened (a connection of its own); the module calls it on shutdown for the backends it made. */
  close?(): Promise<void>;
}

/** The backends the module chooses from (`blocking.backend`): a custom SessionLock object besides. */
export const SESSION_LOCK_BACKENDS = ['redis', 'postgres', 'process'] as const;
export type SessionLockBackendName = (typeof SESSION_LOCK_BACKENDS)[number];

/** A backend chosen by name, or a SessionLock of the app's. */
export type SessionLockBackend = SessionLockBackendName | SessionLock;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Calls `attempt` until it succeeds or `waitMs` have passed (a last attempt at the deadline): true
 * when it succeeded. The pause between attempts starts at 5 ms and doubles up to 50 ms (Laravel's
 * session block sleeps 50 ms), with jitter, so waiters of several instances do not retry in step.
 * Waiters of one instance queue in-process first (SessionLocks): only one of them polls.
 */
export async function pollUntil(attempt: () => Promise<boolean>, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  let pause = 5;
  for (;;) {
    if (await attempt()) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await sleep(Math.min(left, pause * (0.5 + Math.random())));
    pause = Math.min(pause * 2, 50);
  }
}
