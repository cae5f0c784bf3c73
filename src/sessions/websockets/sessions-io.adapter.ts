/**
 * `nest-django-sessions/socket.io`: Nest's socket.io adapter with the app's sessions. Its own entry
 * point: only apps with socket.io gateways load `@nestjs/platform-socket.io` (an optional peer).
 *
 *   app.useWebSocketAdapter(new SessionsIoAdapter(app));
 */
import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { Observable } from 'rxjs';
import type { Server, ServerOptions, Socket } from 'socket.io';
import { handlersInMessages, SocketSessions } from './socket-sessions';

/**
 * Each socket gets the session of its handshake's cookie (`@Session()`, `getSession`, and with the
 * Django login `DjangoAuthGuard` and `@DjangoUser()` work in `@SubscribeMessage` handlers); a
 * handshake from a foreign Origin is refused (403); a socket is disconnected when its session ends.
 * Extend it as you would extend IoAdapter (e.g. with the Redis adapter's `createIOServer`).
 */
export class SessionsIoAdapter extends IoAdapter {
  #sockets: SocketSessions | undefined;

  constructor(private readonly app: INestApplicationContext) {
    super(app);
  }

  private get sockets(): SocketSessions {
    return (this.#sockets ??= this.app.get<SocketSessions>(SocketSessions, { strict: false }));
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const allowRequest = options?.allowRequest;
    return super.createIOServer(port, {
      ...options,
      allowRequest: (request: IncomingMessage, done: (error: string | null | undefined, success: boolean) => void) => {
        void this.sockets.admit(request).then(({ status, message }) => {
          if (status !== 200) done(message, false);
          else if (allowRequest) allowRequest(request, done);
          else done(null, true);
        });
      },
    }) as Server;
  }

  override bindClientConnect(server: Server, callback: (socket: Socket) => void): void {
    server.on('connection', (socket: Socket) => {
      this.sockets.open(socket, socket.request, () => socket.disconnect(true));
      socket.once('disconnect', () => this.sockets.closed(socket));
      callback(socket);
    });
  }

  override bindMessageHandlers(
    socket: Socket,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    super.bindMessageHandlers(socket, handlersInMessages(socket, handlers), transform);
  }
}
