import { Injectable, SetMetadata, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { DjangoAuthService } from './django-auth.service';

const ALLOW_ANONYMOUS = 'djangoAuth:allowAnonymous';

/** On a handler or controller behind DjangoAuthGuard: anonymous requests pass too (`@DjangoUser()` is then null). */
export const AllowAnonymous = (): MethodDecorator & ClassDecorator => SetMetadata(ALLOW_ANONYMOUS, true);

/**
 * Resolves the request's Django user (Django's `get_user`: a stale password hash flushes the
 * session) for `@DjangoUser()`, and answers 401 to anonymous requests unless `@AllowAnonymous()`.
 * Per route (`@UseGuards(DjangoAuthGuard)`) or for the app (`APP_GUARD`).
 */
@Injectable()
export class DjangoAuthGuard implements CanActivate {
  constructor(
    private readonly auth: DjangoAuthService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const user = await this.auth.userOf(context.switchToHttp().getRequest());
    if (user || this.reflector.getAllAndOverride<boolean>(ALLOW_ANONYMOUS, [context.getHandler(), context.getClass()])) return true;
    throw new UnauthorizedException('Not signed in');
  }
}
