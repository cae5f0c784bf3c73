/**
 * Applies @BlockingSession (Laravel's `StartSession::handleRequestWhileBlocking`): before the handler,
 * takes the session's lock, then gives the request a fresh session object so that it reads what the
 * previous holder saved (one a guard loaded earlier is dropped, unless the guard changed it); the
 * lock is released once the response has saved the session (release-after-response.ts). A request
 * without a session key is let through: no other request can share a session it does not have yet.
 */
import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { defer, finalize, switchMap, type Observable } from 'rxjs';
import { reopenSession, requestSessionKey, responseOfRequest, sessionOf } from '../http/session-request';
import { sessionHttpError } from '../session.errors';
import { BLOCKING_SESSION, type BlockingSessionOptions } from './blocking.options';
import { ReleaseAfterResponse } from './release-after-response';
import { SessionLockTimeoutException } from './session-lock-timeout.exception';
import { SessionLocks } from './session-locks';
import type { SessionLockRelease } from './session-lock';

@Injectable()
export class BlockingSessionInterceptor implements NestInterceptor {
  constructor(
    private readonly locks: SessionLocks,
    private readonly reflector: Reflector,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<object>();
    const sessionKey = requestSessionKey(request);
    if (!sessionKey) return next.handle();
    const options =
      this.reflector.getAllAndOverride<BlockingSessionOptions | undefined>(BLOCKING_SESSION, [context.getHandler(), context.getClass()]) ??
      {};
    let release: ReleaseAfterResponse | undefined;
    return defer(async () => {
      let unlock: SessionLockRelease | null;
      try {
        unlock = await this.locks.acquire(sessionKey, options);
      } catch (error) {
        throw sessionHttpError(error); // the lock's store failed: a 503, logged
      }
      const response = responseOfRequest(request);
      if (!unlock) {
        reopenSession(request, true); // whatever a guard changed is not saved: the session is left as it is
        response?.setHeader('Retry-After', '1');
        throw new SessionLockTimeoutException(options.wait ?? this.locks.defaultWait);
      }
      reopenSession(request); // a session a guard read before the lock is read anew
      sessionOf(request); // hooks the response (the save) if nothing reached the session yet
      release = new ReleaseAfterResponse(response, unlock);
    }).pipe(
      switchMap(() => next.handle()),
      finalize(() => release?.handlerDone()),
    );
  }
}
