/**
 * Django's `CsrfViewMiddleware.process_view` as a Nest guard (CsrfModule registers it for every
 * route): safe methods pass; an unsafe request needs an Origin from the site itself or a trusted
 * origin (on HTTPS without Origin, a Referer from one), the secret (cookie or session), and a token
 * matching it in the `csrfmiddlewaretoken` form field or the `X-CSRFToken` header. A guard, not
 * middleware, because it must know the handler (`@CsrfExempt()`), as Django's view decorator does.
 */
import { Inject, Injectable, Optional, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SESSIONS_CONFIG } from '../sessions.constants';
import type { SessionsConfig } from '../sessions.options';
import { originVerified, refererRejection } from './csrf-origin';
import { tokenFormatError, tokenMatches } from './csrf-token';
import { CSRF_EXEMPT } from './csrf-exempt.decorator';
import { CsrfFailureException } from './csrf-failure.exception';
import { CSRF_CONFIG } from './csrf.constants';
import type { CsrfConfig } from './csrf.options';
import { cookieSecret, incomingSecret, registerCsrf, replaceMalformedCookie, type IncomingSecret } from './csrf.request';
import { carriesSessionHeader } from '../http/session-header';
import { readSessionCookie } from '../http/session-response';

/** RFC 9110's safe methods, as Django lists them. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
const FORM_TYPES = /^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i;

/** The request as Nest hands it to guards: Express's, or Fastify's with `.raw`. */
type NestRequest = { raw?: IncomingMessage; body?: unknown; secure?: boolean; protocol?: string } & Partial<IncomingMessage>;

@Injectable()
export class CsrfGuard implements CanActivate {
  /** Django's `HttpHeaders.parse_header_name` of the header: how a rejection names it. */
  private readonly headerLabel: string;

  constructor(
    @Inject(CSRF_CONFIG) private readonly config: CsrfConfig,
    private readonly reflector: Reflector,
    @Optional() @Inject(SESSIONS_CONFIG) private readonly sessions?: SessionsConfig,
  ) {
    this.headerLabel = config.headerName.replace(/[^-]+/g, (word) => word[0].toUpperCase() + word.slice(1));
  }

  /** Synchronous with the secret in a cookie (a guard's promise costs every request); with `useSessions` the session is loaded first. */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const http = context.switchToHttp();
    const req = http.getRequest<NestRequest>();
    const response = http.getResponse<{ raw?: ServerResponse } & ServerResponse>();
    const raw = (req.raw ?? req) as IncomingMessage;
    registerCsrf(req, response.raw ?? response, this.config);
    const cookie = this.config.useSessions ? undefined : cookieSecret(raw, this.config);
    if (cookie?.formatError) replaceMalformedCookie(req);
    if (SAFE_METHODS.has(raw.method ?? 'GET') || this.isExempt(context) || this.headerAuthenticated(raw)) return true;
    const host = raw.headers.host ?? '';
    const origin = raw.headers.origin;
    if (origin !== undefined) {
      if (!originVerified(origin, `${isSecure(req, raw) ? 'https' : 'http'}://${host}`, this.config.trustedOrigins)) {
        throw new CsrfFailureException(`Origin checking failed - ${origin} does not match any trusted origins.`);
      }
    } else if (isSecure(req, raw)) {
      // No Origin on HTTPS: the Referer must name the site (a man in the middle of plain HTTP could set the cookie and token).
      const reason = refererRejection(raw.headers.referer, this.config.trustedOrigins, this.goodReferer(host));
      if (reason) throw new CsrfFailureException(reason);
    }
    if (cookie) {
      this.checkToken(req, raw, cookie);
      return true;
    }
    return incomingSecret(req).then((incoming) => {
      this.checkToken(req, raw, incoming);
      return true;
    });
  }

  /**
   * A request with the session header (`headerName`) and without the session cookie: no ambient
   * credential a forged request could ride on (a browser never adds a custom header to a cross-site
   * request by itself), so no CSRF check, as DRF exempts its token authentication.
   */
  private headerAuthenticated(raw: IncomingMessage): boolean {
    const sessions = this.sessions;
    if (!sessions?.headerName || !carriesSessionHeader(raw.headers, sessions.headerName)) return false;
    return readSessionCookie(raw.headers.cookie, sessions.cookie.name) === undefined;
  }

  /** `@CsrfExempt()` on the handler or its controller, looked up once per handler. */
  private isExempt(context: ExecutionContext): boolean {
    const handler = context.getHandler();
    let exempt = this.exemptHandlers.get(handler);
    if (exempt === undefined) {
      exempt = !!this.reflector.getAllAndOverride<boolean>(CSRF_EXEMPT, [handler, context.getClass()]);
      this.exemptHandlers.set(handler, exempt);
    }
    return exempt;
  }

  private readonly exemptHandlers = new WeakMap<object, boolean>();

  /** Django's `_check_token`. */
  private checkToken(req: NestRequest, raw: IncomingMessage, { secret, formatError }: IncomingSecret): void {
    if (formatError) throw new CsrfFailureException(`CSRF cookie ${formatError}.`);
    // No secret: for unsafe requests Django insists on one, which also stops login CSRF.
    if (secret === null) throw new CsrfFailureException('CSRF cookie not set.');
    let token = '';
    if (raw.method === 'POST' && FORM_TYPES.test(raw.headers['content-type'] ?? '')) {
      const field = (req.body as Record<string, unknown> | undefined)?.csrfmiddlewaretoken;
      if (typeof field === 'string') token = field;
    }
    const source = token !== '' ? 'POST' : `the '${this.headerLabel}' HTTP header`;
    if (token === '') {
      const header = raw.headers[this.config.headerName];
      if (header === undefined) throw new CsrfFailureException('CSRF token missing.');
      token = Array.isArray(header) ? header.join(', ') : header;
    }
    const malformed = tokenFormatError(token);
    if (malformed) throw new CsrfFailureException(`CSRF token from ${source} ${malformed}.`);
    if (!tokenMatches(token, secret)) throw new CsrfFailureException(`CSRF token from ${source} incorrect.`);
  }

  /** Django's `good_referer`: the cookie's domain (the session cookie's with `useSessions`) with a port other than 443 and 80, else the host. */
  private goodReferer(host: string): string {
    const domain = this.config.useSessions ? (this.sessions?.cookie.domain ?? null) : this.config.cookie.domain;
    if (domain === null) return host;
    const port = /:(\d+)$/.exec(host)?.[1];
    return port && port !== '443' && port !== '80' ? `${domain}:${port}` : domain;
  }
}

/**
 * Django's `request.is_secure()`: the platform's answer (Express's `req.secure`, Fastify's
 * `request.protocol`, which follow the app's trust-proxy setting) when a proxy says how the client
 * came; otherwise the connection's own, without the platform's trust-proxy evaluation (most requests).
 */
function isSecure(req: NestRequest, raw: IncomingMessage): boolean {
  if (raw.headers['x-forwarded-proto'] === undefined) return (raw.socket as { encrypted?: boolean } | null)?.encrypted === true;
  return req.secure ?? req.protocol === 'https';
}
