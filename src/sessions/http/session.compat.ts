/**
 * The object at `req.session`: the request's session with its whole SessionBase API, plus what
 * express-session code expects, so passport >= 0.6 login and logout work unchanged:
 * - `regenerate(cb)`, `save(cb)`, `destroy(cb)`, `reload(cb)` (without a callback they return a promise;
 *   `save()`/`save(true)` keep SessionBase's meaning);
 * - the session data as properties: `req.session.passport` reads `session.get('passport')`, an
 *   assignment is `session.set(...)`, `delete` is `session.pop(key, undefined)`. Names of the
 *   SessionBase API (`get`, `keys`, `modified`, ...) keep their API meaning: use `get()`/`set()` for
 *   data under those names. Reading data needs the session loaded, like `session.get()`.
 *
 * `regenerate` and `reload` put a NEW view at `req.session` (as express-session does), which is what
 * passport's `keepSessionInfo` relies on; the response then persists the new session.
 */
import type { AnySession } from '../session';
import { sessionHttpError, UpdateError } from '../session.errors';

export type SessionCallback = (error?: unknown) => void;

export interface ExpressSessionMethods {
  /** Deletes the stored session and puts a new, empty one (no key yet) at `req.session`. */
  regenerate(callback?: SessionCallback): unknown;
  /** Saves now (express-session style with a callback; SessionBase's `save(mustCreate)` without). */
  save(callback?: SessionCallback | boolean): unknown;
  /** Logs out: SessionBase's `flush()` (stored session deleted, the cookie deleted by the response). */
  destroy(callback?: SessionCallback): unknown;
  /** Reads the stored session again into a new object at `req.session`; SessionInterrupted (400) when it is gone. */
  reload(callback?: SessionCallback): unknown;
}

/** What `req.session` is: the session, its express-session methods and its data as properties. */
export type SessionView = AnySession & ExpressSessionMethods & Record<string, unknown>;

/** What the view needs from the request it belongs to. */
export interface SessionViewHost {
  /** Puts a new session object for this key on the request (and a new view at `req.session`); returns it. */
  replace(sessionKey: string | null): AnySession;
}

/** Runs an async step for a callback-style caller (errors as HTTP errors), or returns its promise. */
function settle(step: () => Promise<void>, callback: SessionCallback | undefined): unknown {
  const done = step().catch((error: unknown) => {
    throw sessionHttpError(error);
  });
  if (!callback) return done;
  done.then(() => callback(), callback);
  return undefined;
}

export function createSessionView(session: AnySession, host: SessionViewHost): SessionView {
  const compat: ExpressSessionMethods = {
    regenerate: (callback) =>
      settle(async () => {
        await session.delete();
        host.replace(null);
      }, callback),
    save: (callback) =>
      typeof callback === 'function' ? settle(() => session.save(), callback) : session.save(callback),
    destroy: (callback) => settle(() => session.flush(), callback),
    reload: (callback) =>
      settle(async () => {
        const hadKey = session.sessionKey !== null;
        const fresh = host.replace(session.sessionKey);
        await fresh.ensureLoaded();
        if (hadKey && fresh.sessionKey === null) throw new UpdateError('failed to load session: it was deleted');
      }, callback),
  };
  const bound = new Map<PropertyKey, unknown>();
  const isApi = (target: AnySession, prop: PropertyKey) => typeof prop !== 'string' || prop in target;
  const isCompat = (prop: PropertyKey) => typeof prop === 'string' && Object.prototype.hasOwnProperty.call(compat, prop);

  return new Proxy(session, {
    get(target, prop) {
      if (isCompat(prop)) return compat[prop as keyof ExpressSessionMethods];
      if (isApi(target, prop)) {
        // Receiver = the session itself: its private fields do not exist on the proxy.
        const value: unknown = Reflect.get(target, prop);
        if (typeof value !== 'function' || prop === 'constructor') return value;
        if (!bound.has(prop)) bound.set(prop, value.bind(target));
        return bound.get(prop);
      }
      if (prop === 'then') return undefined; // never a thenable, whatever the data holds
      return target.get(prop as string);
    },
    set(target, prop, value) {
      if (isCompat(prop)) return false;
      if (isApi(target, prop)) return Reflect.set(target, prop, value);
      target.set(prop as string, value);
      return true;
    },
    deleteProperty(target, prop) {
      if (isCompat(prop)) return false;
      if (isApi(target, prop)) return Reflect.deleteProperty(target, prop);
      target.pop(prop as string, undefined);
      return true;
    },
    has(target, prop) {
      return isCompat(prop) || isApi(target, prop) || (target.isLoaded && target.has(prop as string));
    },
    // Own enumerable properties are the data (for `Object.keys`, `for...in`, passport's merge).
    ownKeys(target) {
      return target.isLoaded ? target.keys() : [];
    },
    getOwnPropertyDescriptor(target, prop) {
      if (isApi(target, prop) || isCompat(prop) || !target.isLoaded || !target.has(prop as string)) return undefined;
      return { value: target.get(prop as string), writable: true, enumerable: true, configurable: true };
    },
  }) as SessionView;
}
