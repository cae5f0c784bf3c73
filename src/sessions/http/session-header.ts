/**
 * The session key carried in a request/response header, for API and mobile clients that keep no
 * cookies (option `headerName`). Django has none; the anchor is Spring Session's
 * `HeaderHttpSessionIdResolver` (`X-Auth-Token`): the response names the key when the session is
 * created or its key changes, and sends the header empty when the session ends. The session itself
 * stays a Django session (same key, same row); only the carrier differs.
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface SessionHeaderOptions {
  /**
   * A request/response header that carries the session key besides the cookie (e.g. `X-Session-Token`;
   * default none: cookie only). A request may send its key there instead of in the cookie; the
   * response carries the key in it when the session is created or its key changes, and empty when
   * the session ends. A request carrying both with different keys is refused (400). With
   * `signed_cookies` the header carries the signed data, as the cookie would.
   */
  headerName?: string;
}

/** `headerName` resolved (SessionsConfig): null when the key travels in the cookie only. */
export interface SessionHeaderConfig {
  headerName: string | null;
}

/** How a request carried its session key: the key (`undefined`: none), and which carriers it came with. */
export interface IncomingSessionKey {
  key: string | undefined;
  /** The request had the session cookie (whatever its value). */
  cookie: boolean;
  /** The request had the session header (whatever its value, empty included): the client reads the header. */
  header: boolean;
}

/** An HTTP token (RFC 9110 §5.6.2), and not a header the sessions already own. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const RESERVED_HEADERS = new Set(['cookie', 'set-cookie', 'vary', 'content-type', 'content-length', 'host', 'authorization']);

/** `headerName` validated (null when unset); `fail` throws the module's options error. */
export function resolveHeaderName(value: unknown, fail: (option: string, message: string) => never): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || !HEADER_NAME.test(value))
    fail('headerName', `must be an HTTP header name, got ${JSON.stringify(value)}`);
  if (RESERVED_HEADERS.has(value.toLowerCase()))
    fail('headerName', `cannot be ${value}: pick a header of its own, such as X-Session-Token`);
  return value;
}

/** The value of header `lowerName` (lower-case, as Node keys them), or undefined; repeated headers are joined as Node joins them. */
export function readHeader(headers: IncomingHttpHeaders, lowerName: string): string | undefined {
  const value = headers[lowerName];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * The session key of a request from its cookie value and its header value (either undefined when
 * absent); an empty header is a header client without a session yet. `'conflict'` when both carry
 * a key and the keys differ: which one is the client's session cannot be told (an empty cookie carries none).
 */
export function incomingSessionKey(cookie: string | undefined, header: string | undefined): IncomingSessionKey | 'conflict' {
  const fromHeader = header === undefined || header === '' ? undefined : header;
  if (fromHeader !== undefined && cookie !== undefined && cookie !== '' && cookie !== fromHeader) return 'conflict';
  return { key: fromHeader ?? cookie, cookie: cookie !== undefined, header: header !== undefined };
}

/**
 * Which carriers the response uses: the one(s) the request came with; both for a request with
 * neither (a new client: a browser keeps the cookie, an API client reads the header; one that sends
 * the header empty gets the header alone). A header client gets no cookie (which would come back and
 * bring the cookie's CSRF checks); a cookie client no header (which would put its HttpOnly cookie's
 * key within reach of the page's scripts).
 */
export function responseCarriers(incoming: IncomingSessionKey, headerName: string | null): { cookie: boolean; header: boolean } {
  if (headerName === null) return { cookie: true, header: false };
  return { cookie: incoming.cookie || !incoming.header, header: incoming.header || !incoming.cookie };
}

/**
 * Whether the request carries the session header (a key, or empty: a header client without a session
 * yet). Such a request without the session cookie rides on no ambient credential, so CSRF protection
 * does not apply to it (as DRF's token authentication): a browser never attaches a custom header to a
 * cross-site request by itself (a page's script needs the site's CORS consent), so a forged request
 * cannot carry it, nor get a session the browser would keep (its response carries no cookie).
 */
export function carriesSessionHeader(headers: IncomingHttpHeaders, headerName: string | null): boolean {
  return headerName !== null && headers[headerName.toLowerCase()] !== undefined;
}
