/**
 * `nest-django-sessions/ws`: Nest's `ws` adapter with the app's sessions. Its own entry point: only
 * apps with ws gateways load `@nestjs/platform-ws` (an optional peer).
 *
 *   app.useWebSocketAdapter(new SessionsWsAdapter(app));
 */
import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { Observable } from 'rxjs';
import { handlersInMessages, SocketSessions } from './socket-sessions';

/** RFC 6455's "policy violation", Spring Session's close code for a socket whose session ended. */
export const SESSION_ENDED_CLOSE_CODE = 1008;

type WsClient = {
  close(code: number, reason: string): void;
  send(data: string): void;
  once(event: 'close', listener: () => void): void;
  on(event: 'exception', listener: (payload: unknown) => void): void;
};
type VerifyClient = (
  info: { origin: string; req: IncomingMessage; secure: boolean },
  done?: (result: boolean, code?: number, message?: string) => void,
) => boolean | void;

/**
 * Each socket gets the session of its handshake's cookie (`@Session()`, `getSession`, and with the
 * Django login `DjangoAuthGuard` and `@DjangoUser()` work in `@SubscribeMessage` handlers); a
 * handshake from a foreign Origin is refused (403); a socket is closed with 1008 when its session ends.
 */
export class SessionsWsAdapter extends WsAdapter {
  #sockets: SocketSessions | undefined;

  constructor(private readonly app: INestApplicationContext) {
    super(app);
  }

  private get sockets(): SocketSessions {
    return (this.#sockets ??= this.app.get<SocketSessions>(SocketSessions, { strict: false }));
  }

  override create(port: number, options: Record<string, unknown> & { verifyClient?: VerifyClient } = {}): unknown {
    const verifyClient = options.verifyClient;
    const verify: VerifyClient = (info, done) => {
      void this.sockets.admit(info.req).then(({ status, message }) => {
        if (status !== 200) done!(false, status, message);
        else if (!verifyClient) done!(true);
        else if (verifyClient.length >= 2) verifyClient(info, done);
        else done!(verifyClient(info) !== false);
      });
    };
    return super.create(port, { ...options, verifyClient: verify });
  }

  override bindClientConnect(
    server: { on(event: 'connection', listener: (client: WsClient, request: IncomingMessage) => void): void },
    callback: (client: WsClient, request: IncomingMessage) => void,
  ): void {
    server.on('connection', (client, request) => {
      this.sockets.open(client, request, (reason) => client.close(SESSION_ENDED_CLOSE_CODE, reason));
      client.once('close', () => this.sockets.closed(client));
      // Nest's ws platform gives a handler's exception (a guard's refusal) to the server-side object only; it goes to the client here, as socket.io's does.
      client.on('exception', (payload: unknown) => client.send(JSON.stringify({ event: 'exception', data: payload })));
      callback(client, request);
    });
  }

  override bindMessageHandlers(
    client: WsClient,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    super.bindMessageHandlers(client, handlersInMessages(client, handlers), transform);
  }
}
