/**
 * App (b)'s ws gateway (`nest-django-sessions/ws`, SessionsWsAdapter in main.ts): at `/ws`,
 * `{"event":"counter"}` increments the same `count` as GET /counter, in the socket's cookie session.
 */
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Session } from 'nest-django-sessions';
import type { AppSession } from './app-session.js';

@WebSocketGateway({ path: '/ws' })
export class CounterGateway {
  @SubscribeMessage('counter')
  async counter(@Session() session: Session<AppSession>): Promise<{ event: 'counter'; data: { count: number } }> {
    const count = (session.get('count') ?? 0) + 1;
    session.set('count', count);
    await session.save(); // a socket's session is saved when its handler says so
    return { event: 'counter', data: { count } };
  }
}
