/**
 * Consumer app (c): Nest 11 on TypeORM 0.3.x, CommonJS compiled with the classic
 * `module: commonjs` + node10 resolution (the package's `main`/`types`, not its `exports`), both
 * modules configured with forRootAsync, the `db` engine on PostgreSQL, Django's logins through the
 * `nest-django-sessions/auth` entry point (found by node10 resolution through `typesVersions`), a socket.io
 * gateway (counter.gateway.ts, SessionsIoAdapter from `nest-django-sessions/socket.io`). Environment: DATABASE_URL,
 * SECRET_KEY, CLEARSESSIONS_CRON ('false' disables the job), SESSION_MIGRATIONS=off.
 * `nest-django-sessions clearsessions dist/app.module.js` boots this module.
 */
import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SessionsModule, sessionMigrations, type SessionsModuleOptions } from 'nest-django-sessions';
import { DjangoAuthModule } from 'nest-django-sessions/auth';
import { AppController } from './app.controller';
import { AuthController } from './auth.controller';
import { CounterGateway } from './counter.gateway';
import { SignedInGuard } from './signed-in.guard';

function sessionsOptions(): SessionsModuleOptions {
  const cron = process.env.CLEARSESSIONS_CRON ?? '* * * * * *';
  return {
    secretKey: process.env.SECRET_KEY ?? 'consumer-app-secret-key-not-for-production',
    engine: 'db',
    clearExpired: { cron: cron === 'false' ? false : cron, batchSize: 2 },
  };
}

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      useFactory: () => ({
        type: 'postgres' as const,
        url: process.env.DATABASE_URL,
        autoLoadEntities: true,
        migrations: process.env.SESSION_MIGRATIONS === 'off' ? [] : [...sessionMigrations],
        migrationsRun: true,
        retryAttempts: 1,
      }),
    }),
    SessionsModule.forRootAsync({ useFactory: sessionsOptions }),
    DjangoAuthModule.forRootAsync({ useFactory: () => ({ pbkdf2Iterations: 1000 }) }),
    ScheduleModule.forRoot(),
  ],
  controllers: [AppController, AuthController],
  providers: [SignedInGuard, CounterGateway],
})
export class AppModule {}
