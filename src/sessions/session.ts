/**
 * The session object: Django's `SessionBase` (`django/contrib/sessions/backends/base.py`). One
 * instance per request, created by the engine's `SessionStore`; each engine subclasses it with
 * load/exists/create/save/delete. Its mapping half (the data API, the test cookie) is SessionDict
 * (session-dict.ts); key and expiry rules are session-key.ts and session-expiry.ts.
 *
 * Data methods are synchronous once the data is loaded (`await session.ensureLoaded()`, done for
 * you by `@Session()` and `getSession(req)`); I/O methods return promises. A session without a key
 * needs no I/O at all: its data is an empty object from the start, exactly like Django.
 */
import { Logger } from '@nestjs/common';
import { CreateError, NotImplementedError, ReplacedKeyGoneError, SessionNotLoadedError, SessionsError } from './session.errors';
import { isStorableSessionKey, newSessionKey } from './session-key';
import { EXPIRY_KEY, isValidStoredExpiry, type ExpiryOptions, type ExpiryValue } from './session-expiry';
import { parseIsoDatetime } from './formats/python-datetime';
import { absoluteAgeState, SESSION_START_KEY, sessionStartNow } from './session-start';
import { emptyData, SessionDict, type Key, type SessionData } from './session-dict';
import { engineName, type SessionSettings } from './session-settings';
import { decodeSessionData, encodeSessionData } from './formats/session-encoding';
import { RecentlyLogged, safeLogText } from './log-text';
import type { SessionEvent, SessionEventType } from './events/session-events';

export { emptyData, type SessionData } from './session-dict';
export { engineName, type SessionSettings } from './session-settings';

/** Django's `key_salt` for every built-in engine's `SessionStore` class. */
export const SESSION_KEY_SALT = 'django.contrib.sessions.SessionStore';

/** The logger Django calls `django.security.SuspiciousSession`. */
export const suspiciousSessionLogger = new Logger('SuspiciousSession');

/** Sessions whose corrupt data was logged lately: once per session, not once per request. */
const corruptSessionsLogged = new RecentlyLogged();

/** The client of the request a session serves: its address as the platform reports it, and its user agent. */
export interface SessionClient {
  ip?: string;
  userAgent?: string;
}

export abstract class SessionBase<TData extends object = SessionData> extends SessionDict<TData> {
  /** Where the request came from, for the user index (`userSessions`): set by the middleware. */
  client: SessionClient | undefined;

  #sessionKey: string | null = null;
  /** `undefined` = not loaded yet (Django's absent `_session_cache`), which differs from empty. */
  protected sessionCache: SessionData | undefined;
  #loading: Promise<void> | undefined;

  constructor(
    sessionKey: string | null | undefined,
    protected readonly config: SessionSettings,
  ) {
    super();
    this.setSessionKey(sessionKey);
  }

  /** The session's key, or null when it has none (new, flushed, or unknown to the store). Read-only. */
  get sessionKey(): string | null {
    return this.#sessionKey;
  }

  /** Keys shorter than 8 characters are never taken (Django's `_validate_session_key`). */
  protected setSessionKey(key: string | null | undefined): void {
    this.#sessionKey = this.validateSessionKey(key) ? key : null;
  }

  /** Keys this engine takes from a client; others mean no session (default: isStorableSessionKey). */
  protected validateSessionKey(key: string | null | undefined): key is string {
    return isStorableSessionKey(key);
  }

  /** `django.contrib.sessions.SessionStore`, the salt that signs stored session data. */
  get keySalt(): string {
    return SESSION_KEY_SALT;
  }

  /** True once the data is in memory (or needs no loading); data methods may be called. */
  get isLoaded(): boolean {
    return this.sessionCache !== undefined || this.#sessionKey === null;
  }

  /** Loads the stored data once; later calls resolve at once. Does not mark the session accessed. */
  async ensureLoaded(): Promise<this> {
    if (!this.isLoaded) {
      this.#loading ??= this.load()
        .then(async (data) => {
          const age = this.config.absoluteAge ? absoluteAgeState(data, this.config.absoluteAge) : 'running';
          if (age === 'over') return this.end('timeout'); // a new, empty session goes on
          this.sessionCache ??= this.interpret(data);
          // A session from before the option, or from code that keeps no start, starts now (django-session-timeout's setdefault).
          if (age === 'unstarted' && Object.keys(this.sessionCache).length > 0) this.setItem(SESSION_START_KEY, sessionStartNow());
        })
        .catch((error: unknown) => {
          this.#loading = undefined;
          throw error;
        });
      await this.#loading;
    }
    return this;
  }

  /** Stored data whose `_session_expiry` no date can hold reads as corrupt: an empty session. */
  private interpret(data: SessionData): SessionData {
    if (isValidStoredExpiry(data[EXPIRY_KEY])) return data;
    this.reportCorruptData(`invalid ${EXPIRY_KEY}`);
    return emptyData();
  }

  /** `Session data corrupted` on Django's SuspiciousSession logger, once per session in a while, never the raw data. */
  protected reportCorruptData(reason: string): void {
    this.config.telemetry?.storeFailure(engineName(this.config), 'corrupt_data');
    const key = this.sessionKey;
    if (key === null || corruptSessionsLogged.firstTime(key))
      suspiciousSessionLogger.warn(`Session data corrupted: ${safeLogText(reason)}`);
  }

  /** Django's `_get_session`: marks the session accessed and returns the data. */
  protected override getSessionData(noLoad = false): SessionData {
    this.accessed = true;
    if (this.sessionCache === undefined) {
      if (this.#sessionKey !== null && !noLoad) throw new SessionNotLoadedError();
      this.sessionCache = emptyData();
    }
    return this.sessionCache;
  }

  /** Empties the data without loading it; the key is kept. */
  clear(): void {
    this.sessionCache = emptyData();
    this.accessed = true;
    this.modified = true;
  }

  /** True when there is no key and no data: the middleware then sets no cookie (or deletes it). */
  isEmpty(): boolean {
    if (this.#sessionKey !== null) return false;
    return this.sessionCache === undefined || Object.keys(this.sessionCache).length === 0;
  }

  // ----- encoding -----

  /** Django's `encode`; SessionTooLargeException when the data's JSON exceeds `maxSessionBytes`. */
  encode(data: SessionData): string {
    return encodeSessionData(data, this.config, this.keySalt);
  }

  /** Django's `decode`. Never throws: tampered, corrupt or oversized data decodes to an empty session, reported. */
  decode(sessionData: string): SessionData {
    return decodeSessionData(sessionData, this.config, this.keySalt, (reason) => this.reportCorruptData(reason));
  }

  // ----- expiry -----

  /** `SESSION_COOKIE_AGE`; override to vary it per store. */
  getSessionCookieAge(): number {
    return this.config.cookie.age;
  }

  /**
   * The stored `_session_expiry` as a number of seconds or a date; undefined for "the global policy".
   * Loaded and assigned values are checked (isValidStoredExpiry); one passed in `options` that no
   * date can hold also means the global policy.
   */
  private storedExpiry(options: ExpiryOptions): number | Date | undefined {
    const expiry = 'expiry' in options ? options.expiry : this.get(EXPIRY_KEY as Key<TData>);
    if (!expiry) return undefined;
    if (expiry instanceof Date) return expiry;
    if (!isValidStoredExpiry(expiry)) return undefined;
    return typeof expiry === 'number' ? expiry : parseIsoDatetime(expiry as string);
  }

  /**
   * Seconds until the session expires: a number as stored (0 or absent: the cookie age), or the
   * floored distance to a stored date.
   */
  getExpiryAge(options: ExpiryOptions = {}): number {
    const expiry = this.storedExpiry(options);
    if (expiry === undefined) return this.getSessionCookieAge();
    if (typeof expiry === 'number') return expiry;
    return Math.floor((expiry.getTime() - (options.modification ?? new Date()).getTime()) / 1000);
  }

  getExpiryDate(options: ExpiryOptions = {}): Date {
    const expiry = this.storedExpiry(options);
    if (expiry instanceof Date) return expiry;
    return new Date((options.modification ?? new Date()).getTime() + (expiry || this.getSessionCookieAge()) * 1000);
  }

  /**
   * A number of seconds (sliding: counted again from every save), a Date (fixed), 0 (expire when the
   * browser closes) or null (back to the global policy).
   */
  setExpiry(value: ExpiryValue): void {
    if (value === null) {
      if (this.has(EXPIRY_KEY)) this.removeItem(EXPIRY_KEY);
      return;
    }
    this.setItem(EXPIRY_KEY, value);
  }

  getExpireAtBrowserClose(): boolean {
    const expiry = this.get(EXPIRY_KEY as Key<TData>) as unknown;
    if (expiry === undefined || expiry === null) return this.config.expireAtBrowserClose;
    return expiry === 0;
  }

  // ----- lifecycle -----

  /** Logs out: empties the data, deletes the stored session and drops the key. */
  flush(): Promise<void> {
    return this.end('flush');
  }

  /** flush(), which also ends a session loaded past `absoluteAge` (`timeout`). */
  private async end(reason: 'flush' | 'timeout'): Promise<void> {
    const ended = this.#sessionKey !== null && this.config.events.hasListeners ? this.eventSubject() : undefined;
    this.clear();
    await this.delete();
    this.setSessionKey(null);
    if (ended) this.config.events.emit({ type: 'session.destroyed', ...ended, reason });
  }

  /**
   * Same data under a new key; the old stored session is deleted (session fixation defence). The
   * new key is kept only if the old one was still stored when it was replaced (engines that can
   * tell: db, cached_db, cache, file): when a logout or a revocation deleted it meanwhile, the
   * session ends as that logout left it — empty, with no key — instead of living on under a new one.
   */
  async cycleKey(): Promise<void> {
    await this.ensureLoaded();
    const data = this.getSessionData();
    const oldKey = this.#sessionKey;
    this.#rotation = { replacedKey: oldKey };
    try {
      await this.create();
    } catch (error) {
      if (!(error instanceof ReplacedKeyGoneError)) throw error;
      this.sessionCache = emptyData();
      this.setSessionKey(null);
      this.modified = true;
      return;
    } finally {
      this.#rotation = undefined;
    }
    this.sessionCache = data;
    if (oldKey) await this.deleteReplacedKey(oldKey);
    // A session that was never stored (an anonymous visitor signing in) is created here, not rotated.
    this.emitEvent(oldKey === null ? 'session.created' : 'session.rotated');
  }

  /** After cycleKey's create: deletes the replaced key (engines whose create already did, atomically, override this). */
  protected deleteReplacedKey(oldKey: string): Promise<void> {
    return this.delete(oldKey);
  }

  /** While cycleKey() creates the new key: its create is a rotation, not a new session. */
  #rotation: { replacedKey: string | null } | undefined;

  /** While cycleKey() creates the new key, the key it replaces (a user's cap does not count it); null otherwise. */
  protected get replacedKey(): string | null {
    return this.#rotation?.replacedKey ?? null;
  }

  protected emitEvent(type: SessionEventType): void {
    if (this.config.events.hasListeners) this.config.events.emit({ type, ...this.eventSubject() });
  }

  /** Who an event is about: the engine, and (db engines with the user index) the public id and the user. */
  protected eventSubject(): Omit<SessionEvent, 'type'> {
    return { engine: engineName(this.config), id: null, userId: null };
  }

  protected async getNewSessionKey(): Promise<string> {
    for (;;) {
      const key = newSessionKey();
      if (!(await this.exists(key))) return key;
    }
  }

  protected async getOrCreateSessionKey(): Promise<string> {
    if (this.#sessionKey === null) this.setSessionKey(await this.getNewSessionKey());
    return this.#sessionKey as string;
  }

  /**
   * The data a save writes (Django's `_get_session(no_load=must_create)`): the stored data is loaded
   * first, unless the save creates a new record from what is in memory.
   */
  protected async dataToSave(mustCreate: boolean): Promise<SessionData> {
    if (!mustCreate) await this.ensureLoaded();
    return this.getSessionData(mustCreate);
  }

  /**
   * Django's `create()` of the engines that store by key: a new key, `save(true)`, again with another
   * key on CreateError (a collision); then the session counts as modified. With `limit`, gives up
   * after that many collisions with an Error of that message (Django's cache engine).
   */
  protected async createUnderNewKey(limit?: { attempts: number; message: string }): Promise<void> {
    for (let attempt = 0; attempt < (limit?.attempts ?? Infinity); attempt++) {
      this.setSessionKey(await this.getNewSessionKey());
      try {
        await this.save(true);
      } catch (error) {
        if (error instanceof CreateError) continue;
        throw error;
      }
      this.modified = true;
      if (!this.#rotation) this.emitEvent('session.created');
      return;
    }
    throw new SessionsError(limit?.message ?? 'Unable to create a new session key');
  }

  // ----- the engine's part -----

  /** Whether a stored session has this key. */
  exists(_sessionKey: string | null): Promise<boolean> {
    return Promise.reject(new NotImplementedError('subclasses of SessionBase must provide an exists() method'));
  }

  /** Stores the session under a new unique key and marks it modified. */
  create(): Promise<void> {
    return Promise.reject(new NotImplementedError('subclasses of SessionBase must provide a create() method'));
  }

  /**
   * Stores the data. `mustCreate`: a new record or CreateError; otherwise an update of the existing
   * record or UpdateError. Without a key, creates one.
   */
  save(_mustCreate = false): Promise<void> {
    return Promise.reject(new NotImplementedError('subclasses of SessionBase must provide a save() method'));
  }

  /** Deletes the stored session (default: this one's); a missing record is not an error. */
  delete(_sessionKey?: string | null): Promise<void> {
    return Promise.reject(new NotImplementedError('subclasses of SessionBase must provide a delete() method'));
  }

  /** Reads the stored data (never creates a record); drops the key when the session is unknown or expired. */
  load(): Promise<SessionData> {
    return Promise.reject(new NotImplementedError('subclasses of SessionBase must provide a load() method'));
  }
}

/** A session whatever the shape of its data (for code that handles every session alike). */
export type AnySession = SessionBase<any>;
