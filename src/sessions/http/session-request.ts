/**
 * Where a request's session lives: on the raw Node request (the same object under
 * Express and Fastify, where Nest hands guards a wrapper with `.raw`). `req.session` reads its
 * express-session-compatible view (session-view.ts, built on first read); on Fastify the
 * wrapper's `req.session` reads the same view (SessionsModule decorates the request).
 */
import { IncomingMessage, type ServerResponse } from 'node:http';
import type { AnySession, SessionBase, SessionData } from '../session';
import { createSessionView, type SessionView } from './session-view';
import { sessionHttpError, SessionsSetupError } from '../session.errors';

interface RequestSession {
  /** The raw request (what `requestOfSession` answers for its sessions). */
  request: object;
  /** Its response, when the attaching code had it (`responseOfRequest`). */
  response: ServerResponse | undefined;
  /** Opened on the first access (most requests never touch their session); replaced by regenerate/reload. */
  session: AnySession | undefined;
  /** The key the request came with (its session cookie). */
  sessionKey: string | null;
  /** Created on the first read of `req.session`. */
  view: SessionView | undefined;
  open: (sessionKey: string | null) => AnySession;
  /** Runs once, on the first access to the session by any way (then cleared). */
  onFirstAccess: (() => void) | undefined;
}

/**
 * Each raw request's entry, under a symbol (not enumerable by `for…in`/JSON, invisible to other
 * code). Not a WeakMap: a WeakMap entry per request makes every garbage collection walk an
 * ephemeron table as large as the requests since the last one; measured in the example app on this
 * project's machine, /ping cost ~25 µs more server CPU per request than without sessions with the
 * WeakMap, ~7 µs with this property.
 */
const ENTRY = Symbol('sessions.request');
/** On a request prototype (`defineSessionAccessor`): gives a request that has no entry yet its entry. */
const ATTACH_ON_ACCESS = Symbol('sessions.attachOnAccess');
type WithEntry = object & { [ENTRY]?: RequestSession; [ATTACH_ON_ACCESS]?: (req: IncomingMessage) => void };

type AnyRequest = object & { raw?: IncomingMessage | object };

function rawRequest(req: AnyRequest): object {
  return req instanceof IncomingMessage ? req : (req.raw ?? req);
}

/** The request's entry (attached now if its prototype attaches on access), after running its first-access callback. */
function accessEntry(req: AnyRequest): RequestSession | undefined {
  const raw = rawRequest(req) as WithEntry;
  if (raw[ENTRY] === undefined) raw[ATTACH_ON_ACCESS]?.(raw as IncomingMessage);
  const entry = raw[ENTRY];
  if (entry?.onFirstAccess) {
    const onFirstAccess = entry.onFirstAccess;
    entry.onFirstAccess = undefined;
    onFirstAccess();
  }
  return entry;
}

/** On a request's session: the raw request it serves (code holding only the session, such as a login, reaches the request through it). */
const REQUEST = Symbol('sessions.requestOfSession');

function opened(entry: RequestSession, sessionKey: string | null): AnySession {
  const session = entry.open(sessionKey);
  (session as AnySession & { [REQUEST]?: object })[REQUEST] = entry.request;
  return session;
}

function sessionIn(entry: RequestSession): AnySession {
  return (entry.session ??= opened(entry, entry.sessionKey));
}

/** The raw request a session was opened for by the sessions middleware; undefined for sessions opened elsewhere (a job, a script). */
export function requestOfSession(session: AnySession): object | undefined {
  return (session as AnySession & { [REQUEST]?: object })[REQUEST];
}

function viewOf(entry: RequestSession): SessionView {
  return (entry.view ??= createSessionView(sessionIn(entry), { replace: (key) => replaceSession(entry, key) }));
}

function replaceSession(entry: RequestSession, sessionKey: string | null): AnySession {
  entry.session = opened(entry, sessionKey);
  entry.view = undefined;
  return entry.session;
}

/**
 * `req.session`, shared by every request: the view is only built when read. Assigning replaces the
 * accessor with the value, as assigning a plain property would. Defined on the request itself, or
 * once on a prototype every request inherits (`defineSessionAccessor`).
 */
const SESSION_PROPERTY: PropertyDescriptor = {
  get(this: AnyRequest) {
    return sessionViewOf(this);
  },
  set(this: AnyRequest, value: unknown) {
    Object.defineProperty(this, 'session', { value, writable: true, enumerable: true, configurable: true });
  },
  enumerable: true,
  configurable: true,
};

/** Whether the request already has its session (no access: first-access callbacks do not run). */
export function hasSession(req: AnyRequest): boolean {
  return (rawRequest(req) as WithEntry)[ENTRY] !== undefined;
}

/** Whether the request's prototype gives it its session when code first reaches it (`defineSessionAccessor`). */
export function attachesOnAccess(req: AnyRequest): boolean {
  return (rawRequest(req) as WithEntry)[ATTACH_ON_ACCESS] !== undefined;
}

/**
 * Gives the request its session: `open(sessionKey)` makes it on first access (also later session
 * objects of the same store, for `req.session.regenerate()` and `reload()`). `onFirstAccess` runs
 * once, when code first reaches the session (sessionOf, getSession, `req.session`, `@Session()`).
 */
export function attachSession(
  req: AnyRequest,
  open: (sessionKey: string | null) => AnySession,
  sessionKey: string | null,
  onFirstAccess?: () => void,
  response?: ServerResponse,
): void {
  const raw = rawRequest(req);
  (raw as WithEntry)[ENTRY] = { request: raw, response, session: undefined, sessionKey, view: undefined, open, onFirstAccess };
  if (!prototypesWithSessionAccessor.has(Object.getPrototypeOf(raw) as object)) Object.defineProperty(raw, 'session', SESSION_PROPERTY);
}

const prototypesWithSessionAccessor = new WeakSet<object>();

/**
 * `req.session` for every request inheriting `prototype` (Express's `app.request`, which mounted
 * sub-apps' request prototypes inherit too), instead of a property added to each request.
 * `attachOnAccess(req)` attaches the session (`attachSession`) of a request that reaches it without
 * one: then a request that never touches its session gets nothing at all.
 */
export function defineSessionAccessor(prototype: object, attachOnAccess?: (req: IncomingMessage) => void): void {
  if (prototypesWithSessionAccessor.has(prototype)) return; // as with the middleware mounted twice, the first one owns the requests
  Object.defineProperty(prototype, 'session', SESSION_PROPERTY);
  if (attachOnAccess) Object.defineProperty(prototype, ATTACH_ON_ACCESS, { value: attachOnAccess, configurable: true });
  prototypesWithSessionAccessor.add(prototype);
}

/**
 * The raw response of a request: Express links it (`req.res`); on Fastify the sessions hook, which
 * saw both, keeps it. Undefined when neither did (Fastify without SessionsModule).
 */
export function responseOfRequest(req: AnyRequest): ServerResponse | undefined {
  const raw = rawRequest(req) as WithEntry & { res?: ServerResponse };
  return raw.res ?? raw[ENTRY]?.response;
}

/** The request's session object, not loaded (no I/O); undefined outside the sessions middleware. */
export function sessionOf<T extends object = SessionData>(req: AnyRequest): SessionBase<T> | undefined {
  const entry = accessEntry(req);
  return entry && (sessionIn(entry) as SessionBase<T>);
}

/** What `req.session` holds: the session with express-session's methods and its data as properties. */
export function sessionViewOf(req: AnyRequest): SessionView | undefined {
  const entry = accessEntry(req);
  return entry && viewOf(entry);
}

/** The session key the request came with, or null (no first-access callbacks run); undefined outside the sessions middleware. */
export function requestSessionKey(req: AnyRequest): string | null | undefined {
  const raw = rawRequest(req) as WithEntry;
  if (raw[ENTRY] === undefined) raw[ATTACH_ON_ACCESS]?.(raw as IncomingMessage);
  return raw[ENTRY]?.sessionKey;
}

/**
 * Gives the request a fresh session object of the key it came with, to be loaded anew on first use:
 * what was read (or, with `evenModified`, changed) so far is dropped (@BlockingSession, once it holds
 * the session's lock). A session nothing opened yet, or changed unless `evenModified`, is kept.
 */
export function reopenSession(req: AnyRequest, evenModified = false): void {
  const entry = (rawRequest(req) as WithEntry)[ENTRY];
  if (entry?.session && (evenModified || !entry.session.modified)) replaceSession(entry, entry.sessionKey);
}

/**
 * The request's session, loaded: for guards, filters and services that hold the request.
 * `const session = await getSession<MyData>(context.switchToHttp().getRequest())`.
 * A failing store is an HTTP error (503), so the caller's response is a clean one.
 */
export async function getSession<T extends object = SessionData>(req: AnyRequest): Promise<SessionBase<T>> {
  const session = sessionOf<T>(req);
  if (!session) {
    throw new SessionsSetupError('No session on this request: is SessionsModule imported and the request an HTTP request?');
  }
  try {
    return await session.ensureLoaded();
  } catch (error) {
    throw sessionHttpError(error);
  }
}
