/**
 * Consumer app (d): Nest 12 ESM on Fastify, the `cached_db` engine: PostgreSQL plus the app's
 * CACHE_MANAGER (@nestjs/cache-manager) on Redis through @keyv/redis, which SessionsModule finds by
 * itself; Django's logins (`nest-django-sessions/auth`). Environment: DATABASE_URL, REDIS_URL, REDIS_NAMESPACE, SECRET_KEY, CLEARSESSIONS_CRON
 * ('false' disables the job), SESSION_MIGRATIONS=off.
 * `nest-django-sessions clearsessions dist/app.module.js` boots this module.
 */
import { CacheModule } from '@nestjs/cache-manager';
import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { TypeOrmModule } from '@nestjs/typeorm';
import { createKeyv } from '@keyv/redis';
import { SessionsModule, sessionMigrations } from 'nest-django-sessions';
import { DjangoAuthModule } from 'nest-django-sessions/auth';
import { AppController } from './app.controller.js';
import { AuthController } from './auth.controller.js';
import { SignedInGuard } from './signed-in.guard.js';

const cron = process.env.CLEARSESSIONS_CRON ?? '* * * * * *';

@Module({
  imports: [
    TypeOrmModule.forRoot({
      type: 'postgres',
      url: process.env.DATABASE_URL,
      autoLoadEntities: true,
      migrations: process.env.SESSION_MIGRATIONS === 'off' ? [] : [...sessionMigrations],
      migrationsRun: true,
      retryAttempts: 1,
    }),
    CacheModule.register({
      isGlobal: true,
      stores: [createKeyv(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { namespace: process.env.REDIS_NAMESPACE ?? 'sessions' })],
    }),
    SessionsModule.forRoot({
      secretKey: process.env.SECRET_KEY ?? 'consumer-app-secret-key-not-for-production',
      engine: 'cached_db',
      clearExpired: { cron: cron === 'false' ? false : cron },
    }),
    DjangoAuthModule.forRoot({ pbkdf2Iterations: 1000 }),
    ScheduleModule.forRoot(),
  ],
  controllers: [AppController, AuthController],
  providers: [SignedInGuard],
})
export class AppModule {}
