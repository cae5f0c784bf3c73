/**
 * The engine interface (Django's SESSION_ENGINE module). A `SessionStore` is the injectable,
 * long-lived half of an engine: it holds the connections and opens one session object per request
 * (`store.session(key)`, Django's `SessionStore(session_key)`). A custom engine extends it, returns
 * its own `SessionBase` subclass from `session()`, and is passed to the module as `engine: MyStore`.
 */
import { NotImplementedError } from '../session.errors';
import type { SessionBase, SessionData } from '../session';

/** Progress of a clearExpired run, reported after each batch by the engines that delete in batches. */
export interface ClearExpiredProgress {
  /** Statements run so far. */
  batches: number;
  /** Sessions deleted so far. */
  deleted: number;
}

export interface ClearExpiredRunOptions {
  /** Rows per statement, overriding the module option `clearExpired.batchSize`. */
  batchSize?: number;
  onProgress?: (progress: ClearExpiredProgress) => void;
}

export abstract class SessionStore {
  /** The engine's name in logs and messages (`db`, `cache`, ... or the custom class name). */
  abstract readonly engine: string;

  /** A session object for this key (no I/O: the data loads on first use). */
  abstract session<T extends object = SessionData>(sessionKey?: string | null): SessionBase<T>;

  /**
   * Called once when the module starts, before the first request: an engine checks here what would
   * otherwise fail every request (the db engines: that their table exists). Throws to stop the app.
   */
  verify(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Whether expired sessions pile up here until clearsessions deletes them (the clearsessions job is
   * scheduled, or its absence warned about, only then). False for caches that expire entries
   * themselves and for cookies.
   */
  get keepsExpiredSessions(): boolean {
    return true;
  }

  /**
   * Whether the store can serve sessions now (health checks): resolves, or throws what is wrong. The
   * db engines read their table, the cache engines their cache, the file engine its directory.
   */
  checkHealth(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Of these keys, those whose session is still stored and unexpired: how the open WebSockets of an
   * instance learn that their session ended elsewhere (another instance, Django). This default loads
   * each session (an empty one counts as ended), which engines that batch their loads batch; the
   * db engines override it with one statement per 500 keys, the cache engine with batched reads.
   */
  async liveKeys(sessionKeys: readonly string[]): Promise<Set<string>> {
    const loaded = await Promise.all(sessionKeys.map((key) => this.session(key).load()));
    return new Set(sessionKeys.filter((_, index) => Object.keys(loaded[index]).length > 0));
  }

  /**
   * Deletes expired sessions and returns how many it removed (0 for engines whose storage expires
   * entries itself). Engines that cannot clear throw NotImplementedError, like Django's.
   */
  clearExpired(_options?: ClearExpiredRunOptions): Promise<number> {
    return Promise.reject(new NotImplementedError('This backend does not support clear_expired().'));
  }
}
