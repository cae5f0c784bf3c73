/**
 * `@DjangoUser()`: the request's `request.user` of `django.contrib.auth` (`AuthenticationMiddleware`),
 * as DjangoAuthGuard resolved it.
 */
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { AbstractDjangoUser } from './django-user.entity';
import { resolvedRequestUser } from './request-user';
import { contextRequest } from '../http/context-request';
import { SessionsSetupError } from '../session.errors';

/** The user DjangoAuthGuard resolved for the request (Nest awaits the promise before calling the handler). */
export function djangoUserParamFactory(_data: unknown, context: ExecutionContext): Promise<AbstractDjangoUser | null> {
  const user = resolvedRequestUser(contextRequest(context));
  if (!user) throw new SessionsSetupError('@DjangoUser() needs DjangoAuthGuard on the route, its controller or the app (APP_GUARD)');
  return user;
}

/**
 * `@DjangoUser() user: DjangoUserEntity | null`: the signed-in Django user of the request, as
 * DjangoAuthGuard resolved it; null on `@AllowAnonymous()` routes when nobody is signed in.
 */
export const DjangoUser = createParamDecorator(djangoUserParamFactory);
