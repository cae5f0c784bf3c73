import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { getSession } from 'nest-django-sessions';
import { AppSession } from './app-session';

/** 403 unless the session has a `userId` (set by POST /login): reads the session in a guard. */
@Injectable()
export class SignedInGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const session = await getSession<AppSession>(context.switchToHttp().getRequest());
    if (typeof session.get('userId') !== 'string') throw new ForbiddenException('Sign in first');
    return true;
  }
}
