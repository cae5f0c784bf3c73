/**
 * The mapping half of Django's `SessionBase` (`django/contrib/sessions/backends/base.py`): the
 * dict-like data API (`s[key]`, `get`, `pop`, `setdefault`, `update`, `keys`…) and the test cookie,
 * synchronous once the data is loaded. How the data is loaded, stored and keyed is SessionBase's.
 */
import { SessionKeyError } from './session.errors';
import { EXPIRY_KEY, storableExpiry } from './session-expiry';

/** The shape of session data when the user declares none. */
export type SessionData = Record<string, unknown>;

export type Key<T> = Extract<keyof T, string>;

/** An empty data object without a prototype, so keys like `__proto__` are plain keys. */
export function emptyData(): SessionData {
  return Object.create(null) as SessionData;
}

export abstract class SessionDict<TData extends object = SessionData> {
  static readonly TEST_COOKIE_NAME = 'testcookie';
  static readonly TEST_COOKIE_VALUE = 'worked';

  /** Set by any access to the data (reads and writes); the middleware adds `Vary: Cookie` then. */
  accessed = false;
  /** Set by any change to the data; the middleware saves the session then. Set it yourself after mutating a nested value. */
  modified = false;

  /** Django's `_get_session`: marks the session accessed and returns the data (SessionBase loads it). */
  protected abstract getSessionData(noLoad?: boolean): SessionData;

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
    this.setItem(SessionDict.TEST_COOKIE_NAME, SessionDict.TEST_COOKIE_VALUE);
  }

  testCookieWorked(): boolean {
    return this.getSessionData()[SessionDict.TEST_COOKIE_NAME] === SessionDict.TEST_COOKIE_VALUE;
  }

  deleteTestCookie(): void {
    this.removeItem(SessionDict.TEST_COOKIE_NAME);
  }
}
