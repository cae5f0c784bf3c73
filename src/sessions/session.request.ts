/**
 * Where a request's session lives: a WeakMap keyed by the raw Node request (the same object under
 * Express and Fastify, where Nest hands guards a wrapper with `.raw`), mirrored at `req.session`.
 */
import type { IncomingMessage } from 'node:http';
import type { AnySession, SessionBase, SessionData } from './session';

const sessions = new WeakMap<object, AnySession>();

type AnyRequest = object & { raw?: IncomingMessage | object };

function rawRequest(req: AnyRequest): object {
  return req.raw ?? req;
}

export function attachSession(req: AnyRequest, session: AnySession): void {
  sessions.set(rawRequest(req), session);
  (req as { session?: unknown }).session = session;
}

/** The request's session object, not loaded (no I/O); undefined outside the sessions middleware. */
export function sessionOf<T extends object = SessionData>(req: AnyRequest): SessionBase<T> | undefined {
  return sessions.get(rawRequest(req)) as SessionBase<T> | undefined;
}

/**
 * The request's session, loaded: for guards, filters and services that hold the request.
 * `const session = await getSession<MyData>(context.switchToHttp().getRequest())`.
 */
export async function getSession<T extends object = SessionData>(req: AnyRequest): Promise<SessionBase<T>> {
  const session = sessionOf<T>(req);
  if (!session) {
    throw new Error('No session on this request: is SessionsModule imported and the request an HTTP request?');
  }
  return session.ensureLoaded();
}
