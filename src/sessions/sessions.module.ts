/**
 * SessionsModule: Django's `SESSION_*` settings and `SessionMiddleware` installed into a Nest app
 * (`django.contrib.sessions` as an app).
 */
import { Logger, Module, type NestModule, type Type } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DiscoveryModule, DiscoveryService, HttpAdapterHost, MetadataScanner } from '@nestjs/core';
import { ClearSessionsScheduler } from './clearsessions/clear-sessions.scheduler';
import { ClearSessionsService } from './clearsessions/clear-sessions.service';
import { SessionStore } from './engines/session-store';
import { interceptSessionHandlers, SessionInterceptor } from './http/session.interceptor';
import { SessionMiddleware } from './http/session.middleware';
import { installResponseHook } from './http/response-hook';
import { defineSessionAccessor } from './http/session-request';
import { exposeSessionOnFastifyRequests, runSessionsOnFastifyRequests, type FastifyInstanceLike } from './http/fastify';
import { SESSIONS_CONFIG } from './sessions.constants';
import { ConfigurableModuleClass } from './sessions.module-definition';
import { sessionsProviders } from './sessions.providers';
import { UserSessionsService } from './user-sessions/user-sessions.service';
import { SessionEventsBridge } from './events/session-events.bridge';
import { SocketSessions } from './websockets/socket-sessions';
import { SessionLocks } from './blocking/session-locks';

/**
 * Django's sessions for Nest. `SessionsModule.forRoot({ secretKey, engine: 'db' })` or
 * `forRootAsync({ imports, inject, useFactory })`; extras: `isGlobal` (default true) and
 * `dataSource` (the TypeORM data source name, default 'default'; false without TypeORM).
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    ...sessionsProviders,
    SessionMiddleware,
    SessionInterceptor,
    ClearSessionsService,
    ClearSessionsScheduler,
    UserSessionsService,
    SessionEventsBridge,
    SocketSessions,
    SessionLocks,
  ],
  exports: [SessionStore, SESSIONS_CONFIG, ClearSessionsService, UserSessionsService, SessionMiddleware, SocketSessions, SessionLocks],
})
export class SessionsModule extends ConfigurableModuleClass implements NestModule {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly interceptor: SessionInterceptor,
    private readonly middleware: SessionMiddleware,
  ) {
    super();
  }

  configure(): void {
    const adapter = this.adapterHost.httpAdapter;
    // Before Nest builds the routes: only handlers that declare the session get the interceptor.
    const controllers = this.discovery.getControllers().flatMap((wrapper) => (wrapper.metatype ? [wrapper.metatype as Type<unknown>] : []));
    interceptSessionHandlers(controllers, this.interceptor, this.scanner);
    if (adapter?.getType() === 'fastify') {
      const fastify = adapter.getInstance<FastifyInstanceLike>();
      exposeSessionOnFastifyRequests(fastify, (message) => new Logger('Sessions').warn(message));
      runSessionsOnFastifyRequests(fastify, this.middleware);
      return;
    }
    if (adapter?.getType() === 'express') {
      // Express gives each request and response its app's prototypes: what every request needs
      // (`req.session`, the response hook's stand-ins) is put there once instead of on each of them.
      const app = adapter.getInstance<{ request: object; response: object }>();
      defineSessionAccessor(app.request, this.middleware.attachOnAccess);
      installResponseHook(app.response);
    }
    // Mounted on the HTTP server itself, for every request: ahead of the middleware of every module's
    // configure() (Nest mounts those later), without Nest's per-request path matching of a catch-all.
    adapter?.use((req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => this.middleware.use(req, res, next));
  }
}
