/**
 * Loads the session before a handler that declares it (`@Session()` from this package or from
 * `@nestjs/common`), so the handler reads it synchronously; other handlers do no session I/O.
 * Saving happens later, in SessionMiddleware's response hook, which also covers guards and errors.
 * Non-HTTP contexts (WebSocket, microservices, GraphQL) pass through untouched.
 */
import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { from, type Observable, switchMap } from 'rxjs';
import { sessionParamFactory } from './session.decorator';
import { getSession, sessionOf } from './session.request';

const declaresSession = new WeakMap<object, boolean>();

function handlerDeclaresSession(context: ExecutionContext): boolean {
  const handler = context.getHandler();
  let declared = declaresSession.get(handler);
  if (declared === undefined) {
    const args: Record<string, { factory?: unknown }> = Reflect.getMetadata(ROUTE_ARGS_METADATA, context.getClass(), handler.name) ?? {};
    declared = Object.entries(args).some(
      ([key, arg]) => key.startsWith(`${RouteParamtypes.SESSION}:`) || arg.factory === sessionParamFactory,
    );
    declaresSession.set(handler, declared);
  }
  return declared;
}

@Injectable()
export class SessionInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<object>();
    const session = sessionOf(request);
    if (!session || session.isLoaded || !handlerDeclaresSession(context)) return next.handle();
    // getSession: a failing store becomes a 503 for the exception filters, not a 500.
    return from(getSession(request)).pipe(switchMap(() => next.handle()));
  }
}
