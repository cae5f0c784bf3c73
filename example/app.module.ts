import { Module, type DynamicModule } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { TerminusModule } from '@nestjs/terminus';
import { ThrottlerModule } from '@nestjs/throttler';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DataSourceOptions } from 'typeorm';
import { AppController } from './app.controller';
import { UserSessionsController } from './user-sessions.controller';
import { DemoLoginController } from './demo-login.controller';
import { AuthController } from './auth.controller';
import { CsrfController } from './csrf.controller';
import { SocketIoSessionGateway, WsSessionGateway } from './session.gateway';
import { HealthController } from './health.controller';
import { MetricsController, startTelemetry } from './telemetry';
import { SessionsHealthIndicator } from 'nest-django-sessions/health';
import type { AppConfig } from './app.config';
import { cacheModules } from './cache';
import { databaseOptions } from './database';
import { CsrfModule, SessionsModule, type SessionsModuleOptions } from 'nest-django-sessions';
import { DjangoAuthModule } from 'nest-django-sessions/auth';

function usesCache(engine: SessionsModuleOptions['engine']): boolean {
  return engine === 'cache' || engine === 'cached_db';
}

@Module({})
export class AppModule {
  /**
   * The example app for a configuration (see loadConfig): its database, migrated at start-up, and its
   * sessions. `typeOrm` adds TypeORM options (tests pass a query-counting logger).
   */
  static forRoot(config: AppConfig, typeOrm: Partial<DataSourceOptions> = {}): DynamicModule {
    if (config.otel) startTelemetry(); // before the sessions module starts, which looks for it then
    return {
      module: AppModule,
      imports: [
        TypeOrmModule.forRoot({ ...databaseOptions(config.databaseUrl, config), migrationsRun: true, ...typeOrm } as DataSourceOptions),
        // REDIS_URL or REDIS_CLUSTER_NODES: the cache engines' cache is Redis (the sessions module finds
        // the app's CACHE_MANAGER); the other engines use no cache, so they open no Redis connection.
        ...(usesCache(config.sessions.engine) ? cacheModules(config.redis, config.redisNamespace) : []),
        SessionsModule.forRoot(config.sessions),
        // The sign-in route's rate limit (LOGIN_RATE_LIMIT a minute per client address; auth.controller.ts).
        ...(config.djangoAuth
          ? [DjangoAuthModule.forRoot({}), ThrottlerModule.forRoot([{ ttl: 60_000, limit: config.loginRateLimit }])]
          : []),
        // Runs the sessions' clearsessions job (CLEARSESSIONS_CRON); the library never imports it itself.
        ScheduleModule.forRoot(),
        TerminusModule,
        ...(config.csrf ? [CsrfModule.forRoot(config.csrf)] : []),
      ],
      controllers: [
        AppController,
        ...(config.sessions.userSessions ? [UserSessionsController] : []),
        ...(config.djangoAuth ? [AuthController] : config.sessions.userSessions ? [DemoLoginController] : []),
        ...(config.csrf ? [CsrfController] : []),
        HealthController,
        ...(config.otel ? [MetricsController] : []),
      ],
      providers: [
        SessionsHealthIndicator,
        ...(config.websockets === 'socket.io' ? [SocketIoSessionGateway] : config.websockets === 'ws' ? [WsSessionGateway] : []),
      ],
    };
  }
}
