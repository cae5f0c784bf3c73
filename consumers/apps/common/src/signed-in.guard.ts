import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { getSession } from 'nest-django-sessions';
import type { AppSession } from './app-session.js';

/** 403 unless the session has a `userId` (set by POST /login): reads the session in a guard. */
@Injectable()
export class SignedInGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const session = await getSession<AppSession>(context.switchToHttp().getRequest());
    return typeof session.get('userId') === 'string';
  }
}
