/**
 * A request's resolved user, cached on the request (Django's `request._cached_user` in
 * `django/contrib/auth/middleware.py`).
 */
import type { AbstractDjangoUser } from './django-user.entity';

/** Where a request's user is kept once resolved: on the Nest request object, which guards and parameters share. */
const REQUEST_USER = Symbol('djangoAuth.user');
type RequestWithUser = object & { [REQUEST_USER]?: Promise<AbstractDjangoUser | null> };

/** The request's user, resolved by `resolve` on the first call only. */
export function resolveRequestUser<User extends AbstractDjangoUser>(
  request: object,
  resolve: () => Promise<User | null>,
): Promise<User | null> {
  return ((request as RequestWithUser)[REQUEST_USER] ??= resolve()) as Promise<User | null>;
}

/** The user resolved for this request, or undefined when nothing resolved it (no DjangoAuthGuard ran). */
export function resolvedRequestUser(request: object): Promise<AbstractDjangoUser | null> | undefined {
  return (request as RequestWithUser)[REQUEST_USER];
}
