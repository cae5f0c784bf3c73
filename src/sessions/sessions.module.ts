import { Module, RequestMethod, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { SessionStore } from './engines/session-store';
import { SessionInterceptor } from './session.interceptor';
import { SessionMiddleware } from './session.middleware';
import { SESSIONS_CONFIG } from './sessions.constants';
import { ConfigurableModuleClass } from './sessions.module-definition';
import { sessionsProviders } from './sessions.providers';

/**
 * Django's sessions for Nest. `SessionsModule.forRoot({ secretKey, engine: 'db' })` or
 * `forRootAsync({ imports, inject, useFactory })`; extras: `isGlobal` (default true) and
 * `dataSource` (the TypeORM data source name, default 'default'; false without TypeORM).
 */
@Module({
  providers: [...sessionsProviders, SessionMiddleware, { provide: APP_INTERCEPTOR, useClass: SessionInterceptor }],
  exports: [SessionStore, SESSIONS_CONFIG],
})
export class SessionsModule extends ConfigurableModuleClass implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(SessionMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
  }
}
