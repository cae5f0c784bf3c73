/**
 * The ceiling: the example app as `src/main.ts` builds it (same controller, same TypeORM data
 * source, Express platform) minus SessionsModule. Only its session-free route (`/ping`) is measured:
 * the others need a session by definition. Compiled with the app (`tsconfig.bench.json`), it runs
 * the very JavaScript of `example/dist/` the example app runs.
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppController } from '../../example/app.controller';
import { databaseOptions } from '../../example/database';

@Module({
  imports: [TypeOrmModule.forRoot({ ...databaseOptions(process.env.DATABASE_URL), migrationsRun: true })],
  controllers: [AppController],
})
class NoSessionsModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(NoSessionsModule, { logger: ['error', 'warn'] });
  await app.listen(Number(process.env.PORT), '0.0.0.0');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
