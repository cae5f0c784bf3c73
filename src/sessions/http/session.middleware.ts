/**
 * Django's `SessionMiddleware.process_request` (`django/contrib/sessions/middleware.py`): gives
 * every HTTP request a lazy session (no I/O: the cookie is only parsed; under Express the session is
 * attached when code first reaches it) and hooks its response, where session-response.ts applies
 * `process_response` just before the headers go out. Running at the raw
 * request/response level is what makes guards, exception filters, `@Res()` and Fastify work: an
 * interceptor alone misses all of them (docs: "Sessions and the Nest request lifecycle").
 */
import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SessionStore } from '../engines/session-store';
import { runBeforeHeaders } from './response-hook';
import { attachesOnAccess, attachSession, getSession, hasSession, sessionOf } from './session-request';
import { persistForResponse, readSessionCookie } from './session-response';
import { incomingSessionKey, readHeader, type IncomingSessionKey } from './session-header';
import { SessionKeyConflictException } from '../session.errors';
import type { AnySession } from '../session';
import { isValidSessionKey } from '../session-key';
import { SESSIONS_CONFIG } from '../sessions.constants';
import type { SessionsConfig } from '../sessions.options';

@Injectable()
export class SessionMiddleware implements NestMiddleware {
  /** Another session of the store, for `req.session.regenerate()` and `reload()`. */
  private readonly openSession = (sessionKey: string | null) => this.store.session(sessionKey);
  /** The `headerName` option as Node keys request headers (lower case); null: the cookie only. */
  private readonly headerKey: string | null;

  constructor(
    private readonly store: SessionStore,
    @Inject(SESSIONS_CONFIG) private readonly config: SessionsConfig,
  ) {
    this.headerKey = config.headerName?.toLowerCase() ?? null;
  }

  use(req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void): void {
    const incoming = this.incoming(req);
    if (incoming === 'conflict') return next(new SessionKeyConflictException(this.config.cookie.name, this.config.headerName!));
    // Under Express a request's prototype attaches its session when code first reaches it
    // (`attachOnAccess`): a request that never does, and whose response Django leaves alone, costs nothing more.
    const attachNow = !attachesOnAccess(req) || this.changesResponse(incoming.key);
    if (attachNow && !hasSession(req)) this.attach(req, res, incoming); // mounted twice: the first one owns the request
    next();
  }

  /** For a request that reaches its session without one (Express, `defineSessionAccessor`): its response is `req.res`. */
  readonly attachOnAccess = (req: IncomingMessage & { res?: ServerResponse }): void => {
    const incoming = this.incoming(req);
    // (A conflict was answered 400 by use(); code that still reaches the session gets a new one, neither key's.)
    this.attach(req, req.res!, incoming === 'conflict' ? { key: undefined, cookie: false, header: false } : incoming);
  };

  /** The key the request carries: its session cookie's, or the session header's (`headerName`). */
  private incoming(req: IncomingMessage): IncomingSessionKey | 'conflict' {
    const cookie = readSessionCookie(req.headers.cookie, this.config.cookie.name);
    if (this.headerKey === null) return { key: cookie, cookie: cookie !== undefined, header: false };
    return incomingSessionKey(cookie, readHeader(req.headers, this.headerKey));
  }

  /**
   * Django's rules for a session nobody touches: its cookie is deleted when the key is invalid, and it
   * is saved when saveEveryRequest; otherwise the response is left alone (and the session not even
   * opened) until code first reaches it.
   */
  private changesResponse(key: string | undefined): boolean {
    return key !== undefined && (!isValidSessionKey(key) || this.config.saveEveryRequest);
  }

  private attach(req: IncomingMessage, res: ServerResponse, incoming: IncomingSessionKey): void {
    const hookResponse = () => {
      // The request's session at the time of the response: `req.session.regenerate()` may replace it.
      if (!res.headersSent)
        runBeforeHeaders(res, (statusCode) => persistForResponse(sessionOf(req) as AnySession, incoming, statusCode, this.config));
    };
    const changesResponse = this.changesResponse(incoming.key);
    const open = this.config.userSessions ? (key: string | null) => withClient(this.store.session(key), req) : this.openSession;
    attachSession(req, open, incoming.key ?? null, changesResponse ? undefined : hookResponse, res);
    if (changesResponse) hookResponse();
  }
}

/**
 * The user index records where a session is used: the address as the platform reports it (Express's
 * `req.ip` follows the app's trust-proxy setting; otherwise the socket's peer) and the user agent.
 */
export function withClient(session: AnySession, req: IncomingMessage & { ip?: string }): AnySession {
  const userAgent = req.headers['user-agent'];
  session.client = { ip: req.ip ?? req.socket?.remoteAddress, userAgent: typeof userAgent === 'string' ? userAgent : undefined };
  return session;
}

/**
 * Loads the session before the next middleware, for middleware that reads `req.session` data
 * synchronously, such as `passport.session()`: `consumer.apply(SessionLoadMiddleware, passport.session())`.
 * On Fastify, where Nest middleware runs before the sessions' hook, it attaches the session first.
 * A failing store answers 503.
 */
@Injectable()
export class SessionLoadMiddleware implements NestMiddleware {
  constructor(private readonly sessions: SessionMiddleware) {}

  async use(req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void): Promise<void> {
    let refused: unknown;
    if (!hasSession(req)) this.sessions.use(req, res, (error) => (refused = error));
    if (refused !== undefined) return next(refused); // a cookie and a header with different keys: 400
    await getSession(req);
    next();
  }
}
