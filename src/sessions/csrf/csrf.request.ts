/**
 * A request's CSRF secret: read from the cookie (or, with `useSessions`, the session) the first time
 * it is needed, and sent back when `getToken` or `rotateToken` asks for it (Django's
 * `CSRF_COOKIE_NEEDS_UPDATE`). The state lives on the raw request, put there by CsrfGuard.
 */
import { stringifySetCookie } from 'cookie';
import { IncomingMessage, type ServerResponse } from 'node:http';
import { getSession, requestOfSession } from '../http/session.request';
import { runBeforeHeaders } from '../http/response-hook';
import { headersStep, readSessionCookie } from '../http/session-response';
import type { AnySession } from '../session';
import { CSRF_SESSION_KEY, maskSecret, newCsrfSecret, secretOf, tokenFormatError } from './csrf-token';
import type { CsrfConfig } from './csrf.options';

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

/** Gives the request its CSRF state (CsrfGuard, before anything else reads it). */
export function attachCsrf(req: AnyRequest, response: ServerResponse, config: CsrfConfig): void {
  const request = rawRequest(req);
  request[CSRF] ??= { config, request, response, incoming: undefined, outgoing: undefined };
}

function stateOf(req: AnyRequest): CsrfRequestState {
  const state = rawRequest(req)[CSRF];
  if (!state) throw new Error('No CSRF state on this request: is CsrfModule imported, and is this an HTTP request Nest routed?');
  return state;
}

/** Whether CsrfModule handles the request. */
export function hasCsrf(req: AnyRequest): boolean {
  return rawRequest(req)[CSRF] !== undefined;
}

/** Django's `_get_secret`: the secret of the request's cookie (synchronous) or session. */
export async function incomingSecret(req: AnyRequest): Promise<IncomingSecret> {
  const state = stateOf(req);
  if (state.incoming) return state.incoming;
  if (!state.config.useSessions) return cookieSecret(state);
  const stored = (await getSession(state.request)).get(CSRF_SESSION_KEY);
  // Django does not check the session's value: anything but a well-formed secret counts as none.
  state.incoming = typeof stored === 'string' ? { stored, secret: secretOf(stored), formatError: null } : { stored: null, secret: null, formatError: null };
  return state.incoming;
}

/** `incomingSecret` without `useSessions`: the cookie's, synchronously. */
export function incomingCookieSecret(req: AnyRequest): IncomingSecret {
  return cookieSecret(stateOf(req));
}

function cookieSecret(state: CsrfRequestState): IncomingSecret {
  if (!state.incoming) {
    const stored = readSessionCookie(state.request.headers.cookie, state.config.cookie.name) ?? null;
    const formatError = stored === null ? null : tokenFormatError(stored);
    state.incoming = { stored, secret: stored === null || formatError ? null : secretOf(stored), formatError };
  }
  return state.incoming;
}

/**
 * Django's `process_request` for a cookie it cannot read: a new secret goes out with the response
 * (the request itself is still judged on the cookie it brought). No-op with `useSessions`.
 */
export function replaceMalformedCookie(req: AnyRequest): void {
  const state = stateOf(req);
  if (!state.config.useSessions && cookieSecret(state).formatError !== null) void send(state, newCsrfSecret()); // synchronous with cookies
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
  if (first && !state.response.headersSent) runBeforeHeaders(state.response, () => headersStep({ setCookie: csrfCookie(config, state.outgoing!.stored), vary: true }));
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
