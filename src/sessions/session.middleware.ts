/**
 * Attaches a lazy session to every HTTP request (no I/O: the cookie is only parsed) and persists it
 * just before the response goes out, by Django's `process_response` rules. Running at the raw
 * request/response level is what makes guards, exception filters, `@Res()` and Fastify work: an
 * interceptor alone misses all of them (docs: "Sessions and the Nest request lifecycle").
 */
import { HttpException, Inject, Injectable, Logger, type NestMiddleware } from '@nestjs/common';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { SessionStore } from './engines/session-store';
import { runBeforeHeaders, type ResponseStepResult } from './response-hook';
import { attachSession, sessionOf } from './session.request';
import { addVaryCookie, appendSetCookie, patchHeaderObject, processResponse, readSessionCookie, type SessionHeaders } from './session-response';
import type { AnySession } from './session';
import { SESSIONS_CONFIG } from './sessions.constants';
import type { SessionsConfig } from './sessions.options';

@Injectable()
export class SessionMiddleware implements NestMiddleware {
  private readonly logger = new Logger('Sessions');

  constructor(
    private readonly store: SessionStore,
    @Inject(SESSIONS_CONFIG) private readonly config: SessionsConfig,
  ) {}

  use(req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void): void {
    if (sessionOf(req)) return next(); // mounted twice: the first one owns the request
    const cookie = readSessionCookie(req.headers.cookie, this.config.cookie.name);
    const session = this.store.session(cookie);
    attachSession(req, session);
    runBeforeHeaders(res, (statusCode) => this.persist(session, cookie !== undefined, statusCode));
    next();
  }

  private async persist(session: AnySession, requestHadCookie: boolean, statusCode: number): Promise<ResponseStepResult> {
    let headers: SessionHeaders;
    try {
      headers = await processResponse(session, requestHadCookie, statusCode, this.config);
    } catch (error) {
      return this.errorResponse(error);
    }
    return { kind: 'headers', apply: (res, writeHeadHeaders) => applySessionHeaders(res, writeHeadHeaders, headers) };
  }

  /** A 400 for SessionInterrupted; a 503 when the store failed. Never a stack trace, never a cookie. */
  private errorResponse(error: unknown): ResponseStepResult {
    const exception =
      error instanceof HttpException
        ? error
        : new HttpException({ statusCode: 503, message: 'The session store is unavailable', error: 'Service Unavailable' }, 503);
    if (!(error instanceof HttpException)) this.logger.error(`Could not save the session: ${String(error)}`, (error as Error)?.stack);
    const body = exception.getResponse();
    return {
      kind: 'replace',
      statusCode: exception.getStatus(),
      contentType: 'application/json; charset=utf-8',
      body: JSON.stringify(typeof body === 'string' ? { statusCode: exception.getStatus(), message: body } : body),
    };
  }
}

function applySessionHeaders(res: ServerResponse, writeHeadHeaders: OutgoingHttpHeaders | undefined, headers: SessionHeaders): void {
  // Headers passed to writeHead override setHeader ones of the same name, so patch where they live.
  const inWriteHead = (name: string) => !!writeHeadHeaders && Object.keys(writeHeadHeaders).some((k) => k.toLowerCase() === name);
  if (headers.setCookie) {
    if (inWriteHead('set-cookie')) patchHeaderObject(writeHeadHeaders!, { setCookie: headers.setCookie, vary: false });
    else res.setHeader('Set-Cookie', appendSetCookie(res.getHeader('Set-Cookie'), headers.setCookie));
  }
  if (headers.vary) {
    if (inWriteHead('vary')) patchHeaderObject(writeHeadHeaders!, { vary: true });
    else res.setHeader('Vary', addVaryCookie(res.getHeader('Vary')));
  }
}
