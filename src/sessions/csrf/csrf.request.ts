/**
 * A request's CSRF secret: read from the cookie (or, with `useSessions`, the session) when it is
 * needed, and sent back when `getToken` or `rotateToken` asks for it (Django's
 * `CSRF_COOKIE_NEEDS_UPDATE`). A request gets state of its own (on the raw request) only then.
 */
import { stringifySetCookie } from 'cookie';
import { IncomingMessage, type ServerResponse } from 'node:http';
import { getSession, requestOfSession, responseOfRequest } from '../http/session-request';
import { runBeforeHeaders } from '../http/response-hook';
import { headersStep, readSessionCookie } from '../http/session-response';
import type { AnySession } from '../session';
import { CSRF_SESSION_KEY, maskSecret, newCsrfSecret, secretOf, tokenFormatError } from './csrf-token';
import type { CsrfConfig } from './csrf.options';
import { SessionsSetupError } from '../session.errors';

/** The secret a request came with: its stored value, the secret in it, or why it is malformed (cookie only). */
export interface IncomingSecret {
  stored: string | null;
  secret: string | null;
  formatError: string | null;
}

interface CsrfRequestState {
  config: CsrfConfig;
  request: IncomingMessage;
  response: ServerResponse;
  incoming: IncomingSecret | undefined;
  /** The value to store for the response (cookie or session), once getToken or rotateToken decided one. */
  outgoing: { secret: string; stored: string } | undefined;
}

const CSRF = Symbol('sessions.csrf');
type WithCsrf = IncomingMessage & { [CSRF]?: CsrfRequestState };

type AnyRequest = object & { raw?: object };

function rawRequest(req: AnyRequest): WithCsrf {
  return (req instanceof IncomingMessage ? req : (req.raw ?? req)) as WithCsrf;
}

/**
 * CsrfModule's config by HTTP server, so that `getToken` and `rotateToken` find it from the request
 * alone: a request needs no CSRF state of its own until it asks for a token (a property added to
 * every request costs every request).
 */
const configs = new WeakMap<object, CsrfConfig>();

function serverOf(request: IncomingMessage): object | undefined {
  return (request.socket as (IncomingMessage['socket'] & { server?: object }) | null)?.server;
}

/**
 * CsrfGuard, on each request: makes the config findable from the request; where the response could
 * not be found later (Fastify without SessionsModule, whose hook keeps it), the request gets its state now.
 */
export function registerCsrf(req: AnyRequest, response: ServerResponse, config: CsrfConfig): void {
  const request = rawRequest(req);
  const server = serverOf(request);
  if (server && !configs.has(server)) configs.set(server, config);
  if (!server || responseOfRequest(request) === undefined)
    request[CSRF] ??= { config, request, response, incoming: undefined, outgoing: undefined };
}

function stateOf(req: AnyRequest): CsrfRequestState {
  const request = rawRequest(req);
  const existing = request[CSRF];
  if (existing) return existing;
  const server = serverOf(request);
  const config = server && configs.get(server);
  const response = responseOfRequest(request);
  if (!config || !response)
    throw new SessionsSetupError('No CSRF state on this request: is CsrfModule imported, and is this an HTTP request Nest routed?');
  return (request[CSRF] = { config, request, response, incoming: undefined, outgoing: undefined });
}

/** Whether CsrfModule handles the request. */
export function hasCsrf(req: AnyRequest): boolean {
  const request = rawRequest(req);
  const server = serverOf(request);
  return request[CSRF] !== undefined || (server !== undefined && configs.has(server));
}

/** Django's `_get_secret`: the secret of the request's cookie or session. */
export async function incomingSecret(req: AnyRequest): Promise<IncomingSecret> {
  const state = stateOf(req);
  if (state.incoming) return state.incoming;
  if (!state.config.useSessions) return (state.incoming = cookieSecret(state.request, state.config));
  const stored = (await getSession(state.request)).get(CSRF_SESSION_KEY);
  // Django does not check the session's value: anything but a well-formed secret counts as none.
  state.incoming =
    typeof stored === 'string'
      ? { stored, secret: secretOf(stored), formatError: null }
      : { stored: null, secret: null, formatError: null };
  return state.incoming;
}

/** The secret of the request's CSRF cookie (synchronous; no state kept). */
export function cookieSecret(req: AnyRequest, config: CsrfConfig): IncomingSecret {
  const stored = readSessionCookie(rawRequest(req).headers.cookie, config.cookie.name) ?? null;
  const formatError = stored === null ? null : tokenFormatError(stored);
  return { stored, secret: stored === null || formatError ? null : secretOf(stored), formatError };
}

/**
 * Django's `process_request` for a cookie it cannot read: a new secret goes out with the response
 * (the request itself is still judged on the cookie it brought).
 */
export function replaceMalformedCookie(req: AnyRequest): void {
  void send(stateOf(req), newCsrfSecret()); // synchronous with cookies
}

/**
 * Django's `get_token`: a token for a form field or the `X-CSRFToken` header, masked anew on every
 * call (so a page's token changes with each response). The secret behind it goes out with the
 * response (a cookie, or the session's `_csrftoken`), its cookie's expiry renewed.
 */
export async function getToken(req: AnyRequest): Promise<string> {
  const state = stateOf(req);
  const secret = state.outgoing?.secret ?? (await incomingSecret(req)).secret ?? newCsrfSecret();
  await send(state, secret);
  return maskSecret(secret);
}

/** Django's `rotate_token`: a new secret for the request; tokens made before it stop matching. Run by the auth bridge's login(). */
export async function rotateToken(req: AnyRequest): Promise<void> {
  await send(stateOf(req), newCsrfSecret());
}

/** `rotateToken` of the request a session serves, when CsrfModule handles it (sessions opened outside a request have none). */
export async function rotateTokenOfSession(session: AnySession): Promise<void> {
  const request = requestOfSession(session);
  if (request && hasCsrf(request)) await rotateToken(request);
}

async function send(state: CsrfRequestState, secret: string): Promise<void> {
  const { config } = state;
  // The stored form: the secret (Django 4.1+), or with `cookieMasked` a masked one, kept as it came when it holds the same secret.
  const incoming = state.incoming;
  const stored = !config.cookie.masked ? secret : incoming?.secret === secret && incoming.stored ? incoming.stored : maskSecret(secret);
  const first = state.outgoing === undefined;
  state.outgoing = { secret, stored };
  if (config.useSessions) {
    const session = await getSession(state.request);
    if (session.get(CSRF_SESSION_KEY) !== stored) session.set(CSRF_SESSION_KEY, stored);
    return;
  }
  // The cookie of the latest secret, set once the response starts (after the session's own step).
  if (first && !state.response.headersSent)
    runBeforeHeaders(state.response, () => headersStep({ setCookie: csrfCookie(config, state.outgoing!.stored), vary: true }));
}

/** Django's `response.set_cookie(CSRF_COOKIE_NAME, …)` with the CSRF_COOKIE_* settings. */
function csrfCookie(config: CsrfConfig, value: string): string {
  const { name, age, domain, path, secure, httpOnly, sameSite } = config.cookie;
  return stringifySetCookie(name, value, {
    maxAge: age ?? undefined,
    expires: age === null ? undefined : new Date(Date.now() + age * 1000),
    domain: domain ?? undefined,
    path,
    secure: secure || undefined,
    httpOnly: httpOnly || undefined,
    sameSite: sameSite === false ? undefined : (sameSite.toLowerCase() as 'lax' | 'strict' | 'none'),
  });
}
