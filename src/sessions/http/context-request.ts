/**
 * The request a guard or parameter works on, HTTP or a gateway message (Django's `request`, which
 * Channels' `scope` mirrors).
 */
import type { ExecutionContext } from '@nestjs/common';
import { messageRequestOf } from '../websockets/socket-sessions';

/**
 * The request whose session a guard or parameter decorator reads: an HTTP request, or a gateway
 * message's request-like object (its socket's session; see SessionsIoAdapter, SessionsWsAdapter).
 */
export function contextRequest(context: ExecutionContext): object {
  return context.getType() === 'ws' ? messageRequestOf(context.switchToWs().getClient()) : context.switchToHttp().getRequest();
}
