/**
 * Django's `SessionMiddleware.process_response` (`django/contrib/sessions/middleware.py`): decides,
 * after the handler, whether to save the session and which cookie and Vary headers the response gets,
 * saves it, and answers for a failed save. The request side is session.middleware.ts.
 */
import { parseCookie, stringifySetCookie } from 'cookie';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { ResponseStepResult } from './response-hook';
import { sessionHttpError, SessionInterruptedException, UpdateError } from '../session.errors';
import type { AnySession } from '../session';
import type { SessionsConfig } from '../sessions.options';
import { SESSION_START_KEY, sessionStartNow } from '../session-start';
import { responseCarriers, type IncomingSessionKey } from './session-header';

/** The headers a response gets from its session. */
export interface SessionHeaders {
  setCookie?: string;
  vary: boolean;
  /** With the `headerName` option: the header Vary also names, and the value to send in it (the key, or '' when the session ended). */
  header?: { name: string; value?: string };
}

/**
 * The session cookie of a request: `undefined` when the request carried none. With duplicated
 * cookies the first one wins (the `cookie` parser's rule; browsers send the most specific path first).
 */
export function readSessionCookie(cookieHeader: string | undefined, name: string): string | undefined {
  if (!cookieHeader || !cookieHeader.includes(name)) return undefined;
  return parseCookie(cookieHeader)[name];
}

function sameSite(config: SessionsConfig): 'lax' | 'strict' | 'none' | undefined {
  return config.cookie.sameSite === false ? undefined : (config.cookie.sameSite.toLowerCase() as 'lax' | 'strict' | 'none');
}

/** Django's `delete_cookie`: expired, same path/domain/SameSite, Secure where browsers demand it. */
export function deletionCookie(config: SessionsConfig): string {
  const { name, path, domain } = config.cookie;
  const site = sameSite(config);
  return stringifySetCookie(name, '', {
    expires: new Date(0),
    maxAge: 0,
    path,
    domain: domain ?? undefined,
    sameSite: site,
    secure: name.startsWith('__Secure-') || name.startsWith('__Host-') || site === 'none' || undefined,
  });
}

/** Session keys and signed payloads: written as they are, like Django, so Django reads our cookies. */
const RAW_COOKIE_VALUE = /^[\w.:-]*$/;

/**
 * The attributes (`; Max-Age=…; Path=/; Expires=…`) last made, per config: cookies with the same
 * whole-second Max-Age and Expires share them (every save sends a cookie; most in a second share).
 */
const cookieAttributes = new WeakMap<SessionsConfig, { maxAge: number | undefined; expires: number | undefined; attributes: string }>();

export function sessionCookie(config: SessionsConfig, value: string, maxAge: number | undefined): string {
  const { name, path, domain, secure, httpOnly } = config.cookie;
  const wholeMaxAge = maxAge === undefined ? undefined : Math.trunc(maxAge);
  const expires = maxAge === undefined ? undefined : Math.floor(Date.now() / 1000 + maxAge);
  let made = cookieAttributes.get(config);
  if (!made || made.maxAge !== wholeMaxAge || made.expires !== expires) {
    const attributes = stringifySetCookie(name, '', {
      maxAge: wholeMaxAge,
      expires: expires === undefined ? undefined : new Date(expires * 1000),
      path,
      domain: domain ?? undefined,
      secure: secure || undefined,
      httpOnly: httpOnly || undefined,
      sameSite: sameSite(config),
    }).slice(name.length + 1);
    made = { maxAge: wholeMaxAge, expires, attributes };
    cookieAttributes.set(config, made);
  }
  // Anything else is percent-encoded (the cookie parser decodes it).
  return `${name}=${RAW_COOKIE_VALUE.test(value) ? value : encodeURIComponent(value)}${made.attributes}`;
}

/**
 * Django's `process_response` for a session it does not save: the headers to add (no I/O), or
 * undefined when the session must be saved (`saveForResponse`).
 */
export function headersWithoutSaving(
  session: AnySession,
  incoming: IncomingSessionKey,
  config: SessionsConfig,
): SessionHeaders | undefined {
  const empty = session.isEmpty();
  // The client's key names no session (any more): the cookie is deleted, the header sent empty.
  if (empty && (incoming.cookie || incoming.key !== undefined))
    return withHeader({ setCookie: incoming.cookie ? deletionCookie(config) : undefined, vary: true }, incoming, config, '');
  if (!((session.modified || config.saveEveryRequest) && !empty)) return withHeader({ vary: session.accessed }, incoming, config);
  return undefined;
}

/** The session header's part of the headers (`headerName`): the value is sent only to a client that reads the header. */
function withHeader(headers: SessionHeaders, incoming: IncomingSessionKey, config: SessionsConfig, value?: string): SessionHeaders {
  if (config.headerName === null) return headers;
  const send = value !== undefined && responseCarriers(incoming, config.headerName).header;
  return { ...headers, header: { name: config.headerName, value: send ? value : undefined } };
}

/**
 * Saves a session that `headersWithoutSaving` says Django saves, and returns the headers to add
 * (none on a 5xx, which saves nothing). Throws SessionInterruptedException (400) when the stored
 * session vanished during the request.
 */
export async function saveForResponse(
  session: AnySession,
  statusCode: number,
  config: SessionsConfig,
  incoming: IncomingSessionKey = NO_KEY,
): Promise<SessionHeaders> {
  const { accessed } = session;
  await session.ensureLoaded();
  const maxAge = session.getExpireAtBrowserClose() ? undefined : session.getExpiryAge();
  if (statusCode >= 500) return withHeader({ vary: accessed }, incoming, config);
  // `absoluteAge` counts from the first save of a session with data (its start then travels with it, across cycleKey too).
  if (config.absoluteAge !== null && !session.has(SESSION_START_KEY) && session.keys().length > 0)
    session.set(SESSION_START_KEY, sessionStartNow());
  try {
    await session.save();
  } catch (error) {
    if (error instanceof UpdateError) throw new SessionInterruptedException();
    throw error;
  }
  const key = session.sessionKey as string;
  const setCookie = responseCarriers(incoming, config.headerName).cookie ? sessionCookie(config, key, maxAge) : undefined;
  // As Spring Session's header resolver: the key is announced when it is new to the client.
  return withHeader({ setCookie, vary: true }, incoming, config, key !== incoming.key ? key : undefined);
}

/** A request that carried no key (saveForResponse called outside a request's response). */
const NO_KEY: IncomingSessionKey = { key: undefined, cookie: false, header: false };

/** Django's `patch_vary_headers(response, ["Cookie"])` on a header value (with `headerName`, that header too). */
export function addVaryCookie(vary: string | number | readonly string[] | undefined, also?: string): string {
  const existing = (Array.isArray(vary) ? vary.join(',') : String(vary ?? '')).split(/\s*,\s*/).filter((v) => v !== '');
  if (existing.includes('*')) return '*';
  for (const name of also === undefined ? ['Cookie'] : ['Cookie', also])
    if (!existing.some((v) => v.toLowerCase() === name.toLowerCase())) existing.push(name);
  return existing.join(', ');
}

/** Set-Cookie values with ours appended (another cookie of the response is never replaced). */
export function appendSetCookie(current: string | number | readonly string[] | undefined, cookie: string): string[] {
  if (current === undefined) return [cookie];
  return [...(Array.isArray(current) ? (current as readonly string[]) : [String(current)]), cookie];
}

/** Applies session headers to a plain headers object (what Fastify passes to `writeHead`). */
export function patchHeaderObject(headers: OutgoingHttpHeaders, patch: SessionHeaders): void {
  const find = (name: string) => Object.keys(headers).find((k) => k.toLowerCase() === name);
  if (patch.setCookie) {
    const key = find('set-cookie') ?? 'set-cookie';
    headers[key] = appendSetCookie(headers[key], patch.setCookie);
  }
  if (patch.vary) {
    const key = find('vary') ?? 'vary';
    headers[key] = addVaryCookie(headers[key], patch.header?.name);
  }
  if (patch.header?.value !== undefined) headers[find(patch.header.name.toLowerCase()) ?? patch.header.name] = patch.header.value;
}

const NO_HEADERS: ResponseStepResult = { kind: 'headers', apply: () => undefined };

/** The response step that adds these headers (Set-Cookie appended, Vary patched) where they will take effect. */
export function headersStep(headers: SessionHeaders): ResponseStepResult {
  if (!headers.setCookie && !headers.vary && headers.header?.value === undefined) return NO_HEADERS;
  return { kind: 'headers', apply: (res, writeHeadHeaders) => applySessionHeaders(res, writeHeadHeaders, headers) };
}

function applySessionHeaders(res: ServerResponse, writeHeadHeaders: OutgoingHttpHeaders | undefined, headers: SessionHeaders): void {
  // Headers passed to writeHead override setHeader ones of the same name, so patch where they live.
  const inWriteHead = (name: string) => !!writeHeadHeaders && Object.keys(writeHeadHeaders).some((k) => k.toLowerCase() === name);
  if (headers.setCookie) {
    if (inWriteHead('set-cookie')) patchHeaderObject(writeHeadHeaders!, { setCookie: headers.setCookie, vary: false });
    else res.setHeader('Set-Cookie', appendSetCookie(res.getHeader('Set-Cookie'), headers.setCookie));
  }
  if (headers.vary) {
    if (inWriteHead('vary')) patchHeaderObject(writeHeadHeaders!, { vary: true, header: headers.header && { name: headers.header.name } });
    else res.setHeader('Vary', addVaryCookie(res.getHeader('Vary'), headers.header?.name));
  }
  const header = headers.header;
  if (header?.value !== undefined) {
    if (inWriteHead(header.name.toLowerCase())) patchHeaderObject(writeHeadHeaders!, { vary: false, header });
    else res.setHeader(header.name, header.value);
  }
}

/**
 * Django's `process_response` for the request's session as it is when the response goes out: its
 * headers at once when nothing is saved (most requests: the response is not held for a tick), else
 * the save, then its headers. A failure replaces the response: a 400 for SessionInterrupted, a 413
 * over maxSessionBytes, a 503 (logged) when the store failed — never a stack trace, never a cookie.
 */
export function persistForResponse(
  session: AnySession,
  incoming: IncomingSessionKey,
  statusCode: number,
  config: SessionsConfig,
): ResponseStepResult | Promise<ResponseStepResult> {
  let unsaved: SessionHeaders | undefined;
  try {
    unsaved = headersWithoutSaving(session, incoming, config);
  } catch (error) {
    return errorResponse(error);
  }
  return unsaved ? headersStep(unsaved) : saveThenHeaders(session, incoming, statusCode, config);
}

async function saveThenHeaders(
  session: AnySession,
  incoming: IncomingSessionKey,
  statusCode: number,
  config: SessionsConfig,
): Promise<ResponseStepResult> {
  try {
    return headersStep(await saveForResponse(session, statusCode, config, incoming));
  } catch (error) {
    return errorResponse(error);
  }
}

function errorResponse(error: unknown): ResponseStepResult {
  const exception = sessionHttpError(error);
  const body = exception.getResponse();
  return {
    kind: 'replace',
    statusCode: exception.getStatus(),
    contentType: 'application/json; charset=utf-8',
    body: JSON.stringify(typeof body === 'string' ? { statusCode: exception.getStatus(), message: body } : body),
  };
}
