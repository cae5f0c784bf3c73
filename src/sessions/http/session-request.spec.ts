/**
 * Where a request's session lives (session-request.ts): attaching it to the raw request (plain
 * objects, Nest's Fastify wrapper `{ raw }`, a real IncomingMessage), the `req.session` accessor on
 * the request or on its prototype (`defineSessionAccessor`) and what assigning it does, the session
 * opened on first access and its first-access callback, the request key, `reopenSession`,
 * `getSession`'s errors, `requestOfSession` and `responseOfRequest`.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Logger, ServiceUnavailableException } from '@nestjs/common';
import { JsonSession } from '../../../test/support/json-session';
import type { AnySession, SessionData } from '../session';
import { SessionsSetupError, SessionStoreUnavailableException } from '../session.errors';
import { resolveSessionsOptions } from '../sessions.options';
import {
  attachesOnAccess,
  attachSession,
  defineSessionAccessor,
  getSession,
  hasSession,
  reopenSession,
  requestOfSession,
  requestSessionKey,
  responseOfRequest,
  sessionOf,
  sessionViewOf,
} from './session-request';

/** A session whose store holds a cart. */
class MemorySession extends JsonSession {
  override stored = '{"cart":[1]}';
}

/** A session whose store is down. */
class FailingSession extends MemorySession {
  override load(): Promise<SessionData> {
    return Promise.reject(new Error('connection refused'));
  }
}

const config = resolveSessionsOptions({ secretKey: 'session-request-spec-secret' });
const KEY = 'abcdefgh12345678';

/** A request as code sees it: `req.session`, and Express's `req.res`. */
type Req = { session?: unknown; res?: ServerResponse };

/** The `open` the middleware gives attachSession: counts the sessions it makes. */
function opener(): jest.Mock<AnySession, [string | null]> {
  return jest.fn((sessionKey: string | null) => new MemorySession(sessionKey, config));
}

/** A fresh request prototype (as Express's `app.request`) and a request inheriting it. */
function requestWithPrototype(): { prototype: object; req: Req } {
  const prototype = {};
  return { prototype, req: Object.create(prototype) as Req };
}

describe('session-request: the session of a request', () => {
  describe('attachSession, sessionOf and sessionViewOf', () => {
    it('opens the session on first access only, with the key the request came with, not loaded', () => {
      const req: Req = {};
      const open = opener();
      attachSession(req, open, KEY);
      expect(open).not.toHaveBeenCalled();
      const session = sessionOf(req);
      expect(open).toHaveBeenCalledTimes(1);
      expect(open).toHaveBeenCalledWith(KEY);
      expect(session).toBeInstanceOf(MemorySession);
      expect(session?.sessionKey).toBe(KEY);
      expect(session?.isLoaded).toBe(false);
      expect(sessionOf(req)).toBe(session);
      expect(open).toHaveBeenCalledTimes(1);
    });

    it('answers undefined for a request without a session, and for a wrapper whose raw request has none', () => {
      expect(sessionOf({})).toBeUndefined();
      expect(sessionViewOf({})).toBeUndefined();
      expect(sessionOf({ raw: {} })).toBeUndefined();
    });

    it('runs onFirstAccess exactly once, whichever way the session is first reached', () => {
      const viaSessionOf = jest.fn();
      const req: Req = {};
      attachSession(req, opener(), KEY, viaSessionOf);
      expect(viaSessionOf).not.toHaveBeenCalled();
      sessionOf(req);
      sessionOf(req);
      sessionViewOf(req);
      void req.session;
      expect(viaSessionOf).toHaveBeenCalledTimes(1);

      const viaView = jest.fn();
      const other: Req = {};
      attachSession(other, opener(), KEY, viaView);
      sessionViewOf(other);
      sessionViewOf(other);
      sessionOf(other);
      expect(viaView).toHaveBeenCalledTimes(1);

      const viaProperty = jest.fn();
      const third: Req = {};
      attachSession(third, opener(), KEY, viaProperty);
      void third.session;
      void third.session;
      expect(viaProperty).toHaveBeenCalledTimes(1);
    });

    it('req.session reads the view of the session sessionOf gives, built once', () => {
      const req: Req = {};
      attachSession(req, opener(), null);
      const view = sessionViewOf(req);
      expect(view).toBeDefined();
      expect(req.session).toBe(view);
      expect(sessionViewOf(req)).toBe(view);
      view?.set('cart', [2]);
      expect(sessionOf(req)?.get('cart')).toEqual([2]);
    });

    it("through Nest's Fastify wrapper, attaches to the raw request and reads the same session", () => {
      const raw: Req = {};
      const wrapper = { raw };
      attachSession(wrapper, opener(), KEY);
      expect(hasSession(raw)).toBe(true);
      expect(hasSession(wrapper)).toBe(true);
      expect(Object.getOwnPropertyDescriptor(wrapper, 'session')).toBeUndefined();
      const session = sessionOf(wrapper);
      expect(session).toBeDefined();
      expect(sessionOf(raw)).toBe(session);
      expect(sessionViewOf(wrapper)).toBe(raw.session);
      expect(requestOfSession(session as AnySession)).toBe(raw);
    });

    it('an IncomingMessage is its own raw request, even with a "raw" property', () => {
      const req = new IncomingMessage(new Socket());
      const other: Req = {};
      Object.defineProperty(req, 'raw', { value: other });
      attachSession(req, opener(), KEY);
      expect(hasSession(req)).toBe(true);
      expect(hasSession(other)).toBe(false);
      expect(requestOfSession(sessionOf(req) as AnySession)).toBe(req);
      expect(requestSessionKey(req)).toBe(KEY);
    });
  });

  describe('requestOfSession', () => {
    it('gives the raw request of a session opened through attachSession, also after it was reopened', () => {
      const req: Req = {};
      attachSession(req, opener(), KEY);
      const session = sessionOf(req) as AnySession;
      expect(requestOfSession(session)).toBe(req);
      reopenSession(req);
      const reopened = sessionOf(req) as AnySession;
      expect(reopened).not.toBe(session);
      expect(requestOfSession(reopened)).toBe(req);
    });

    it('is undefined for a session created elsewhere (a job, a script)', () => {
      expect(requestOfSession(new MemorySession(KEY, config))).toBeUndefined();
    });
  });

  describe('the req.session accessor', () => {
    it('on a request attached directly: an own enumerable accessor until assigned, then the plain value', () => {
      const req: Req = {};
      attachSession(req, opener(), KEY);
      const descriptor = Object.getOwnPropertyDescriptor(req, 'session');
      expect(typeof descriptor?.get).toBe('function');
      expect(descriptor?.enumerable).toBe(true);
      expect(descriptor?.configurable).toBe(true);
      expect(req.session).toBe(sessionViewOf(req));

      req.session = { replaced: true };
      expect(req.session).toEqual({ replaced: true });
      expect(Object.getOwnPropertyDescriptor(req, 'session')).toEqual({
        value: { replaced: true },
        writable: true,
        enumerable: true,
        configurable: true,
      });
      req.session = 'again';
      expect(req.session).toBe('again');
      expect(Object.keys(req)).toContain('session');
      // The session itself is still the request's.
      expect(sessionOf(req)?.sessionKey).toBe(KEY);
    });

    it('on a prototype (defineSessionAccessor): attachSession adds no own property, and reading gives the view', () => {
      const { prototype, req } = requestWithPrototype();
      defineSessionAccessor(prototype);
      expect(typeof Object.getOwnPropertyDescriptor(prototype, 'session')?.get).toBe('function');
      attachSession(req, opener(), KEY);
      expect(Object.getOwnPropertyDescriptor(req, 'session')).toBeUndefined();
      expect(req.session).toBeDefined();
      expect(req.session).toBe(sessionViewOf(req));
    });

    it('on a prototype: assigning gives this request a plain writable, enumerable value and leaves the others their view', () => {
      const { prototype, req } = requestWithPrototype();
      defineSessionAccessor(prototype);
      const other = Object.create(prototype) as Req;
      attachSession(req, opener(), KEY);
      attachSession(other, opener(), KEY);
      expect(req.session).toBe(sessionViewOf(req));

      req.session = null;
      expect(req.session).toBeNull();
      expect(Object.getOwnPropertyDescriptor(req, 'session')).toEqual({
        value: null,
        writable: true,
        enumerable: true,
        configurable: true,
      });
      req.session = 42;
      expect(req.session).toBe(42);
      expect(other.session).toBe(sessionViewOf(other));
      expect(typeof Object.getOwnPropertyDescriptor(prototype, 'session')?.get).toBe('function');
    });

    it('on a prototype: assigning before any session was attached sets the value too', () => {
      const { prototype, req } = requestWithPrototype();
      defineSessionAccessor(prototype);
      req.session = 'mine';
      expect(req.session).toBe('mine');
      expect(Object.getOwnPropertyDescriptor(req, 'session')?.writable).toBe(true);
    });

    it('on a prototype without attachOnAccess: a request never attached reads undefined', () => {
      const { prototype, req } = requestWithPrototype();
      defineSessionAccessor(prototype);
      expect(req.session).toBeUndefined();
      expect(hasSession(req)).toBe(false);
    });
  });

  describe('hasSession and attachesOnAccess', () => {
    it('hasSession is false before attachSession and true after, without running onFirstAccess', () => {
      const req: Req = {};
      const onFirstAccess = jest.fn();
      expect(hasSession(req)).toBe(false);
      attachSession(req, opener(), KEY, onFirstAccess);
      expect(hasSession(req)).toBe(true);
      expect(onFirstAccess).not.toHaveBeenCalled();
    });

    it('attachesOnAccess is true only for requests whose prototype got an attachOnAccess callback', () => {
      expect(attachesOnAccess({})).toBe(false);
      const plain = requestWithPrototype();
      defineSessionAccessor(plain.prototype);
      expect(attachesOnAccess(plain.req)).toBe(false);

      const attaching = requestWithPrototype();
      defineSessionAccessor(attaching.prototype, () => undefined);
      expect(attachesOnAccess(attaching.req)).toBe(true);
      expect(attachesOnAccess({ raw: attaching.req })).toBe(true);
      expect(hasSession(attaching.req)).toBe(false);
    });

    it('a request of such a prototype gets its session on first access, and only then', () => {
      const { prototype, req } = requestWithPrototype();
      const onFirstAccess = jest.fn();
      const attachOnAccess = jest.fn((raw: IncomingMessage) => attachSession(raw, opener(), KEY, onFirstAccess));
      defineSessionAccessor(prototype, attachOnAccess);
      expect(hasSession(req)).toBe(false);
      expect(attachOnAccess).not.toHaveBeenCalled();

      const view = req.session;
      expect(attachOnAccess).toHaveBeenCalledTimes(1);
      expect(attachOnAccess).toHaveBeenCalledWith(req);
      expect(hasSession(req)).toBe(true);
      expect(onFirstAccess).toHaveBeenCalledTimes(1);
      expect(view).toBe(sessionViewOf(req));
      expect(sessionOf(req)?.sessionKey).toBe(KEY);
      expect(attachOnAccess).toHaveBeenCalledTimes(1);
      expect(onFirstAccess).toHaveBeenCalledTimes(1);
    });

    it('with an IncomingMessage subclass as the prototype, attaches on access through sessionOf', () => {
      class AppRequest extends IncomingMessage {}
      defineSessionAccessor(AppRequest.prototype, (raw) => attachSession(raw, opener(), KEY));
      const req = new AppRequest(new Socket());
      expect(attachesOnAccess(req)).toBe(true);
      expect(hasSession(req)).toBe(false);
      const session = sessionOf(req);
      expect(session?.sessionKey).toBe(KEY);
      expect(requestOfSession(session as AnySession)).toBe(req);
      expect(Object.getOwnPropertyDescriptor(req, 'session')).toBeUndefined();
    });

    it('defineSessionAccessor twice on one prototype: the first attachOnAccess stays in charge', () => {
      const { prototype, req } = requestWithPrototype();
      const first = jest.fn((raw: IncomingMessage) => attachSession(raw, opener(), 'firstkey1234'));
      const second = jest.fn((raw: IncomingMessage) => attachSession(raw, opener(), 'secondkey1234'));
      defineSessionAccessor(prototype, first);
      defineSessionAccessor(prototype, second);
      expect(requestSessionKey(req)).toBe('firstkey1234');
      expect(sessionOf(req)?.sessionKey).toBe('firstkey1234');
      expect(first).toHaveBeenCalledTimes(1);
      expect(second).not.toHaveBeenCalled();
    });
  });

  describe('requestSessionKey', () => {
    it('is the key the request came with, or null when it came with none', () => {
      const withKey: Req = {};
      attachSession(withKey, opener(), KEY);
      expect(requestSessionKey(withKey)).toBe(KEY);
      expect(requestSessionKey({ raw: withKey })).toBe(KEY);

      const withoutKey: Req = {};
      attachSession(withoutKey, opener(), null);
      expect(requestSessionKey(withoutKey)).toBeNull();
    });

    it('is undefined outside the sessions middleware (no entry, no attaching prototype)', () => {
      expect(requestSessionKey({})).toBeUndefined();
      expect(requestSessionKey({ raw: {} })).toBeUndefined();
      const { prototype, req } = requestWithPrototype();
      defineSessionAccessor(prototype);
      expect(requestSessionKey(req)).toBeUndefined();
    });

    it('runs neither the first-access callback nor open', () => {
      const req: Req = {};
      const open = opener();
      const onFirstAccess = jest.fn();
      attachSession(req, open, KEY, onFirstAccess);
      expect(requestSessionKey(req)).toBe(KEY);
      expect(onFirstAccess).not.toHaveBeenCalled();
      expect(open).not.toHaveBeenCalled();
      sessionOf(req);
      expect(onFirstAccess).toHaveBeenCalledTimes(1);
    });

    it("attaches through the prototype's attachOnAccess when the request has no entry yet, without running the first-access callback", () => {
      const { prototype, req } = requestWithPrototype();
      const onFirstAccess = jest.fn();
      const attachOnAccess = jest.fn((raw: IncomingMessage) => attachSession(raw, opener(), KEY, onFirstAccess));
      defineSessionAccessor(prototype, attachOnAccess);
      expect(requestSessionKey(req)).toBe(KEY);
      expect(attachOnAccess).toHaveBeenCalledTimes(1);
      expect(hasSession(req)).toBe(true);
      expect(onFirstAccess).not.toHaveBeenCalled();
      sessionOf(req);
      expect(onFirstAccess).toHaveBeenCalledTimes(1);
    });

    it("keeps an entry the request already has: the prototype's attachOnAccess does not run again", () => {
      const { prototype, req } = requestWithPrototype();
      const attachOnAccess = jest.fn((raw: IncomingMessage) => attachSession(raw, opener(), 'prototypekey1'));
      defineSessionAccessor(prototype, attachOnAccess);
      const onFirstAccess = jest.fn();
      attachSession(req, opener(), KEY, onFirstAccess);
      expect(requestSessionKey(req)).toBe(KEY);
      expect(sessionOf(req)?.sessionKey).toBe(KEY);
      expect(onFirstAccess).toHaveBeenCalledTimes(1);
      expect(attachOnAccess).not.toHaveBeenCalled();
    });
  });

  describe('reopenSession', () => {
    it('replaces an opened, unmodified session with a fresh one of the same key, not loaded, and a new view', async () => {
      const req: Req = {};
      const open = opener();
      attachSession(req, open, KEY);
      const view = req.session;
      const session = (await getSession(req)) as MemorySession;
      expect(session.get('cart')).toEqual([1]);
      expect(session.modified).toBe(false);

      reopenSession(req);
      const fresh = sessionOf(req);
      expect(fresh).not.toBe(session);
      expect(fresh).toBeInstanceOf(MemorySession);
      expect(fresh?.sessionKey).toBe(KEY);
      expect(fresh?.isLoaded).toBe(false);
      expect(open).toHaveBeenCalledTimes(2);
      expect(open).toHaveBeenLastCalledWith(KEY);
      expect(req.session).not.toBe(view);
      expect(req.session).toBe(sessionViewOf(req));
      expect(await getSession(req)).toBe(fresh);
    });

    it('keeps a modified session unless evenModified', async () => {
      const req: Req = {};
      const open = opener();
      attachSession(req, open, KEY);
      const session = await getSession(req);
      session.set('cart', [1, 2]);
      expect(session.modified).toBe(true);

      reopenSession(req);
      expect(sessionOf(req)).toBe(session);
      reopenSession(req, false);
      expect(sessionOf(req)).toBe(session);
      expect(open).toHaveBeenCalledTimes(1);

      reopenSession(req, true);
      const fresh = sessionOf(req);
      expect(fresh).not.toBe(session);
      expect(fresh?.sessionKey).toBe(KEY);
      expect(fresh?.modified).toBe(false);
      expect(open).toHaveBeenCalledTimes(2);
    });

    it('replaces an unmodified session with evenModified too', () => {
      const req: Req = {};
      attachSession(req, opener(), KEY);
      const session = sessionOf(req);
      reopenSession(req, true);
      expect(sessionOf(req)).not.toBe(session);
    });

    it('does nothing when no session was opened yet: no open, no first-access callback', () => {
      const req: Req = {};
      const open = opener();
      const onFirstAccess = jest.fn();
      attachSession(req, open, KEY, onFirstAccess);
      reopenSession(req);
      reopenSession(req, true);
      expect(open).not.toHaveBeenCalled();
      expect(onFirstAccess).not.toHaveBeenCalled();
      sessionOf(req);
      expect(open).toHaveBeenCalledTimes(1);
    });

    it('does nothing (and does not throw) for a request without a session', () => {
      const req: Req = {};
      expect(() => reopenSession(req)).not.toThrow();
      expect(() => reopenSession(req, true)).not.toThrow();
      expect(() => reopenSession({ raw: {} })).not.toThrow();
      expect(hasSession(req)).toBe(false);
    });
  });

  describe('getSession', () => {
    it('loads and returns the request session, running the first-access callback once', async () => {
      const req: Req = {};
      const onFirstAccess = jest.fn();
      attachSession({ raw: req }, opener(), KEY, onFirstAccess);
      const session = await getSession<{ cart: number[] }>({ raw: req });
      expect(session).toBe(sessionOf(req));
      expect(session.isLoaded).toBe(true);
      expect(session.get('cart')).toEqual([1]);
      expect(await getSession(req)).toBe(session);
      expect(onFirstAccess).toHaveBeenCalledTimes(1);
    });

    it('throws SessionsSetupError naming SessionsModule when the request has no session', async () => {
      await expect(getSession({})).rejects.toThrow(
        new SessionsSetupError('No session on this request: is SessionsModule imported and the request an HTTP request?'),
      );
      await expect(getSession({})).rejects.toBeInstanceOf(SessionsSetupError);
    });

    it('turns a store failure during the load into a 503 (SessionStoreUnavailableException)', async () => {
      const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
      try {
        const req: Req = {};
        attachSession(req, (key) => new FailingSession(key, config), KEY);
        const error: unknown = await getSession(req).then(
          () => undefined,
          (reason: unknown) => reason,
        );
        expect(error).toBeInstanceOf(SessionStoreUnavailableException);
        expect(error).toBeInstanceOf(ServiceUnavailableException);
        expect((error as SessionStoreUnavailableException).getStatus()).toBe(503);
        expect(logged).toHaveBeenCalledWith(expect.stringContaining('connection refused'));
      } finally {
        logged.mockRestore();
      }
    });
  });

  describe('responseOfRequest', () => {
    it("is Express's req.res first, even when attachSession was given a response", () => {
      const res = new ServerResponse(new IncomingMessage(new Socket()));
      const given = new ServerResponse(new IncomingMessage(new Socket()));
      const req: Req = { res };
      expect(responseOfRequest(req)).toBe(res);
      attachSession(req, opener(), KEY, undefined, given);
      expect(responseOfRequest(req)).toBe(res);
      expect(responseOfRequest({ raw: req })).toBe(res);
    });

    it('else the response given to attachSession', () => {
      const given = new ServerResponse(new IncomingMessage(new Socket()));
      const raw: Req = {};
      attachSession({ raw }, opener(), KEY, undefined, given);
      expect(responseOfRequest(raw)).toBe(given);
      expect(responseOfRequest({ raw })).toBe(given);
    });

    it('else undefined: no req.res and no session, or a session attached without a response', () => {
      expect(responseOfRequest({})).toBeUndefined();
      expect(responseOfRequest({ raw: {} })).toBeUndefined();
      const req: Req = {};
      attachSession(req, opener(), KEY);
      expect(responseOfRequest(req)).toBeUndefined();
    });
  });
});
