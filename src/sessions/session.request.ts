/**
 * Where a request's session lives: a WeakMap keyed by the raw Node request (the same object under
 * Express and Fastify, where Nest hands guards a wrapper with `.raw`). `req.session` holds its
 * express-session-compatible view (session.compat.ts); on Fastify the wrapper's `req.session` reads
 * the same view (SessionsModule decorates the request).
 */
import type { IncomingMessage } from 'node:http';
import type { AnySession, SessionBase, SessionData } from './session';
import { createSessionView, type SessionView } from './session.compat';
import { sessionHttpError } from './session.errors';

interface RequestSession {
  session: AnySession;
  view: SessionView;
}

const sessions = new WeakMap<object, RequestSession>();

type AnyRequest = object & { raw?: IncomingMessage | object };

function rawRequest(req: AnyRequest): object {
  return req.raw ?? req;
}

/**
 * Gives the request its session; `open(key)` makes another session object of the same store
 * (for `req.session.regenerate()` and `reload()`).
 */
export function attachSession(req: AnyRequest, session: AnySession, open: (sessionKey: string | null) => AnySession): void {
  const raw = rawRequest(req) as { session?: unknown };
  const put = (current: AnySession): AnySession => {
    const entry = { session: current, view: createSessionView(current, { replace: (key) => put(open(key)) }) };
    sessions.set(raw, entry);
    raw.session = entry.view;
    return current;
  };
  put(session);
}

/** The request's session object, not loaded (no I/O); undefined outside the sessions middleware. */
export function sessionOf<T extends object = SessionData>(req: AnyRequest): SessionBase<T> | undefined {
  return sessions.get(rawRequest(req))?.session as SessionBase<T> | undefined;
}

/** What `req.session` holds: the session with express-session's methods and its data as properties. */
export function sessionViewOf(req: AnyRequest): SessionView | undefined {
  return sessions.get(rawRequest(req))?.view;
}

/**
 * The request's session, loaded: for guards, filters and services that hold the request.
 * `const session = await getSession<MyData>(context.switchToHttp().getRequest())`.
 * A failing store is an HTTP error (503), so the caller's response is a clean one.
 */
export async function getSession<T extends object = SessionData>(req: AnyRequest): Promise<SessionBase<T>> {
  const session = sessionOf<T>(req);
  if (!session) {
    throw new Error('No session on this request: is SessionsModule imported and the request an HTTP request?');
  }
  try {
    return await session.ensureLoaded();
  } catch (error) {
    throw sessionHttpError(error);
  }
}

interface FastifyInstanceLike {
  hasRequestDecorator(name: string): boolean;
  decorateRequest(name: string, accessor: { getter(this: AnyRequest): unknown }): void;
}

/**
 * Fastify hands guards, interceptors and `@Session()` of `@nestjs/common` its own request object,
 * while the middleware saw the raw one: make the wrapper's `req.session` read the raw request's view.
 * Skipped (with a warning) when another plugin already owns `request.session`.
 */
export function exposeSessionOnFastifyRequests(adapter: { getType(): string; getInstance(): unknown } | undefined, warn: (message: string) => void): void {
  if (adapter?.getType() !== 'fastify') return;
  const fastify = adapter.getInstance() as FastifyInstanceLike;
  if (fastify.hasRequestDecorator('session')) {
    warn('Fastify request.session is already decorated by another plugin: use @Session() or getSession(req) from this package');
    return;
  }
  fastify.decorateRequest('session', {
    getter(this: AnyRequest) {
      return sessionViewOf(this);
    },
  });
}
