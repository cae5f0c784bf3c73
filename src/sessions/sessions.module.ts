import { Logger, Module, RequestMethod, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import { ClearSessionsScheduler } from './clearsessions/clear-sessions.scheduler';
import { ClearSessionsService } from './clearsessions/clear-sessions.service';
import { SessionStore } from './engines/session-store';
import { SessionInterceptor } from './session.interceptor';
import { SessionMiddleware } from './session.middleware';
import { exposeSessionOnFastifyRequests } from './session.request';
import { SESSIONS_CONFIG } from './sessions.constants';
import { ConfigurableModuleClass } from './sessions.module-definition';
import { sessionsProviders } from './sessions.providers';

/**
 * Django's sessions for Nest. `SessionsModule.forRoot({ secretKey, engine: 'db' })` or
 * `forRootAsync({ imports, inject, useFactory })`; extras: `isGlobal` (default true) and
 * `dataSource` (the TypeORM data source name, default 'default'; false without TypeORM).
 */
@Module({
  providers: [
    ...sessionsProviders,
    SessionMiddleware,
    { provide: APP_INTERCEPTOR, useClass: SessionInterceptor },
    ClearSessionsService,
    ClearSessionsScheduler,
  ],
  exports: [SessionStore, SESSIONS_CONFIG, ClearSessionsService],
})
export class SessionsModule extends ConfigurableModuleClass implements NestModule {
  constructor(private readonly adapterHost: HttpAdapterHost) {
    super();
  }

  configure(consumer: MiddlewareConsumer): void {
    exposeSessionOnFastifyRequests(this.adapterHost.httpAdapter, (message) => new Logger('Sessions').warn(message));
    consumer.apply(SessionMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
  }
}
