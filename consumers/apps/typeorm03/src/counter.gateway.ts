/**
 * App (c)'s socket.io gateway (`nest-django-sessions/socket.io`, SessionsIoAdapter in main.ts; the
 * entry point found by node10 resolution through `typesVersions`): on socket.io's default path, the
 * `counter` event increments the same `count` as GET /counter, in the socket's cookie session.
 */
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Session } from 'nest-django-sessions';
import { AppSession } from './app-session';

@WebSocketGateway()
export class CounterGateway {
  @SubscribeMessage('counter')
  async counter(@Session() session: Session<AppSession>): Promise<{ event: 'counter'; data: { count: number } }> {
    const count = (session.get('count') ?? 0) + 1;
    session.set('count', count);
    await session.save(); // a socket's session is saved when its handler says so
    return { event: 'counter', data: { count } };
  }
}
