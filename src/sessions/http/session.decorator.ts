/**
 * `@Session()`: the request's `request.session` (`django/contrib/sessions/middleware.py`), loaded and
 * typed.
 */
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { AnySession, SessionBase, SessionData } from '../session';
import { contextRequest } from './context-request';
import { getSession } from './session-request';

/** The loaded session (an HTTP request's, or a gateway message's socket's): Nest awaits a custom parameter's promise before calling the handler. */
export function sessionParamFactory(_data: unknown, context: ExecutionContext): Promise<AnySession> {
  return getSession(contextRequest(context));
}

/**
 * `@Session() session: Session<MyData>`: the request's session, loaded before the handler runs
 * (a failing store answers 503), with typed keys and values. Loading here, in the parameter, costs
 * no interceptor pipeline; Nest's own `@Session()` gets SessionInterceptor for the same effect.
 */
export const Session = createParamDecorator(sessionParamFactory);

/** The type of a session whose data has the shape `T`. */
export type Session<T extends object = SessionData> = SessionBase<T>;
