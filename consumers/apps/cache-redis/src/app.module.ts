/**
 * Consumer app (e): Nest 11 CommonJS on Express, the `cache` engine: sessions only in the app's
 * CACHE_MANAGER (@nestjs/cache-manager) on Redis through @keyv/redis, which SessionsModule finds by
 * itself; no TypeORM DataSource, no database. Its dependencies are README.md's install line for the
 * cache engine, as written. Environment: REDIS_URL, REDIS_NAMESPACE, SECRET_KEY.
 * `nest-django-sessions clearsessions dist/app.module.js` boots this module (nothing to purge).
 */
import { createKeyv } from '@keyv/redis';
import { CacheModule } from '@nestjs/cache-manager';
import { Module } from '@nestjs/common';
import { SessionsModule } from 'nest-django-sessions';
import { AppController } from './app.controller.js';
import { SignedInGuard } from './signed-in.guard.js';

@Module({
  imports: [
    CacheModule.register({
      isGlobal: true,
      stores: [createKeyv(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { namespace: process.env.REDIS_NAMESPACE ?? 'sessions' })],
    }),
    SessionsModule.forRoot({
      secretKey: process.env.SECRET_KEY ?? 'consumer-app-secret-key-not-for-production',
      engine: 'cache',
    }),
  ],
  controllers: [AppController],
  providers: [SignedInGuard],
})
export class AppModule {}
