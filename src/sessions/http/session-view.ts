/**
 * The object at `req.session`: the request's session with its whole SessionBase API, plus what
 * express-session code expects, so passport >= 0.6 login and logout work unchanged:
 * - `regenerate(cb)`, `save(cb)`, `destroy(cb)`, `reload(cb)` (without a callback they return a promise;
 *   `save()`/`save(true)` keep SessionBase's meaning);
 * - the session data as properties: `req.session.passport` reads `session.get('passport')`, an
 *   assignment is `session.set(...)`, `delete` is `session.pop(key, undefined)`. Reading data needs
 *   the session loaded, like `session.get()`.
 *
 * Names the view answers itself ("members") are never data through property syntax, whatever the
 * data holds: the four methods above, `toJSON` and `then`; every member of the session object (the
 * SessionBase API and its engine's: `get`, `keys`, `modified`, `config`, ...); and Object.prototype's
 * (`constructor`, `toString`, `hasOwnProperty`, ..., and `__proto__`). For a member name:
 * - a read gives the member (`then` is always undefined: the view is never a thenable);
 * - it is never enumerated (`for…in`, `Object.keys/values/entries`, spread, `JSON.stringify`), so
 *   whatever enumeration yields reads back as the same value;
 * - assigning, deleting or defining it throws a TypeError, except `modified` and `accessed` (the
 *   session's flags, assignable as SessionBase documents); so data of any name (e.g. copied from a
 *   request body: `Object.assign(req.session, body)`) can neither replace a method nor change the
 *   view's prototype (`Object.setPrototypeOf` and `Object.preventExtensions`/`freeze` throw too);
 * - data stored under that name (`req.session.set('save', 1)`, Django, the store) is kept and saved
 *   unchanged: `get`/`set`/`pop`/`keys()`/`items()` (on `req.session` or `getSession(req)`) reach it.
 * Any other name (`prototype`, `cookie`, `id`, ...) is data, also when Object.prototype has been
 * polluted with it elsewhere: data reads never fall through to inherited properties.
 *
 * `regenerate` and `reload` put a NEW view at `req.session` (as express-session does), which is what
 * passport's `keepSessionInfo` relies on; the response then persists the new session.
 */
import type { AnySession, SessionData } from '../session';
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

/** The names the view itself answers, before the session's members. */
const VIEW_MEMBERS: ReadonlySet<string> = new Set(['regenerate', 'save', 'destroy', 'reload', 'toJSON', 'then']);

/**
 * Object.prototype's members (a fixed list, so a polluted Object.prototype adds no member). Read
 * unbound: `this` is the view, so `req.session.hasOwnProperty('cart')` answers for the data.
 */
const OBJECT_MEMBERS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  'toString',
  'valueOf',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
]);

/** Members that stay assignable through the view (SessionBase's flags). */
const ASSIGNABLE_MEMBERS: ReadonlySet<string> = new Set(['modified', 'accessed']);

/** The names on a session class's prototypes (below Object.prototype), computed once per class. */
const classMembersByPrototype = new WeakMap<object, ReadonlySet<string>>();
/** The last class seen (an app has one engine): skips the WeakMap on the hot path. */
let lastPrototype: object | undefined;
let lastClassMembers: ReadonlySet<string> = new Set();

function classMembersOf(session: AnySession): ReadonlySet<string> {
  const prototype = Object.getPrototypeOf(session) as object;
  if (prototype === lastPrototype) return lastClassMembers;
  let names = classMembersByPrototype.get(prototype);
  if (!names) {
    const found = new Set<string>();
    for (let p: object | null = prototype; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
      for (const name of Object.getOwnPropertyNames(p)) found.add(name);
    }
    classMembersByPrototype.set(prototype, (names = found));
  }
  lastPrototype = prototype;
  return (lastClassMembers = names);
}

/** A member of the session object: its own fields, its class's names, Object.prototype's. */
function isSessionMember(session: AnySession, classMembers: ReadonlySet<string>, name: string): boolean {
  return Object.hasOwn(session, name) || classMembers.has(name) || OBJECT_MEMBERS.has(name);
}

/** A member of the view (see the file's comment): never data through property syntax. */
function isMember(session: AnySession, classMembers: ReadonlySet<string>, name: string): boolean {
  return VIEW_MEMBERS.has(name) || isSessionMember(session, classMembers, name);
}

/** The data as the view enumerates it: members left out. */
function visibleKeys(session: AnySession, classMembers: ReadonlySet<string>): string[] {
  return session.keys().filter((key) => !isMember(session, classMembers, key));
}

function memberError(action: string, name: string): TypeError {
  const quoted = JSON.stringify(name);
  return new TypeError(
    `Cannot ${action} req.session[${quoted}]: ${quoted} is a member of the session view, not session data; ` +
      `use req.session.set(${quoted}, value), req.session.pop(${quoted}, undefined) or req.session.get(${quoted}) for data under that name`,
  );
}

export function createSessionView(session: AnySession, host: SessionViewHost): SessionView {
  const classMembers = classMembersOf(session);
  const compat: ExpressSessionMethods & { toJSON(): SessionData } = {
    regenerate: (callback) =>
      settle(async () => {
        await session.delete();
        host.replace(null);
      }, callback),
    save: (callback) => (typeof callback === 'function' ? settle(() => session.save(), callback) : session.save(callback)),
    destroy: (callback) => settle(() => session.flush(), callback),
    reload: (callback) =>
      settle(async () => {
        const hadKey = session.sessionKey !== null;
        const fresh = host.replace(session.sessionKey);
        await fresh.ensureLoaded();
        if (hadKey && fresh.sessionKey === null) throw new UpdateError('failed to load session: it was deleted');
      }, callback),
    // What JSON.stringify(req.session) gives: the enumerated data (fromEntries keeps `__proto__` an own key).
    toJSON: () => Object.fromEntries<unknown>(visibleKeys(session, classMembers).map((key) => [key, session.get(key)])),
  };
  let bound: Map<PropertyKey, unknown> | undefined;

  return new Proxy(session, {
    get(target, prop): unknown {
      if (typeof prop === 'string') {
        // compat's members are arrow functions: nothing to bind.
        // eslint-disable-next-line @typescript-eslint/unbound-method
        if (VIEW_MEMBERS.has(prop)) return prop === 'then' ? undefined : compat[prop as keyof typeof compat];
        if (!isSessionMember(target, classMembers, prop)) return target.get(prop);
      }
      // A member. Receiver = the session itself: its private fields do not exist on the proxy.
      const value: unknown = Reflect.get(target, prop);
      if (typeof value !== 'function' || prop === 'constructor') return value;
      // Object.prototype's methods unbound: `this` is the view (`req.session.hasOwnProperty('cart')`).
      if (typeof prop === 'string' && OBJECT_MEMBERS.has(prop) && !classMembers.has(prop) && !Object.hasOwn(target, prop)) return value;
      bound ??= new Map();
      let method = bound.get(prop);
      if (method === undefined) bound.set(prop, (method = value.bind(target)));
      return method;
    },
    set(target, prop, value) {
      if (typeof prop !== 'string' || ASSIGNABLE_MEMBERS.has(prop)) return Reflect.set(target, prop, value);
      if (isMember(target, classMembers, prop)) throw memberError('assign', prop);
      target.set(prop, value);
      return true;
    },
    deleteProperty(target, prop) {
      if (typeof prop !== 'string') return Reflect.deleteProperty(target, prop);
      if (isMember(target, classMembers, prop)) throw memberError('delete', prop);
      target.pop(prop, undefined);
      return true;
    },
    defineProperty(target, prop, descriptor) {
      if (typeof prop !== 'string') return Reflect.defineProperty(target, prop, descriptor);
      if (isMember(target, classMembers, prop)) throw memberError('define', prop);
      const plain =
        'value' in descriptor && descriptor.writable !== false && descriptor.enumerable !== false && descriptor.configurable !== false;
      if (!plain)
        throw new TypeError(`Cannot define req.session[${JSON.stringify(prop)}]: session data are plain writable, enumerable properties`);
      target.set(prop, descriptor.value);
      return true;
    },
    has(target, prop) {
      if (typeof prop !== 'string') return Reflect.has(target, prop);
      if (prop === 'then') return false;
      return isMember(target, classMembers, prop) || (target.isLoaded && target.has(prop));
    },
    // Own enumerable properties are the data (for `Object.keys`, `for...in`, passport's merge). Members
    // are left out here, not only by getOwnPropertyDescriptor: V8's for...in over a proxy yields a key
    // the descriptor trap denies when the prototype chain has it (`save`, `toString`, ...).
    ownKeys(target) {
      return target.isLoaded ? visibleKeys(target, classMembers) : [];
    },
    getOwnPropertyDescriptor(target, prop) {
      if (typeof prop !== 'string' || isMember(target, classMembers, prop) || !target.isLoaded || !target.has(prop)) return undefined;
      return { value: target.get(prop) as unknown, writable: true, enumerable: true, configurable: true };
    },
    // The view keeps the session's prototype (`instanceof SessionBase`) and stays extensible (its data
    // properties come and go).
    setPrototypeOf() {
      return false;
    },
    preventExtensions() {
      return false;
    },
  }) as SessionView;
}
