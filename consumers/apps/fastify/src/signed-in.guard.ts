import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { getSession } from 'nest-django-sessions';
import type { AppSession } from './app-session.js';

/** 403 unless the session has a `userId` (set by POST /login): a guard gets a FastifyRequest here. */
@Injectable()
export class SignedInGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const session = await getSession<AppSession>(request);
    return typeof session.get('userId') === 'string';
  }
}
