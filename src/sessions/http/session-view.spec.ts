/**
 * The `req.session` view (session-view.ts) against data keys of any name: a key can never replace
 * the view's prototype or methods, and what enumeration yields always reads back as the same value.
 * Names the view answers itself ("members") read as the member, are never enumerated, and throw a
 * TypeError on assignment/delete (except the `modified`/`accessed` flags); their data stays reachable
 * through `get`/`set`/`pop`/`keys()`.
 */
import { JsonSession } from '../../../test/support/json-session';
import { emptyData, SessionBase, type SessionData } from '../session';
import { resolveSessionsOptions } from '../sessions.options';
import { createSessionView, type SessionView } from './session-view';

/** A session whose store is a JSON string (stored data is parsed JSON: `__proto__` is an own key there). */
class MemorySession extends JsonSession {}

const config = resolveSessionsOptions({ secretKey: 'session-compat-spec-secret' });
const KEY = 'abcdefgh12345678';

/** A loaded view over stored JSON, as the middleware builds it. */
async function viewOver(storedJson = '{}'): Promise<{ session: MemorySession; view: SessionView }> {
  const session = new MemorySession(KEY, config);
  session.stored = storedJson;
  await session.ensureLoaded();
  return { session, view: createSessionView(session, { replace: () => session }) };
}

/** Names a view answers itself: its methods, `then`, the session's members, Object.prototype's. */
const MEMBER_NAMES = [
  ...['regenerate', 'save', 'destroy', 'reload', 'toJSON', 'then'],
  ...['get', 'set', 'has', 'pop', 'keys', 'items', 'values', 'update', 'clear', 'flush', 'delete', 'load', 'ensureLoaded', 'cycleKey'],
  ...['sessionKey', 'isLoaded', 'config', 'sessionCache', 'stored'],
  ...['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable', '__defineGetter__'],
];
/** Names that are plain data on the view (express-session members this view does not have, among others). */
const DATA_NAMES = ['prototype', 'cookie', 'id', 'touch', 'resetMaxAge', 'passport', 'length', 'name', 'call', 'apply', 'bind'];

/** What Django (or another engine) may have stored: member names next to data names. */
const HOSTILE_STORED = JSON.stringify({
  ...Object.fromEntries(MEMBER_NAMES.map((name, i) => [name, { from: 'store', i }])),
  ...Object.fromEntries(DATA_NAMES.map((name, i) => [name, i])),
});

/** Every enumeration of the view, each with the values it yields, must read back through the view. */
function expectEnumerationMatchesReads(view: SessionView): string[] {
  const forIn: string[] = [];
  for (const key in view) forIn.push(key);
  const keys = Object.keys(view);
  expect(forIn).toEqual(keys);
  expect(Reflect.ownKeys({ ...view })).toEqual(keys);
  const json = JSON.parse(JSON.stringify(view)) as Record<string, unknown>;
  expect(Object.keys(json)).toEqual(keys);
  for (const [key, value] of Object.entries(view)) {
    expect(view[key]).toBe(value);
    expect(Object.getOwnPropertyDescriptor(view, key)?.value).toBe(value);
    expect(json[key]).toEqual(value);
    expect(key in view).toBe(true);
    expect(Object.prototype.hasOwnProperty.call(view, key)).toBe(true);
  }
  expect(Object.values(view)).toEqual(keys.map((key) => view[key]));
  return keys;
}

/** The view and its session still have their own prototype and methods. */
function expectIntact(session: MemorySession, view: SessionView): void {
  expect(Object.getPrototypeOf(session)).toBe(MemorySession.prototype);
  expect(Object.getPrototypeOf(view)).toBe(MemorySession.prototype);
  expect(view).toBeInstanceOf(SessionBase);
  expect(Object.getOwnPropertyNames(session).sort()).toEqual(Object.getOwnPropertyNames(new MemorySession(KEY, config)).sort());
  for (const name of ['get', 'set', 'keys', 'save', 'regenerate', 'destroy', 'reload', 'toJSON', 'hasOwnProperty', 'toString']) {
    expect(typeof view[name]).toBe('function');
  }
  expect(view.then).toBeUndefined();
  expect(view.constructor).toBe(MemorySession);
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- the view's default string is what is checked
  expect(String(view)).toBe('[object Object]');
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.prototype).not.toHaveProperty('polluted');
}

describe('req.session view: data keys of any name', () => {
  it('a "__proto__" assignment (direct, Object.assign of a parsed body, for…in copy) throws and never changes a prototype', async () => {
    const { session, view } = await viewOver('{"cart":[1]}');
    const body = JSON.parse('{"__proto__": {"polluted": 1, "get": "hijacked"}, "note": "kept"}') as Record<string, unknown>;
    expect(() => {
      view['__proto__'] = { polluted: 1 };
    }).toThrow(TypeError);
    expect(() => Object.assign(view, body)).toThrow(/"__proto__" is a member of the session view/);
    expect(() => {
      for (const key in body) view[key] = body[key];
    }).toThrow(TypeError);
    expect(() => {
      Object.setPrototypeOf(view, body.__proto__ as object);
    }).toThrow(TypeError);
    expect(Reflect.setPrototypeOf(view, null)).toBe(false);
    expectIntact(session, view);
    expect(view.__proto__).toBe(MemorySession.prototype); // the member, as everywhere in JS
    expect(session.toJSON()).toEqual({ cart: [1] }); // the for…in copy stopped at "__proto__", its first key
    expect(view.polluted).toBeUndefined();
  });

  it.each(MEMBER_NAMES)('assigning, deleting or defining the member %j throws a TypeError and leaves it intact', async (name) => {
    const { session, view } = await viewOver('{"x":1}');
    const before = view[name];
    expect(() => {
      view[name] = 'data';
    }).toThrow(
      new TypeError(
        `Cannot assign req.session[${JSON.stringify(name)}]: ${JSON.stringify(name)} is a member of the session view, not session data; use req.session.set(${JSON.stringify(name)}, value), req.session.pop(${JSON.stringify(name)}, undefined) or req.session.get(${JSON.stringify(name)}) for data under that name`,
      ),
    );
    expect(() => Object.assign(view, JSON.parse(`{${JSON.stringify(name)}: "data"}`) as object)).toThrow(TypeError);
    expect(() => delete view[name]).toThrow(TypeError);
    expect(() => Object.defineProperty(view, name, { value: 'data' })).toThrow(TypeError);
    expect(view[name]).toBe(before);
    expect(session.has(name)).toBe(false);
    expect(session.toJSON()).toEqual({ x: 1 });
    expectIntact(session, view);
  });

  it('keeps the modified and accessed flags assignable, as SessionBase documents', async () => {
    const { session, view } = await viewOver('{"x":1}');
    view.modified = true;
    view.accessed = false;
    expect(session.modified).toBe(true);
    expect(session.accessed).toBe(false);
    expect(session.has('modified')).toBe(false);
  });

  it.each(DATA_NAMES)('%j is plain data: assigned, enumerated, read back and deleted', async (name) => {
    const { session, view } = await viewOver();
    Object.assign(view, JSON.parse(`{${JSON.stringify(name)}: {"v": 1}}`));
    expect(session.get(name)).toEqual({ v: 1 });
    expect(view[name]).toEqual({ v: 1 });
    expect(expectEnumerationMatchesReads(view)).toEqual([name]);
    Object.defineProperty(view, name, { value: 2, writable: true, enumerable: true, configurable: true });
    expect(view[name]).toBe(2);
    expect(() => Object.defineProperty(view, name, { get: () => 3 })).toThrow(TypeError);
    expect(() => Object.defineProperty(view, name, { value: 3, enumerable: false })).toThrow(TypeError);
    delete view[name];
    expect(session.has(name)).toBe(false);
    expectIntact(session, view);
  });

  it('data loaded from the store under member names (and "__proto__") is not enumerated, keeps its members, and stays in the session', async () => {
    const { session, view } = await viewOver(HOSTILE_STORED);
    expect(expectEnumerationMatchesReads(view)).toEqual(DATA_NAMES);
    expect(JSON.stringify(view)).toBe(JSON.stringify(Object.fromEntries(DATA_NAMES.map((name, i) => [name, i]))));
    expectIntact(session, view);
    for (const name of MEMBER_NAMES.filter((n) => n !== 'then')) expect(name in view).toBe(true);
    expect('then' in view).toBe(false);
    /* eslint-disable no-prototype-builtins -- Object.prototype's methods called on the view is what is checked */
    expect(view.hasOwnProperty('cookie')).toBe(true); // Object.prototype's methods answer for the view
    expect(view.hasOwnProperty('save')).toBe(false);
    /* eslint-enable no-prototype-builtins */
    // The session API reaches all of it, and saving keeps it.
    expect(view.get('save')).toEqual({ from: 'store', i: 1 });
    expect(view.get('__proto__')).toEqual({ from: 'store', i: MEMBER_NAMES.indexOf('__proto__') });
    expect(view.keys()).toEqual(Object.keys(JSON.parse(HOSTILE_STORED) as object));
    view.set('save', 'changed');
    await view.save();
    const reloaded = JSON.parse(session.stored) as Record<string, unknown>;
    expect(Object.keys(reloaded)).toEqual(Object.keys(JSON.parse(HOSTILE_STORED) as object));
    expect(reloaded.save).toBe('changed');
    expect(Object.getPrototypeOf(reloaded)).toBe(Object.prototype);
  });

  it('a passport-style merge (for…in copy) between views copies the enumerated data only, without throwing', async () => {
    const { view: before } = await viewOver(HOSTILE_STORED);
    const { session, view: after } = await viewOver();
    for (const key in before) after[key] = before[key];
    expect(session.keys()).toEqual(DATA_NAMES);
    expectIntact(session, after);
  });

  it('any single JSON key copied in either becomes readable data or throws, and the view stays consistent', async () => {
    const { session, view } = await viewOver();
    const names = [...MEMBER_NAMES, ...DATA_NAMES, 'modified', 'accessed', '', '0', 'constructor.prototype', '__proto__ ', 'a b'];
    for (const name of names) {
      try {
        Object.assign(view, JSON.parse(`{${JSON.stringify(name)}: {"polluted": 1}}`));
      } catch (error) {
        expect(error).toBeInstanceOf(TypeError);
        continue;
      }
      if (name === 'modified' || name === 'accessed') continue; // the flags
      expect(view[name]).toEqual({ polluted: 1 });
    }
    view.modified = false;
    view.accessed = false;
    expect(expectEnumerationMatchesReads(view).sort()).toEqual(
      [...DATA_NAMES, '', '0', 'constructor.prototype', '__proto__ ', 'a b'].sort(),
    );
    expectIntact(session, view);
  });

  it('reads data, not inherited properties, even when Object.prototype is polluted elsewhere', async () => {
    const { view } = await viewOver('{"role":"user"}');
    const prototype = Object.prototype as Record<string, unknown>;
    prototype.isAdmin = true;
    try {
      expect(view.isAdmin).toBeUndefined();
      expect(view.role).toBe('user');
    } finally {
      delete prototype.isAdmin;
    }
  });

  it('is never a thenable, whatever the data holds, and cannot be frozen', async () => {
    const { session, view } = await viewOver('{"then":1}');
    session.set('then', (resolve: (value: unknown) => void) => resolve('hijacked'));
    expect(view.then).toBeUndefined();
    expect(await Promise.resolve(view)).toBe(view);
    expect(Object.keys(view)).toEqual([]);
    expect(() => Object.freeze(view)).toThrow(TypeError);
    expect(() => Object.preventExtensions(view)).toThrow(TypeError);
    expect(Object.isExtensible(view)).toBe(true);
    view.later = 1;
    expect(view.later).toBe(1);
  });
});

/** A MemorySession that can be deleted, and whose key can name no session any more (as an engine finds a deleted row). */
class DeletableSession extends MemorySession {
  vanished = false;
  override load(): Promise<SessionData> {
    if (!this.vanished) return super.load();
    this.setSessionKey(null);
    return Promise.resolve(emptyData());
  }
  override exists(): Promise<boolean> {
    return Promise.resolve(false);
  }
  override delete(): Promise<void> {
    this.stored = '{}';
    return Promise.resolve();
  }
}

describe("req.session's express-session methods", () => {
  const settled = () => new Promise((resolve) => setImmediate(resolve));
  const viewOf = (session: SessionBase, replacement: SessionBase = new DeletableSession(null, config)) =>
    createSessionView(session, { replace: () => replacement });

  it('without a callback return a promise; with one, call it once done and return nothing', async () => {
    const session = new DeletableSession(KEY, config);
    await session.ensureLoaded();
    const promised = viewOf(session).destroy();
    expect(promised).toBeInstanceOf(Promise);
    await promised;
    const called: unknown[] = [];
    expect(viewOf(session).regenerate((error) => called.push(error ?? 'done'))).toBeUndefined();
    await settled();
    expect(called).toEqual(['done']);
  });

  it('save(true) is SessionBase.save(mustCreate): the boolean reaches the engine', async () => {
    const { session, view } = await viewOver();
    const save = jest.spyOn(session, 'save');
    await view.save(true);
    expect(save).toHaveBeenCalledWith(true);
  });

  it('reload of a session never saved (no key) reloads it empty; of one whose key names no session any more, fails with 400', async () => {
    const fresh = new DeletableSession(null, config);
    await fresh.ensureLoaded();
    await expect(viewOf(fresh).reload()).resolves.toBeUndefined();

    const gone = new DeletableSession(KEY, config);
    await gone.ensureLoaded();
    const replacement = new DeletableSession(KEY, config);
    replacement.vanished = true;
    const reloaded: unknown[] = [];
    viewOf(gone, replacement).reload((error) => reloaded.push(error));
    await settled();
    expect(reloaded).toEqual([expect.objectContaining({ status: 400 })]);
  });
});
