/**
 * Loads the session before a handler that declares Nest's own `@Session()` (from `@nestjs/common`,
 * which hands over `req.session` as it is), so the handler reads it synchronously. SessionsModule
 * registers it and puts it first among the interceptors of exactly those handlers
 * (interceptSessionHandlers): a global interceptor would make Nest run every route through an RxJS
 * pipeline, session or not. This package's `@Session()` loads the session itself, in the parameter.
 * Saving happens later, in SessionMiddleware's response hook, which also covers guards and errors.
 * Non-HTTP contexts (WebSocket, microservices, GraphQL) pass through untouched.
 */
import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor, type Type } from '@nestjs/common';
import type { MetadataScanner } from '@nestjs/core';
import { from, type Observable, switchMap } from 'rxjs';
import { getSession, sessionOf } from './session-request';
import { addInterceptorFirst, declaresSessionParam } from './nest-route-metadata';

const declaresSession = new WeakMap<object, boolean>();

function handlerDeclaresSession(context: ExecutionContext): boolean {
  const handler = context.getHandler();
  let declared = declaresSession.get(handler);
  if (declared === undefined) {
    declared = declaresSessionParam(context.getClass(), handler.name);
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

/**
 * Puts `interceptor` first among the interceptors of every handler of `controllers` that declares
 * Nest's `@Session()`. Runs before Nest builds the routes (SessionsModule.configure). Handlers that already have a
 * SessionInterceptor keep theirs: controller classes are shared by every app of a process.
 */
export function interceptSessionHandlers(controllers: Type<unknown>[], interceptor: SessionInterceptor, scanner: MetadataScanner): void {
  for (const controller of controllers) {
    const prototype = controller.prototype as Record<string, object>;
    for (const methodName of scanner.getAllMethodNames(prototype)) {
      if (!declaresSessionParam(controller, methodName)) continue;
      addInterceptorFirst(prototype[methodName], interceptor, (i) => i === SessionInterceptor || i instanceof SessionInterceptor);
    }
  }
}
