/**
 * The express-session-compatible view at `req.session` (session-view.ts) on a real db store:
 * data as properties, SessionBase's API intact, regenerate/save/destroy/reload with callbacks.
 */
import {
  DbSessionStore,
  resolveSessionsOptions,
  SessionBase,
  SessionInterruptedException,
  SessionNotLoadedError,
  SessionStoreUnavailableException,
} from '../../src/sessions';
import type { SessionView } from '../../src/sessions/http/session-view';
import { attachSession, sessionOf, sessionViewOf } from '../../src/sessions/http/session-request';
import { TEST_SECRET_KEY } from '../support/app';
import { openTestDataSource } from '../support/databases';

describe('req.session view', () => {
  let opened: Awaited<ReturnType<typeof openTestDataSource>>;
  let store: DbSessionStore;
  beforeAll(async () => {
    opened = await openTestDataSource('sqlite');
    store = new DbSessionStore(resolveSessionsOptions({ secretKey: TEST_SECRET_KEY }), opened.dataSource);
  });
  afterAll(() => opened.close());

  /** A request as the middleware leaves it, for a stored session with this data (or none). */
  async function requestWith(data?: Record<string, unknown>): Promise<{ req: { session?: SessionView }; key: string | null }> {
    let key: string | null = null;
    if (data) {
      const session = store.session(null);
      session.update(data);
      await session.save();
      key = session.sessionKey;
    }
    const req: { session?: SessionView } = {};
    attachSession(req, (k) => store.session(k), key);
    return { req, key };
  }

  const callback = (run: (cb: (err?: unknown) => void) => void) =>
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a node-style callback's error, passed on as is
    new Promise<void>((resolve, reject) => run((err) => (err ? reject(err) : resolve())));

  it('maps unknown properties onto the data and keeps the session API', async () => {
    const { req } = await requestWith({ passport: { user: 1 } });
    const view = req.session as SessionView;
    expect(view).toBe(sessionViewOf(req));
    expect(view).toBeInstanceOf(SessionBase);
    expect(() => view.passport).toThrow(SessionNotLoadedError);
    await view.ensureLoaded();
    expect(view.passport).toEqual({ user: 1 });
    expect(view.modified).toBe(false);
    view.cart = [1];
    expect(view.get('cart')).toEqual([1]);
    expect(view.modified).toBe(true);
    delete view.passport;
    expect(view.has('passport')).toBe(false);
    expect('cart' in view && !('passport' in view)).toBe(true);
    expect(Object.keys(view)).toEqual(['cart']);
    expect(typeof view.keys).toBe('function'); // API names keep their meaning
    expect(view.then).toBeUndefined(); // never mistaken for a promise
  });

  it('stored keys named like members (or "__proto__") are neither enumerated nor able to replace a method or prototype', async () => {
    // What Django (request.session['save'] = 1) or getSession(req).set() may have stored: parsed JSON, own keys.
    const stored = JSON.parse(
      '{"__proto__": {"polluted": 1}, "save": 1, "regenerate": 2, "constructor": 3, "toString": 4, "hasOwnProperty": 5, "cart": [1]}',
    ) as Record<string, unknown>;
    const { req, key } = await requestWith(stored);
    const before = req.session as SessionView;
    await before.ensureLoaded();
    const forIn: string[] = [];
    for (const k in before) forIn.push(k);
    expect(forIn).toEqual(['cart']);
    expect(Object.keys(before)).toEqual(['cart']);
    expect({ ...before }).toEqual({ cart: [1] });
    expect(JSON.stringify(before)).toBe('{"cart":[1]}');
    expect(typeof before.save).toBe('function');
    expect(before.constructor).toBe((Object.getPrototypeOf(sessionOf(req)) as object).constructor);
    expect(before.get('save')).toBe(1); // the session API reaches that data
    expect(before.get('__proto__')).toEqual({ polluted: 1 });
    // A request body copied in: "__proto__" (or a member name) is refused, never a prototype change.
    expect(() => Object.assign(before, JSON.parse('{"__proto__": {"get": "hijacked", "polluted": 1}}') as object)).toThrow(TypeError);
    expect(() => Object.assign(before, { regenerate: 'x' })).toThrow(/"regenerate" is a member of the session view/);
    expect(Object.getPrototypeOf(sessionOf(req))).toBe(Object.getPrototypeOf(store.session(null)));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // passport's keepSessionInfo merge after regenerate carries the enumerated data over.
    await callback((cb) => before.regenerate(cb));
    const after = req.session as SessionView;
    for (const k in before) after[k] = before[k];
    after.passport = { user: 7 };
    await callback((cb) => after.save(cb));
    expect((await store.session(after.sessionKey).ensureLoaded()).toJSON()).toEqual({ cart: [1], passport: { user: 7 } });
    expect(await store.existsRow(key as string)).toBe(false);
  });

  it('keeps data under member names when saving through the view', async () => {
    const { req, key } = await requestWith({ n: 1 });
    const view = req.session as SessionView;
    await view.ensureLoaded();
    view.set('save', 'data');
    view.set('__proto__', { polluted: 1 });
    await callback((cb) => view.save(cb));
    const saved = (await store.session(key).ensureLoaded()).toJSON();
    expect(Object.keys(saved)).toEqual(['n', 'save', '__proto__']);
    expect(Object.getPrototypeOf(saved)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('regenerate deletes the stored session and puts a new one at req.session; passport-style merge works', async () => {
    const { req, key } = await requestWith({ cart: [1, 2] });
    const before = req.session as SessionView;
    await before.ensureLoaded();
    await callback((cb) => before.regenerate(cb));
    const after = req.session as SessionView;
    expect(after).not.toBe(before);
    expect(sessionOf(req)?.sessionKey).toBeNull();
    expect(await store.existsRow(key as string)).toBe(false);
    for (const k in before) after[k] = before[k]; // passport's keepSessionInfo (utils-merge)
    after.passport = { user: 7 };
    await callback((cb) => after.save(cb));
    const saved = await store.session(after.sessionKey).ensureLoaded();
    expect(saved.toJSON()).toEqual({ cart: [1, 2], passport: { user: 7 } });
  });

  it('destroy flushes; reload reads the store again and fails once the session is gone', async () => {
    const { req, key } = await requestWith({ n: 1 });
    const view = req.session as SessionView;
    const other = store.session(key);
    await other.ensureLoaded();
    other.set('n', 2);
    await other.save();
    await callback((cb) => view.reload(cb));
    expect((req.session as SessionView).n).toBe(2);
    await callback((cb) => (req.session as SessionView).destroy(cb));
    expect(await store.existsRow(key as string)).toBe(false);
    expect(sessionOf(req)?.isEmpty()).toBe(true);
    const { req: stale } = await requestWith({ n: 3 });
    await store.session((stale.session as SessionView).sessionKey).delete();
    await expect(callback((cb) => (stale.session as SessionView).reload(cb))).rejects.toBeInstanceOf(SessionInterruptedException);
  });

  it('reports a failing store to callbacks as a 503 HTTP error, never a raw driver error', async () => {
    const failing = await openTestDataSource('sqlite');
    const brokenStore = new DbSessionStore(resolveSessionsOptions({ secretKey: TEST_SECRET_KEY }), failing.dataSource);
    const req: { session?: SessionView } = {};
    attachSession(req, (k) => brokenStore.session(k), null);
    await failing.dataSource.destroy();
    (req.session as SessionView).x = 1;
    await expect(callback((cb) => (req.session as SessionView).save(cb))).rejects.toBeInstanceOf(SessionStoreUnavailableException);
    await failing.close();
  });
});
