/**
 * The ceiling: the example app as `example/main.ts` builds it (same controller, same TypeORM data
 * source, the platform of HTTP_PLATFORM) minus SessionsModule. Only its session-free route (`/ping`)
 * is measured: the others need a session by definition. Compiled with the app
 * (`tsconfig.bench.json`), it runs the very JavaScript of `example/dist/` the example app runs.
 */
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppController } from '../../example/app.controller';
import { databaseOptions } from '../../example/database';
import { createNestApp, httpPlatform } from './nest-app';
import { serve } from './serve';

@Module({
  imports: [TypeOrmModule.forRoot({ ...databaseOptions(process.env.DATABASE_URL), migrationsRun: true })],
  controllers: [AppController],
})
class NoSessionsModule {}

serve(() => createNestApp(NoSessionsModule, httpPlatform()));
