/**
 * DjangoAuthGuard: Django's `login_required` (`django/contrib/auth/decorators.py`) as a Nest guard,
 * for HTTP routes and gateway messages.
 */
import { Injectable, SetMetadata, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { DjangoAuthService } from './django-auth.service';
import { contextRequest } from '../http/context-request';

const ALLOW_ANONYMOUS = 'djangoAuth:allowAnonymous';

/** On a handler or controller behind DjangoAuthGuard: anonymous requests pass too (`@DjangoUser()` is then null). */
export const AllowAnonymous = (): MethodDecorator & ClassDecorator => SetMetadata(ALLOW_ANONYMOUS, true);

/**
 * Resolves the request's Django user (Django's `get_user`: a stale password hash flushes the
 * session) for `@DjangoUser()`, and answers 401 to anonymous requests unless `@AllowAnonymous()`.
 * Per route (`@UseGuards(DjangoAuthGuard)`) or for the app (`APP_GUARD`); in a gateway, per message
 * of a socket opened by the sessions adapters (an anonymous one gets the `exception` event).
 */
@Injectable()
export class DjangoAuthGuard implements CanActivate {
  constructor(
    private readonly auth: DjangoAuthService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const type = context.getType();
    if (type !== 'http' && type !== 'ws') return true;
    const user = await this.auth.userOf(contextRequest(context));
    if (user || this.reflector.getAllAndOverride<boolean>(ALLOW_ANONYMOUS, [context.getHandler(), context.getClass()])) return true;
    if (type === 'ws') throw wsException('Not signed in');
    throw new UnauthorizedException('Not signed in');
  }
}

/** A gateway's refusal as its client sees it (`exception` event): WsException of `@nestjs/websockets`, present in any app with a gateway. */
function wsException(message: string): Error {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer, loaded only when a gateway refuses
  const { WsException } = require('@nestjs/websockets') as typeof import('@nestjs/websockets');
  return new WsException(message);
}
