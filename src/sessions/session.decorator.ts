import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { AnySession, SessionBase, SessionData } from './session';
import { sessionOf } from './session.request';

export function sessionParamFactory(_data: unknown, context: ExecutionContext): AnySession | undefined {
  return sessionOf(context.switchToHttp().getRequest());
}

/**
 * `@Session() session: Session<MyData>`: the request's session, loaded before the handler runs
 * (by SessionInterceptor), with typed keys and values.
 */
export const Session = createParamDecorator(sessionParamFactory);

/** The type of a session whose data has the shape `T`. */
export type Session<T extends object = SessionData> = SessionBase<T>;
