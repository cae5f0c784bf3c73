/**
 * Applies @BlockingSession (Laravel's `StartSession::handleRequestWhileBlocking`): before the handler,
 * takes the session's lock, then gives the request a fresh session object so that it reads what the
 * previous holder saved (one a guard loaded earlier is dropped, unless the guard changed it); the
 * lock is released once the response has saved the session (release-after-response.ts). A request
 * without a session key is let through: no other request can share a session it does not have yet.
 *
 * A guard, not an interceptor: Nest binds each interceptor call to its async context
 * (`AsyncResource.bind`, which on Node 20 builds two deprecation wrappers a call) and runs it through
 * rxjs, which measured ~80 µs of server CPU per request; a guard is one awaited call.
 */
import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { reopenSession, requestSessionKey, responseOfRequest, sessionOf } from '../http/session-request';
import { sessionHttpError } from '../session.errors';
import { BLOCKING_SESSION, type BlockingSessionOptions } from './blocking.options';
import { releaseAfterResponse } from './release-after-response';
import { SessionLockTimeoutException } from './session-lock-timeout.exception';
import { SessionLocks } from './session-locks';
import type { SessionLockRelease } from './session-lock';

@Injectable()
export class BlockingSessionGuard implements CanActivate {
  constructor(
    private readonly locks: SessionLocks,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const request = context.switchToHttp().getRequest<object>();
    const sessionKey = requestSessionKey(request);
    if (!sessionKey) return true;
    const options =
      this.reflector.getAllAndOverride<BlockingSessionOptions | undefined>(BLOCKING_SESSION, [context.getHandler(), context.getClass()]) ??
      {};
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
    releaseAfterResponse(response, unlock);
    return true;
  }
}
