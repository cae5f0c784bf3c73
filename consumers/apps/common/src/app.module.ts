/**
 * The `db` engine on PostgreSQL, as the README's "Using the module" shows it: the module of apps (a)
 * Nest 11 CommonJS and (b) Nest 12 ESM (the `.js` imports suit both). Configured from the
 * environment (consumers/run.mjs sets it):
 *   DATABASE_URL, SECRET_KEY, CLEARSESSIONS_CRON ('false' disables the job),
 *   SESSION_MIGRATIONS=off (no migrations: the start-up must fail with SessionTableMissingError).
 * `nest-django-sessions clearsessions dist/app.module.js` boots this module.
 */
import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SessionsModule, sessionMigrations } from 'nest-django-sessions';
import { AppController } from './app.controller.js';
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
    SessionsModule.forRoot({
      secretKey: process.env.SECRET_KEY ?? 'consumer-app-secret-key-not-for-production',
      engine: 'db',
      clearExpired: { cron: cron === 'false' ? false : cron },
    }),
    ScheduleModule.forRoot(),
  ],
  controllers: [AppController],
  providers: [SignedInGuard],
})
export class AppModule {}
