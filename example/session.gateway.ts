/**
 * The example app's gateways (WEBSOCKETS=socket.io|ws): a socket carries the session of the page
 * that opened it (its cookie), and is closed when that session ends. Messages and replies are
 * `{"event": …, "data": …}`; socket.io on its default path, ws at `/ws`.
 */
import { Optional } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Session } from 'nest-django-sessions';
import { DjangoAuthService, SESSION_KEY } from 'nest-django-sessions/auth';
import type { ExampleSessionData } from './app.controller';

abstract class SessionGateway {
  constructor(@Optional() private readonly auth?: DjangoAuthService) {}

  /** The session's user: with DJANGO_AUTH the one Django's get_user signs in, otherwise what POST /login wrote. */
  @SubscribeMessage('whoami')
  async whoami(@Session() session: Session): Promise<{ event: 'whoami'; data: { userId: string | null } }> {
    const userId = this.auth ? ((await this.auth.getUser(session))?.id ?? null) : session.get(SESSION_KEY);
    return { event: 'whoami', data: { userId: userId === null || userId === undefined ? null : (userId as string | number).toString() } };
  }

  /** As GET /counter, saved explicitly: a socket's session is saved when its handler says so. */
  @SubscribeMessage('counter')
  async counter(@Session() session: Session<ExampleSessionData>): Promise<{ event: 'counter'; data: { count: number } }> {
    const count = (session.get('count') ?? 0) + 1;
    session.set('count', count);
    await session.save();
    return { event: 'counter', data: { count } };
  }
}

@WebSocketGateway()
export class SocketIoSessionGateway extends SessionGateway {}

@WebSocketGateway({ path: '/ws' })
export class WsSessionGateway extends SessionGateway {}
