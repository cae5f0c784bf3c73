/**
 * The session object: Django's `SessionBase` (`django/contrib/sessions/backends/base.py`). One
 * instance per request, created by the engine's `SessionStore`; each engine subclasses it with
 * load/exists/create/save/delete.
 *
 * Data methods are synchronous once the data is loaded (`await session.ensureLoaded()`, done for
 * you by `@Session()` and `getSession(req)`); I/O methods return promises. A session without a key
 * needs no I/O at all: its data is an empty object from the start, exactly like Django.
 */
import { Logger } from '@nestjs/common';
import { CreateError, NotImplementedError, ReplacedKeyGoneError, SessionKeyError, SessionNotLoadedError } from './session.errors';
import { isStorableSessionKey, newSessionKey } from './session-key';
import { EXPIRY_KEY, isValidStoredExpiry, storableExpiry, type ExpiryOptions, type ExpiryValue } from './session-expiry';
import { parseIsoDatetime } from './formats/python-datetime';
import { isLegacySessionData, legacyLoads } from './formats/legacy-format';
import { BadSignature, dumps, loads, maxSignedLength, OversizedPayload } from './formats/signing';
import { RecentlyLogged, safeLogText } from './log-text';
import type { SessionEvent, SessionEventType } from './events/session-events';

/** The shape of session data when the user declares none. */
export type SessionData = Record<string, unknown>;

type Key<T> = Extract<keyof T, string>;

/** Django's `key_salt` for every built-in engine's `SessionStore` class. */
export const SESSION_KEY_SALT = 'django.contrib.sessions.SessionStore';

/** The logger Django calls `django.security.SuspiciousSession`. */
export const suspiciousSessionLogger = new Logger('SuspiciousSession');

/** Sessions whose corrupt data was logged lately: once per session, not once per request. */
const corruptSessionsLogged = new RecentlyLogged();

/** An empty data object without a prototype, so keys like `__proto__` are plain keys. */
export function emptyData(): SessionData {
  return Object.create(null) as SessionData;
}


/** The client of the request a session serves: its address as the platform reports it, and its user agent. */
export interface SessionClient {
  ip?: string;
  userAgent?: string;
}

/**
 * What a session needs of the module's settings (SessionsConfig has it all; an engine's session class
 * may declare the whole of it): the keys that sign its data, its size bound, the expiry policy, and
 * where its events and corrupt-data reports go.
 */
export interface SessionSettings {
  secretKey: string;
  /** `secretKey` then the fallbacks: every key a signature is checked against. */
  secretKeys: readonly string[];
  engine: string | { name: string };
  cookie: { age: number };
  expireAtBrowserClose: boolean;
  maxSessionBytes: number;
  acceptLegacyFormat: boolean;
  events: { readonly hasListeners: boolean; emit(event: SessionEvent): void };
  telemetry: { storeFailure(engine: string, kind: 'corrupt_data'): void } | null;
}

/** The engine's name in events, metrics and logs: the built-in name, or a custom store's class name. */
export function engineName(config: Pick<SessionSettings, 'engine'>): string {
  return typeof config.engine === 'string' ? config.engine : config.engine.name;
}

export abstract class SessionBase<TData extends object = SessionData> {
  static readonly TEST_COOKIE_NAME = 'testcookie';
  static readonly TEST_COOKIE_VALUE = 'worked';

  /** Set by any access to the data (reads and writes); the middleware adds `Vary: Cookie` then. */
  accessed = false;
  /** Set by any change to the data; the middleware saves the session then. Set it yourself after mutating a nested value. */
  modified = false;
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
      this.#loading ??= this.load().then(
        (data) => {
          this.sessionCache ??= this.interpret(data);
        },
        (error: unknown) => {
          this.#loading = undefined;
          throw error;
        },
      );
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
    if (key === null || corruptSessionsLogged.firstTime(key)) suspiciousSessionLogger.warn(`Session data corrupted: ${safeLogText(reason)}`);
  }

  /** Django's `_get_session`: marks the session accessed and returns the data. */
  protected getSessionData(noLoad = false): SessionData {
    this.accessed = true;
    if (this.sessionCache === undefined) {
      if (this.#sessionKey !== null && !noLoad) throw new SessionNotLoadedError();
      this.sessionCache = emptyData();
    }
    return this.sessionCache;
  }

  // ----- data API (synchronous once loaded) -----

  has(key: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.getSessionData(), key);
  }

  /** `s[key]`: throws a KeyError when the key is missing. */
  getItem<K extends Key<TData>>(key: K): TData[K] {
    const data = this.getSessionData();
    if (!Object.prototype.hasOwnProperty.call(data, key)) throw new SessionKeyError(key);
    return data[key] as TData[K];
  }

  get<K extends Key<TData>>(key: K): TData[K] | undefined;
  get<K extends Key<TData>, D>(key: K, defaultValue: D): TData[K] | D;
  get(key: string, defaultValue?: unknown): unknown {
    const data = this.getSessionData();
    return Object.prototype.hasOwnProperty.call(data, key) ? data[key] : defaultValue;
  }

  set<K extends Key<TData>>(key: K, value: TData[K]): void {
    this.setItem(key, value);
  }

  /** `del s[key]`: throws a KeyError when the key is missing. */
  deleteItem(key: Key<TData>): void {
    this.removeItem(key);
  }

  pop<K extends Key<TData>>(key: K): TData[K];
  pop<K extends Key<TData>, D>(key: K, defaultValue: D): TData[K] | D;
  pop(key: string, ...rest: [unknown?]): unknown {
    const data = this.getSessionData();
    const present = Object.prototype.hasOwnProperty.call(data, key);
    this.modified = this.modified || present;
    if (present) {
      const value = data[key];
      delete data[key];
      return value;
    }
    if (rest.length > 0) return rest[0];
    throw new SessionKeyError(key);
  }

  setdefault<K extends Key<TData>>(key: K, value: TData[K]): TData[K] {
    const data = this.getSessionData();
    if (Object.prototype.hasOwnProperty.call(data, key)) return data[key] as TData[K];
    this.setItem(key, value);
    return value;
  }

  update(values: Partial<TData>): void {
    const data = this.getSessionData();
    const additions = Object.assign(emptyData(), values) as SessionData;
    if (EXPIRY_KEY in additions) additions[EXPIRY_KEY] = storableExpiry(additions[EXPIRY_KEY]);
    Object.assign(data, additions);
    this.modified = true;
  }

  keys(): Key<TData>[] {
    return Object.keys(this.getSessionData()) as Key<TData>[];
  }

  values(): TData[Key<TData>][] {
    return Object.values(this.getSessionData()) as TData[Key<TData>][];
  }

  items(): [Key<TData>, TData[Key<TData>]][] {
    return Object.entries(this.getSessionData()) as [Key<TData>, TData[Key<TData>]][];
  }

  /** A plain copy of the data (for JSON responses and logging). */
  toJSON(): Partial<TData> {
    return { ...this.getSessionData() } as Partial<TData>;
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

  protected setItem(key: string, value: unknown): void {
    this.getSessionData()[key] = key === EXPIRY_KEY ? storableExpiry(value) : value;
    this.modified = true;
  }

  protected removeItem(key: string): void {
    const data = this.getSessionData();
    if (!Object.prototype.hasOwnProperty.call(data, key)) throw new SessionKeyError(key);
    delete data[key];
    this.modified = true;
  }

  // ----- test cookie -----

  setTestCookie(): void {
    this.setItem(SessionBase.TEST_COOKIE_NAME, SessionBase.TEST_COOKIE_VALUE);
  }

  testCookieWorked(): boolean {
    return this.getSessionData()[SessionBase.TEST_COOKIE_NAME] === SessionBase.TEST_COOKIE_VALUE;
  }

  deleteTestCookie(): void {
    this.removeItem(SessionBase.TEST_COOKIE_NAME);
  }

  // ----- encoding -----

  /** Django's `encode`; SessionTooLargeException when the data's JSON exceeds `maxSessionBytes`. */
  encode(data: SessionData): string {
    return dumps(data, { secret: this.config.secretKey, salt: this.keySalt, compress: true, maxBytes: this.config.maxSessionBytes });
  }

  /**
   * Never throws: tampered, corrupt or oversized data (over `maxSessionBytes`, before or after
   * inflating) decodes to an empty session; tampering and size are logged.
   */
  decode(sessionData: string): SessionData {
    const { secretKeys: secrets, maxSessionBytes: maxBytes } = this.config;
    try {
      if (sessionData.length > maxSignedLength(maxBytes)) throw new OversizedPayload(`${sessionData.length} characters of stored data`);
      const value =
        this.config.acceptLegacyFormat && isLegacySessionData(sessionData)
          ? legacyLoads(sessionData, secrets, this.keySalt)
          : loads(sessionData, { secrets, salt: this.keySalt, maxBytes });
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        return Object.assign(emptyData(), value);
      }
      this.reportCorruptData('the signed value is not an object');
    } catch (error) {
      if (error instanceof BadSignature || error instanceof OversizedPayload) this.reportCorruptData(error.message);
    }
    return emptyData();
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
  async flush(): Promise<void> {
    const flushed = this.#sessionKey !== null && this.config.events.hasListeners ? this.eventSubject() : undefined;
    this.clear();
    await this.delete();
    this.setSessionKey(null);
    if (flushed) this.config.events.emit({ type: 'session.destroyed', ...flushed, reason: 'flush' });
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
    throw new Error(limit?.message);
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
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySession = SessionBase<any>;
