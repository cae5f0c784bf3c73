/**
 * CsrfModule's options: Django's `CSRF_*` settings under their names, with Django's defaults
 * (https://docs.djangoproject.com/en/5.2/ref/settings/#csrf-cookie-age and the following ones).
 */
import { parseTrustedOrigins, type TrustedOrigins } from './csrf-origin';
import { SessionsError } from '../session.errors';

export type CsrfSameSite = 'Lax' | 'Strict' | 'None' | false;

export interface CsrfModuleOptions {
  /** `CSRF_COOKIE_NAME`: default `csrftoken` (the same as the Django site's, to share the token). */
  cookieName?: string;
  /** `CSRF_COOKIE_AGE` in seconds: default 31 449 600 (a year); null for a browser-session cookie. */
  cookieAge?: number | null;
  /** `CSRF_COOKIE_DOMAIN`: default none (the host only); `.example.com` shares it with subdomains. */
  cookieDomain?: string | null;
  /** `CSRF_COOKIE_PATH`: default `/`. */
  cookiePath?: string;
  /** `CSRF_COOKIE_SECURE`: default false. */
  cookieSecure?: boolean;
  /** `CSRF_COOKIE_HTTPONLY`: default false (a SPA reads the cookie to send the header). */
  cookieHttpOnly?: boolean;
  /** `CSRF_COOKIE_SAMESITE`: default `Lax`; false sends no attribute. */
  cookieSameSite?: CsrfSameSite;
  /**
   * Django 4.1's `CSRF_COOKIE_MASKED`: store the secret masked (64 characters), as Django before 4.1
   * did. Default false: the secret itself, as Django 4.1+. Turn it on beside a Django 3.2 site with
   * `useSessions` (3.2 reads only the masked form from the session; in the cookie it reads both).
   */
  cookieMasked?: boolean;
  /** The header carrying the token (`CSRF_HEADER_NAME`, `HTTP_X_CSRFTOKEN` in Django's spelling): default `X-CSRFToken`. */
  headerName?: string;
  /**
   * `CSRF_TRUSTED_ORIGINS` (Django 4.0+ form): origins besides the request's own from which unsafe
   * requests are accepted, `https://example.com`, `https://*.example.com` for every subdomain.
   */
  trustedOrigins?: string[];
  /** `CSRF_USE_SESSIONS`: keep the secret in the session (`_csrftoken`) instead of a cookie. Default false. */
  useSessions?: boolean;
}

export interface CsrfConfig {
  cookie: {
    name: string;
    age: number | null;
    domain: string | null;
    path: string;
    secure: boolean;
    httpOnly: boolean;
    sameSite: CsrfSameSite;
    masked: boolean;
  };
  /** Lower-cased, as Node names request headers. */
  headerName: string;
  trustedOrigins: TrustedOrigins;
  useSessions: boolean;
}

export class CsrfOptionsError extends SessionsError {
  override name = 'CsrfOptionsError';
}

const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function resolveCsrfOptions(options: CsrfModuleOptions): CsrfConfig {
  const fail = (option: string, message: string): never => {
    throw new CsrfOptionsError(`CsrfModule option ${option} ${message}`);
  };
  const name = options.cookieName ?? 'csrftoken';
  if (!COOKIE_NAME.test(name)) fail('cookieName', `must be a cookie name, got ${JSON.stringify(name)}`);
  const age = options.cookieAge === undefined ? 31_449_600 : options.cookieAge;
  if (age !== null && (!Number.isSafeInteger(age) || age < 0))
    fail('cookieAge', `must be a non-negative whole number of seconds or null, got ${JSON.stringify(age)}`);
  const sameSite = options.cookieSameSite ?? 'Lax';
  if (!['Lax', 'Strict', 'None', false].includes(sameSite))
    fail('cookieSameSite', `must be "Lax", "Strict", "None" or false, got ${JSON.stringify(sameSite)}`);
  const headerName = options.headerName ?? 'X-CSRFToken';
  if (!HEADER_NAME.test(headerName)) fail('headerName', `must be an HTTP header name, got ${JSON.stringify(headerName)}`);
  const trusted = options.trustedOrigins ?? [];
  if (!Array.isArray(trusted)) fail('trustedOrigins', 'must be an array of origins');
  return {
    cookie: {
      name,
      age,
      domain: options.cookieDomain ?? null,
      path: options.cookiePath ?? '/',
      secure: options.cookieSecure ?? false,
      httpOnly: options.cookieHttpOnly ?? false,
      sameSite,
      masked: options.cookieMasked ?? false,
    },
    headerName: headerName.toLowerCase(),
    trustedOrigins: parseTrustedOrigins(trusted, (message) => fail('trustedOrigins', message)),
    useSessions: options.useSessions ?? false,
  };
}
